//! Networks and checkpoint interop against real PyTorch (issue 2): every fixture checkpoint
//! loads with auto-detection and reproduces PyTorch's output; `translate` reproduces PyTorch's
//! output PNG; broken checkpoints are refused with an error, never a panic.

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use common::*;
use cyclegan::checkpoint::{self, CheckpointFormat, RawTensor};
use cyclegan::model::{
    BlockNaming, DiscriminatorConfig, GeneratorConfig, Mode, NetworkConfig, NormKind, Params,
    Upsampling,
};

const GENERATORS: [&str; 5] = [
    "resnet_official_tiny",
    "resnet_official_tiny_legacy",
    "resnet_seed_tiny",
    "resnet_affine_tiny",
    "unet_official_tiny",
];

fn tensor4(t: &RawTensor, device: &Device) -> Tensor<4> {
    let dims: [usize; 4] = t.shape.clone().try_into().expect("4-d");
    Tensor::from_data(TensorData::new(t.data.clone(), dims), device)
}

fn host(t: Tensor<4>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32")
}

#[test]
fn every_fixture_reproduces_pytorch_within_1e_4() {
    let device = test_device();
    for name in GENERATORS.iter().chain(&["patchgan_official_tiny"]) {
        let io = read_tensors(&fixture(&format!("{name}.io.safetensors")));
        let loaded = checkpoint::load(&fixture(&format!("{name}.pth"))).expect(name);
        let input = tensor4(&io["input"], &device);
        let output = match &loaded.config {
            NetworkConfig::Generator(c) => {
                let mut g = c.init(&device);
                g.load_state_dict(&loaded.state_dict, &device).expect(name);
                host(g.forward(input, Mode::Eval))
            }
            NetworkConfig::Discriminator(c) => {
                let mut d = c.init(&device);
                d.load_state_dict(&loaded.state_dict, &device).expect(name);
                host(d.forward(input, Mode::Eval))
            }
        };
        let diff = max_abs_diff(&output, &io["output"].data);
        assert!(diff <= 1e-4, "{name}: max |Δ| = {diff}");
    }
}

