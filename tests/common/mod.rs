//! Shared helpers for the integration tests: fixture paths, the built binary, comparisons.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cyclegan::checkpoint::{StateDict, safetensors_io::read_safetensors};

/// `../shared/fixtures/pytorch/<name>`: tensors made by real PyTorch (see its README).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/pytorch")
        .join(name)
}

/// `../shared/data/maps/<sub>`: real aerial photo ↔ map images.
pub fn maps(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/maps")
        .join(sub)
}

pub fn read_tensors(path: &Path) -> StateDict {
    read_safetensors(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .0
}

/// Runs the `cyclegan` binary built for these tests.
pub fn cyclegan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cyclegan"))
        .args(args)
        .env("CYCLEGAN_LOG", "warn")
        .output()
        .expect("the cyclegan binary runs")
}

pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "cyclegan failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

pub fn l2(a: &[f32]) -> f64 {
    a.iter()
        .map(|&x| (x as f64) * (x as f64))
        .sum::<f64>()
        .sqrt()
}

pub fn l2_diff(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| ((x - y) as f64).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// 8-bit RGB pixels of a PNG.
pub fn png_pixels(path: &Path) -> (u32, u32, Vec<u8>) {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8();
    (img.width(), img.height(), img.into_raw())
}
