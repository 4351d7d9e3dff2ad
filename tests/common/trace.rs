//! Checks against PyTorch's recorded training iterations (`*_step_tiny` and the seed's
//! traces), with the tolerances of the fixtures' README.

use std::path::Path;

use burn::tensor::{Device, Tensor};
use cyclegan::checkpoint::StateDict;
use cyclegan::model::loss::GanMode;
use cyclegan::model::{DiscriminatorConfig, GeneratorConfig, ParamMut, Params};
use cyclegan::train::networks::{NamedNetworks, Networks};
use cyclegan::train::step::{GeneratorPass, attach, discriminator_losses};
use cyclegan::train::{ModelConfig, build_networks};

use super::{l2, l2_diff, read_tensors};

/// The flags that make a run replay a trace: no image pool, the images as they are, in order.
pub const TRACE_FLAGS: [&str; 6] = [
    "--pool-size",
    "0",
    "--preprocess",
    "none",
    "--no-flip",
    "--serial-batches",
];

/// `prefix.<net>.<key>` entries of the trace as one state dict per network.
pub fn part(sd: &StateDict, prefix: &str, net: &str) -> StateDict {
    let p = format!("{prefix}.{net}.");
    sd.iter()
        .filter_map(|(k, t)| k.strip_prefix(&p).map(|r| (r.to_string(), t.clone())))
        .collect()
}

/// Generators `g` and discriminators `d` holding the trace's initial weights (`init.<net>.*`).
pub fn trace_networks(
    g: GeneratorConfig,
    d: DiscriminatorConfig,
    trace: &StateDict,
    device: &Device,
) -> Networks {
    let mut nets = build_networks(&ModelConfig::pair(g, d), 0, device);
    for (name, mut net) in nets.named_mut() {
        net.load_state_dict(&part(trace, "init", name), device)
            .expect(name);
    }
    nets
}

pub fn grads_of(
    net: &mut impl Params,
    grads: &burn::tensor::Gradients,
    out: &mut Vec<(String, Vec<f32>)>,
    name: &str,
) {
    net.visit("", &mut |key, p, role| {
        // Running statistics and counters are no parameters: nothing steps them.
        if !role.trainable() {
            return;
        }
        let g = match p {
            ParamMut::D1(t) => t.grad(grads).map(|g| g.into_data()),
            ParamMut::D4(t) => t.grad(grads).map(|g| g.into_data()),
            ParamMut::Count(_) => None,
        };
        let g = g
            .expect("every parameter gets a gradient")
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32");
        out.push((format!("{name}.{key}"), g));
    });
}

/// The README's gradient rule: per tensor whose largest entry is ≥ 1e-4 of the largest
/// gradient anywhere, ‖g − g_ref‖₂ ≤ 5e-2·‖g_ref‖₂.
pub fn check_gradients(ours: &[(String, Vec<f32>)], reference: &StateDict) {
    let largest = ours
        .iter()
        .map(|(k, _)| {
            reference[&format!("grad1.{k}")]
                .data
                .iter()
                .fold(0f32, |m, v| m.max(v.abs()))
        })
        .fold(0f32, f32::max);
    let mut checked = 0;
    for (key, g) in ours {
        let r = &reference[&format!("grad1.{key}")].data;
        let peak = r.iter().fold(0f32, |m, v| m.max(v.abs()));
        if peak < 1e-4 * largest {
            continue;
        }
        checked += 1;
        let rel = l2_diff(g, r) / l2(r);
        assert!(rel <= 5e-2, "gradient of {key}: relative error {rel}");
    }
    assert!(
        checked > 10,
        "only {checked} gradients were large enough to check"
    );
}

pub fn rel_close(ours: f64, theirs: f64, tol: f64, what: &str) {
    let rel = (ours - theirs).abs() / theirs.abs().max(1e-12);
    assert!(
        rel <= tol,
        "{what}: ours {ours}, PyTorch {theirs}, relative error {rel} > {tol}"
    );
}

/// The README's rule for the weights after iteration 1, on the `latest_net_*` files in `run`:
/// ≥ 98 % within 1e-6 and every one within 2·lr + 1e-6 (Adam's first step moves a weight by
/// about ±lr whatever its gradient, so rounding noise can flip one). Returns the largest
/// deviation and the share within 1e-6.
pub fn check_weights_after_one(run: &Path, trace: &StateDict, lr: f64) -> (f64, f64) {
    check_weights_after_one_of(
        |net| read_tensors(&run.join(format!("latest_net_{net}.safetensors"))),
        trace,
        lr,
    )
}

/// [`check_weights_after_one`] on the weights `ours` gives for each network.
pub fn check_weights_after_one_of(
    ours: impl Fn(&str) -> StateDict,
    trace: &StateDict,
    lr: f64,
) -> (f64, f64) {
    let (mut total, mut close, mut worst) = (0usize, 0usize, 0f64);
    for net in ["G_A", "G_B", "D_A", "D_B"] {
        let ours = ours(net);
        let theirs = part(trace, "after1", net);
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "{net} keys"
        );
        for (key, t) in &theirs {
            for (a, b) in ours[key].data.iter().zip(&t.data) {
                let d = (a - b).abs() as f64;
                assert!(d <= 2.0 * lr + 1e-6, "{net}.{key}: off by {d}");
                worst = worst.max(d);
                total += 1;
                close += usize::from(d <= 1e-6);
            }
        }
    }
    let share = close as f64 / total as f64;
    assert!(share >= 0.98, "only {close} of {total} weights within 1e-6");
    (worst, share)
}

/// The rest of iteration 1 after a generator pass built with the generators attached: its
/// backward, then both discriminators (attached here) on real images and the pass's fakes from
/// before any update, as the step runs them. Returns the discriminators' losses (D_A, D_B) and
/// every gradient under `<network>.<key>`.
pub fn finish_iteration_one(
    nets: &mut Networks,
    pass: GeneratorPass,
    real_a: &Tensor<4>,
    real_b: &Tensor<4>,
) -> (f64, f64, Vec<(String, Vec<f32>)>) {
    let (fake_a, fake_b) = (
        pass.generated.fake_a.clone().inner(),
        pass.generated.fake_b.clone().inner(),
    );
    let grads = pass.loss_g.backward();
    let mut ours = Vec::new();
    grads_of(&mut nets.g_a, &grads, &mut ours, "G_A");
    grads_of(&mut nets.g_b, &grads, &mut ours, "G_B");
    drop(grads);

    attach(&mut nets.d_a);
    attach(&mut nets.d_b);
    let (loss_d_a, loss_d_b) =
        discriminator_losses(nets, real_a, real_b, fake_a, fake_b, GanMode::Lsgan);
    let value = |t: &Tensor<1>| t.clone().inner().into_scalar::<f32>() as f64;
    let (d_a, d_b) = (value(&loss_d_a), value(&loss_d_b));
    let grads = (loss_d_a + loss_d_b).backward();
    grads_of(&mut nets.d_a, &grads, &mut ours, "D_A");
    grads_of(&mut nets.d_b, &grads, &mut ours, "D_B");
    (d_a, d_b, ours)
}
