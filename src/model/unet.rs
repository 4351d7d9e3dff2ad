//! The U-Net generator (upstream `UnetGenerator` / `UnetSkipConnectionBlock` in
//! `models/networks.py`), pix2pix's default: `num_downs` stride-2 4×4 convolutions down to 1×1
//! at 2^num_downs input, mirrored by transposed convolutions, each level concatenating its input
//! to its output (the skip connection).
//!
//! Upstream nests blocks, so keys nest too: the outermost block is `model.model`, its child
//! `model.model.1.model`, then each deeper block sits at `.3.model` of its parent.

use burn::tensor::activation::tanh;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::dropout::dropout;
use super::layers::{Conv2d, ConvTranspose2d, Mode, Norm2d, NormKind, key, leaky_relu_02, relu4};
use super::params::{Params, Visitor};

/// The U-Net's architecture (upstream `--netG unet_128` / `unet_256`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnetGeneratorConfig {
    pub input_nc: usize,
    pub output_nc: usize,
    /// Number of stride-2 downsamplings; an input side must be a multiple of 2^num_downs.
    pub num_downs: usize,
    pub ngf: usize,
    pub norm: NormKind,
    pub use_bias: bool,
    pub use_dropout: bool,
}

impl UnetGeneratorConfig {
    /// The smallest `num_downs` upstream's construction allows (three fixed outer levels, the
    /// innermost, and one more below `ngf·8`).
    pub const MIN_DOWNS: usize = 5;

    pub fn official(input_nc: usize, output_nc: usize, num_downs: usize, ngf: usize) -> Self {
        Self {
            input_nc,
            output_nc,
            num_downs,
            ngf,
            norm: NormKind::Instance,
            use_bias: NormKind::Instance.conv_bias(),
            use_dropout: false,
        }
    }

    /// `--netG unet_256`: 8 downsamplings.
    pub fn unet_256() -> Self {
        Self::official(3, 3, 8, 64)
    }

    /// `--netG unet_128`: 7 downsamplings.
    pub fn unet_128() -> Self {
        Self::official(3, 3, 7, 64)
    }

    /// Builds the nested blocks from the innermost outwards, as upstream does.
    pub fn init(&self, device: &Device) -> UnetGenerator {
        let ngf = self.ngf;
        let block = |outer: usize, inner: usize, input: usize, level: Level, dropout: bool, sub| {
            UnetBlock::new(
                [outer, inner, input],
                level,
                sub,
                (self.norm, self.use_bias, dropout),
                device,
            )
        };
        let mut b = block(8 * ngf, 8 * ngf, 8 * ngf, Level::Innermost, false, None);
        for _ in 0..self.num_downs.saturating_sub(Self::MIN_DOWNS) {
            b = block(
                8 * ngf,
                8 * ngf,
                8 * ngf,
                Level::Middle,
                self.use_dropout,
                Some(b),
            );
        }
        for (outer, inner) in [(4 * ngf, 8 * ngf), (2 * ngf, 4 * ngf), (ngf, 2 * ngf)] {
            b = block(outer, inner, outer, Level::Middle, false, Some(b));
        }
        let root = block(
            self.output_nc,
            ngf,
            self.input_nc,
            Level::Outermost,
            false,
            Some(b),
        );
        UnetGenerator {
            root,
            norm: self.norm,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Outermost,
    Middle,
    Innermost,
}

#[derive(Debug)]
struct UnetBlock {
    level: Level,
    downconv: Conv2d,
    downnorm: Option<Norm2d>,
    sub: Option<Box<UnetBlock>>,
    upconv: ConvTranspose2d,
    upnorm: Option<Norm2d>,
    use_dropout: bool,
}

impl UnetBlock {
    fn new(
        [outer_nc, inner_nc, input_nc]: [usize; 3],
        level: Level,
        sub: Option<UnetBlock>,
        (norm, bias, use_dropout): (NormKind, bool, bool),
        device: &Device,
    ) -> Self {
        // Below the outermost level the up path sees its input concatenated to the sub-block's.
        let up_in = if level == Level::Innermost {
            inner_nc
        } else {
            2 * inner_nc
        };
        let up_bias = level == Level::Outermost || bias;
        Self {
            level,
            downconv: Conv2d::new([input_nc, inner_nc], 4, 2, 1, bias, device),
            downnorm: (level == Level::Middle).then(|| Norm2d::new(norm, inner_nc, device)),
            sub: sub.map(Box::new),
            upconv: ConvTranspose2d::new([up_in, outer_nc], 4, [2, 1, 0], up_bias, device),
            upnorm: (level != Level::Outermost).then(|| Norm2d::new(norm, outer_nc, device)),
            use_dropout,
        }
    }

    fn forward(&self, x: Tensor<4>, mode: Mode) -> Tensor<4> {
        // The outermost level has no LeakyReLU in front of its first convolution.
        let mut y = if self.level == Level::Outermost {
            self.downconv.forward(x.clone())
        } else {
            self.downconv.forward(leaky_relu_02(x.clone()))
        };
        if let Some(norm) = &self.downnorm {
            y = norm.forward(y, mode);
        }
        if let Some(sub) = &self.sub {
            y = sub.forward(y, mode);
        }
        let mut y = self.upconv.forward(relu4(y));
        if let Some(norm) = &self.upnorm {
            y = norm.forward(y, mode);
        }
        if self.use_dropout {
            y = dropout(y, mode);
        }
        match self.level {
            Level::Outermost => tanh(y),
            _ => Tensor::cat(vec![x, y], 1),
        }
    }

    /// Indices in the block's `nn.Sequential`: [downconv, sub, uprelu, upconv, tanh] outermost;
    /// [downrelu, downconv, uprelu, upconv, upnorm] innermost; and [downrelu, downconv,
    /// downnorm, sub, uprelu, upconv, upnorm] in between.
    fn visit(&mut self, prefix: &str, v: &mut Visitor<'_>) {
        let (down, sub, up) = match self.level {
            Level::Outermost => (0, 1, 3),
            Level::Innermost => (1, 0, 3),
            Level::Middle => (1, 3, 5),
        };
        self.downconv.visit(&key(prefix, &down.to_string()), v);
        if let Some(norm) = &mut self.downnorm {
            norm.visit(&key(prefix, &(down + 1).to_string()), v);
        }
        if let Some(child) = &mut self.sub {
            child.visit(&key(prefix, &format!("{sub}.model")), v);
        }
        self.upconv.visit(&key(prefix, &up.to_string()), v);
        if let Some(norm) = &mut self.upnorm {
            norm.visit(&key(prefix, &(up + 1).to_string()), v);
        }
    }
}

/// The U-Net generator; build it with [`UnetGeneratorConfig::init`].
#[derive(Debug)]
pub struct UnetGenerator {
    root: UnetBlock,
    norm: NormKind,
}

impl UnetGenerator {
    pub fn norm(&self) -> NormKind {
        self.norm
    }

    /// # Shapes
    /// `x`: `[b, input_nc, h, w]`, h and w multiples of 2^num_downs → `[b, output_nc, h, w]`
    pub fn forward(&self, x: Tensor<4>, mode: Mode) -> Tensor<4> {
        self.root.forward(x, mode)
    }
}

impl Params for UnetGenerator {
    fn visit(&mut self, prefix: &str, v: &mut Visitor<'_>) {
        self.root.visit(&key(prefix, "model.model"), v);
    }
}
