//! The seed's recipe (`cyclegan train --recipe seed`): the objective, learning-rate schedule,
//! log line and sample grid of eriklindernoren PyTorch-GAN's `implementations/cyclegan/
//! cyclegan.py`, on the networks and loop of this crate.
//!
//! Names: the seed's `G_AB` is our `G_A` and its `G_BA` our `G_B`; its `D_A` judges domain A
//! and is our `D_B`, its `D_B` our `D_A` (the mapping of files is
//! [`crate::checkpoint::seed::SEED_NAMES`]). Everything here uses ours.
//!
//! What differs from the official recipe besides the networks:
//! - `loss_G = (GAN_AB + GAN_BA)/2 + λ_cyc·(cycle_A + cycle_B)/2 + λ_id·(id_A + id_B)/2` — half
//!   the official total at λ_cyc 10, λ_id 5, computed as the seed writes it so the gradients
//!   are its own, not merely close (Adam's ε sees the factor);
//! - each discriminator `(MSE(D(real), 1) + MSE(D(fake), 0))/2` with an Adam of its own: the
//!   official objective, and since Adam updates each parameter on its own state, the seed's two
//!   optimisers step exactly as one optimiser over both;
//! - the learning rate is `LambdaLR` with `1 − max(0, e − decay_epoch)/(n_epochs − decay_epoch)`
//!   for the seed's 0-based epoch e, stepped after each epoch ([`lr_factor`]).

use std::path::PathBuf;

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::networks::Networks;
use super::state::Position;
use super::step::{GeneratorPass, LossConfig, StepLosses, generate};
use super::{TrainConfig, TrainError};
use crate::data::{DatasetOptions, ImageTensor, Loader, LoaderConfig, UnalignedDataset};
use crate::model::Mode;
use crate::model::loss::l1;
use crate::tensors::{stack, unstack};

/// The seed's loss weights (`--lambda_cyc`, `--lambda_id`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedLoss {
    pub lambda_cyc: f64,
    pub lambda_id: f64,
}

impl Default for SeedLoss {
    /// The seed's defaults.
    fn default() -> Self {
        SeedLoss {
            lambda_cyc: 10.0,
            lambda_id: 5.0,
        }
    }
}

/// The seed's generator objective, term by term in its order. The [`StepLosses`] it returns
/// hold the seed's unweighted terms under our names (`cycle_a` = L1(G_B(G_A(A)), A),
/// `idt_a` = L1(G_A(B), B), `g_a` = MSE(D_A(G_A(A)), 1), …), from which [`log_values`] makes
/// the seed's logged figures. The seed computes the identity terms whatever λ_id is, so they
/// are always logged.
pub fn generator_pass(
    nets: &Networks,
    real_a: &Tensor<4>,
    real_b: &Tensor<4>,
    loss: &LossConfig,
    seed: &SeedLoss,
) -> GeneratorPass {
    let generated = generate(nets, real_a, real_b, true);
    let g = &generated;
    let (Some(idt_a), Some(idt_b)) = (&g.idt_a, &g.idt_b) else {
        unreachable!("identity images were asked for");
    };
    let (fake_a, fake_b, rec_a, rec_b) = (&g.fake_a, &g.fake_b, &g.rec_a, &g.rec_b);
    // Seed `loss_id_A = L1(G_BA(real_A), real_A)` is our idt_B; its `loss_id_B` our idt_A.
    let loss_id_a = l1(idt_b.clone(), real_a.clone());
    let loss_id_b = l1(idt_a.clone(), real_b.clone());
    let loss_identity = (loss_id_a.clone() + loss_id_b.clone()) / 2.0;
    // Seed `loss_GAN_AB = MSE(D_B(fake_B), 1)`: its D_B is our D_A.
    let loss_gan_ab = loss
        .gan_mode
        .loss(nets.d_a.forward(fake_b.clone(), Mode::Train), true);
    let loss_gan_ba = loss
        .gan_mode
        .loss(nets.d_b.forward(fake_a.clone(), Mode::Train), true);
    let loss_gan = (loss_gan_ab.clone() + loss_gan_ba.clone()) / 2.0;
    let loss_cycle_a = l1(rec_a.clone(), real_a.clone());
    let loss_cycle_b = l1(rec_b.clone(), real_b.clone());
    let loss_cycle = (loss_cycle_a.clone() + loss_cycle_b.clone()) / 2.0;
    let loss_g = loss_gan + loss_cycle * seed.lambda_cyc + loss_identity * seed.lambda_id;
    let losses = StepLosses {
        g_a: scalar(&loss_gan_ab),
        g_b: scalar(&loss_gan_ba),
        cycle_a: scalar(&loss_cycle_a),
        cycle_b: scalar(&loss_cycle_b),
        idt_a: scalar(&loss_id_b),
        idt_b: scalar(&loss_id_a),
        ..StepLosses::default()
    };
    GeneratorPass {
        loss_g,
        losses,
        generated,
    }
}

