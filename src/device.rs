//! Run-time choice of the compute device (`--device`, `--threads`). The CPU backend (burn's
//! `flex`) is always compiled in; `wgpu` only with its cargo feature, and asking for one that
//! is not compiled in is an error that says how to get it. `cuda` is the plan engine of
//! `crate::engine`, not a burn backend: `train` and `bench` run it through
//! `train::engine`, and the commands without an engine path say so.

use burn::tensor::Device;

/// Upstream picks GPUs with `--gpu_ids`; here one flag names the backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// burn's pure-Rust `flex` CPU backend.
    #[default]
    Cpu,
    /// An NVIDIA GPU through this project's CUDA engine (cargo feature `cuda`).
    Cuda,
    /// Any GPU through wgpu: Vulkan, Metal or DirectX (cargo feature `wgpu`).
    Wgpu,
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(
        "this build of cyclegan has no {0} backend; reinstall with `cargo install --path . --features {0}`"
    )]
    NotCompiled(&'static str),
    #[error(
        "--device cuda runs the CUDA engine, which `cyclegan train` and `cyclegan bench` use (CycleGAN); this command does not run on it yet: use --device cpu, or --device wgpu (cargo feature `wgpu`)"
    )]
    CudaUnfinished,
    #[error("could not set up {threads} CPU threads: {reason}")]
    Threads { threads: usize, reason: String },
}

impl DeviceKind {
    pub fn device(self) -> Result<Device, DeviceError> {
        match self {
            DeviceKind::Cpu => Ok(Device::flex()),
            #[cfg(feature = "cuda")]
            DeviceKind::Cuda => Err(DeviceError::CudaUnfinished),
            #[cfg(not(feature = "cuda"))]
            DeviceKind::Cuda => Err(DeviceError::NotCompiled("cuda")),
            #[cfg(feature = "wgpu")]
            DeviceKind::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[cfg(not(feature = "wgpu"))]
            DeviceKind::Wgpu => Err(DeviceError::NotCompiled("wgpu")),
        }
    }
}

/// Sizes the global rayon pool the CPU kernels run on. `0` means one thread per core.
/// Call once, before any tensor work; a second call keeps the first pool.
pub fn set_threads(threads: usize) -> Result<usize, DeviceError> {
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    match rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
    {
        Ok(()) => Ok(threads),
        // Already built (by an earlier call in the same process, as in tests): keep it.
        Err(_) if rayon::current_num_threads() > 0 => Ok(rayon::current_num_threads()),
        Err(e) => Err(DeviceError::Threads {
            threads,
            reason: e.to_string(),
        }),
    }
}

/// Keeps freed tensor memory in the process instead of returning it to the kernel.
///
/// Every tensor op allocates its output, mostly tens of MiB at a time; glibc serves blocks that
/// large with `mmap` and trims the heap on free, so each op paid for page faults on fresh zeroed
/// pages (about 15 % of a convolution's time, measured with `perf`). Serving them from the heap
/// and not trimming it lets later ops reuse those pages. Other allocators are left alone.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before the tensor work starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
