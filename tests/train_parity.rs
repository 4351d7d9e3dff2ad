//! Training against PyTorch's recorded CycleGAN iterations (`cyclegan_step_tiny`, issue 3),
//! with the tolerances of the fixtures' README, and exact resume.

mod common;

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use common::trace::*;
use common::*;
use cyclegan::checkpoint::StateDict;
use cyclegan::model::{DiscriminatorConfig, GeneratorConfig, ResnetGeneratorConfig};
use cyclegan::train::networks::Networks;
use cyclegan::train::step::{LossConfig, attach, generator_pass};

const LR: f64 = 2e-4;

fn trace() -> StateDict {
    read_tensors(&fixture("cyclegan_step_tiny.safetensors"))
}

fn trace_losses() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("cyclegan_step_tiny.json")).expect("json");
    serde_json::from_str(&text).expect("json")
}

fn tiny_networks(device: &Device) -> Networks {
    let g = GeneratorConfig::Resnet(ResnetGeneratorConfig::official(3, 3, 8, 2));
    trace_networks(g, DiscriminatorConfig::basic(3, 8), &trace(), device)
}

fn image(sd: &StateDict, key: &str, device: &Device) -> Tensor<4> {
    let t = &sd[key];
    Tensor::from_data(TensorData::new(t.data.clone(), [1, 3, 32, 32]), device)
}

#[test]
fn iteration_one_losses_and_gradients_match_pytorch() {
    let device = test_device();
    let sd = trace();
    let mut nets = tiny_networks(&device);
    let (real_a, real_b) = (image(&sd, "real_A", &device), image(&sd, "real_B", &device));
    let loss = LossConfig::official();
    let expected = &trace_losses()["losses"][0];

    attach(&mut nets.g_a);
    attach(&mut nets.g_b);
    let pass = generator_pass(&nets, &real_a, &real_b, &loss);
    let l = pass.losses;
    for (name, ours) in [
        ("idt_A", l.idt_a),
        ("idt_B", l.idt_b),
        ("G_A", l.g_a),
        ("G_B", l.g_b),
        ("cycle_A", l.cycle_a),
        ("cycle_B", l.cycle_b),
    ] {
        rel_close(ours, expected[name].as_f64().expect("number"), 1e-5, name);
    }
    // The discriminators see the fakes of the generators before their update, as upstream.
    let (d_a, d_b, ours) = finish_iteration_one(&mut nets, pass, &real_a, &real_b);
    rel_close(d_a, expected["D_A"].as_f64().expect("number"), 1e-5, "D_A");
    rel_close(d_b, expected["D_B"].as_f64().expect("number"), 1e-5, "D_B");
    check_gradients(&ours, &sd);
}

/// A dataroot with the trace's two images, as `cyclegan train` reads them.
fn trace_dataroot(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("data");
    for (domain, name) in [("trainA", "real_A"), ("trainB", "real_B")] {
        std::fs::create_dir_all(root.join(domain)).expect("mkdir");
        std::fs::copy(
            fixture(&format!("cyclegan_step_tiny.{name}.png")),
            root.join(domain).join("1.png"),
        )
        .expect("copy");
    }
    root
}

fn train_trace(root: &Path, checkpoints: &Path, extra: &[&str]) {
    let init = fixture("cyclegan_step_tiny.init");
    let mut args = vec![
        "train",
        "--dataroot",
        root.to_str().expect("utf-8"),
        "--name",
        "trace",
        "--checkpoints-dir",
        checkpoints.to_str().expect("utf-8"),
        "--netG",
        "resnet_2blocks",
        "--ngf",
        "8",
        "--ndf",
        "8",
        "--print-freq",
        "1",
        "--quiet",
    ];
    args.extend(TRACE_FLAGS);
    if !extra.contains(&"--continue-train") {
        args.extend(["--init-from", init.to_str().expect("utf-8")]);
    }
    args.extend(extra);
    assert_success(&cyclegan(&args));
}

