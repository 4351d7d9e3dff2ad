//! pix2pix against PyTorch (issue 15): the recorded iterations of `pix2pix_step_tiny` (U-Net
//! and conditional PatchGAN with batch norm), with the tolerances of the fixtures' README, and
//! an upstream pix2pix generator `.pth` translated in both of upstream's test modes.

mod common;

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use common::trace::{grads_of, part, rel_close};
use common::*;
use cyclegan::checkpoint::{self, StateDict};
use cyclegan::model::loss::GanMode;
use cyclegan::model::{GeneratorConfig, InitType, NetworkConfig, Params};
use cyclegan::train::pix2pix::{Pix2PixConfig, discriminator_losses, generator_losses};
use cyclegan::train::step::attach;

const LR: f64 = 2e-4;
const TRACE: &str = "pix2pix_step_tiny";

fn trace() -> StateDict {
    read_tensors(&fixture(&format!("{TRACE}.safetensors")))
}

fn trace_losses() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture(&format!("{TRACE}.json"))).expect("json");
    serde_json::from_str(&text).expect("json")
}

/// The trace's networks as detection finds them in its initial files (no dropout: the trace
/// was made with `--no_dropout`).
fn trace_config() -> Pix2PixConfig {
    let init = fixture(&format!("{TRACE}.init"));
    let config = |net: &str| {
        checkpoint::load(&init.join(format!("latest_net_{net}.safetensors")))
            .expect(net)
            .config
    };
    let NetworkConfig::Generator(mut g) = config("G") else {
        panic!("G is a generator")
    };
    g.set_dropout(false);
    let NetworkConfig::Discriminator(d) = config("D") else {
        panic!("D is a discriminator")
    };
    Pix2PixConfig {
        g,
        d,
        init_type: InitType::Normal,
        init_gain: 0.02,
        gan_mode: GanMode::Vanilla,
        lambda_l1: 100.0,
    }
}

fn image(sd: &StateDict, key: &str, device: &Device) -> Tensor<4> {
    let t = &sd[key];
    let shape: [usize; 4] = t.shape.clone().try_into().expect("4-d");
    Tensor::from_data(TensorData::new(t.data.clone(), shape), device)
}

fn gradients(
    net: &mut impl Params,
    grads: &burn::tensor::Gradients,
    name: &str,
) -> Vec<(String, Vec<f32>)> {
    let mut out = Vec::new();
    grads_of(net, grads, &mut out, name);
    out
}

/// The README's rule: ‖g − g_ref‖₂ ≤ 1e-3·‖g_ref‖₂ per tensor.
fn check_gradients(ours: &[(String, Vec<f32>)], reference: &StateDict) -> f64 {
    let mut worst = 0f64;
    for (key, g) in ours {
        let r = &reference[&format!("grad1.{key}")].data;
        let rel = l2_diff(g, r) / l2(r).max(1e-30);
        if std::env::var_os("PIX2PIX_TRACE_VERBOSE").is_some() {
            eprintln!("{key}: relative gradient error {rel:.2e}");
        }
        assert!(rel <= 1e-3, "gradient of {key}: relative error {rel}");
        worst = worst.max(rel);
    }
    worst
}

