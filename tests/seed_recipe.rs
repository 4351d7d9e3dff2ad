//! `--recipe seed` beyond the trace: rectangular crops (`--img_height 128 --img_width 192`)
//! reach the networks and show in the seed's sample grids, drawn from the test split.

mod common;

use std::path::Path;

use common::*;

/// A `w`×`h` image with a gradient, so crops of it are not constant; gray when `gray`.
fn write_image(path: &Path, w: u32, h: u32, shift: u32, gray: bool) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let rgb = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            ((x + shift) % 256) as u8,
            ((y * 2 + shift) % 256) as u8,
            ((x + y) % 256) as u8,
        ])
    });
    if gray {
        image::DynamicImage::ImageRgb8(rgb).to_luma8().save(path)
    } else {
        rgb.save(path)
    }
    .expect("write png");
}

#[test]
fn rectangular_crops_train_and_show_in_the_samples() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("data");
    // 384×256: the shorter side goes to int(1.12·128) = 143 and the longer to 214, room for a
    // 128×192 crop. One test image is grayscale: the seed converts it to RGB.
    for (i, split) in ["train/A", "train/B", "test/A", "test/B"]
        .iter()
        .enumerate()
    {
        for j in 0..2u32 {
            let gray = *split == "test/B" && j == 1;
            write_image(
                &root.join(split).join(format!("{j}.png")),
                384,
                256,
                40 * i as u32 + 7 * j,
                gray,
            );
        }
    }
    let checkpoints = dir.path().join("checkpoints");
    let out = cyclegan(&[
        "train",
        "--recipe",
        "seed",
        "--dataroot",
        root.to_str().expect("utf-8"),
        "--dataset_name",
        "rect",
        "--checkpoints-dir",
        checkpoints.to_str().expect("utf-8"),
        "--img_height",
        "128",
        "--img_width",
        "192",
        "--n_residual_blocks",
        "1",
        "--ngf",
        "4",
        "--ndf",
        "4",
        "--max-steps",
        "2",
        "--sample_interval",
        "1",
        "--quiet",
    ]);
    assert_success(&out);
    let run = checkpoints.join("rect");
    let opt: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("opt.json")).expect("opt.json"))
            .expect("json");
    assert_eq!(opt["data"]["crop_size"], 128);
    assert_eq!(opt["data"]["crop_width"], 192);
    assert_eq!(opt["data"]["load_size"], 143);
    assert_eq!(opt["data"]["preprocess"], "resize_shorter_and_crop");

    // batches_done 0 and 1, each a make_grid of rows real_A, fake_B, real_B, fake_A over the
    // two test images: 4·(128 + 4) tall, 2·(192 + 2) + 2 wide.
    for done in [0, 1] {
        let (w, h, pixels) = png_pixels(&run.join("images").join(format!("{done}.png")));
        assert_eq!(
            (w, h),
            (2 * (192 + 2) + 2, 4 * (128 + 4)),
            "images/{done}.png"
        );
        // The first real_A tile is the picture, not padding: it varies, and the padding
        // column left of it is black.
        let at = |x: u32, y: u32, c: usize| pixels[((y * w + x) * 3) as usize + c];
        let tile: Vec<u8> = (2..130).map(|y| at(2 + 95, y, 1)).collect();
        assert!(tile.iter().any(|&v| v != tile[0]), "real_A tile is flat");
        assert!((2..130).all(|y| at(0, y, 0) == 0), "no make_grid padding");
    }
}

/// The seed's flags need the recipe; without it they are refused, naming them (exit 2).
#[test]
fn seed_flags_without_the_recipe_are_refused() {
    let out = cyclegan(&[
        "train",
        "--dataroot",
        "nowhere",
        "--img_height",
        "128",
        "--lambda_cyc",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--img_height, --lambda_cyc are the seed's flags: add --recipe seed"),
        "{err}"
    );
}
