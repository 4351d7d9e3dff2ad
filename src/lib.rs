//! cyclegan: unpaired image-to-image translation (CycleGAN, Zhu et al., ICCV 2017), exact to
//! the official PyTorch code (junyanz/pytorch-CycleGAN-and-pix2pix), on burn.
//!
//! pix2pix (Isola et al. 2017) trains, translates and tests on the same code paths.
//!
//! Data flows one way: files ([`data`]) → tensors ([`tensors`]) → networks ([`model`]) →
//! training ([`train`]) or translation ([`inference`]) → checkpoints ([`checkpoint`]). The
//! GPU engine ([`engine`]) is the CycleGAN iteration as a plan of buffers and kernels, run by
//! its CPU executor or on CUDA. The command line ([`cli`]) only turns arguments into the typed
//! configs these take.

pub mod atomic_write;
pub mod checkpoint;
pub mod cli;
pub mod data;
pub mod device;
pub mod download;
pub mod engine;
pub mod inference;
pub mod metrics;
pub mod model;
pub mod ops;
pub mod tensors;
#[cfg(test)]
mod testdata;
pub mod train;
