//! One CycleGAN iteration, in upstream's order (`CycleGANModel.optimize_parameters`):
//!
//! 1. forward: `fake_b = g_a(real_a)`, `rec_a = g_b(fake_b)`, `fake_a = g_b(real_b)`,
//!    `rec_b = g_a(fake_a)` (and the identity images), calls of one network stacked into one
//!    batch where that gives the same values;
//! 2. generators: the objective of [`crate::model::loss`] with the discriminators frozen, one
//!    Adam step over both generators;
//! 3. discriminators: each on its real images and on pooled, detached fakes, one Adam step over
//!    both.
//!
//! Parameters live without autodiff between steps; a step attaches the networks it trains to
//! the autodiff graph as leaves, so the frozen networks enter as constants (upstream's
//! `set_requires_grad(False)`) and no gradient is computed for them.

use burn::tensor::{Gradients, Tensor};
use serde::{Deserialize, Serialize};

use super::adam::Adam;
use super::networks::{Kind, NamedNetworks, Networks};
use super::pool::ImagePool;
use crate::model::loss::{GanMode, l1};
use crate::model::{Discriminator, Generator, Mode, ParamMut, Params};
use crate::ops::{self, profile::timed};

/// The loss weights (upstream `--lambda_A --lambda_B --lambda_identity --gan_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LossConfig {
    pub gan_mode: GanMode,
    pub lambda_a: f64,
    pub lambda_b: f64,
    pub lambda_identity: f64,
    /// `--recipe seed`: the seed's objective ([`super::seed`]) with its weights, in place of
    /// the lambdas above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<super::seed::SeedLoss>,
}

impl LossConfig {
    /// Upstream's defaults: lsgan, λ_A = λ_B = 10, identity 0.5.
    pub fn official() -> Self {
        LossConfig {
            gan_mode: GanMode::Lsgan,
            lambda_a: 10.0,
            lambda_b: 10.0,
            lambda_identity: 0.5,
            seed: None,
        }
    }
}

/// The two optimisers: one over both generators, one over both discriminators.
#[derive(Debug)]
pub struct Optimizers {
    pub g: Adam,
    pub d: Adam,
}

/// The pools of generated images shown to the discriminators: `fake_a_pool` feeds `d_b`.
#[derive(Debug)]
pub struct Pools {
    pub fake_a: ImagePool,
    pub fake_b: ImagePool,
}

/// The eight losses of an iteration, named as upstream logs them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepLosses {
    pub d_a: f64,
    pub g_a: f64,
    pub cycle_a: f64,
    pub idt_a: f64,
    pub d_b: f64,
    pub g_b: f64,
    pub cycle_b: f64,
    pub idt_b: f64,
}

impl StepLosses {
    /// Upstream's `loss_names` order, with its spelling.
    pub const NAMES: [&'static str; 8] = [
        "D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B",
    ];

    pub fn values(&self) -> [f64; 8] {
        [
            self.d_a,
            self.g_a,
            self.cycle_a,
            self.idt_a,
            self.d_b,
            self.g_b,
            self.cycle_b,
            self.idt_b,
        ]
    }

    pub fn all_finite(&self) -> bool {
        self.values().iter().all(|v| v.is_finite())
    }
}

/// The images of an iteration, for sample grids (upstream's `visual_names`), without autodiff.
#[derive(Debug)]
pub struct Visuals {
    pub real_a: Tensor<4>,
    pub fake_b: Tensor<4>,
    pub rec_a: Tensor<4>,
    pub idt_b: Option<Tensor<4>>,
    pub real_b: Tensor<4>,
    pub fake_a: Tensor<4>,
    pub rec_b: Tensor<4>,
    pub idt_a: Option<Tensor<4>>,
}

/// The generators' forward pass and objective, built on the autodiff graph of whatever
/// networks are attached (see [`attach`]); upstream's `forward` + `backward_G` without the
/// backward.
pub struct GeneratorPass {
    pub loss_g: Tensor<1>,
    pub losses: StepLosses,
    pub generated: Generated,
}

