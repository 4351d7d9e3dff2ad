//! The CUDA side of the engine, on `cudarc` with every NVIDIA library opened at run time
//! (`dynamic-loading`): building needs no CUDA toolkit, running needs the driver and the
//! libraries (`libnvrtc`, `libcudnn`, `libcublas`) that a PyTorch CUDA install's `nvidia-*`
//! wheels already carry.

pub mod exec;
pub mod nvrtc;