fn scalar(t: &Tensor<1>) -> f64 {
    t.clone().inner().into_scalar::<f32>() as f64
}

/// The seed's logged figures, in its order and spelling: `D` (the mean of its two
/// discriminator losses), `G` (`loss_G`), `adv`, `cycle`, `identity`.
pub const LOG_NAMES: [&str; 5] = ["D", "G", "adv", "cycle", "identity"];

/// [`LOG_NAMES`]' values from an iteration's losses (as [`generator_pass`] fills them).
pub fn log_values(l: &StepLosses, seed: &SeedLoss) -> [f64; 5] {
    let adv = (l.g_a + l.g_b) / 2.0;
    let cycle = (l.cycle_a + l.cycle_b) / 2.0;
    let identity = (l.idt_a + l.idt_b) / 2.0;
    [
        (l.d_a + l.d_b) / 2.0,
        adv + seed.lambda_cyc * cycle + seed.lambda_id * identity,
        adv,
        cycle,
        identity,
    ]
}

/// The seed's progress line, `[Epoch e/n] [Batch i/len] [D loss: …] [G loss: …, adv: …,
/// cycle: …, identity: …] ETA: …`, with its 0-based epoch and batch.
pub fn log_line(
    epoch: usize,
    n_epochs: usize,
    batch: usize,
    batches: usize,
    values: &[f64; 5],
    eta_seconds: f64,
) -> String {
    let [d, g, adv, cycle, identity] = *values;
    let eta = eta_seconds.max(0.0).round() as u64;
    format!(
        "[Epoch {epoch}/{n_epochs}] [Batch {batch}/{batches}] [D loss: {d:.6}] [G loss: {g:.6}, adv: {adv:.6}, cycle: {cycle:.6}, identity: {identity:.6}] ETA: {}:{:02}:{:02}",
        eta / 3600,
        eta / 60 % 60,
        eta % 60
    )
}

/// The seed's `LambdaLR` factor for our (1-based) `epoch`: its epoch is `epoch − 1`, and after
/// its scheduler's `epoch − 1 − start` steps from `start` (its `--epoch`, the `offset`) the
/// factor is `1 − max(0, epoch − 1 − decay_epoch)/(n_epochs − decay_epoch)`. `n_epochs` is the
/// seed's total (the last epoch), which the command line checks is above `decay_epoch`.
pub fn lr_factor(epoch: usize, decay_epoch: usize, n_epochs: usize) -> f64 {
    let seed_epoch = epoch.saturating_sub(1) as f64;
    let past = (seed_epoch - decay_epoch as f64).max(0.0);
    1.0 - past / (n_epochs as f64 - decay_epoch as f64)
}