/// Loss-log rows as (steps, [D_A, G_A, cycle_A, idt_A, D_B, G_B, cycle_B, idt_B]).
fn loss_log(run: &Path) -> Vec<(u64, Vec<f64>)> {
    let text = std::fs::read_to_string(run.join("loss_log.csv")).expect("loss log");
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[2].parse().expect("steps"),
                f[5..].iter().map(|v| v.parse().expect("loss")).collect(),
            )
        })
        .collect()
}

#[test]
fn cli_training_follows_the_pytorch_trace() {
    follow_the_trace_by_cli(&[]);
}

/// The same run on the GPU engine's plan, executed on the CPU (`--engine plan`): the engine
/// is the step's backend, with the CLI's checkpoints, resume and logs.
#[test]
fn cli_training_on_the_plan_engine_follows_the_pytorch_trace() {
    follow_the_trace_by_cli(&["--engine", "plan"]);
}

/// `cyclegan train` (with `extra` flags) replays the trace: one iteration, then two more by
/// resuming, checked by the fixtures' README.
fn follow_the_trace_by_cli(extra: &[&str]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = trace_dataroot(dir.path());
    let checkpoints = dir.path().join("checkpoints");
    train_trace(
        &root,
        &checkpoints,
        &[&["--max-steps", "1"], extra].concat(),
    );
    let run = checkpoints.join("trace");

    // Weights after iteration 1: ≥ 98% within 1e-6, every one within 2·lr + 1e-6.
    check_weights_after_one(&run, &trace(), LR);

    // Two more iterations by resuming: the losses of iterations 2 and 3 within 2e-2 and 1e-1.
    train_trace(
        &root,
        &checkpoints,
        &[&["--continue-train", "--max-steps", "3"], extra].concat(),
    );
    let log = loss_log(&run);
    assert_eq!(log.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2, 3]);
    let expected = trace_losses();
    let names = [
        "D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B",
    ];
    for (i, tol) in [(0usize, 1e-5), (1, 2e-2), (2, 1e-1)] {
        for (j, name) in names.iter().enumerate() {
            let theirs = expected["losses"][i][name].as_f64().expect("number");
            rel_close(
                log[i].1[j],
                theirs,
                tol,
                &format!("iteration {} {name}", i + 1),
            );
        }
    }
}

fn maps_run(checkpoints: &Path, extra: &[&str]) {
    let root = maps("");
    let mut args = vec![
        "train",
        "--dataroot",
        root.to_str().expect("utf-8"),
        "--name",
        "resume",
        "--checkpoints-dir",
        checkpoints.to_str().expect("utf-8"),
    ];
    args.extend(SMALL_RUN);
    args.extend([
        "--max-dataset-size",
        "3",
        "--pool-size",
        "2",
        "--seed",
        "5",
        "--quiet",
    ]);
    args.extend(extra);
    assert_success(&cyclegan(&args));
}

#[test]
fn resume_gives_the_same_weights_as_an_uninterrupted_run() {
    resume_is_exact(&[]);
}

/// On the plan engine too (weights and Adam's moments go back to the run's record at each
/// save and come from it on resume), with the image pool in use.
#[test]
fn resume_on_the_plan_engine_gives_the_same_weights_as_an_uninterrupted_run() {
    resume_is_exact(&["--engine", "plan"]);
}

fn resume_is_exact(extra: &[&str]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let straight = dir.path().join("straight");
    let resumed = dir.path().join("resumed");
    maps_run(&straight, &[&["--max-steps", "4"], extra].concat());
    maps_run(&resumed, &[&["--max-steps", "2"], extra].concat());
    let g_a = resumed.join("resume").join("latest_net_G_A.safetensors");
    let after_two = read_tensors(&g_a);
    maps_run(
        &resumed,
        &[&["--continue-train", "--max-steps", "4"], extra].concat(),
    );
    assert_ne!(
        read_tensors(&g_a),
        after_two,
        "the resumed run did not train"
    );
    for net in ["G_A", "G_B", "D_A", "D_B"] {
        let file = format!("latest_net_{net}.safetensors");
        let a = read_tensors(&straight.join("resume").join(&file));
        let b = read_tensors(&resumed.join("resume").join(&file));
        assert_eq!(a, b, "{net} differs after resuming");
    }
}
