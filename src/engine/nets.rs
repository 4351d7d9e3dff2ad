//! The networks as plan ops: upstream's ResNet generator and N-layer PatchGAN, with instance
//! norm, under their official state-dict keys (the same keys `model::resnet` and
//! `model::discriminator` load). Other architectures are refused with what is supported.

use super::plan::{Buf, Builder, Plan};
use crate::model::layers::NormKind;
use crate::model::resnet::Upsampling;
use crate::model::{DiscriminatorConfig, GeneratorConfig};
use crate::ops::Activation;

/// The program name of [`ResnetPlan::forward_plan`].
pub const FORWARD: &str = "forward";

/// The slope of upstream's `nn.LeakyReLU(0.2, True)` in the discriminators.
const LEAKY: Activation = Activation::LeakyRelu(0.2);

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(
        "the GPU engine supports upstream's ResNet generator (`--netG resnet_<n>blocks`, instance norm, transposed-convolution up-sampling, no dropout); this run asks for {0}"
    )]
    Generator(String),
    #[error(
        "the GPU engine supports upstream's N-layer PatchGAN (`--netD basic` or `n_layers`, instance norm); this run asks for {0}"
    )]
    Discriminator(String),
}

/// The checked architecture of a generator the plan can build.
#[derive(Clone, Debug)]
pub struct ResnetPlan {
    pub input_nc: usize,
    pub output_nc: usize,
    pub ngf: usize,
    pub n_blocks: usize,
    pub use_bias: bool,
}

impl ResnetPlan {
    pub fn new(config: &GeneratorConfig) -> Result<Self, PlanError> {
        let GeneratorConfig::Resnet(c) = config else {
            return Err(PlanError::Generator(format!("{config:?}")));
        };
        if c.norm != NormKind::Instance || c.use_dropout || c.upsampling != Upsampling::Transpose {
            return Err(PlanError::Generator(format!("{c:?}")));
        }
        Ok(Self {
            input_nc: c.input_nc,
            output_nc: c.output_nc,
            ngf: c.ngf,
            n_blocks: c.n_blocks,
            use_bias: c.use_bias,
        })
    }

    /// A plan of one program, `forward`, that runs network `G` on the input `input` of
    /// `[batch, input_nc, h, w]` (what `translate` and `test` run); returns the plan and its
    /// input and output buffers.
    pub fn forward_plan(&self, [batch, h, w]: [usize; 3]) -> (Plan, Buf, Buf) {
        let mut b = Builder::new();
        let x = b.input("input", vec![batch, self.input_nc, h, w]);
        b.begin(&[]);
        let y = self.forward(&mut b, "G", x);
        b.end(FORWARD);
        (b.finish(), x, y)
    }

