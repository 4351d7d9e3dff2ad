//! Image-quality metrics: paired scores of an image against its reference ([`paired`]: L1,
//! PSNR, SSIM).
//!
//! Sits beside `model`: it reads images through `data` and runs convolutions through `ops`,
//! and neither `model` nor anything below imports it.

pub mod paired;

pub use paired::{PairError, PairScores, score_pair};
