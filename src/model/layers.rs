//! The layers the official networks are made of (`models/networks.py`): convolution,
//! transposed convolution and the normalisation choices, each holding its tensors under the
//! official parameter names (`weight`, `bias`, `running_mean`, `running_var`).
//!
//! Layers are plain structs of tensors rather than burn `Module`s: the checkpoint layout is the
//! official state_dict, walked by [`Params::visit`], and the optimiser in `train/` steps tensors
//! by key, so nothing here depends on burn's record machinery.

use std::sync::Mutex;

use burn::tensor::activation::{leaky_relu, relu};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::params::{ParamMut, ParamRole, Params, Visitor};
use crate::ops::{
    Activation, activate, conv_transpose2d, conv2d, instance_norm, instance_norm_activated,
};

/// Whether a forward pass trains (dropout on, batch statistics) or evaluates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

/// The normalisation layer after each convolution (`--norm`, upstream `get_norm_layer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NormKind {
    /// `InstanceNorm2d(affine=False, track_running_stats=False)`, upstream's default.
    Instance,
    /// `InstanceNorm2d(affine=True)`, common in third-party checkpoints.
    InstanceAffine,
    /// `BatchNorm2d(affine=True, track_running_stats=True)`.
    Batch,
    /// No normalisation (upstream's `Identity`).
    None,
}

impl NormKind {
    /// Upstream's `use_bias` rule: convolutions before an instance norm keep their bias, those
    /// before a batch norm (which has its own shift) or before nothing drop it.
    pub fn conv_bias(self) -> bool {
        matches!(self, NormKind::Instance | NormKind::InstanceAffine)
    }

    pub fn has_affine(self) -> bool {
        matches!(self, NormKind::InstanceAffine | NormKind::Batch)
    }

    /// Whether each sample is normalised on its own statistics, so that a network gives an
    /// input the same output alone or inside a larger batch. Batch norm in training mixes them.
    pub fn per_sample(self) -> bool {
        self != NormKind::Batch
    }
}

impl std::fmt::Display for NormKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NormKind::Instance => "instance",
            NormKind::InstanceAffine => "instance (affine)",
            NormKind::Batch => "batch",
            NormKind::None => "none",
        })
    }
}

/// PyTorch's default `eps` for both InstanceNorm2d and BatchNorm2d.
const NORM_EPS: f64 = 1e-5;
/// PyTorch's default BatchNorm2d `momentum`.
const BATCH_MOMENTUM: f64 = 0.1;

/// `nn.Conv2d` with zero padding (reflection padding is a separate layer upstream).
#[derive(Debug)]
pub struct Conv2d {
    pub weight: Tensor<4>, // [out, in, k, k]
    pub bias: Option<Tensor<1>>,
    stride: usize,
    padding: usize,
}

impl Conv2d {
    /// A zero-initialised convolution; `model::init` or a checkpoint fills it.
    pub fn new(
        channels: [usize; 2],
        kernel: usize,
        stride: usize,
        padding: usize,
        bias: bool,
        device: &Device,
    ) -> Self {
        let [c_in, c_out] = channels;
        Self {
            weight: Tensor::zeros([c_out, c_in, kernel, kernel], device),
            bias: bias.then(|| Tensor::zeros([c_out], device)),
            stride,
            padding,
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        conv2d(
            x,
            self.weight.clone(),
            self.bias.clone(),
            self.stride,
            self.padding,
        )
    }
}

impl Params for Conv2d {
    fn visit(&mut self, prefix: &str, v: &mut Visitor<'_>) {
        v(
            &key(prefix, "weight"),
            ParamMut::D4(&mut self.weight),
            ParamRole::Conv,
        );
        if let Some(bias) = &mut self.bias {
            v(&key(prefix, "bias"), ParamMut::D1(bias), ParamRole::Bias);
        }
    }
}

/// `nn.ConvTranspose2d`; PyTorch stores its weight as `[in, out, k, k]`.
#[derive(Debug)]
pub struct ConvTranspose2d {
    pub weight: Tensor<4>, // [in, out, k, k]
    pub bias: Option<Tensor<1>>,
    stride: usize,
    padding: usize,
    output_padding: usize,
}

impl ConvTranspose2d {
    pub fn new(
        channels: [usize; 2],
        kernel: usize,
        [stride, padding, output_padding]: [usize; 3],
        bias: bool,
        device: &Device,
    ) -> Self {
        let [c_in, c_out] = channels;
        Self {
            weight: Tensor::zeros([c_in, c_out, kernel, kernel], device),
            bias: bias.then(|| Tensor::zeros([c_out], device)),
            stride,
            padding,
            output_padding,
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        conv_transpose2d(
            x,
            self.weight.clone(),
            self.bias.clone(),
            self.stride,
            self.padding,
            self.output_padding,
        )
    }
}

impl Params for ConvTranspose2d {
    fn visit(&mut self, prefix: &str, v: &mut Visitor<'_>) {
        v(
            &key(prefix, "weight"),
            ParamMut::D4(&mut self.weight),
            ParamRole::Conv,
        );
        if let Some(bias) = &mut self.bias {
            v(&key(prefix, "bias"), ParamMut::D1(bias), ParamRole::Bias);
        }
    }
}

/// Running statistics of a batch norm, updated during training forwards that only borrow the
/// network (the generators run three times per step, as upstream's do).
#[derive(Debug)]
struct RunningStats {
    mean: Tensor<1>,
    var: Tensor<1>,
    /// Training forwards so far (PyTorch's `num_batches_tracked`; read by nothing here, as
    /// upstream never sets `momentum=None`, but kept so checkpoints round-trip PyTorch's).
    num_batches_tracked: u64,
}

/// One normalisation layer of the kind [`NormKind`] names.
#[derive(Debug)]
pub struct Norm2d {
    kind: NormKind,
    pub weight: Option<Tensor<1>>,
    pub bias: Option<Tensor<1>>,
    running: Option<Mutex<RunningStats>>,
}

impl Norm2d {
    pub fn kind(&self) -> NormKind {
        self.kind
    }

