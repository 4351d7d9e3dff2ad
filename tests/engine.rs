//! The GPU engine's plan, run on the CPU (`engine::CpuExecutor`) against PyTorch's fixtures:
//! the plan's wiring (which buffer feeds which op, the gradients and their accumulation,
//! Adam) checked on any machine, with the tolerances of the fixtures' README.

mod common;

use common::trace::*;
use common::*;
use cyclegan::checkpoint::{StateDict, read_state_dict};
use cyclegan::engine::cyclegan::{DISCRIMINATORS, GENERATORS, LOSS_NAMES};
use cyclegan::engine::nets::{FORWARD, ResnetPlan};
use cyclegan::engine::{CpuExecutor, CycleGanLoss, CycleGanPlan, Executor, Role};
use cyclegan::model::{DiscriminatorConfig, GeneratorConfig, ResnetGeneratorConfig};
use cyclegan::ops::AdamScalars;

const LR: f64 = 2e-4;

fn trace() -> StateDict {
    read_tensors(&fixture("cyclegan_step_tiny.safetensors"))
}

fn trace_losses() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("cyclegan_step_tiny.json")).expect("json");
    serde_json::from_str(&text).expect("json")
}

fn tiny_plan() -> CycleGanPlan {
    let g = GeneratorConfig::Resnet(ResnetGeneratorConfig::official(3, 3, 8, 2));
    let loss = CycleGanLoss {
        lambda_a: 10.0,
        lambda_b: 10.0,
        lambda_identity: 0.5,
    };
    CycleGanPlan::new(&g, &DiscriminatorConfig::basic(3, 8), loss, [1, 32, 32]).expect("plan")
}

/// Adam's scalars of step `t` with the trace's settings.
fn adam(t: i32) -> AdamScalars {
    AdamScalars::new(LR, [0.5, 0.999], 1e-8, t)
}

/// One iteration as the training loop will run it: the generators' program, the pool's copy
/// (pool size 0: the fakes themselves), the discriminators' program.
fn iterate(exec: &mut impl Executor, plan: &CycleGanPlan, t: i32) {
    exec.run(GENERATORS, adam(t)).expect("generators");
    let b = &plan.buffers;
    exec.copy(b.fake_a, b.fake_a_pool).expect("pool A");
    exec.copy(b.fake_b, b.fake_b_pool).expect("pool B");
    exec.run(DISCRIMINATORS, adam(t)).expect("discriminators");
}

/// Every gradient the last programs left, under `<network>.<key>` as the trace names them.
fn gradients(exec: &impl Executor) -> Vec<(String, Vec<f32>)> {
    let mut out = Vec::new();
    for net in ["G_A", "G_B", "D_A", "D_B"] {
        for (key, b) in exec.plan().params(net) {
            let g = exec
                .grad(b)
                .expect("read")
                .expect("every parameter has a gradient");
            out.push((format!("{net}.{key}"), g));
        }
    }
    out
}

#[test]
fn every_op_reads_what_an_earlier_op_wrote() {
    let plan = tiny_plan();
    assert_eq!(plan.plan.first_unwritten_read(), None);
    // Both optimisers step every parameter of their networks once.
    for (program, nets) in [
        (GENERATORS, ["G_A", "G_B"]),
        (DISCRIMINATORS, ["D_A", "D_B"]),
    ] {
        let ops = &plan.plan.program(program).expect("program").ops;
        let stepped = ops
            .iter()
            .filter(|op| matches!(op, cyclegan::engine::Op::Adam { .. }))
            .count();
        let params: usize = nets.iter().map(|n| plan.plan.params(n).len()).sum();
        assert_eq!(stepped, params, "{program}");
    }
}