/// Iteration 1 piece by piece: D's losses and gradients on the initial weights, then G's
/// against D after its step (PyTorch's `after1` D weights: D's third call uses batch
/// statistics, so its running statistics do not matter there).
#[test]
fn iteration_one_losses_and_gradients_match_pytorch() {
    let device = test_device();
    let sd = trace();
    let config = trace_config();
    let mut g = config.g.init(&device);
    let mut d = config.d.init(&device);
    g.load_state_dict(&part(&sd, "init", "G"), &device)
        .expect("G");
    d.load_state_dict(&part(&sd, "init", "D"), &device)
        .expect("D");
    let (real_a, real_b) = (image(&sd, "real_A", &device), image(&sd, "real_B", &device));
    let expected = &trace_losses()["losses"][0];

    attach(&mut g);
    let fake_b = g.forward(real_a.clone(), cyclegan::model::Mode::Train);
    attach(&mut d);
    let (d_fake, d_real) = discriminator_losses(&d, &real_a, &real_b, &fake_b, GanMode::Vanilla);
    let scalar = |t: &Tensor<1>| t.clone().inner().into_scalar::<f32>() as f64;
    rel_close(
        scalar(&d_fake),
        expected["D_fake"].as_f64().unwrap(),
        1e-4,
        "D_fake",
    );
    rel_close(
        scalar(&d_real),
        expected["D_real"].as_f64().unwrap(),
        1e-4,
        "D_real",
    );
    let grads = ((d_fake + d_real) * 0.5).backward();
    let d_grads = gradients(&mut d, &grads, "D");
    assert_eq!(d_grads.len(), part(&sd, "grad1", "D").len());
    check_gradients(&d_grads, &sd);

    let mut d = config.d.init(&device);
    d.load_state_dict(&part(&sd, "after1", "D"), &device)
        .expect("D after 1");
    let (g_gan, g_l1) = generator_losses(&d, &real_a, &real_b, &fake_b, &config);
    rel_close(
        scalar(&g_gan),
        expected["G_GAN"].as_f64().unwrap(),
        1e-4,
        "G_GAN",
    );
    rel_close(
        scalar(&g_l1),
        expected["G_L1"].as_f64().unwrap(),
        1e-4,
        "G_L1",
    );
    let grads = (g_gan + g_l1).backward();
    let g_grads = gradients(&mut g, &grads, "G");
    assert_eq!(g_grads.len(), part(&sd, "grad1", "G").len());
    check_gradients(&g_grads, &sd);
}

/// `D/train/1.png`: the trace's real_A and real_B side by side, as the aligned format has them.
fn trace_dataroot(dir: &Path) -> PathBuf {
    let root = dir.join("data");
    std::fs::create_dir_all(root.join("train")).expect("mkdir");
    let a = image::open(fixture(&format!("{TRACE}.real_A.png")))
        .expect("real_A")
        .to_rgb8();
    let b = image::open(fixture(&format!("{TRACE}.real_B.png")))
        .expect("real_B")
        .to_rgb8();
    let mut ab = image::RgbImage::new(a.width() + b.width(), a.height());
    image::imageops::replace(&mut ab, &a, 0, 0);
    image::imageops::replace(&mut ab, &b, i64::from(a.width()), 0);
    ab.save(root.join("train").join("1.png")).expect("pair");
    root
}

fn train_trace(root: &Path, checkpoints: &Path, extra: &[&str]) {
    let init = fixture(&format!("{TRACE}.init"));
    let side = image::image_dimensions(fixture(&format!("{TRACE}.real_A.png")))
        .expect("size")
        .0;
    let net_g = format!("unet_{side}");
    let config = trace_config();
    let GeneratorConfig::Unet(u) = &config.g else {
        panic!("a U-Net")
    };
    let (ngf, ndf) = (
        u.ngf.to_string(),
        match &config.d {
            cyclegan::model::DiscriminatorConfig::NLayers { ndf, .. } => ndf.to_string(),
            other => panic!("{other:?}"),
        },
    );
    let mut args = vec![
        "train",
        "--model",
        "pix2pix",
        "--dataroot",
        root.to_str().expect("utf-8"),
        "--name",
        "trace",
        "--checkpoints-dir",
        checkpoints.to_str().expect("utf-8"),
        "--netG",
        &net_g,
        "--ngf",
        &ngf,
        "--ndf",
        &ndf,
        "--no-dropout",
        "--preprocess",
        "none",
        "--no-flip",
        "--serial-batches",
        "--print-freq",
        "1",
        "--quiet",
    ];
    if !extra.contains(&"--continue-train") {
        args.extend(["--init-from", init.to_str().expect("utf-8")]);
    }
    args.extend(extra);
    assert_success(&cyclegan(&args));
}

