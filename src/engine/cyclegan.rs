//! One official CycleGAN iteration (upstream `models/cycle_gan_model.py`) as a plan of two
//! programs: `generators` (both generators forward, the discriminators judging their fakes,
//! the six losses, the backward pass into both generators, one Adam over them) and
//! `discriminators` (each discriminator on real images and on the fakes the image pool hands
//! back, its loss, backward, one Adam over both). Between the two the caller fills the inputs
//! `fake_B_pool` and `fake_A_pool` from the pool (with pool size 0: `fake_B` and `fake_A`).

use super::nets::{PatchGanPlan, PlanError, ResnetPlan};
use super::plan::{Buf, Builder, Plan};
use crate::model::{DiscriminatorConfig, GeneratorConfig};

/// The objective's weights (upstream `--lambda_A`, `--lambda_B`, `--lambda_identity`), LSGAN.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CycleGanLoss {
    pub lambda_a: f64,
    pub lambda_b: f64,
    pub lambda_identity: f64,
}

/// The buffers the caller reads and writes around the programs.
#[derive(Clone, Debug)]
pub struct CycleGanBuffers {
    pub real_a: Buf,
    pub real_b: Buf,
    pub fake_a: Buf,
    pub fake_b: Buf,
    pub rec_a: Buf,
    pub rec_b: Buf,
    /// `G_A(real_B)` and `G_B(real_A)`, with identity loss.
    pub idt_a: Option<Buf>,
    pub idt_b: Option<Buf>,
    /// What the pools return for the discriminators, written by the caller.
    pub fake_a_pool: Buf,
    pub fake_b_pool: Buf,
}

/// The plan and where its images are.
#[derive(Clone, Debug)]
pub struct CycleGanPlan {
    pub plan: Plan,
    pub buffers: CycleGanBuffers,
}

/// The generator program's name.
pub const GENERATORS: &str = "generators";
/// The discriminator program's name.
pub const DISCRIMINATORS: &str = "discriminators";

impl CycleGanPlan {
    /// The plan for `[batch, channels, h, w]` images; `g` maps A→B and B→A (same
    /// architecture, as upstream), `d` judges either domain.
    pub fn new(
        g: &GeneratorConfig,
        d: &DiscriminatorConfig,
        loss: CycleGanLoss,
        [batch, h, w]: [usize; 3],
    ) -> Result<Self, PlanError> {
        let g = ResnetPlan::new(g)?;
        let d = PatchGanPlan::new(d)?;
        let mut b = Builder::new();
        let real_a = b.input("real_A", vec![batch, g.input_nc, h, w]);
        let real_b = b.input("real_B", vec![batch, g.output_nc, h, w]);

        b.begin(&["G_A", "G_B"]);
        let fake_b = g.forward(&mut b, "G_A", real_a);
        let rec_a = g.forward(&mut b, "G_B", fake_b);
        let fake_a = g.forward(&mut b, "G_B", real_b);
        let rec_b = g.forward(&mut b, "G_A", fake_a);
        // Upstream's identity convention: G_A fed a B image, weighted by λ_B (and G_B, λ_A).
        // Without identity loss upstream runs no identity forward; its losses stay 0.
        let lambda_idt = loss.lambda_identity;
        let (idt_a, idt_b) = if lambda_idt > 0.0 {
            let idt_a = g.forward(&mut b, "G_A", real_b);
            b.l1_loss("idt_A", idt_a, real_b, (loss.lambda_b * lambda_idt) as f32);
            let idt_b = g.forward(&mut b, "G_B", real_a);
            b.l1_loss("idt_B", idt_b, real_a, (loss.lambda_a * lambda_idt) as f32);
            (Some(idt_a), Some(idt_b))
        } else {
            b.loss_buffer("idt_A");
            b.loss_buffer("idt_B");
            (None, None)
        };
        let judged_b = d.forward(&mut b, "D_A", fake_b);
        b.mse_loss("G_A", judged_b, 1.0, 1.0);
        let judged_a = d.forward(&mut b, "D_B", fake_a);
        b.mse_loss("G_B", judged_a, 1.0, 1.0);
        b.l1_loss("cycle_A", rec_a, real_a, loss.lambda_a as f32);
        b.l1_loss("cycle_B", rec_b, real_b, loss.lambda_b as f32);
        b.backward();
        b.adam(&["G_A", "G_B"]);
        b.end(GENERATORS);

        let fake_b_pool = b.input("fake_B_pool", vec![batch, g.output_nc, h, w]);
        let fake_a_pool = b.input("fake_A_pool", vec![batch, g.input_nc, h, w]);
        b.begin(&["D_A", "D_B"]);
        for (net, real, fake) in [("D_A", real_b, fake_b_pool), ("D_B", real_a, fake_a_pool)] {
            // 0.5 · (MSE(D(real), 1) + MSE(D(fake), 0)).
            let judged_real = d.forward(&mut b, net, real);
            b.mse_loss(net, judged_real, 1.0, 0.5);
            let judged_fake = d.forward(&mut b, net, fake);
            b.mse_loss(net, judged_fake, 0.0, 0.5);
        }
        b.backward();
        b.adam(&["D_A", "D_B"]);
        b.end(DISCRIMINATORS);

        Ok(Self {
            plan: b.finish(),
            buffers: CycleGanBuffers {
                real_a,
                real_b,
                fake_a,
                fake_b,
                rec_a,
                rec_b,
                idt_a,
                idt_b,
                fake_a_pool,
                fake_b_pool,
            },
        })
    }
}

/// Upstream's loss names in its log order.
pub const LOSS_NAMES: [&str; 8] = [
    "D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B",
];
