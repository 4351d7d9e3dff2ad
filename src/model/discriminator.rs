//! The discriminators (upstream `NLayerDiscriminator` and `PixelDiscriminator` in
//! `models/networks.py`). `basic` is the 70×70 PatchGAN: n_layers = 3 stride-2/1 4×4
//! convolutions judging overlapping 70×70 patches, one logit per patch (no sigmoid; the GAN loss
//! decides how to read it).

use burn::tensor::ops::PadMode;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::layers::{Conv2d, Mode, Norm2d, NormKind, key, leaky_relu_02};
use super::params::{Params, Visitor};
use crate::ops::Activation;

/// Which discriminator (upstream `--netD`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "net", rename_all = "snake_case")]
pub enum DiscriminatorConfig {
    /// `basic` (n_layers = 3) and `n_layers`.
    NLayers {
        input_nc: usize,
        ndf: usize,
        n_layers: usize,
        norm: NormKind,
        use_bias: bool,
    },
    /// `pixel`: a 1×1 PatchGAN.
    Pixel {
        input_nc: usize,
        ndf: usize,
        norm: NormKind,
        use_bias: bool,
    },
    /// `seed`: the seed's (eriklindernoren PyTorch-GAN) discriminator, an (h/16, w/16) patch
    /// output ([`super::seed_discriminator`]).
    Seed {
        input_nc: usize,
        ndf: usize,
        norm: NormKind,
    },
}

impl DiscriminatorConfig {
    /// `--netD basic`: the 70×70 PatchGAN.
    pub fn basic(input_nc: usize, ndf: usize) -> Self {
        Self::n_layers(input_nc, ndf, 3)
    }

    pub fn n_layers(input_nc: usize, ndf: usize, n_layers: usize) -> Self {
        DiscriminatorConfig::NLayers {
            input_nc,
            ndf,
            n_layers,
            norm: NormKind::Instance,
            use_bias: NormKind::Instance.conv_bias(),
        }
    }

    pub fn pixel(input_nc: usize, ndf: usize) -> Self {
        DiscriminatorConfig::Pixel {
            input_nc,
            ndf,
            norm: NormKind::Instance,
            use_bias: NormKind::Instance.conv_bias(),
        }
    }

    pub fn with_norm(self, norm: NormKind) -> Self {
        match self {
            DiscriminatorConfig::NLayers {
                input_nc,
                ndf,
                n_layers,
                ..
            } => DiscriminatorConfig::NLayers {
                input_nc,
                ndf,
                n_layers,
                norm,
                use_bias: norm.conv_bias(),
            },
            DiscriminatorConfig::Pixel { input_nc, ndf, .. } => DiscriminatorConfig::Pixel {
                input_nc,
                ndf,
                norm,
                use_bias: norm.conv_bias(),
            },
            DiscriminatorConfig::Seed { input_nc, ndf, .. } => DiscriminatorConfig::Seed {
                input_nc,
                ndf,
                norm,
            },
        }
    }

    /// The smallest input side the discriminator runs on. An `n_layers` PatchGAN halves the side
    /// (rounding down) with its stride-2 4×4 convolutions (`n_layers` of them, at least one) and
    /// takes 1 off with each stride-1 4×4 one after them (two, or one when `n_layers` is 0),
    /// leaving at least one patch.
    pub fn min_side(&self) -> usize {
        match *self {
            DiscriminatorConfig::NLayers { n_layers, .. } => {
                let halvings = n_layers.clamp(1, 40) as u32;
                let stride1 = if n_layers == 0 { 1 } else { 2 };
                (stride1 + 1) << halvings
            }
            DiscriminatorConfig::Pixel { .. } => 1,
            DiscriminatorConfig::Seed { .. } => super::seed_discriminator::MIN_SIDE,
        }
    }