/// After iteration `i`: weights and running statistics ≥ 99.9 % within 1e-6 of PyTorch's,
/// every weight within 2·lr·i + 1e-6, and the batch counters equal.
fn check_weights(run: &Path, sd: &StateDict, i: usize) {
    let (mut total, mut close) = (0usize, 0usize);
    for net in ["G", "D"] {
        let ours = read_tensors(&run.join(format!("latest_net_{net}.safetensors")));
        let theirs = part(sd, &format!("after{i}"), net);
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "{net} keys"
        );
        for (key, t) in &theirs {
            if key.ends_with("num_batches_tracked") {
                assert_eq!(ours[key].data, t.data, "{net}.{key}");
                assert!(ours[key].shape.is_empty(), "{net}.{key} is 0-d");
                continue;
            }
            let statistic = key.ends_with("running_mean") || key.ends_with("running_var");
            for (a, b) in ours[key].data.iter().zip(&t.data) {
                let d = (a - b).abs() as f64;
                if !statistic {
                    assert!(
                        d <= 2.0 * LR * i as f64 + 1e-6,
                        "{net}.{key} after {i}: off by {d}"
                    );
                }
                total += 1;
                close += usize::from(d <= 1e-6);
            }
        }
    }
    let share = close as f64 / total as f64;
    eprintln!(
        "after iteration {i}: {close} of {total} values within 1e-6 ({:.4} %)",
        100.0 * share
    );
    assert!(
        share >= 0.999,
        "after iteration {i}: only {close} of {total} within 1e-6"
    );
}

/// The must-show command on the trace: `--init-from` its initial weights, one aligned PNG,
/// three iterations (one, then two more after a resume), each checked against PyTorch's.
#[test]
fn cli_training_follows_the_pytorch_trace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = trace_dataroot(dir.path());
    let checkpoints = dir.path().join("checkpoints");
    let run = checkpoints.join("trace");
    let sd = trace();
    train_trace(&root, &checkpoints, &["--max-steps", "1"]);
    check_weights(&run, &sd, 1);
    train_trace(
        &root,
        &checkpoints,
        &["--continue-train", "--max-steps", "3"],
    );
    check_weights(&run, &sd, 3);

    let text = std::fs::read_to_string(run.join("loss_log.csv")).expect("loss log");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    assert_eq!(header[5..], ["G_GAN", "G_L1", "D_real", "D_fake"]);
    let rows: Vec<Vec<f64>> = lines
        .map(|l| {
            l.split(',')
                .skip(5)
                .map(|v| v.parse().expect("loss"))
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 3);
    let expected = trace_losses();
    for (i, row) in rows.iter().enumerate() {
        for (j, name) in header[5..].iter().enumerate() {
            let theirs = expected["losses"][i][name].as_f64().expect("number");
            rel_close(row[j], theirs, 1e-4, &format!("iteration {} {name}", i + 1));
        }
    }
}

/// `round((y + 1) / 2 · 255)` of a 1×3×H×W tensor, as interleaved RGB bytes.
fn levels(t: &cyclegan::checkpoint::RawTensor) -> Vec<u8> {
    let (h, w) = (t.shape[2], t.shape[3]);
    let mut out = Vec::with_capacity(3 * h * w);
    for i in 0..h * w {
        for c in 0..3 {
            let y = t.data[c * h * w + i];
            out.push(((y + 1.0) / 2.0 * 255.0).round().clamp(0.0, 255.0) as u8);
        }
    }
    out
}