/// Upstream's `backward_G`, term by term in its order and naming.
pub fn generator_pass(
    nets: &Networks,
    real_a: &Tensor<4>,
    real_b: &Tensor<4>,
    loss: &LossConfig,
) -> GeneratorPass {
    let LossConfig {
        gan_mode,
        lambda_a,
        lambda_b,
        lambda_identity,
        ..
    } = *loss;
    let generated = generate(nets, real_a, real_b, lambda_identity > 0.0);
    let Generated {
        fake_b,
        rec_a,
        fake_a,
        rec_b,
        idt_a,
        idt_b,
    } = &generated;
    // Identity losses: G_A fed real_B should return it unchanged, weighted by lambda_B (and
    // G_B fed real_A by lambda_A), as upstream weighs them.
    let loss_idt_a = idt_a
        .as_ref()
        .map(|idt_a| l1(idt_a.clone(), real_b.clone()) * (lambda_b * lambda_identity));
    let loss_idt_b = idt_b
        .as_ref()
        .map(|idt_b| l1(idt_b.clone(), real_a.clone()) * (lambda_a * lambda_identity));
    // GAN losses D_A(G_A(A)) and D_B(G_B(B)), the discriminators frozen.
    let loss_g_a = gan_mode.loss(nets.d_a.forward(fake_b.clone(), Mode::Train), true);
    let loss_g_b = gan_mode.loss(nets.d_b.forward(fake_a.clone(), Mode::Train), true);
    // Cycle losses ||G_B(G_A(A)) - A|| and ||G_A(G_B(B)) - B||.
    let loss_cycle_a = l1(rec_a.clone(), real_a.clone()) * lambda_a;
    let loss_cycle_b = l1(rec_b.clone(), real_b.clone()) * lambda_b;

    let losses = StepLosses {
        idt_a: loss_idt_a.as_ref().map_or(0.0, scalar),
        idt_b: loss_idt_b.as_ref().map_or(0.0, scalar),
        g_a: scalar(&loss_g_a),
        g_b: scalar(&loss_g_b),
        cycle_a: scalar(&loss_cycle_a),
        cycle_b: scalar(&loss_cycle_b),
        ..StepLosses::default()
    };
    // Upstream's sum; without identity its idt terms are zeros, left out here.
    let mut loss_g = loss_g_a + loss_g_b + loss_cycle_a + loss_cycle_b;
    if let (Some(idt_a), Some(idt_b)) = (loss_idt_a, loss_idt_b) {
        loss_g = loss_g + idt_a + idt_b;
    }
    GeneratorPass {
        loss_g,
        losses,
        generated,
    }
}

/// The generators' images of an iteration, by upstream's names: its `forward`'s four and, with
/// identity losses, the two `backward_G` adds.
pub struct Generated {
    pub fake_b: Tensor<4>,
    pub rec_a: Tensor<4>,
    pub fake_a: Tensor<4>,
    pub rec_b: Tensor<4>,
    pub idt_a: Option<Tensor<4>>,
    pub idt_b: Option<Tensor<4>>,
}

/// Upstream's six generator calls (`fake_B = G_A(real_A)`, `rec_A = G_B(fake_B)`,
/// `fake_A = G_B(real_B)`, `rec_B = G_A(fake_A)`, `idt_A = G_A(real_B)`, `idt_B = G_B(real_A)`)
/// as three: calls of one network that do not wait on each other run as one stacked batch
/// ([`forward_stacked`]). Where the step shares Winograd-transformed weights
/// ([`ops::shared::SharedWeights`]), G_A's two calls share theirs; G_B, called once, keeps none.
pub(super) fn generate(
    nets: &Networks,
    real_a: &Tensor<4>,
    real_b: &Tensor<4>,
    identity: bool,
) -> Generated {
    let (fake_b, idt_a) = if identity {
        let [fake_b, idt_a] = calls(&nets.g_a, [real_a, real_b]);
        (fake_b, Some(idt_a))
    } else {
        let [fake_b] = calls(&nets.g_a, [real_a]);
        (fake_b, None)
    };
    let (fake_a, idt_b, rec_a) = ops::shared::used_once(|| {
        if identity {
            let [fake_a, idt_b, rec_a] = calls(&nets.g_b, [real_b, real_a, &fake_b]);
            (fake_a, Some(idt_b), rec_a)
        } else {
            let [fake_a, rec_a] = calls(&nets.g_b, [real_b, &fake_b]);
            (fake_a, None, rec_a)
        }
    });
    let [rec_b] = calls(&nets.g_a, [&fake_a]);
    Generated {
        fake_b,
        rec_a,
        fake_a,
        rec_b,
        idt_a,
        idt_b,
    }
}

