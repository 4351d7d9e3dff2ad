//! The plan engine: one training iteration as plain data (every buffer with its shape, and
//! programs of kernels over them, gradients included), built once per image shape from the
//! networks' configurations. The CUDA engine runs it with cuDNN and kernels of its own, one
//! CUDA graph per program; [`cpu::CpuExecutor`] runs the same plan with the `ops` kernels, so
//! that the plan is checked against PyTorch's trace on any machine.

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod cyclegan;
pub mod executor;
pub mod kernels;
pub mod nets;
pub mod plan;

pub use cpu::CpuExecutor;
pub use cyclegan::{CycleGanLoss, CycleGanPlan};
pub use executor::{ExecError, Executor};
pub use plan::{Buf, Op, Plan, Program, Role};