    /// `y = G(x)` for network `net`.
    pub fn forward(&self, b: &mut Builder, net: &str, x: Buf) -> Buf {
        let ngf = self.ngf;
        let conv = |b: &mut Builder, x: Buf, key: &str, shape: [usize; 4], bias: bool| {
            let w = b.param(net, &format!("{key}.weight"), shape.to_vec());
            let bias = bias.then(|| b.param(net, &format!("{key}.bias"), vec![shape[0]]));
            (x, w, bias)
        };
        // model.0 pad, model.1 conv 7×7, model.2 norm, model.3 ReLU.
        let h = b.reflect_pad(x, 3);
        let (h, w, bias) = conv(b, h, "model.1", [ngf, self.input_nc, 7, 7], self.use_bias);
        let h = b.conv(h, w, bias, 1, 0, Activation::Identity);
        let mut h = b.instance_norm(h, Activation::Relu);
        // model.4 and model.7: stride-2 3×3 down-samplings, each with norm and ReLU.
        for i in 0..2 {
            let c = ngf << i;
            let key = format!("model.{}", 4 + 3 * i);
            let (x, w, bias) = conv(b, h, &key, [2 * c, c, 3, 3], self.use_bias);
            let y = b.conv(x, w, bias, 2, 1, Activation::Identity);
            h = b.instance_norm(y, Activation::Relu);
        }
        // model.10…: residual blocks, `conv_block` = pad, conv, norm, ReLU, pad, conv, norm.
        let c = 4 * ngf;
        for i in 0..self.n_blocks {
            let block = format!("model.{}.conv_block", 10 + i);
            let mut y = h;
            for (j, act) in [(1, Some(Activation::Relu)), (5, None)] {
                let p = b.reflect_pad(y, 1);
                let (p, w, bias) = conv(b, p, &format!("{block}.{j}"), [c, c, 3, 3], self.use_bias);
                let z = b.conv(p, w, bias, 1, 0, Activation::Identity);
                y = b.instance_norm(z, act.unwrap_or(Activation::Identity));
            }
            h = b.add(h, y);
        }
        // Two transposed convolutions (k 3, stride 2, padding 1, output padding 1).
        for i in 0..2 {
            let c = ngf << (2 - i);
            let key = format!("model.{}", 10 + self.n_blocks + 3 * i);
            let w = b.param(net, &format!("{key}.weight"), vec![c, c / 2, 3, 3]);
            let bias = self
                .use_bias
                .then(|| b.param(net, &format!("{key}.bias"), vec![c / 2]));
            let y = b.conv_transpose(h, w, bias, 2, 1, 1);
            h = b.instance_norm(y, Activation::Relu);
        }
        // Pad, 7×7 convolution to output_nc (always with a bias), tanh.
        let p = b.reflect_pad(h, 3);
        let key = format!("model.{}", 17 + self.n_blocks);
        let (p, w, bias) = conv(b, p, &key, [self.output_nc, ngf, 7, 7], true);
        let y = b.conv(p, w, bias, 1, 0, Activation::Identity);
        b.tanh(y)
    }
}

/// The checked architecture of a discriminator the plan can build.
#[derive(Clone, Debug)]
pub struct PatchGanPlan {
    pub input_nc: usize,
    pub ndf: usize,
    pub n_layers: usize,
    pub use_bias: bool,
}

impl PatchGanPlan {
    pub fn new(config: &DiscriminatorConfig) -> Result<Self, PlanError> {
        match *config {
            DiscriminatorConfig::NLayers {
                input_nc,
                ndf,
                n_layers,
                norm: NormKind::Instance,
                use_bias,
            } if n_layers >= 1 => Ok(Self {
                input_nc,
                ndf,
                n_layers,
                use_bias,
            }),
            _ => Err(PlanError::Discriminator(format!("{config:?}"))),
        }
    }

    /// The patch scores `D(x)` of network `net`.
    pub fn forward(&self, b: &mut Builder, net: &str, x: Buf) -> Buf {
        let layer = |b: &mut Builder,
                     x: Buf,
                     index: usize,
                     [c_out, c_in]: [usize; 2],
                     bias: bool,
                     stride,
                     act| {
            let key = format!("model.{index}");
            let w = b.param(net, &format!("{key}.weight"), vec![c_out, c_in, 4, 4]);
            let bias = bias.then(|| b.param(net, &format!("{key}.bias"), vec![c_out]));
            b.conv(x, w, bias, stride, 1, act)
        };
        // model.0 conv (always biased) with model.1's leaky ReLU folded in.
        let mut h = layer(b, x, 0, [self.ndf, self.input_nc], true, 2, LEAKY);
        let mut mult = 1;
        for n in 1..=self.n_layers {
            let prev = mult;
            mult = (1 << n).min(8);
            // The last of these keeps the resolution (stride 1), the others halve it.
            let stride = if n < self.n_layers { 2 } else { 1 };
            let index = 2 + 3 * (n - 1);
            let y = layer(
                b,
                h,
                index,
                [self.ndf * mult, self.ndf * prev],
                self.use_bias,
                stride,
                Activation::Identity,
            );
            h = b.instance_norm(y, LEAKY);
        }
        let index = 2 + 3 * self.n_layers;
        layer(
            b,
            h,
            index,
            [1, self.ndf * mult],
            true,
            1,
            Activation::Identity,
        )
    }
}