/// `g` on each of `xs`, stacked where that gives the same values; the outputs in their order.
fn calls<const N: usize>(g: &Generator, xs: [&Tensor<4>; N]) -> [Tensor<4>; N] {
    let ys = forward_stacked(
        |x| g.forward(x, Mode::Train),
        g.per_sample(),
        xs.map(Tensor::clone).to_vec(),
    );
    ys.try_into()
        .unwrap_or_else(|_| unreachable!("one output per input"))
}

/// Both discriminators' objectives on real images and the (pooled, detached) fakes.
pub fn discriminator_losses(
    nets: &Networks,
    real_a: &Tensor<4>,
    real_b: &Tensor<4>,
    pooled_fake_a: Tensor<4>,
    pooled_fake_b: Tensor<4>,
    gan: GanMode,
) -> (Tensor<1>, Tensor<1>) {
    (
        discriminator_loss(&nets.d_a, real_b.clone(), pooled_fake_b, gan),
        discriminator_loss(&nets.d_b, real_a.clone(), pooled_fake_a, gan),
    )
}

/// Runs one iteration on `real_a`, `real_b` (`[b, c, h, w]` in [-1, 1], without autodiff) at
/// learning rate `lr`, updating networks, optimisers and pools in place.
pub fn train_step(
    nets: &mut Networks,
    optim: &mut Optimizers,
    pools: &mut Pools,
    real_a: Tensor<4>,
    real_b: Tensor<4>,
    loss: &LossConfig,
    lr: f64,
) -> (StepLosses, Visuals) {
    // Generators, with the discriminators frozen.
    for (_, mut g) in nets.of_kind(Kind::Generator) {
        attach(&mut g);
    }
    // G_A's two calls share their transformed weights, forward and backward.
    let shared = ops::shared::SharedWeights::begin();
    let pass = timed(
        || "step: generators forward".into(),
        || match &loss.seed {
            Some(seed) => super::seed::generator_pass(nets, &real_a, &real_b, loss, seed),
            None => generator_pass(nets, &real_a, &real_b, loss),
        },
    );
    shared.end_forward();
    let mut out = pass.losses;
    // Keep the fakes' values before backward consumes their graph.
    let generated = pass.generated;
    let (fake_b, fake_a) = (generated.fake_b.inner(), generated.fake_a.inner());
    let grads = timed(
        || "step: generators backward".into(),
        || pass.loss_g.backward(),
    );
    drop(shared);
    timed(
        || "step: generators update".into(),
        || {
            optim.g.begin_step();
            for (name, mut g) in nets.of_kind(Kind::Generator) {
                step(&mut g, name, &grads, &mut optim.g, lr);
            }
            drop(grads);
        },
    );

    // Discriminators, on pooled fakes.
    for (_, mut d) in nets.of_kind(Kind::Discriminator) {
        attach(&mut d);
    }
    let pooled_b = pools.fake_b.query(fake_b.clone());
    let pooled_a = pools.fake_a.query(fake_a.clone());
    let (loss_d_a, loss_d_b) = timed(
        || "step: discriminators forward".into(),
        || discriminator_losses(nets, &real_a, &real_b, pooled_a, pooled_b, loss.gan_mode),
    );
    out.d_a = scalar(&loss_d_a);
    out.d_b = scalar(&loss_d_b);
    // The two losses share no parameters, so one backward of their sum gives each its own.
    let grads = timed(
        || "step: discriminators backward".into(),
        || (loss_d_a + loss_d_b).backward(),
    );
    timed(
        || "step: discriminators update".into(),
        || {
            optim.d.begin_step();
            for (name, mut d) in nets.of_kind(Kind::Discriminator) {
                step(&mut d, name, &grads, &mut optim.d, lr);
            }
        },
    );

    let visuals = Visuals {
        real_a,
        fake_b,
        rec_a: generated.rec_a.inner(),
        idt_b: generated.idt_b.map(Tensor::inner),
        real_b,
        fake_a,
        rec_b: generated.rec_b.inner(),
        idt_a: generated.idt_a.map(Tensor::inner),
    };
    (out, visuals)
}