/// An upstream pix2pix generator `.pth` (batch-norm U-Net with dropout and moved running
/// statistics) loads with no flags and translates within one level of PyTorch with `--eval`
/// (running statistics) and without it (each image's own statistics, here with
/// `--no-dropout` so that the output is deterministic on both sides).
#[test]
fn an_upstream_pix2pix_generator_translates_like_pytorch_in_both_modes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("photo.png");
    std::fs::copy(fixture("unet_batch_tiny.input.png"), &input).expect("copy");
    let weights = fixture("unet_batch_tiny.pth");
    let io = read_tensors(&fixture("unet_batch_tiny.io.safetensors"));
    let loaded = checkpoint::load(&weights).expect("load");
    match &loaded.config {
        NetworkConfig::Generator(GeneratorConfig::Unet(u)) => {
            assert_eq!((u.num_downs, u.ngf), (6, 4));
            assert_eq!(u.norm, cyclegan::model::NormKind::Batch);
            assert!(!u.use_bias, "batch norm: no convolution bias");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        loaded
            .state_dict
            .contains_key("model.model.1.model.2.num_batches_tracked")
    );
    let mut worst_by_mode = Vec::new();
    for (flags, key) in [
        (&["--eval"][..], "output_eval"),
        (&["--no-dropout"][..], "output_train"),
    ] {
        let dest = dir.path().join(key);
        let mut args = vec![
            "translate",
            input.to_str().expect("utf-8"),
            "--weights",
            weights.to_str().expect("utf-8"),
            "--out",
            dest.to_str().expect("utf-8"),
        ];
        args.extend(flags);
        assert_success(&cyclegan(&args));
        let (_, _, ours) = png_pixels(&dest.join("photo.png"));
        let theirs = levels(&io[key]);
        assert_eq!(ours.len(), theirs.len());
        let worst = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap_or(0);
        assert!(worst <= 1, "{key}: a pixel differs by {worst} levels");
        worst_by_mode.push((key, ours));
    }
    // The two modes really differ (running against batch statistics), so each check above
    // tested its own mode.
    let differing = worst_by_mode[0]
        .1
        .iter()
        .zip(&worst_by_mode[1].1)
        .filter(|(a, b)| a.abs_diff(**b) > 1)
        .count();
    assert!(
        differing > 100,
        "eval and default outputs differ in only {differing} values"
    );
}

/// `D/<phase>/<n>.png`: the trace's photo and map side by side, and (for a second pair) the
/// two flipped left-right.
fn aligned_set(root: &Path, phase: &str) {
    let dir = root.join(phase);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let a = image::open(fixture(&format!("{TRACE}.real_A.png")))
        .expect("real_A")
        .to_rgb8();
    let b = image::open(fixture(&format!("{TRACE}.real_B.png")))
        .expect("real_B")
        .to_rgb8();
    for (n, (a, b)) in [
        (a.clone(), b.clone()),
        (
            image::imageops::flip_horizontal(&a),
            image::imageops::flip_horizontal(&b),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mut ab = image::RgbImage::new(2 * a.width(), a.height());
        image::imageops::replace(&mut ab, &a, 0, 0);
        image::imageops::replace(&mut ab, &b, i64::from(a.width()), 0);
        ab.save(dir.join(format!("{}.png", n + 1))).expect("pair");
    }
}

fn small_pix2pix(root: &Path, checkpoints: &Path, extra: &[&str]) {
    let mut args = vec![
        "train",
        "--dataroot",
        root.to_str().expect("utf-8"),
        "--name",
        "small",
        "--checkpoints-dir",
        checkpoints.to_str().expect("utf-8"),
        "--seed",
        "3",
        "--quiet",
    ];
    args.extend(SMALL_PIX2PIX);
    args.extend(extra);
    assert_success(&cyclegan(&args));
}

/// Dropout on (pix2pix's default), random crops and flips, batch norm: a run stopped after two
/// iterations and resumed ends with the same weights and statistics, bit for bit, as one that
/// ran four at once.
#[test]
fn resume_with_dropout_gives_the_same_weights_as_an_uninterrupted_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("data");
    aligned_set(&root, "train");
    let (straight, resumed) = (dir.path().join("straight"), dir.path().join("resumed"));
    small_pix2pix(&root, &straight, &["--max-steps", "4"]);
    small_pix2pix(&root, &resumed, &["--max-steps", "2"]);
    small_pix2pix(&root, &resumed, &["--continue-train", "--max-steps", "4"]);
    let opt = std::fs::read_to_string(straight.join("small/opt.json")).expect("opt.json");
    assert!(
        opt.contains("\"use_dropout\": true"),
        "dropout is pix2pix's default"
    );
    for net in ["G", "D"] {
        let file = format!("small/latest_net_{net}.safetensors");
        let (a, b) = (
            read_tensors(&straight.join(&file)),
            read_tensors(&resumed.join(&file)),
        );
        assert_eq!(a, b, "{net} differs after resuming");
        assert!(a.keys().any(|k| k.ends_with("num_batches_tracked")));
    }
}