    pub fn init(&self, device: &Device) -> Discriminator {
        let mut layers = Vec::new();
        let prefix;
        match *self {
            DiscriminatorConfig::NLayers {
                input_nc,
                ndf,
                n_layers,
                norm,
                use_bias,
            } => {
                prefix = "model";
                // model.0 conv, model.1 LeakyReLU, then [conv, norm, LeakyReLU] per level.
                layers.push(DLayer::input(input_nc, ndf, device));
                let mut mult = 1;
                let mut index = 2;
                for n in 1..=n_layers {
                    let prev = mult;
                    // min(2^n, 8), without shifting past the width for absurd n_layers.
                    mult = 1 << n.min(3);
                    // The last level keeps stride 1 to widen the receptive field to 70×70.
                    let stride = if n == n_layers { 1 } else { 2 };
                    let channels = [ndf * prev, ndf * mult];
                    let norm = Some(Norm2d::new(norm, ndf * mult, device));
                    layers.push(DLayer::new(
                        index,
                        channels,
                        (4, stride, 1),
                        use_bias,
                        norm,
                        true,
                        device,
                    ));
                    index += 3;
                }
                layers.push(DLayer::new(
                    index,
                    [ndf * mult, 1],
                    (4, 1, 1),
                    true,
                    None,
                    false,
                    device,
                ));
            }
            DiscriminatorConfig::Pixel {
                input_nc,
                ndf,
                norm,
                use_bias,
            } => {
                prefix = "net";
                layers.push(DLayer::new(
                    0,
                    [input_nc, ndf],
                    (1, 1, 0),
                    true,
                    None,
                    true,
                    device,
                ));
                let norm = Some(Norm2d::new(norm, 2 * ndf, device));
                layers.push(DLayer::new(
                    2,
                    [ndf, 2 * ndf],
                    (1, 1, 0),
                    use_bias,
                    norm,
                    true,
                    device,
                ));
                layers.push(DLayer::new(
                    5,
                    [2 * ndf, 1],
                    (1, 1, 0),
                    use_bias,
                    None,
                    false,
                    device,
                ));
            }
            DiscriminatorConfig::Seed {
                input_nc,
                ndf,
                norm,
            } => {
                prefix = "model";
                layers = super::seed_discriminator::layers(input_nc, ndf, norm, device);
            }
        }
        Discriminator { prefix, layers }
    }
}

#[derive(Debug)]
pub(super) struct DLayer {
    index: usize,
    conv: Conv2d,
    norm: Option<Norm2d>,
    activate: bool,
    /// `nn.ZeroPad2d((1, 0, 1, 0))` in front of the convolution (the seed's last layer).
    pad_top_left: bool,
}

impl DLayer {
    pub(super) fn new(
        index: usize,
        channels: [usize; 2],
        (kernel, stride, padding): (usize, usize, usize),
        bias: bool,
        norm: Option<Norm2d>,
        activate: bool,
        device: &Device,
    ) -> Self {
        let conv = Conv2d::new(channels, kernel, stride, padding, bias, device);
        Self {
            index,
            conv,
            norm,
            activate,
            pad_top_left: false,
        }
    }

    /// `model.0`: a 4×4 stride-2 convolution with bias and a LeakyReLU, no norm, the first layer
    /// of the PatchGAN and of the seed's discriminator alike.
    pub(super) fn input(input_nc: usize, ndf: usize, device: &Device) -> Self {
        DLayer::new(0, [input_nc, ndf], (4, 2, 1), true, None, true, device)
    }

    /// The same layer behind a one-pixel zero pad on the top and the left.
    pub(super) fn after_top_left_pad(self) -> Self {
        Self {
            pad_top_left: true,
            ..self
        }
    }
}

/// A discriminator; build it with [`DiscriminatorConfig::init`].
#[derive(Debug)]
pub struct Discriminator {
    prefix: &'static str,
    layers: Vec<DLayer>,
}

impl Discriminator {
    /// # Shapes
    /// `x`: `[b, input_nc, h, w]` → `[b, 1, h', w']`, one logit per patch (h' = h/8 − 2 for
    /// `basic`)
    pub fn forward(&self, x: Tensor<4>, mode: Mode) -> Tensor<4> {
        self.layers.iter().fold(x, |x, layer| {
            let x = if layer.pad_top_left {
                x.pad([(1, 0), (1, 0)], PadMode::Constant(0.0))
            } else {
                x
            };
            let y = layer.conv.forward(x);
            match (&layer.norm, layer.activate) {
                (Some(norm), true) => norm.forward_activated(y, mode, Activation::LeakyRelu(0.2)),
                (Some(norm), false) => norm.forward(y, mode),
                (None, true) => leaky_relu_02(y),
                (None, false) => y,
            }
        })
    }

    /// Whether a batch's samples go through independently (see [`NormKind::per_sample`]).
    pub fn per_sample(&self) -> bool {
        self.layers
            .iter()
            .all(|l| l.norm.as_ref().is_none_or(|n| n.kind().per_sample()))
    }
}

impl Params for Discriminator {
    fn visit(&mut self, prefix: &str, v: &mut Visitor<'_>) {
        for layer in &mut self.layers {
            let at = |i: usize| key(prefix, &format!("{}.{i}", self.prefix));
            layer.conv.visit(&at(layer.index), v);
            if let Some(norm) = &mut layer.norm {
                norm.visit(&at(layer.index + 1), v);
            }
        }
    }
}