/// Upstream `backward_D_basic`: 0.5·(loss(d(real), real) + loss(d(fake), fake)).
fn discriminator_loss(
    d: &Discriminator,
    real: Tensor<4>,
    fake: Tensor<4>,
    gan: GanMode,
) -> Tensor<1> {
    let [pred_real, pred_fake]: [Tensor<4>; 2] = forward_stacked(
        |x| d.forward(x, Mode::Train),
        d.per_sample(),
        vec![real, fake],
    )
    .try_into()
    .expect("two outputs");
    let loss_real = gan.loss(pred_real, true);
    let loss_fake = gan.loss(pred_fake, false);
    (loss_real + loss_fake) * 0.5
}

/// `net(x)` for each of `xs`. Where the network treats samples independently (`per_sample`)
/// and the inputs have one shape, it runs once on them stacked along the batch axis: the same
/// values, but each layer's weights are read (and, in the CPU's Winograd kernels,
/// transformed) once for all of them, and the kernels work on larger operands.
fn forward_stacked(
    net: impl Fn(Tensor<4>) -> Tensor<4>,
    per_sample: bool,
    xs: Vec<Tensor<4>>,
) -> Vec<Tensor<4>> {
    let same_shape = xs.windows(2).all(|w| w[0].dims()[1..] == w[1].dims()[1..]);
    if xs.len() < 2 || !per_sample || !same_shape {
        return xs.into_iter().map(net).collect();
    }
    let sizes: Vec<usize> = xs.iter().map(|x| x.dims()[0]).collect();
    let ys = net(Tensor::cat(xs.clone(), 0));
    if ys.dims().contains(&0) {
        // An empty output (an input below the network's smallest size) cannot be cut along
        // the batch axis and stay on the autodiff graph: run the inputs one by one.
        return xs.into_iter().map(net).collect();
    }
    let mut start = 0;
    sizes
        .into_iter()
        .map(|n| {
            let y = ys.clone().narrow(0, start, n);
            start += n;
            y
        })
        .collect()
}

pub(super) fn scalar(t: &Tensor<1>) -> f64 {
    t.clone().inner().into_scalar::<f32>() as f64
}

/// Makes every trainable tensor of `net` an autodiff leaf that keeps its gradient.
pub fn attach(net: &mut impl Params) {
    net.visit("", &mut |_, p, role| {
        if role.trainable() {
            match p {
                ParamMut::D1(t) => *t = t.clone().autodiff().require_grad(),
                ParamMut::D4(t) => *t = t.clone().autodiff().require_grad(),
                ParamMut::Count(_) => {}
            }
        }
    });
}