/// `cyclegan test --model pix2pix`: each pair's real_A, fake_B and real_B under upstream's
/// names, saved as upstream's `tensor2im` saves them (levels truncated), and the page.
#[test]
fn test_writes_each_pair_and_the_page_as_upstream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("data");
    aligned_set(&root, "train");
    aligned_set(&root, "test");
    let checkpoints = dir.path().join("checkpoints");
    small_pix2pix(&root, &checkpoints, &["--max-steps", "2"]);
    let results = dir.path().join("results");
    let test = |extra: &[&str]| {
        let mut args = vec![
            "test",
            "--model",
            "pix2pix",
            "--dataroot",
            root.to_str().expect("utf-8"),
            "--name",
            "small",
            "--checkpoints-dir",
            checkpoints.to_str().expect("utf-8"),
            "--results-dir",
            results.to_str().expect("utf-8"),
        ];
        args.extend(extra);
        cyclegan(&args)
    };
    assert_success(&test(&[]));
    let out = results.join("small/test_latest");
    let page = std::fs::read_to_string(out.join("index.html")).expect("page");
    for name in [
        "1_real_A.png",
        "1_fake_B.png",
        "1_real_B.png",
        "2_fake_B.png",
    ] {
        assert!(out.join("images").join(name).exists(), "{name}");
        assert!(page.contains(name), "{name} on the page");
    }
    // real_A is the pair's left half through upstream's float round trip, truncated: level v
    // becomes uint8(((v / 255 − 0.5) / 0.5 + 1) / 2 · 255) in f32.
    let (_, _, saved) = png_pixels(&out.join("images/1_real_A.png"));
    let (_, _, input) = png_pixels(&fixture(&format!("{TRACE}.real_A.png")));
    let expected: Vec<u8> = input
        .iter()
        .map(|&v| {
            let y = ((f32::from(v) / 255.0) - 0.5) / 0.5;
            ((y + 1.0) / 2.0 * 255.0) as u8
        })
        .collect();
    assert_eq!(saved, expected);
    assert!(
        expected.iter().zip(&input).any(|(e, i)| e != i),
        "truncation moves some levels"
    );

    // The page's mean L1 is fake_B's against real_B as saved: recompute it from the files.
    let mut sum = 0.0;
    for n in ["1", "2"] {
        let (_, _, fake) = png_pixels(&out.join(format!("images/{n}_fake_B.png")));
        let (_, _, real) = png_pixels(&out.join(format!("images/{n}_real_B.png")));
        let l1: f64 = fake
            .iter()
            .zip(&real)
            .map(|(a, b)| f64::from(a.abs_diff(*b)))
            .sum();
        sum += l1 / fake.len() as f64;
    }
    let mean_row = page
        .lines()
        .find(|l| l.contains("class=\"mean\""))
        .expect("a mean row");
    let cells: Vec<&str> = mean_row
        .split("<td>")
        .skip(1)
        .map(|c| c.split('<').next().unwrap_or(""))
        .collect();
    let page_l1: f64 = cells[cells.len() - 3].parse().expect("L1 cell");
    assert!(
        (page_l1 - sum / 2.0).abs() <= 0.005,
        "page L1 {page_l1}, files {}",
        sum / 2.0
    );
    let ssim: f64 = cells[cells.len() - 1].parse().expect("SSIM cell");
    assert!(ssim > -1.0 && ssim < 1.0, "{ssim}");

    let refused = test(&["--direction", "both"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("AtoB or BtoA"));
}