/// Runs the trace's three iterations on `exec` (holding [`tiny_plan`]) and checks them by
/// the README's rules: losses of iteration 1 within `loss_tol` relative (1e-5 for float32
/// arithmetic), its gradients and the weights after it, and the losses of iterations 2 and 3
/// within 2e-2 and 1e-1.
fn follow_the_trace(exec: &mut impl Executor, plan: &CycleGanPlan, loss_tol: f64) {
    let sd = trace();
    for net in ["G_A", "G_B", "D_A", "D_B"] {
        exec.load(net, &part(&sd, "init", net)).expect(net);
    }
    exec.set_input("real_A", &sd["real_A"].data)
        .expect("real_A");
    exec.set_input("real_B", &sd["real_B"].data)
        .expect("real_B");
    let expected = trace_losses();

    iterate(exec, plan, 1);
    for name in LOSS_NAMES {
        let theirs = expected["losses"][0][name].as_f64().expect("number");
        rel_close(exec.loss(name).expect(name) as f64, theirs, loss_tol, name);
    }
    check_gradients(&gradients(exec), &sd);
    check_weights_after_one_of(|net| exec.state_dict(net).expect(net), &sd, LR);

    // Adam's later steps see β1 and β2.
    for (t, tol) in [(2, 2e-2), (3, 1e-1)] {
        iterate(exec, plan, t);
        for name in LOSS_NAMES {
            let theirs = expected["losses"][t as usize - 1][name]
                .as_f64()
                .expect("number");
            let what = format!("iteration {t} {name}");
            rel_close(exec.loss(name).expect(name) as f64, theirs, tol, &what);
        }
    }
}

#[test]
fn the_plan_on_the_cpu_follows_the_pytorch_trace() {
    let plan = tiny_plan();
    let mut exec = CpuExecutor::new(plan.plan.clone());
    follow_the_trace(&mut exec, &plan, 1e-5);
}

/// The same on an NVIDIA GPU, with float32 convolutions (`Precision::F32`), where
/// `CYCLEGAN_TEST_DEVICE=cuda` asks for it (the device script sets it); elsewhere it says so.
#[cfg(feature = "cuda")]
#[test]
fn the_plan_on_the_gpu_follows_the_pytorch_trace() {
    use cyclegan::engine::cuda::exec::{CudaExecutor, Precision};
    if std::env::var("CYCLEGAN_TEST_DEVICE").as_deref() != Ok("cuda") {
        eprintln!("skipped: CYCLEGAN_TEST_DEVICE=cuda runs this on a GPU");
        return;
    }
    let plan = tiny_plan();
    let mut exec = CudaExecutor::new(plan.plan.clone(), 0, Precision::F32).expect("a GPU");
    // Three iterations: eager, then captured as graphs, then replayed.
    follow_the_trace(&mut exec, &plan, 1e-5);
}

/// A generator forward alone (the plan `translate` and `test` will run) on an official
/// checkpoint: within the README's 1e-4 of PyTorch's output.
#[test]
fn the_generator_forward_matches_pytorch() {
    let (weights, _, _) = read_state_dict(&fixture("resnet_official_tiny.pth")).expect("pth");
    let io = read_tensors(&fixture("resnet_official_tiny.io.safetensors"));
    let input = &io["input"];
    let g = GeneratorConfig::Resnet(ResnetGeneratorConfig::official(3, 3, 8, 3));
    let g = ResnetPlan::new(&g).expect("supported");
    let [batch, _, h, w] = input.shape[..] else {
        panic!("a 4-d input")
    };
    let (plan, x, y) = g.forward_plan([batch, h, w]);
    let mut exec = CpuExecutor::new(plan);
    exec.load("G", &weights).expect("weights");
    exec.set(x, &input.data).expect("input");
    exec.run(FORWARD, adam(1)).expect("forward");
    let diff = max_abs_diff(&exec.values(y).expect("output"), &io["output"].data);
    assert!(diff <= 1e-4, "max |Δ| {diff}");
    // A forward without trainable networks makes no gradient.
    assert!(
        exec.plan()
            .buffers
            .iter()
            .all(|b| !matches!(b.role, Role::Grad(_)))
    );
}

#[test]
fn architectures_the_plan_lacks_are_refused_with_what_it_supports() {
    let unet = GeneratorConfig::Unet(cyclegan::model::UnetGeneratorConfig::official(3, 3, 5, 4));
    let err = ResnetPlan::new(&unet).expect_err("a U-Net is refused");
    assert!(err.to_string().contains("resnet_<n>blocks"), "{err}");
    let pixel = DiscriminatorConfig::pixel(3, 8);
    let loss = CycleGanLoss {
        lambda_a: 10.0,
        lambda_b: 10.0,
        lambda_identity: 0.5,
    };
    let g = GeneratorConfig::Resnet(ResnetGeneratorConfig::official(3, 3, 8, 2));
    let err = CycleGanPlan::new(&g, &pixel, loss, [1, 32, 32]).expect_err("pixel is refused");
    assert!(err.to_string().contains("--netD basic"), "{err}");
}