/// Steps every trainable tensor of `net` with its gradient and takes it off the graph. A
/// parameter the loss does not reach gets a zero gradient, as PyTorch's Adam would see it after
/// `zero_grad(set_to_none=False)`; upstream's networks have none.
pub(super) fn step(net: &mut impl Params, name: &str, grads: &Gradients, adam: &mut Adam, lr: f64) {
    net.visit("", &mut |key, mut p, role| {
        if !role.trainable() {
            return;
        }
        let grad = match &p {
            ParamMut::D1(t) => t.grad(grads),
            ParamMut::D4(t) => t.grad(grads).map(|g| g.flatten(0, 3)),
            ParamMut::Count(_) => return,
        };
        let Some(value) = p.flat() else {
            return;
        };
        let value = value.inner();
        let grad = grad.unwrap_or_else(|| value.zeros_like());
        let updated = adam.update(&format!("{name}.{key}"), value, grad, lr);
        p.set_flat(updated);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DiscriminatorConfig, GeneratorConfig, NormKind, ResnetGeneratorConfig};
    use crate::ops::test_util::max_diff;
    use burn::tensor::{Device, Distribution};

    fn images(n: usize, side: usize, device: &Device) -> Vec<Tensor<4>> {
        (0..n)
            .map(|_| Tensor::random([1, 3, side, side], Distribution::Uniform(-1.0, 1.0), device))
            .collect()
    }

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32")
    }

    /// Stacking is only an evaluation order: each output equals the network's output on that
    /// input alone (instance norm normalises each sample on its own statistics).
    #[test]
    fn stacked_calls_give_each_input_its_own_output() {
        let device = Device::flex();
        let g = GeneratorConfig::Resnet(ResnetGeneratorConfig::official(3, 3, 4, 1)).init(&device);
        let d = DiscriminatorConfig::basic(3, 4).init(&device);
        assert!(g.per_sample() && d.per_sample());
        let xs = images(3, 32, &device);
        let stacked = forward_stacked(|x| g.forward(x, Mode::Train), true, xs.clone());
        assert_eq!(stacked.len(), 3);
        for (x, y) in xs.iter().zip(stacked) {
            assert_eq!(y.dims(), [1, 3, 32, 32]);
            let diff = max_diff(&values(y), &values(g.forward(x.clone(), Mode::Train)));
            assert!(diff < 1e-5, "generator output differs by {diff}");
        }
        let stacked = forward_stacked(|x| d.forward(x, Mode::Train), true, xs[..2].to_vec());
        for (x, y) in xs.iter().zip(stacked) {
            let diff = max_diff(&values(y), &values(d.forward(x.clone(), Mode::Train)));
            assert!(diff < 1e-5, "discriminator output differs by {diff}");
        }
    }

    /// Batch norm in training mixes the samples' statistics, so those networks run per call.
    #[test]
    fn batch_norm_networks_are_not_stacked() {
        let device = Device::flex();
        let mut config = ResnetGeneratorConfig::official(3, 3, 4, 1);
        config.norm = NormKind::Batch;
        config.use_bias = NormKind::Batch.conv_bias();
        let g = GeneratorConfig::Resnet(config).init(&device);
        assert!(!g.per_sample());
        let d = DiscriminatorConfig::basic(3, 4)
            .with_norm(NormKind::Batch)
            .init(&device);
        assert!(!d.per_sample());
        assert!(
            GeneratorConfig::Resnet(ResnetGeneratorConfig::official(3, 3, 4, 1))
                .init(&device)
                .per_sample()
        );
    }

    /// Sharing G_A's transformed weights between its two calls (ops::shared) changes no
    /// value: every generator gradient is the same, bit for bit, as without it.
    #[test]
    fn shared_weight_transforms_give_the_same_gradients() {
        let device = Device::flex();
        let g = GeneratorConfig::Resnet(ResnetGeneratorConfig::official(3, 3, 4, 2));
        let d = DiscriminatorConfig::basic(3, 4);
        let model = crate::train::ModelConfig::pair(g, d);
        let mut nets = crate::train::build_networks(&model, 7, &device);
        attach(&mut nets.g_a);
        attach(&mut nets.g_b);
        let loss = LossConfig::official();
        let (real_a, real_b) = (
            images(1, 32, &device).remove(0),
            images(1, 32, &device).remove(0),
        );
        let gradients = |nets: &mut Networks, share: bool| {
            let shared = share.then(ops::shared::SharedWeights::begin);
            let pass = generator_pass(nets, &real_a, &real_b, &loss);
            if let Some(s) = &shared {
                s.end_forward();
            }
            let grads = pass.loss_g.backward();
            drop(shared);
            let mut out = Vec::new();
            for net in [&mut nets.g_a, &mut nets.g_b] {
                net.visit("", &mut |key, p, _| {
                    let grad = match &p {
                        ParamMut::D1(t) => t.grad(&grads).map(|g| g.into_data()),
                        ParamMut::D4(t) => t.grad(&grads).map(|g| g.into_data()),
                        ParamMut::Count(_) => None,
                    };
                    out.push((key.to_string(), grad));
                });
            }
            out
        };
        let plain = gradients(&mut nets, false);
        let shared = gradients(&mut nets, true);
        assert!(plain.iter().filter(|(_, g)| g.is_some()).count() > 20);
        assert_eq!(plain, shared);
    }

    /// Inputs of different sizes cannot share a batch; each gets its own call and output.
    #[test]
    fn inputs_of_different_shapes_run_alone() {
        let device = Device::flex();
        let g = GeneratorConfig::Resnet(ResnetGeneratorConfig::official(3, 3, 4, 1)).init(&device);
        let mut xs = images(1, 32, &device);
        xs.extend(images(1, 16, &device));
        let ys = forward_stacked(|x| g.forward(x, Mode::Train), true, xs);
        assert_eq!(ys[0].dims(), [1, 3, 32, 32]);
        assert_eq!(ys[1].dims(), [1, 3, 16, 16]);
    }
}
