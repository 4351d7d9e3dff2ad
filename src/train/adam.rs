//! Adam exactly as PyTorch's single-tensor implementation (`torch/optim/adam.py`, the CPU
//! default), with its moments kept by official parameter key so they can be saved for an exact
//! resume and read back into the same networks.
//!
//! ```text
//! m ← lerp(m, g, 1 − β1)            v ← β2·v + (1 − β2)·g²
//! p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)
//! ```

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::model::{RawTensor, StateDict};
use crate::ops::AdamScalars;

/// Adam's hyper-parameters (upstream `--lr --beta1`, β2 0.999, ε 1e-8).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            beta1: 0.5,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// First and second moments of one parameter, flattened.
#[derive(Debug)]
struct Moments {
    exp_avg: Tensor<1>,
    exp_avg_sq: Tensor<1>,
}

/// One Adam optimiser over a set of parameters named by key (upstream's `optimizer_G` steps
/// both generators, `optimizer_D` both discriminators).
#[derive(Debug)]
pub struct Adam {
    config: AdamConfig,
    /// Steps taken; PyTorch keeps one per parameter, equal here because every parameter is
    /// stepped every time.
    step: u64,
    moments: BTreeMap<String, Moments>,
}

impl Adam {
    pub fn new(config: AdamConfig) -> Self {
        Self {
            config,
            step: 0,
            moments: BTreeMap::new(),
        }
    }

    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Starts a step: bumps the step count shared by every [`Adam::update`] until the next call.
    pub fn begin_step(&mut self) {
        self.step += 1;
    }

    /// The scalars of the current step at learning rate `lr`, for kernels that update many
    /// parameters at once (the plan engine's).
    pub fn scalars(&self, lr: f64) -> AdamScalars {
        let AdamConfig { beta1, beta2, eps } = self.config;
        AdamScalars::new(lr, [beta1, beta2], eps, self.step.max(1) as i32)
    }

    /// The updated value of parameter `key` (flattened, without autodiff) given its gradient.
    pub fn update(&mut self, key: &str, param: Tensor<1>, grad: Tensor<1>, lr: f64) -> Tensor<1> {
        let AdamConfig { beta1, beta2, eps } = self.config;
        let t = self.step.max(1) as i32;
        let scalars = self.scalars(lr);
        let moments = self
            .moments
            .entry(key.to_string())
            .or_insert_with(|| Moments {
                exp_avg: grad.zeros_like(),
                exp_avg_sq: grad.zeros_like(),
            });
        let bias_correction1 = 1.0 - beta1.powi(t);
        let bias_correction2_sqrt = (1.0 - beta2.powi(t)).sqrt();
        let step_size = lr / bias_correction1;
        let tensors = [
            param,
            grad,
            moments.exp_avg.clone(),
            moments.exp_avg_sq.clone(),
        ];
        let [param, grad, exp_avg, exp_avg_sq] = match crate::ops::adam_step(tensors, scalars) {
            Ok([param, exp_avg, exp_avg_sq]) => {
                moments.exp_avg = exp_avg;
                moments.exp_avg_sq = exp_avg_sq;
                return param;
            }
            Err(tensors) => tensors,
        };
        // lerp(m, g, w) = m + w·(g − m), as PyTorch writes the first moment.
        let exp_avg = exp_avg.clone() + (grad.clone() - exp_avg) * (1.0 - beta1);
        let exp_avg_sq = exp_avg_sq * beta2 + grad.square() * (1.0 - beta2);
        let denom = exp_avg_sq.clone().sqrt() / bias_correction2_sqrt + eps;
        let param = param - exp_avg.clone() / denom * step_size;
        moments.exp_avg = exp_avg;
        moments.exp_avg_sq = exp_avg_sq;
        param
    }

    /// The moments as host tensors, keyed `exp_avg.<key>` / `exp_avg_sq.<key>`, and the step.
    pub fn state_dict(&self) -> (StateDict, u64) {
        let mut sd = StateDict::new();
        for (key, m) in &self.moments {
            for (name, t) in [("exp_avg", &m.exp_avg), ("exp_avg_sq", &m.exp_avg_sq)] {
                let data = t.clone().into_data().convert::<f32>().try_into_vec::<f32>();
                let data = data.expect("converted to f32 on the line above");
                sd.insert(
                    format!("{name}.{key}"),
                    RawTensor {
                        shape: vec![data.len()],
                        data,
                    },
                );
            }
        }
        (sd, self.step)
    }

    /// Restores moments saved by [`Adam::state_dict`].
    pub fn load_state_dict(
        &mut self,
        sd: &StateDict,
        step: u64,
        device: &Device,
    ) -> Result<(), String> {
        let mut moments = BTreeMap::new();
        for (name, t) in sd {
            let Some(key) = name.strip_prefix("exp_avg.") else {
                continue;
            };
            let Some(sq) = sd.get(&format!("exp_avg_sq.{key}")) else {
                return Err(format!(
                    "optimiser state has exp_avg.{key} but no exp_avg_sq.{key}"
                ));
            };
            let tensor = |t: &RawTensor| {
                Tensor::<1>::from_data(TensorData::new(t.data.clone(), [t.data.len()]), device)
            };
            moments.insert(
                key.to_string(),
                Moments {
                    exp_avg: tensor(t),
                    exp_avg_sq: tensor(sq),
                },
            );
        }
        self.moments = moments;
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::*;

    /// The one-pass CPU update against the formula written in burn's tensor ops, over three
    /// steps: the same f32 operations in the same order, so the same bits.
    #[test]
    fn fused_update_equals_the_tensor_formula() {
        let device = Device::flex();
        let n = 70_000; // more than one parallel chunk
        let config = AdamConfig::default();
        let mut adam = Adam::new(config);
        let mut param = Tensor::<1>::random([n], Distribution::Uniform(-1.0, 1.0), &device);
        let (mut p_ref, mut m, mut v) = (param.clone(), param.zeros_like(), param.zeros_like());
        let lr = 2e-4;
        for t in 1..=3 {
            let grad = Tensor::<1>::random([n], Distribution::Uniform(-0.1, 0.1), &device);
            adam.begin_step();
            param = adam.update("w", param, grad.clone(), lr);

            let AdamConfig { beta1, beta2, eps } = config;
            m = m.clone() + (grad.clone() - m) * (1.0 - beta1);
            v = v * beta2 + grad.square() * (1.0 - beta2);
            let denom = v.clone().sqrt() / (1.0 - beta2.powi(t)).sqrt() + eps;
            p_ref = p_ref - m.clone() / denom * (lr / (1.0 - beta1.powi(t)));

            let same = |a: &Tensor<1>, b: &Tensor<1>| {
                a.clone().into_data().try_to_vec::<f32>().unwrap()
                    == b.clone().into_data().try_to_vec::<f32>().unwrap()
            };
            assert!(same(&param, &p_ref), "parameter differs at step {t}");
            let moments = &adam.moments["w"];
            assert!(same(&moments.exp_avg, &m), "exp_avg differs at step {t}");
            assert!(
                same(&moments.exp_avg_sq, &v),
                "exp_avg_sq differs at step {t}"
            );
        }
    }
}
