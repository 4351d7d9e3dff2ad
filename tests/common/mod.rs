//! Shared helpers for the integration tests: fixture paths, the built binary, comparisons.

#![allow(dead_code)]

pub mod trace;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use burn::tensor::Device;
use clap::ValueEnum;
use cyclegan::checkpoint::{StateDict, safetensors_io::read_safetensors};
use cyclegan::device::DeviceKind;

/// `tests/fixtures/pytorch/<name>`: tensors made by real PyTorch (see its README).
/// `CYCLEGAN_FIXTURES` names another folder, for test binaries run on another machine (a GPU's).
pub fn fixture(name: &str) -> PathBuf {
    match std::env::var_os("CYCLEGAN_FIXTURES") {
        Some(dir) => PathBuf::from(dir).join(name),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/pytorch")
            .join(name),
    }
}

/// The device the in-process parity tests run on: the CPU, or the backend that
/// `CYCLEGAN_TEST_DEVICE` names (`cuda`, `wgpu`) in a build with that feature, so the same
/// fixtures check the GPU builds.
pub fn test_device() -> Device {
    let Ok(name) = std::env::var("CYCLEGAN_TEST_DEVICE") else {
        return Device::flex();
    };
    DeviceKind::from_str(&name, true)
        .unwrap_or_else(|e| panic!("CYCLEGAN_TEST_DEVICE={name}: {e}"))
        .device()
        .unwrap_or_else(|e| panic!("CYCLEGAN_TEST_DEVICE={name}: {e}"))
}

/// `samples/maps/<sub>`: real aerial photo ↔ map thumbnails (128×128) that the repository
/// ships; 8 + 8 training images and 4 test pairs.
pub fn maps(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples/maps")
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

/// The first `n` images of a maps split, copied into `dir` (research-only data: copies live
/// in temporary folders only).
pub fn copy_images(split: &str, dir: &Path, n: usize) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).expect("create folder");
    let mut names: Vec<_> = std::fs::read_dir(maps(split))
        .expect("samples/maps")
        .map(|e| e.expect("entry").file_name())
        .collect();
    names.sort();
    names
        .iter()
        .take(n)
        .map(|name| {
            let to = dir.join(name);
            std::fs::copy(maps(split).join(name), &to).expect("copy");
            to
        })
        .collect()
}

/// A PNG whose header claims `w`×`h` over a few bytes of data (a decompression bomb).
pub fn bomb_png(w: u32, h: u32) -> Vec<u8> {
    fn crc32(b: &[u8]) -> u32 {
        let mut c = !0u32;
        for &x in b {
            c ^= u32::from(x);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend(kind);
        out.extend(data);
        let crc = crc32(&out[start..]);
        out.extend(crc.to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

/// pix2pix with the smallest U-Net on 32×32 crops (2^5 down-samplings), 4 filters a layer.
pub const SMALL_PIX2PIX: [&str; 12] = [
    "--model",
    "pix2pix",
    "--netG",
    "unet_32",
    "--ngf",
    "4",
    "--ndf",
    "4",
    "--load-size",
    "40",
    "--crop-size",
    "32",
];

/// Small networks on 32×32 crops: a step takes a fraction of a second on one core.
pub const SMALL_RUN: [&str; 12] = [
    "--netG",
    "resnet_2blocks",
    "--ngf",
    "8",
    "--ndf",
    "8",
    "--load-size",
    "40",
    "--crop-size",
    "32",
    "--num-threads",
    "2",
];
