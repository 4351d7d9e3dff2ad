//! The CUDA engine's own kernels (`kernels.cu`) as source text, and the names of its entry
//! points. Kept outside the `cuda` feature so that which op runs on which kernel is plain
//! data every build can check.

/// The CUDA C source NVRTC compiles at run time.
pub const SOURCE: &str = include_str!("kernels.cu");

/// Every `extern "C" __global__` entry point of [`SOURCE`].
pub const KERNELS: [&str; 17] = [
    "reflect_pad",
    "reflect_pad_backward",
    "instance_norm",
    "instance_norm_backward",
    "bias_activate",
    "activation_backward",
    "bias_grad",
    "tanh_forward",
    "tanh_backward",
    "add",
    "accumulate",
    "mse_loss",
    "mse_loss_backward",
    "l1_loss",
    "l1_loss_backward",
    "adam",
    // Listed last: the one entry point no op names directly (the executor's pool copies
    // and arena set-up use it).
    "fill",
];

/// Threads per block of the reduction kernels (`REDUCE_THREADS` in the source).
pub const REDUCE_THREADS: u32 = 256;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every listed entry point is defined once in the source and every defined one is listed,
    /// so the executor can never ask NVRTC's module for a kernel that is not there.
    #[test]
    fn the_list_names_every_entry_point() {
        let defined: Vec<&str> = SOURCE
            .split("extern \"C\" __global__ void ")
            .skip(1)
            .map(|rest| rest.split('(').next().expect("a name before '('"))
            .collect();
        let mut listed = KERNELS.to_vec();
        listed.sort();
        let mut sorted = defined.clone();
        sorted.sort();
        assert_eq!(sorted, listed);
        assert!(SOURCE.contains(&format!("#define REDUCE_THREADS {REDUCE_THREADS}")));
    }
}