#[test]
fn detection_finds_each_layout() {
    let detect = |name: &str| checkpoint::load(&fixture(&format!("{name}.pth"))).expect(name);
    let resnet = |name: &str| match detect(name).config {
        NetworkConfig::Generator(GeneratorConfig::Resnet(c)) => c,
        other => panic!("{name}: {other:?}"),
    };
    let c = resnet("resnet_official_tiny");
    assert_eq!((c.ngf, c.n_blocks, c.input_nc, c.output_nc), (8, 3, 3, 3));
    assert_eq!(
        (c.norm, c.upsampling, c.block_naming),
        (
            NormKind::Instance,
            Upsampling::Transpose,
            BlockNaming::ConvBlock
        )
    );
    let c = resnet("resnet_seed_tiny");
    assert_eq!(
        (c.n_blocks, c.upsampling, c.block_naming),
        (2, Upsampling::Resize, BlockNaming::Block)
    );
    assert_eq!(resnet("resnet_affine_tiny").norm, NormKind::InstanceAffine);

    let legacy = detect("resnet_official_tiny_legacy");
    assert_eq!(legacy.format, CheckpointFormat::PthLegacy);
    // 9 instance norms (stem, 2 down, 2 blocks × 2, 2 up) × (running_mean, running_var,
    // num_batches_tracked).
    assert_eq!(legacy.dropped.len(), 27, "{:?}", legacy.dropped);
    assert!(legacy.state_dict.keys().all(|k| !k.contains("running")));

    match detect("unet_official_tiny").config {
        NetworkConfig::Generator(GeneratorConfig::Unet(c)) => {
            assert_eq!((c.num_downs, c.ngf, c.input_nc, c.output_nc), (5, 4, 3, 3));
        }
        other => panic!("{other:?}"),
    }
    match detect("patchgan_official_tiny").config {
        NetworkConfig::Discriminator(DiscriminatorConfig::NLayers {
            ndf,
            n_layers,
            input_nc,
            ..
        }) => {
            assert_eq!((ndf, n_layers, input_nc), (8, 3, 3));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn translate_cli_reproduces_pytorch_png_within_one_level() {
    let out = tempfile::tempdir().expect("tempdir");
    for name in GENERATORS {
        // Copy the input so the output is named after the fixture, as a user's file would be.
        let input = out.path().join(format!("{name}.png"));
        std::fs::copy(fixture(&format!("{name}.input.png")), &input).expect("copy");
        let weights = fixture(&format!("{name}.pth"));
        let dest = out.path().join("out");
        let run = cyclegan(&[
            "translate",
            input.to_str().expect("utf-8"),
            "--weights",
            weights.to_str().expect("utf-8"),
            "--out",
            dest.to_str().expect("utf-8"),
        ]);
        assert_success(&run);
        let (w, h, ours) = png_pixels(&dest.join(format!("{name}.png")));
        let (w_ref, h_ref, theirs) = png_pixels(&fixture(&format!("{name}.output.png")));
        assert_eq!((w, h), (w_ref, h_ref), "{name}: size");
        let worst = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap_or(0);
        assert!(worst <= 1, "{name}: a pixel differs by {worst} levels");
    }
}

#[test]
fn safetensors_export_round_trips_with_official_keys() {
    let loaded = checkpoint::load(&fixture("resnet_official_tiny.pth")).expect("load");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("g.safetensors");
    checkpoint::save_state_dict(&path, &loaded.state_dict, &loaded.config).expect("save");
    let again = checkpoint::load(&path).expect("reload");
    assert_eq!(again.format, CheckpointFormat::Safetensors);
    assert_eq!(again.config, loaded.config);
    assert_eq!(again.state_dict, loaded.state_dict);
    assert!(
        again
            .state_dict
            .contains_key("model.10.conv_block.5.weight")
    );
}

#[test]
fn a_missing_key_is_refused_naming_it() {
    let mut loaded = checkpoint::load(&fixture("resnet_official_tiny.pth")).expect("load");
    loaded.state_dict.remove("model.11.conv_block.5.weight");
    let NetworkConfig::Generator(config) = loaded.config else {
        panic!("generator")
    };
    let device = test_device();
    let mut g = config.init(&device);
    let err = g
        .load_state_dict(&loaded.state_dict, &device)
        .expect_err("must refuse");
    assert!(
        err.to_string().contains("model.11.conv_block.5.weight"),
        "{err}"
    );
}

#[test]
fn truncated_pth_fails_with_one_line_not_a_panic() {
    let bytes = std::fs::read(fixture("resnet_official_tiny.pth")).expect("read");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cut.pth");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("write");
    let img = fixture("resnet_official_tiny.input.png");
    for args in [
        vec!["info", path.to_str().expect("utf-8")],
        vec![
            "translate",
            img.to_str().expect("utf-8"),
            "--weights",
            path.to_str().expect("utf-8"),
            "--out",
            dir.path().to_str().expect("utf-8"),
        ],
    ] {
        let out = cyclegan(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "one line expected: {stderr}"
        );
        assert!(
            stderr.contains("cut.pth"),
            "the error names the file: {stderr}"
        );
    }
}

#[test]
fn info_and_convert_work_on_the_legacy_checkpoint() {
    let legacy = fixture("resnet_official_tiny_legacy.pth");
    let info = cyclegan(&["info", legacy.to_str().expect("utf-8")]);
    assert_success(&info);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(text.contains("resnet_2blocks"), "{text}");
    assert!(text.contains("legacy"), "{text}");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("g.safetensors");
    assert_success(&cyclegan(&[
        "convert",
        legacy.to_str().expect("utf-8"),
        out.to_str().expect("utf-8"),
    ]));
    let converted = read_tensors(&out);
    let original = checkpoint::load(&legacy).expect("load").state_dict;
    assert_eq!(converted, original);
}

/// The quick start's model (`samples/maps_model`) is the ResNet-6 with ngf 16 its README
/// describes, and it turns each dark aerial photo into a light map: every colour of the map
/// palette (land 236,232,224; road 252; water 178,210,252; park 204,222,174) has a luminance
/// above 170, and the highways' orange (252,156,36) covers a small part of a map.
#[test]
fn the_quickstart_model_draws_light_maps_from_dark_photos() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = repo.join("samples/maps_model/latest_net_G_A.safetensors");
    let info = cyclegan(&["info", model.to_str().expect("utf-8")]);
    assert_success(&info);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(text.contains("resnet_6blocks (ngf 16, 3→3"), "{text}");

    let out = tempfile::tempdir().expect("temp dir");
    let photos = repo.join("samples/maps/testA");
    assert_success(&cyclegan(&[
        "translate",
        photos.to_str().expect("utf-8"),
        "--weights",
        model.to_str().expect("utf-8"),
        "--out",
        out.path().to_str().expect("utf-8"),
    ]));
    let luminance = |px: &[u8]| {
        px.chunks_exact(3)
            .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
            .sum::<f64>()
            / (px.len() / 3) as f64
    };
    let mut count = 0;
    for entry in std::fs::read_dir(&photos).expect("samples/maps/testA") {
        let photo = entry.expect("entry").path();
        let stem = photo
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .into_owned();
        let (w, h, photo_px) = png_pixels(&photo);
        let (w_out, h_out, map_px) = png_pixels(&out.path().join(format!("{stem}.png")));
        assert_eq!((w_out, h_out), (w, h), "{stem}");
        let (dark, light) = (luminance(&photo_px), luminance(&map_px));
        println!("{stem}: photo luminance {dark:.0}, map {light:.0}");
        assert!(dark < 120.0, "{stem}: the photo's luminance is {dark}");
        assert!(light > 170.0, "{stem}: the map's luminance is {light}");
        count += 1;
    }
    assert_eq!(count, 4);
}