    pub fn new(kind: NormKind, channels: usize, device: &Device) -> Self {
        let affine = kind.has_affine();
        Self {
            kind,
            weight: affine.then(|| Tensor::ones([channels], device)),
            bias: affine.then(|| Tensor::zeros([channels], device)),
            running: (kind == NormKind::Batch).then(|| {
                Mutex::new(RunningStats {
                    mean: Tensor::zeros([channels], device),
                    var: Tensor::ones([channels], device),
                    num_batches_tracked: 0,
                })
            }),
        }
    }

    /// # Shapes
    /// `x`: `[b, c, h, w]` → `[b, c, h, w]`
    pub fn forward(&self, x: Tensor<4>, mode: Mode) -> Tensor<4> {
        let c = x.dims()[1];
        let normed = match self.kind {
            NormKind::None => return x,
            NormKind::Instance | NormKind::InstanceAffine => instance_norm(x, NORM_EPS),
            NormKind::Batch => self.batch_norm(x, mode),
        };
        match (&self.weight, &self.bias) {
            (Some(weight), Some(bias)) => {
                normed * weight.clone().reshape([1, c, 1, 1]) + bias.clone().reshape([1, c, 1, 1])
            }
            _ => normed,
        }
    }

    /// [`Self::forward`] followed by `act` (`nn.ReLU` or `nn.LeakyReLU`), in the same passes
    /// where the norm has no parameters.
    pub fn forward_activated(&self, x: Tensor<4>, mode: Mode, act: Activation) -> Tensor<4> {
        if self.kind == NormKind::Instance {
            return instance_norm_activated(x, NORM_EPS, act);
        }
        activate(self.forward(x, mode), act)
    }

    fn batch_norm(&self, x: Tensor<4>, mode: Mode) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let Some(running) = &self.running else {
            unreachable!("a batch norm always owns running statistics")
        };
        // A poisoned lock only means another forward panicked; the statistics are still whole.
        let mut stats = running.lock().unwrap_or_else(|e| e.into_inner());
        let (mean, var) = match mode {
            Mode::Eval => (stats.mean.clone(), stats.var.clone()),
            Mode::Train => {
                // One sample: each channel's batch is its one plane, so batch norm's
                // normalisation is instance norm's, which has a one-pass kernel with its own
                // backward (the composed form below is eight graph nodes); the statistics the
                // running averages need are then computed off the graph.
                let (normed, batch_mean, batch_var) = if b == 1 {
                    let flat = x.clone().inner().reshape([c, h * w]);
                    let (var, mean) = flat.var_mean_bias(1);
                    (Some(instance_norm(x.clone(), NORM_EPS)), mean, var)
                } else {
                    let flat = x.clone().swap_dims(0, 1).reshape([c, b * h * w]);
                    let (var, mean) = flat.var_mean_bias(1);
                    (None, mean, var)
                };
                let (mean, var) = (batch_mean.reshape([c]), batch_var.reshape([c]));
                let n = (b * h * w) as f64;
                // PyTorch updates the running variance with the unbiased estimate.
                let unbiased = var.clone().inner() * (n / (n - 1.0).max(1.0));
                stats.mean = stats.mean.clone() * (1.0 - BATCH_MOMENTUM)
                    + mean.clone().inner() * BATCH_MOMENTUM;
                stats.var = stats.var.clone() * (1.0 - BATCH_MOMENTUM) + unbiased * BATCH_MOMENTUM;
                stats.num_batches_tracked += 1;
                if let Some(normed) = normed {
                    return normed;
                }
                (mean, var)
            }
        };
        (x - mean.reshape([1, c, 1, 1])) / (var.reshape([1, c, 1, 1]) + NORM_EPS).sqrt()
    }
}

impl Params for Norm2d {
    fn visit(&mut self, prefix: &str, v: &mut Visitor<'_>) {
        if let Some(weight) = &mut self.weight {
            let role = match self.kind {
                NormKind::Batch => ParamRole::BatchNormWeight,
                _ => ParamRole::NormWeight,
            };
            v(&key(prefix, "weight"), ParamMut::D1(weight), role);
        }
        if let Some(bias) = &mut self.bias {
            v(&key(prefix, "bias"), ParamMut::D1(bias), ParamRole::Bias);
        }
        if let Some(running) = &mut self.running {
            let stats = running.get_mut().unwrap_or_else(|e| e.into_inner());
            v(
                &key(prefix, "running_mean"),
                ParamMut::D1(&mut stats.mean),
                ParamRole::Buffer,
            );
            v(
                &key(prefix, "running_var"),
                ParamMut::D1(&mut stats.var),
                ParamRole::Buffer,
            );
            v(
                &key(prefix, "num_batches_tracked"),
                ParamMut::Count(&mut stats.num_batches_tracked),
                ParamRole::Buffer,
            );
        }
    }
}

/// `nn.ReflectionPad2d(p)`.
pub fn reflection_pad(x: Tensor<4>, p: usize) -> Tensor<4> {
    crate::ops::reflection_pad(x, p)
}

pub fn relu4(x: Tensor<4>) -> Tensor<4> {
    relu(x)
}

/// `nn.LeakyReLU(0.2)`, used throughout the discriminators and the U-Net's down path.
pub fn leaky_relu_02(x: Tensor<4>) -> Tensor<4> {
    leaky_relu(x, 0.2)
}

/// Joins a parent's key prefix and a child name the way PyTorch's `named_parameters` does.
pub fn key(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}