/// The seed's sample grid (`sample_images`): rows real_A, fake_B, real_B, fake_A of up to five
/// images, each row laid out as torchvision's `make_grid(nrow=5, normalize=True)` (2-pixel
/// black padding, the row scaled from its own min..max to 0..1), the rows stacked top to
/// bottom. Returns an image in [-1, 1] for [`crate::data::save_png`].
pub fn sample_grid(rows: [&[ImageTensor]; 4]) -> ImageTensor {
    const PAD: usize = 2;
    let first = rows.iter().find_map(|r| r.first());
    let (h, w) = first.map_or((1, 1), |t| (t.height, t.width));
    let n = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let (row_h, width) = (h + 2 * PAD, n * (w + PAD) + PAD);
    let height = rows.len() * row_h;
    // 0 in [0, 1] (make_grid's pad value) is -1 here.
    let mut data = vec![-1.0f32; 3 * height * width];
    for (r, row) in rows.iter().enumerate() {
        let values = row.iter().flat_map(|t| t.data.iter().copied());
        let (lo, hi) = values.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        // torchvision's norm_ip: clamp to [lo, hi], then (v − lo)/max(hi − lo, 1e-5).
        let scale = (hi - lo).max(1e-5);
        for (c, t) in row.iter().enumerate() {
            for ch in 0..3 {
                let src = if t.channels == 1 { 0 } else { ch };
                for y in 0..h.min(t.height) {
                    for x in 0..w.min(t.width) {
                        let v = t.data[(src * t.height + y) * t.width + x];
                        let unit = (v.clamp(lo, hi) - lo) / scale;
                        let (gy, gx) = (r * row_h + PAD + y, PAD + c * (w + PAD) + x);
                        data[(ch * height + gy) * width + gx] = unit * 2.0 - 1.0;
                    }
                }
            }
        }
    }
    ImageTensor {
        channels: 3,
        height,
        width,
        data,
    }
}

/// Five test images (`test/A`, `test/B`, or `testA`, `testB`) at a time, drawn afresh for each
/// grid as the seed's shuffled `val_dataloader` is, with the training transforms (the seed
/// passes its val loader the same ones).
pub struct Samples {
    loader: Loader,
    interval: u64,
    drawn: usize,
    dir: PathBuf,
}

impl Samples {
    /// The seed's `sample_images` source. A dataroot without a test split (the seed would stop
    /// there) samples the training images instead, and says so.
    pub fn new(config: &TrainConfig, interval: u64, quiet: bool) -> Result<Self, TrainError> {
        let test = DatasetOptions {
            phase: "test".into(),
            ..config.data.clone()
        };
        let dataset = match UnalignedDataset::new(&test) {
            Ok(d) => d,
            Err(e) => {
                if !quiet {
                    eprintln!(
                        "note: no test split to sample ({e}); the sample grids show training images"
                    );
                }
                UnalignedDataset::new(&config.data)?
            }
        };
        let loader = Loader::new(
            dataset,
            LoaderConfig {
                batch_size: SAMPLE_IMAGES,
                shuffle: true,
                num_threads: 1,
                // Its own stream, apart from the training batches'.
                seed: config.seed.wrapping_add(SAMPLE_SEED_OFFSET),
                ..config.loader
            },
        )?;
        Ok(Samples {
            loader,
            interval,
            drawn: 0,
            dir: config.output.run_dir().join("images"),
        })
    }

