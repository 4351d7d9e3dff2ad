//! Learning-rate schedules (upstream `get_scheduler` in `models/networks.py`), stepped as
//! upstream's `train.py` steps them: once at the start of every epoch, before its first
//! iteration. After k such steps (k = epoch − epoch_count + 1):
//!
//! - `linear`: lr₀ · (1 − max(0, k + epoch_count − n_epochs) / (n_epochs_decay + 1)), i.e. for
//!   epoch e: lr₀ · (1 − max(0, e + 1 − n_epochs) / (n_epochs_decay + 1)) — constant for the
//!   first epochs, then falling linearly to 0 at the last epoch;
//! - `step`: lr₀ · 0.1^⌊k / lr_decay_iters⌋ (StepLR);
//! - `cosine`: lr₀ · (1 + cos(π·k / n_epochs)) / 2 (CosineAnnealingLR, η_min = 0);
//! - `plateau`: ReduceLROnPlateau(mode min, factor 0.2, threshold 0.01 relative, patience 5)
//!   fed upstream's metric, which the CycleGAN model never sets from 0.

use serde::{Deserialize, Serialize};

/// Upstream `--lr_policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LrPolicy {
    Linear,
    Step,
    Plateau,
    Cosine,
    /// `--recipe seed`'s `LambdaLR` (see [`super::seed::lr_factor`]): `n_epochs` holds its
    /// `--decay_epoch`, `n_epochs_decay` the epochs after it, so the run ends at its total.
    #[value(skip)]
    Seed,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleConfig {
    pub policy: LrPolicy,
    pub lr: f64,
    pub n_epochs: usize,
    pub n_epochs_decay: usize,
    pub lr_decay_iters: usize,
    pub epoch_count: usize,
}

/// ReduceLROnPlateau's running state (the only policy that has one).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlateauState {
    best: Option<f64>,
    num_bad_epochs: usize,
    lr: Option<f64>,
}

/// Upstream's metric for the plateau policy (`BaseModel.metric`, never updated by CycleGAN).
const PLATEAU_METRIC: f64 = 0.0;

impl ScheduleConfig {
    /// The last epoch of the run (upstream's loop bound).
    pub fn last_epoch(&self) -> usize {
        self.n_epochs + self.n_epochs_decay
    }

    /// The learning rate of `epoch` (1-based, as upstream counts), for the stateless policies.
    pub fn lr_at(&self, epoch: usize) -> f64 {
        let k = (epoch + 1).saturating_sub(self.epoch_count) as f64; // scheduler steps taken
        match self.policy {
            LrPolicy::Linear => {
                let past = (k + self.epoch_count as f64 - self.n_epochs as f64).max(0.0);
                self.lr * (1.0 - past / (self.n_epochs_decay as f64 + 1.0))
            }
            LrPolicy::Step => {
                let decays = (k as usize) / self.lr_decay_iters.max(1);
                self.lr * 0.1f64.powi(decays as i32)
            }
            LrPolicy::Cosine => {
                let t_max = self.n_epochs.max(1) as f64;
                self.lr * (1.0 + (std::f64::consts::PI * k / t_max).cos()) / 2.0
            }
            LrPolicy::Seed => {
                self.lr * super::seed::lr_factor(epoch, self.n_epochs, self.last_epoch())
            }
            LrPolicy::Plateau => {
                let mut state = PlateauState::default();
                for _ in 0..k as usize {
                    state.step(self.lr);
                }
                state.lr.unwrap_or(self.lr)
            }
        }
    }
}

impl PlateauState {
    /// One `ReduceLROnPlateau.step(metric)` with upstream's settings.
    fn step(&mut self, initial_lr: f64) {
        const FACTOR: f64 = 0.2;
        const THRESHOLD: f64 = 0.01;
        const PATIENCE: usize = 5;
        const EPS: f64 = 1e-8;
        let lr = *self.lr.get_or_insert(initial_lr);
        let improved = self
            .best
            .is_none_or(|best| PLATEAU_METRIC < best * (1.0 - THRESHOLD));
        if improved {
            self.best = Some(PLATEAU_METRIC);
            self.num_bad_epochs = 0;
        } else {
            self.num_bad_epochs += 1;
        }
        if self.num_bad_epochs > PATIENCE {
            let new_lr = lr * FACTOR;
            if lr - new_lr > EPS {
                self.lr = Some(new_lr);
            }
            self.num_bad_epochs = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(policy: LrPolicy) -> ScheduleConfig {
        ScheduleConfig {
            policy,
            lr: 0.0002,
            n_epochs: 100,
            n_epochs_decay: 100,
            lr_decay_iters: 50,
            epoch_count: 1,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-15
    }

    #[test]
    fn linear_is_flat_then_falls_to_zero() {
        let c = config(LrPolicy::Linear);
        // Epoch e runs with lr0·(1 − max(0, e + 1 − 100)/101).
        assert!(close(c.lr_at(1), 0.0002));
        assert!(close(c.lr_at(99), 0.0002));
        assert!(close(c.lr_at(100), 0.0002 * (1.0 - 1.0 / 101.0)));
        assert!(close(c.lr_at(150), 0.0002 * (1.0 - 51.0 / 101.0)));
        assert!(close(c.lr_at(200), 0.0));
    }

    #[test]
    fn linear_does_not_depend_on_epoch_count() {
        let c = ScheduleConfig {
            epoch_count: 40,
            ..config(LrPolicy::Linear)
        };
        assert!(close(c.lr_at(150), config(LrPolicy::Linear).lr_at(150)));
    }

    #[test]
    fn step_decays_tenfold_every_lr_decay_iters_steps() {
        let c = config(LrPolicy::Step);
        assert!(close(c.lr_at(49), 0.0002)); // 49 scheduler steps
        assert!(close(c.lr_at(50), 0.0002 * 0.1)); // 50 steps
        assert!(close(c.lr_at(99), 0.0002 * 0.1));
        assert!(close(c.lr_at(100), 0.0002 * 0.01));
    }

    #[test]
    fn cosine_reaches_zero_after_n_epochs_steps() {
        let c = config(LrPolicy::Cosine);
        assert!(close(c.lr_at(50), 0.0001)); // k = 50 = T_max / 2
        assert!(c.lr_at(100).abs() < 1e-18); // k = 100
    }

    #[test]
    fn plateau_with_a_constant_metric_cuts_every_sixth_epoch() {
        let c = config(LrPolicy::Plateau);
        // Step 1 sets the best; steps 2–7 are six bad epochs, the sixth (> patience 5) cuts.
        assert!(close(c.lr_at(6), 0.0002));
        assert!(close(c.lr_at(7), 0.0002 * 0.2));
        assert!(close(c.lr_at(12), 0.0002 * 0.2));
        assert!((c.lr_at(13) - 0.0002 * 0.04).abs() < 1e-15);
    }
}
