//! The CycleGAN objective (Zhu et al. 2017; upstream `models/cycle_gan_model.py` and
//! `GANLoss` in `models/networks.py`).
//!
//! Code vs. paper: `g_a` is G (A→B), `g_b` is F (B→A), `d_a` is D_Y (judges B), `d_b` is D_X
//! (judges A). The generators minimise
//!
//! ```text
//! loss_g = loss_g_a + loss_g_b                        adversarial, Eq. (1) (LSGAN form, §4)
//!        + loss_cycle_a + loss_cycle_b                 cycle consistency, Eq. (2)
//!        + loss_idt_a + loss_idt_b                     identity, §5.2
//! loss_g_a     = MSE(d_a(g_a(real_a)), 1)
//! loss_cycle_a = λ_A · |g_b(g_a(real_a)) − real_a|₁
//! loss_idt_a   = λ_B · λ_idt · |g_a(real_b) − real_b|₁
//! ```
//!
//! Note upstream's identity convention, kept here: `idt_a = g_a(real_b)` (G_A fed a B image
//! should leave it unchanged), weighted by λ_B; `idt_b = g_b(real_a)`, weighted by λ_A. Each
//! discriminator minimises `0.5·(MSE(d(real), 1) + MSE(d(fake), 0))`.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Upstream `--gan_mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum GanMode {
    /// Least squares (MSE against 1/0), CycleGAN's default.
    Lsgan,
    /// Binary cross-entropy with logits, the original GAN.
    Vanilla,
    /// Wasserstein: −mean for real, +mean for fake; use with a gradient penalty.
    Wgangp,
}

impl GanMode {
    /// Upstream `GANLoss(prediction, target_is_real)`.
    pub fn loss(self, prediction: Tensor<4>, target_is_real: bool) -> Tensor<1> {
        match self {
            GanMode::Lsgan => {
                let target = if target_is_real { 1.0 } else { 0.0 };
                (prediction - target).square().mean()
            }
            GanMode::Vanilla => {
                // BCEWithLogits in its stable form: max(x, 0) − x·t + log(1 + e^(−|x|)).
                let t = if target_is_real { 1.0 } else { 0.0 };
                let softplus = prediction.clone().abs().neg().exp().log1p();
                (prediction.clone().clamp_min(0.0) - prediction * t + softplus).mean()
            }
            GanMode::Wgangp => {
                if target_is_real {
                    prediction.mean().neg()
                } else {
                    prediction.mean()
                }
            }
        }
    }
}

/// `nn.L1Loss()`: mean absolute difference.
pub fn l1(a: Tensor<4>, b: Tensor<4>) -> Tensor<1> {
    (a - b).abs().mean()
}
