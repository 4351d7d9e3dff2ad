//! Compiling the engine's kernels with NVRTC. NVRTC is a library and needs no GPU, so every
//! build with the `cuda` feature checks in `cargo test` that `kernels.cu` compiles.

use cudarc::nvrtc::{CompileOptions, Ptx, compile_ptx_with_opts};

use crate::engine::kernels::SOURCE;

#[derive(Debug, thiserror::Error)]
pub enum NvrtcError {
    #[error(
        "libnvrtc was not found; install NVIDIA's NVRTC (e.g. `pip install nvidia-cuda-nvrtc-cu12`, or the one a PyTorch CUDA install carries) and add its `lib` folder to LD_LIBRARY_PATH"
    )]
    NotFound,
    #[error("NVRTC could not compile the engine's kernels for {arch}:\n{log}")]
    Compile { arch: String, log: String },
}

/// Whether libnvrtc can be opened (cudarc panics on first use otherwise).
pub fn available() -> bool {
    // SAFETY: only tries to open the library by its candidate names; nothing is called.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// PTX of every kernel for `arch` (`compute_90` for an H100). Fused multiply-adds are off:
/// each kernel then rounds as the CPU executor's loop does, which `--precision f32` parity
/// relies on.
pub fn compile(arch: &'static str) -> Result<Ptx, NvrtcError> {
    if !available() {
        return Err(NvrtcError::NotFound);
    }
    let options = CompileOptions {
        arch: Some(arch),
        fmad: Some(false),
        name: Some("kernels.cu".into()),
        ..Default::default()
    };
    compile_ptx_with_opts(SOURCE, options).map_err(|e| NvrtcError::Compile {
        arch: arch.into(),
        log: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::kernels::KERNELS;

    /// Every kernel compiles for the architectures the engine targets (Ampere, Hopper) and
    /// appears as an entry of the PTX. Without libnvrtc the test says so and passes, unless
    /// `CYCLEGAN_REQUIRE_NVRTC` is set (as CI sets it).
    #[test]
    fn every_kernel_compiles() {
        if !available() {
            assert!(
                std::env::var_os("CYCLEGAN_REQUIRE_NVRTC").is_none(),
                "{}",
                NvrtcError::NotFound
            );
            eprintln!("skipped: {}", NvrtcError::NotFound);
            return;
        }
        for arch in ["compute_80", "compute_90"] {
            let ptx = compile(arch).unwrap_or_else(|e| panic!("{e}"));
            let text = ptx.to_src();
            for name in KERNELS {
                assert!(
                    text.contains(&format!(".entry {name}(")),
                    "{arch}: no entry point {name} in the PTX"
                );
            }
        }
    }
}
