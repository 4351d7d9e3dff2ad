//! Image-quality metrics: paired scores of an image against its reference ([`paired`]: L1,
//! PSNR, SSIM), and the distribution distances FID and KID between two sets of images
//! ([`inception`] features, [`stats`] on them, [`preprocess`] for the network's input).
//!
//! Sits beside `model`: it reads images through `data`, weights through `checkpoint`, and runs
//! convolutions through `ops`; neither `model` nor anything below imports it.

pub mod eval;
pub mod inception;
pub mod paired;
pub mod preprocess;
pub mod stats;
pub mod weights;

pub use paired::{PairError, PairScores, score_pair};
