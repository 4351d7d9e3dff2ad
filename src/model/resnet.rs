//! The ResNet generator of CycleGAN (upstream `ResnetGenerator` in `models/networks.py`,
//! after Johnson et al.): a 7×7 stem, two stride-2 downsamplings, `n_blocks` residual blocks at
//! 4·ngf channels, two ×2 upsamplings and a 7×7 head with tanh.
//!
//! Upstream builds it as one `nn.Sequential` named `model`, so parameters are keyed by their
//! position in that list (`model.1.weight`, `model.10.conv_block.5.weight`, …); [`Layout`]
//! computes those positions so the official state_dict maps one to one.

use burn::tensor::activation::tanh;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::dropout::dropout;
use super::layers::{Conv2d, ConvTranspose2d, Mode, Norm2d, NormKind, key, reflection_pad};
use super::params::{Params, Visitor};
use crate::ops::Activation;

/// How the two ×2 up-samplings are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Upsampling {
    /// `ConvTranspose2d(k=3, s=2, p=1, output_padding=1)`, upstream's.
    Transpose,
    /// `Upsample(scale_factor=2)` (nearest) then a 3×3 convolution, the seed's
    /// (eriklindernoren/PyTorch-GAN): no checkerboard artefacts.
    Resize,
}

/// The attribute name of a residual block's `nn.Sequential`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockNaming {
    /// `conv_block`, upstream's.
    ConvBlock,
    /// `block`, the seed's.
    Block,
}

impl BlockNaming {
    fn attr(self) -> &'static str {
        match self {
            BlockNaming::ConvBlock => "conv_block",
            BlockNaming::Block => "block",
        }
    }
}

/// The ResNet generator's architecture (upstream `--netG resnet_<N>blocks`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResnetGeneratorConfig {
    pub input_nc: usize,
    pub output_nc: usize,
    pub ngf: usize,
    pub n_blocks: usize,
    pub norm: NormKind,
    /// Whether the convolutions in front of a norm carry a bias (upstream's `use_bias`).
    pub use_bias: bool,
    pub use_dropout: bool,
    pub upsampling: Upsampling,
    pub block_naming: BlockNaming,
}

impl ResnetGeneratorConfig {
    /// Upstream's `resnet_<n_blocks>blocks` with its defaults (instance norm, no dropout).
    pub fn official(input_nc: usize, output_nc: usize, ngf: usize, n_blocks: usize) -> Self {
        Self {
            input_nc,
            output_nc,
            ngf,
            n_blocks,
            norm: NormKind::Instance,
            use_bias: NormKind::Instance.conv_bias(),
            use_dropout: false,
            upsampling: Upsampling::Transpose,
            block_naming: BlockNaming::ConvBlock,
        }
    }

    /// `--netG resnet_9blocks`, the CycleGAN default for 256×256.
    pub fn resnet_9blocks() -> Self {
        Self::official(3, 3, 64, 9)
    }

    /// `--netG resnet_6blocks`, upstream's choice for 128×128.
    pub fn resnet_6blocks() -> Self {
        Self::official(3, 3, 64, 6)
    }

    pub fn layout(&self) -> Layout {
        Layout {
            n_blocks: self.n_blocks,
            upsampling: self.upsampling,
            use_dropout: self.use_dropout,
        }
    }

    pub fn init(&self, device: &Device) -> ResnetGenerator {
        let ngf = self.ngf;
        let (norm, bias) = (self.norm, self.use_bias);
        let stem = Conv2d::new([self.input_nc, ngf], 7, 1, 0, bias, device);
        let down = (0..2)
            .map(|i| {
                let c = ngf << i;
                (
                    Conv2d::new([c, 2 * c], 3, 2, 1, bias, device),
                    Norm2d::new(norm, 2 * c, device),
                )
            })
            .collect();
        let blocks = (0..self.n_blocks)
            .map(|_| {
                ResnetBlock::new(
                    4 * ngf,
                    norm,
                    bias,
                    self.use_dropout,
                    self.block_naming,
                    device,
                )
            })
            .collect();
        let up = (0..2)
            .map(|i| {
                let c = ngf << (2 - i);
                let conv = match self.upsampling {
                    Upsampling::Transpose => {
                        Up::Transpose(ConvTranspose2d::new([c, c / 2], 3, [2, 1, 1], bias, device))
                    }
                    Upsampling::Resize => {
                        Up::Resize(Conv2d::new([c, c / 2], 3, 1, 1, bias, device))
                    }
                };
                (conv, Norm2d::new(norm, c / 2, device))
            })
            .collect();
        ResnetGenerator {
            stem,
            stem_norm: Norm2d::new(norm, ngf, device),
            down,
            blocks,
            up,
            head: Conv2d::new([ngf, self.output_nc], 7, 1, 0, true, device),
            layout: self.layout(),
        }
    }
}

/// Positions of the layers in upstream's `nn.Sequential`, which are their state_dict keys.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    n_blocks: usize,
    upsampling: Upsampling,
    use_dropout: bool,
}

