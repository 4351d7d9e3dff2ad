//! One pix2pix iteration, in upstream's order (`Pix2PixModel.optimize_parameters`):
//!
//! 1. forward: `fake_B = G(real_A)`;
//! 2. discriminator first: `D_fake = GAN(D(cat(A, fake_B).detach()), false)`, then
//!    `D_real = GAN(D(cat(A, B)), true)`, backward `0.5·(D_fake + D_real)`, Adam step of D;
//! 3. generator against the **updated** discriminator: `G_GAN = GAN(D(cat(A, fake_B)), true)`,
//!    `G_L1 = λ_L1·L1(fake_B, B)`, backward the sum, Adam step of G.
//!
//! D runs three times (three separate calls: with batch norm each moves its running
//! statistics, as upstream's do), G once. There is no image pool: upstream's pix2pix has none.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::networks::{NamedNetworks, NetMut};
use super::step::{Optimizers, attach, scalar, step};
use crate::model::loss::{GanMode, l1};
use crate::model::{
    Discriminator, DiscriminatorConfig, Generator, GeneratorConfig, InitType, Mode, NetworkConfig,
};

/// pix2pix's network names, as upstream spells them (`model_names = ['G', 'D']`).
pub const G: &str = "G";
pub const D: &str = "D";

/// The networks and objective of a pix2pix run (upstream `--netG --netD --lambda_L1 ...`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pix2PixConfig {
    /// `G`: A → B.
    pub g: GeneratorConfig,
    /// `D`: judges the `input_nc + output_nc` channels of `cat(A, B)`.
    pub d: DiscriminatorConfig,
    pub init_type: InitType,
    pub init_gain: f64,
    pub gan_mode: GanMode,
    pub lambda_l1: f64,
}

impl Pix2PixConfig {
    pub fn named(&self) -> Vec<(&'static str, NetworkConfig)> {
        vec![
            (G, NetworkConfig::Generator(self.g.clone())),
            (D, NetworkConfig::Discriminator(self.d.clone())),
        ]
    }
}

/// The two networks of a pix2pix model.
#[derive(Debug)]
pub struct Pix2PixNetworks {
    pub g: Generator,
    pub d: Discriminator,
}

impl NamedNetworks for Pix2PixNetworks {
    fn named_mut(&mut self) -> Vec<(&'static str, NetMut<'_>)> {
        vec![
            (G, NetMut::Generator(&mut self.g)),
            (D, NetMut::Discriminator(&mut self.d)),
        ]
    }
}

/// The four losses of an iteration, named and ordered as upstream's `loss_names`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Pix2PixLosses {
    pub g_gan: f64,
    pub g_l1: f64,
    pub d_real: f64,
    pub d_fake: f64,
}

impl Pix2PixLosses {
    pub const NAMES: [&'static str; 4] = ["G_GAN", "G_L1", "D_real", "D_fake"];

    pub fn values(&self) -> [f64; 4] {
        [self.g_gan, self.g_l1, self.d_real, self.d_fake]
    }
}

/// `cat(a, b)` along the channels: the conditional discriminator's input.
fn pair(a: &Tensor<4>, b: Tensor<4>) -> Tensor<4> {
    Tensor::cat(vec![a.clone(), b], 1)
}

/// Upstream's `backward_D`: `(D_fake, D_real)` on the detached fake and the real pair, each
/// a separate call of `d` (batch statistics move at each).
pub fn discriminator_losses(
    d: &Discriminator,
    real_a: &Tensor<4>,
    real_b: &Tensor<4>,
    fake_b: &Tensor<4>,
    gan: GanMode,
) -> (Tensor<1>, Tensor<1>) {
    let pred_fake = d.forward(pair(real_a, fake_b.clone().inner()), Mode::Train);
    let loss_d_fake = gan.loss(pred_fake, false);
    let pred_real = d.forward(pair(real_a, real_b.clone()), Mode::Train);
    let loss_d_real = gan.loss(pred_real, true);
    (loss_d_fake, loss_d_real)
}

/// Upstream's `backward_G`: `(G_GAN, G_L1)`, `fake_b` judged by `d` beside `real_a`.
pub fn generator_losses(
    d: &Discriminator,
    real_a: &Tensor<4>,
    real_b: &Tensor<4>,
    fake_b: &Tensor<4>,
    config: &Pix2PixConfig,
) -> (Tensor<1>, Tensor<1>) {
    let pred = d.forward(pair(real_a, fake_b.clone()), Mode::Train);
    let loss_g_gan = config.gan_mode.loss(pred, true);
    let loss_g_l1 = l1(fake_b.clone(), real_b.clone()) * config.lambda_l1;
    (loss_g_gan, loss_g_l1)
}

/// Runs one iteration on `real_a`, `real_b` (`[b, c, h, w]` in [-1, 1], without autodiff) at
/// learning rate `lr`; returns the losses and `[real_A, fake_B, real_B]` for the samples.
pub fn pix2pix_step(
    nets: &mut Pix2PixNetworks,
    optim: &mut Optimizers,
    real_a: Tensor<4>,
    real_b: Tensor<4>,
    config: &Pix2PixConfig,
    lr: f64,
) -> (Pix2PixLosses, [Tensor<4>; 3]) {
    attach(&mut nets.g);
    let fake_b = nets.g.forward(real_a.clone(), Mode::Train);

    // D on the detached fake, then on the real pair; G is not reached.
    attach(&mut nets.d);
    let (loss_d_fake, loss_d_real) =
        discriminator_losses(&nets.d, &real_a, &real_b, &fake_b, config.gan_mode);
    let mut out = Pix2PixLosses {
        d_fake: scalar(&loss_d_fake),
        d_real: scalar(&loss_d_real),
        ..Pix2PixLosses::default()
    };
    let grads = ((loss_d_fake + loss_d_real) * 0.5).backward();
    optim.d.begin_step();
    step(&mut nets.d, D, &grads, &mut optim.d, lr);
    drop(grads);

    // G against the updated D, whose weights are now constants (upstream's
    // `set_requires_grad(self.netD, False)`).
    let (loss_g_gan, loss_g_l1) = generator_losses(&nets.d, &real_a, &real_b, &fake_b, config);
    out.g_gan = scalar(&loss_g_gan);
    out.g_l1 = scalar(&loss_g_l1);
    let grads = (loss_g_gan + loss_g_l1).backward();
    optim.g.begin_step();
    step(&mut nets.g, G, &grads, &mut optim.g, lr);

    (out, [real_a, fake_b.inner(), real_b])
}
