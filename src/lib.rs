//! cyclegan: unpaired image-to-image translation (CycleGAN, Zhu et al., ICCV 2017), exact to
//! the official PyTorch code (junyanz/pytorch-CycleGAN-and-pix2pix), on burn.
//!
//! pix2pix is not implemented yet: its networks (the U-Net generator, the PatchGAN
//! discriminator) load from its checkpoints and run, but there is no paired data loader or
//! pix2pix training loop, and `train --model pix2pix` is refused.
//!
//! Data flows one way: files ([`data`]) → tensors ([`tensors`]) → networks ([`model`]) →
//! training ([`train`]) or translation ([`inference`]) → checkpoints ([`checkpoint`]). The
//! command line ([`cli`]) only turns arguments into the typed configs these take.

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