/// `--eval-freq 1`: after each epoch `metrics.csv` gets the test split's mean L1, PSNR and SSIM,
/// the very numbers that `cyclegan test` and then `cyclegan eval --results` give for that
/// epoch's generator; a run stopped and resumed keeps one row per epoch; the training page
/// plots and tabulates them.
#[test]
fn eval_freq_records_what_test_and_eval_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("data");
    aligned_set(&root, "train");
    aligned_set(&root, "test");
    let checkpoints = dir.path().join("checkpoints");
    let run = [
        "--n-epochs",
        "2",
        "--n-epochs-decay",
        "0",
        "--eval-freq",
        "1",
    ];
    // Two pairs: two iterations per epoch, so the first run stops at the end of epoch 1.
    small_pix2pix(
        &root,
        &checkpoints,
        &[&run[..], &["--max-steps", "2"]].concat(),
    );
    small_pix2pix(
        &root,
        &checkpoints,
        &[&run[..], &["--continue-train"]].concat(),
    );

    let csv = std::fs::read_to_string(checkpoints.join("small/metrics.csv")).expect("metrics.csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "epoch,total_iters,steps,L1,PSNR,SSIM");
    assert_eq!(lines.len(), 3, "one row per epoch:\n{csv}");
    let row = |i: usize| -> Vec<f64> {
        lines[i]
            .split(',')
            .map(|v| v.parse().expect("a number"))
            .collect()
    };
    assert_eq!(row(1)[..3], [1.0, 2.0, 2.0]);
    assert_eq!(row(2)[..3], [2.0, 4.0, 4.0]);
    let last = row(2);
    assert!(last[3] > 0.0 && last[3] < 255.0, "L1 {}", last[3]);
    assert!(last[5] > -1.0 && last[5] < 1.0, "SSIM {}", last[5]);

    // The same scores from the results folder of `cyclegan test` on the latest generator, run
    // as training's scoring runs it: the crop size, the run's seed for dropout.
    let results = dir.path().join("results");
    assert_success(&cyclegan(&[
        "test",
        "--model",
        "pix2pix",
        "--dataroot",
        root.to_str().expect("utf-8"),
        "--name",
        "small",
        "--checkpoints-dir",
        checkpoints.to_str().expect("utf-8"),
        "--results-dir",
        results.to_str().expect("utf-8"),
        "--load-size",
        "32",
        "--seed",
        "3",
    ]));
    let out = cyclegan(&[
        "eval",
        "--results",
        results.join("small/test_latest").to_str().expect("utf-8"),
        "--metrics",
        "l1,psnr,ssim",
        "--json",
    ]);
    assert_success(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    for (k, key) in ["l1", "psnr", "ssim"].into_iter().enumerate() {
        let theirs = report["AtoB"][key].as_f64().expect(key);
        let ours = last[3 + k];
        assert!(
            (ours - theirs).abs() <= 1e-9 * theirs.abs().max(1.0),
            "{key}: metrics.csv {ours}, cyclegan eval {theirs}"
        );
    }

    let page = std::fs::read_to_string(checkpoints.join("small/web/index.html")).expect("page");
    assert_eq!(page.matches("class=\"metric-plot\"").count(), 3);
    for label in ["L1 (levels)", "PSNR (dB)", "SSIM"] {
        assert!(page.contains(&format!(">{label}</text>")), "{label}");
    }
    assert_eq!(page.matches("<tr><td>").count(), 2, "a table row per epoch");
}

/// A run stopped after an epoch's save but before its scores (here: one trained without
/// `--eval-freq`) measures that epoch first when it resumes with `--eval-freq`, so no row is
/// lost.
#[test]
fn a_resumed_run_measures_the_epoch_a_stop_left_unscored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("data");
    aligned_set(&root, "train");
    aligned_set(&root, "test");
    let checkpoints = dir.path().join("checkpoints");
    let epochs = ["--n-epochs", "2", "--n-epochs-decay", "0"];
    small_pix2pix(
        &root,
        &checkpoints,
        &[&epochs[..], &["--max-steps", "2"]].concat(),
    );
    assert!(!checkpoints.join("small/metrics.csv").exists());
    let resume = ["--continue-train", "--eval-freq", "1"];
    small_pix2pix(&root, &checkpoints, &[&epochs[..], &resume[..]].concat());
    let csv = std::fs::read_to_string(checkpoints.join("small/metrics.csv")).expect("metrics.csv");
    let firsts: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.splitn(4, ',').take(3).last().expect("steps"))
        .collect();
    assert_eq!(
        firsts,
        ["2", "4"],
        "epochs 1 and 2, at iterations 2 and 4:\n{csv}"
    );
}