    /// After an iteration: the seed's grid when its `batches_done` (0-based, counting the
    /// epochs before, from its epoch 0) is a multiple of the interval, as
    /// `images/<batches_done>.png`.
    pub fn after_step(
        &mut self,
        nets: &Networks,
        position: Position,
        batches_per_epoch: usize,
        device: &Device,
    ) -> Result<(), TrainError> {
        let done = (position.epoch.saturating_sub(1) * batches_per_epoch
            + position.next_batch.saturating_sub(1)) as u64;
        if !done.is_multiple_of(self.interval) {
            return Ok(());
        }
        let Some(batch) = self.loader.epoch(self.drawn, 0).next() else {
            return Ok(());
        };
        self.drawn += 1;
        let batch = batch?;
        let real_a = stack(&batch.real_a, device);
        let real_b = stack(&batch.real_b, device);
        // The seed's `G_AB.eval()`: instance norms without running statistics read the same.
        let fake_b = unstack(nets.g_a.forward(real_a.clone(), Mode::Eval));
        let fake_a = unstack(nets.g_b.forward(real_b.clone(), Mode::Eval));
        let grid = sample_grid([&batch.real_a, &fake_b, &batch.real_b, &fake_a]);
        let path = self.dir.join(format!("{done}.png"));
        std::fs::create_dir_all(&self.dir).map_err(|cause| TrainError::Io {
            path: self.dir.clone(),
            cause,
        })?;
        crate::data::save_png(&path, &grid).map_err(|e| TrainError::Io {
            path,
            cause: std::io::Error::other(e),
        })
    }
}

/// The seed's `sample_images` shows five test images.
const SAMPLE_IMAGES: usize = 5;
const SAMPLE_SEED_OFFSET: u64 = 20;

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed's schedule at its defaults (200 epochs, decay from 100): constant through its
    /// epoch 100, then linear, its last epoch (199) at 1/100 of the rate.
    #[test]
    fn lambda_lr_follows_the_seed() {
        assert_eq!(lr_factor(1, 100, 200), 1.0);
        assert_eq!(lr_factor(101, 100, 200), 1.0);
        assert!((lr_factor(102, 100, 200) - 0.99).abs() < 1e-12);
        assert!((lr_factor(200, 100, 200) - 0.01).abs() < 1e-12);
        // The docs' example: 5 epochs decaying from 2: 1, 1, 1, 2/3, 1/3.
        let f: Vec<f64> = (1..=5).map(|e| lr_factor(e, 2, 5)).collect();
        for (a, b) in f.iter().zip([1.0, 1.0, 1.0, 2.0 / 3.0, 1.0 / 3.0]) {
            assert!((a - b).abs() < 1e-12, "{f:?}");
        }
    }

    /// D is the mean of the two discriminator losses, G the weighted sum of the averages.
    #[test]
    fn logged_values_are_the_seeds_formulas() {
        let l = StepLosses {
            d_a: 0.2,
            d_b: 0.4,
            g_a: 1.0,
            g_b: 3.0,
            cycle_a: 0.5,
            cycle_b: 0.7,
            idt_a: 0.1,
            idt_b: 0.3,
        };
        let v = log_values(&l, &SeedLoss::default());
        let expected = [0.3, 2.0 + 10.0 * 0.6 + 5.0 * 0.2, 2.0, 0.6, 0.2];
        for (a, b) in v.iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{v:?}");
        }
        let line = log_line(0, 200, 3, 1000, &v, 3725.0);
        assert_eq!(
            line,
            "[Epoch 0/200] [Batch 3/1000] [D loss: 0.300000] [G loss: 9.000000, adv: 2.000000, cycle: 0.600000, identity: 0.200000] ETA: 1:02:05"
        );
    }

    /// make_grid's layout: 2-pixel padding around each tile, each row scaled to its own range.
    #[test]
    fn sample_grid_is_make_grid_rows() {
        let tile = |v: f32| ImageTensor {
            channels: 3,
            height: 2,
            width: 3,
            data: vec![v; 18],
        };
        let row = [tile(-0.5), tile(0.5)];
        let g = sample_grid([&row, &row, &row, &row[..1]]);
        assert_eq!((g.height, g.width), (4 * 6, 2 * 5 + 2));
        let at = |y: usize, x: usize| g.data[y * g.width + x];
        assert_eq!(at(0, 0), -1.0); // padding
        assert_eq!(at(2, 2), -1.0); // the row's minimum maps to 0
        assert_eq!(at(2, 7), 1.0); // and its maximum to 1
        // A row of one constant tile: (v − v)/1e-5 = 0.
        assert_eq!(at(18 + 2, 2), -1.0);
    }
}
