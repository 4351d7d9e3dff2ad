//! `cyclegan bench` prints what BENCHMARKS.md quotes: the keys `bench_pytorch.py` prints, and
//! the kernel throughputs of `--what conv`. Tiny sizes: this checks the output, not the speed.

mod common;

use common::{assert_success, cyclegan};

fn json(args: &[&str]) -> serde_json::Map<String, serde_json::Value> {
    let out = cyclegan(args);
    assert_success(&out);
    let line = String::from_utf8(out.stdout).expect("UTF-8 output");
    match serde_json::from_str(line.trim()).expect("one JSON line") {
        serde_json::Value::Object(map) => map,
        other => panic!("expected a JSON object, got {other}"),
    }
}

fn positive(map: &serde_json::Map<String, serde_json::Value>, key: &str) -> f64 {
    let v = map.get(key).and_then(|v| v.as_f64());
    let v = v.unwrap_or_else(|| panic!("no number under {key} in {map:?}"));
    assert!(v > 0.0, "{key} = {v}");
    v
}

#[test]
fn forward_and_train_print_the_reference_keys() {
    let small = [
        "--size",
        "16",
        "--ngf",
        "4",
        "--ndf",
        "4",
        "--n-blocks",
        "1",
        "--iters",
        "1",
    ];
    let map = json(
        &[
            &["bench", "--what", "both", "--json", "--threads", "1"],
            &small[..],
        ]
        .concat(),
    );
    positive(&map, "g_forward_s");
    positive(&map, "train_iter_s");
    assert_eq!(map["size"], 16);
    assert_eq!(map["batch"], 1);
    assert_eq!(map["threads"], 1);
}

#[test]
fn conv_reports_every_kernel() {
    let map = json(&[
        "bench", "--what", "conv", "--size", "8", "--ngf", "2", "--iters", "1", "--json",
    ]);
    assert_eq!(map["channels"], 8, "4·ngf channels");
    assert_eq!(map["map"], 8);
    for algorithm in ["im2col", "winograd"] {
        for pass in ["forward", "backward_data", "backward_weight"] {
            positive(&map, &format!("{algorithm}_{pass}_gflops"));
        }
    }
}

/// `--profile` prints, on stderr, each kernel's time per iteration under the algorithms the
/// step ran, beside the step's phases; stdout stays the one JSON line.
#[test]
fn profile_breaks_the_iteration_down_by_kernel() {
    let out = cyclegan(&[
        "bench",
        "--what",
        "train",
        "--size",
        "16",
        "--ngf",
        "4",
        "--ndf",
        "4",
        "--n-blocks",
        "1",
        "--iters",
        "2",
        "--json",
        "--profile",
    ]);
    assert_success(&out);
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    assert!(
        serde_json::from_str::<serde_json::Value>(stdout.trim()).is_ok(),
        "{stdout}"
    );
    let stderr = String::from_utf8(out.stderr).expect("UTF-8 output");
    assert!(
        stderr.contains("profile of the training iteration over 2 iterations"),
        "{stderr}"
    );
    for name in [
        "step: generators forward",
        "step: generators backward",
        "winograd forward · ",
        "winograd · products",
        "instance norm forward",
        "adam",
    ] {
        assert!(stderr.contains(name), "no {name:?} in\n{stderr}");
    }
    // The residual block's 3×3 convolutions (4·ngf channels on 16/4 = 4-pixel maps) at
    // batch 2: G_A on real_A and real_B, stacked.
    assert!(
        stderr.contains("winograd forward · 16→16 3×3/1 4×4 b2"),
        "{stderr}"
    );
}