impl Layout {
    /// ReflectionPad, Conv, Norm, ReLU: the stem conv is `model.1`, its norm `model.2`.
    pub const STEM: usize = 1;
    /// Each downsampling is Conv, Norm, ReLU starting at 4 and 7.
    pub fn down(i: usize) -> usize {
        4 + 3 * i
    }
    pub fn block(i: usize) -> usize {
        10 + i
    }
    /// Index of the i-th up-sampling convolution; its norm follows it.
    pub fn up(&self, i: usize) -> usize {
        match self.upsampling {
            Upsampling::Transpose => 10 + self.n_blocks + 3 * i,
            // Upsample, Conv, Norm, ReLU.
            Upsampling::Resize => 11 + self.n_blocks + 4 * i,
        }
    }
    /// The head conv, after the last up-sampling's Norm, ReLU and a ReflectionPad.
    pub fn head(&self) -> usize {
        self.up(1) + 4
    }
    /// In a block: Pad, Conv, Norm, ReLU, [Dropout], Pad, Conv, Norm.
    pub const BLOCK_CONV1: usize = 1;
    pub fn block_conv2(&self) -> usize {
        if self.use_dropout { 6 } else { 5 }
    }
}

#[derive(Debug)]
enum Up {
    Transpose(ConvTranspose2d),
    Resize(Conv2d),
}

/// One residual block: `x + conv_block(x)`.
#[derive(Debug)]
pub struct ResnetBlock {
    conv1: Conv2d,
    norm1: Norm2d,
    conv2: Conv2d,
    norm2: Norm2d,
    use_dropout: bool,
    naming: BlockNaming,
}

impl ResnetBlock {
    fn new(
        dim: usize,
        norm: NormKind,
        bias: bool,
        use_dropout: bool,
        naming: BlockNaming,
        device: &Device,
    ) -> Self {
        Self {
            conv1: Conv2d::new([dim, dim], 3, 1, 0, bias, device),
            norm1: Norm2d::new(norm, dim, device),
            conv2: Conv2d::new([dim, dim], 3, 1, 0, bias, device),
            norm2: Norm2d::new(norm, dim, device),
            use_dropout,
            naming,
        }
    }

    fn forward(&self, x: Tensor<4>, mode: Mode) -> Tensor<4> {
        let y = self.conv1.forward(reflection_pad(x.clone(), 1));
        let mut y = self.norm1.forward_activated(y, mode, Activation::Relu);
        if self.use_dropout {
            y = dropout(y, mode);
        }
        let y = self.conv2.forward(reflection_pad(y, 1));
        x + self.norm2.forward(y, mode)
    }
}

/// The ResNet generator; build it with [`ResnetGeneratorConfig::init`].
#[derive(Debug)]
pub struct ResnetGenerator {
    stem: Conv2d,
    stem_norm: Norm2d,
    down: Vec<(Conv2d, Norm2d)>,
    blocks: Vec<ResnetBlock>,
    up: Vec<(Up, Norm2d)>,
    head: Conv2d,
    layout: Layout,
}

impl ResnetGenerator {
    pub fn norm(&self) -> NormKind {
        self.stem_norm.kind()
    }

    /// # Shapes
    /// `x`: `[b, input_nc, h, w]` with h, w multiples of 4 → `[b, output_nc, h, w]` in (-1, 1)
    pub fn forward(&self, x: Tensor<4>, mode: Mode) -> Tensor<4> {
        let x = self.stem.forward(reflection_pad(x, 3)); // [b, ngf, h, w]
        let mut x = self.stem_norm.forward_activated(x, mode, Activation::Relu);
        for (conv, norm) in &self.down {
            x = norm.forward_activated(conv.forward(x), mode, Activation::Relu); // [b, 2c, h/2, w/2]
        }
        for block in &self.blocks {
            x = block.forward(x, mode); // [b, 4·ngf, h/4, w/4]
        }
        for (up, norm) in &self.up {
            let y = match up {
                Up::Transpose(conv) => conv.forward(x),
                Up::Resize(conv) => conv.forward(upsample_nearest2(x)),
            };
            x = norm.forward_activated(y, mode, Activation::Relu); // [b, c/2, 2h, 2w]
        }
        tanh(self.head.forward(reflection_pad(x, 3))) // [b, output_nc, h, w]
    }
}

/// `nn.Upsample(scale_factor=2)` (mode `nearest`).
fn upsample_nearest2(x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let options =
        InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([2 * h, 2 * w]);
    interpolate(x, options)
}

impl Params for ResnetGenerator {
    fn visit(&mut self, prefix: &str, v: &mut Visitor<'_>) {
        let at = |i: usize| key(prefix, &format!("model.{i}"));
        self.stem.visit(&at(Layout::STEM), v);
        self.stem_norm.visit(&at(Layout::STEM + 1), v);
        for (i, (conv, norm)) in self.down.iter_mut().enumerate() {
            conv.visit(&at(Layout::down(i)), v);
            norm.visit(&at(Layout::down(i) + 1), v);
        }
        let conv2 = self.layout.block_conv2();
        for (i, block) in self.blocks.iter_mut().enumerate() {
            let p = format!("{}.{}", at(Layout::block(i)), block.naming.attr());
            block
                .conv1
                .visit(&key(&p, &Layout::BLOCK_CONV1.to_string()), v);
            block
                .norm1
                .visit(&key(&p, &(Layout::BLOCK_CONV1 + 1).to_string()), v);
            block.conv2.visit(&key(&p, &conv2.to_string()), v);
            block.norm2.visit(&key(&p, &(conv2 + 1).to_string()), v);
        }
        for (i, (up, norm)) in self.up.iter_mut().enumerate() {
            let idx = self.layout.up(i);
            match up {
                Up::Transpose(conv) => conv.visit(&at(idx), v),
                Up::Resize(conv) => conv.visit(&at(idx), v),
            }
            norm.visit(&at(idx + 1), v);
        }
        self.head.visit(&at(self.layout.head()), v);
    }
}
