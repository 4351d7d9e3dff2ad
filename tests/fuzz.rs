//! Fuzzing of every entry point that reads untrusted bytes (issue 5, "nothing lost to bad input
//! or a crash", item 7): `.pth` files (zip and legacy pickle) through `read_pth_bytes`, their
//! pickles through `unpickle`, safetensors through `read_safetensors_bytes` and the file-level
//! `checkpoint::load` (which trusts a header's architecture metadata), images through
//! `decode_rgb8`, and architecture detection (`detect`, then building and strictly loading the
//! detected network, then translating a tiny image with it) on arbitrary key/shape sets.
//!
//! The invariant everywhere: a `Result` either way, never a panic (nor an allocation that takes
//! the process down). Inputs are seeded mutations of the real fixtures, so every failure
//! reproduces from its seed.
//!
//! In CI (seconds): the kept inputs of `tests/corpus/` are replayed, then a few hundred fresh
//! mutations per entry point run. For a long run while developing:
//!
//! ```sh
//! CYCLEGAN_FUZZ_SECS=600 CYCLEGAN_FUZZ_SEED=7 CYCLEGAN_FUZZ_SAVE=1 \
//!     cargo test --test fuzz -- --nocapture
//! ```
//!
//! spends the time round-robin on the entry points and, with `CYCLEGAN_FUZZ_SAVE`, adds to
//! `tests/corpus/<target>/` each input whose outcome (error kind, detected layout…) no kept
//! input had yet, and every input that panicked. Large inputs are kept as a delta against the
//! fixture they came from (`*.delta`), small ones as they are (`*.bin`).

mod common;

use common::bomb_png;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{Cursor, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use burn::tensor::Device;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use cyclegan::checkpoint::{self, RawTensor, StateDict, detect, pickle, pth, safetensors_io};
use cyclegan::data::ImageTensor;
use cyclegan::data::image_io::decode_rgb8;
use cyclegan::inference::Translator;
use cyclegan::model::{
    DiscriminatorConfig, GeneratorConfig, NetworkConfig, Params, ResnetGeneratorConfig,
};

// ---------------------------------------------------------------------------------------------
// Targets: one entry point each, run on bytes; the outcome's signature says what path it took.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Pth,
    Pickle,
    Safetensors,
    Image,
}

const TARGETS: [Target; 4] = [
    Target::Pth,
    Target::Pickle,
    Target::Safetensors,
    Target::Image,
];

impl Target {
    fn dir(self) -> &'static str {
        match self {
            Target::Pth => "pth",
            Target::Pickle => "pickle",
            Target::Safetensors => "safetensors",
            Target::Image => "image",
        }
    }
}

/// Numbers (decimal or 0x-hex) and quoted names vary from input to input; what is left tells
/// error kinds apart.
fn shape_of_message(m: &str) -> String {
    let mut out = String::new();
    let mut in_quote = false;
    let mut in_hex = false;
    for ch in m.chars() {
        if in_hex && ch.is_ascii_hexdigit() {
            continue;
        }
        in_hex = false;
        match ch {
            '`' => {
                in_quote = !in_quote;
                out.push('`');
            }
            _ if in_quote => {}
            'x' if out.ends_with('#') => in_hex = true,
            c if c.is_ascii_digit() => {
                if !out.ends_with('#') {
                    out.push('#');
                }
            }
            c if c.is_ascii_graphic() || c == ' ' => out.push(c),
            _ => out.push('?'),
        }
    }
    out.chars().take(90).collect()
}

/// A coarser class of a signature, for choosing what to keep: bracketed details (shapes, key
/// lists, chunk bytes) dropped, and only the start.
fn coarse(signature: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for ch in signature.chars() {
        match ch {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(ch),
            _ => {}
        }
    }
    out.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(64)
        .collect()
}

/// Detection, building, strict loading and one small translation: what `translate` does with
/// a checkpoint once it has read it. Returns a signature of how far it got.
fn use_state_dict(sd: StateDict, device: &Device) -> String {
    let (config, sd, _) = match detect::detect(sd) {
        Ok(found) => found,
        Err(e) => return format!("detect-err {}", shape_of_message(&e.to_string())),
    };
    build_and_load(&config, &sd, device)
}

fn build_and_load(config: &NetworkConfig, sd: &StateDict, device: &Device) -> String {
    let kind = shape_of_message(&config.describe());
    match config {
        NetworkConfig::Generator(g) => {
            let mut net = g.init(device);
            if let Err(e) = net.load_state_dict(sd, device) {
                return format!("{kind} load-err {}", shape_of_message(&e.to_string()));
            }
            // A 7×5 image: smaller than a ResNet's minimum and no multiple of anything.
            let c = g.input_nc();
            let image = ImageTensor {
                channels: c,
                height: 7,
                width: 5,
                data: (0..c * 35).map(|i| (i % 7) as f32 / 3.5 - 1.0).collect(),
            };
            let out = Translator::new(g.clone(), net, device.clone()).translate(&image);
            assert_eq!(
                (out.channels, out.height, out.width),
                (g.output_nc(), 7, 5),
                "a translation keeps the input's size"
            );
            format!("{kind} translated")
        }
        NetworkConfig::Discriminator(d) => {
            let mut net = d.init(device);
            match net.load_state_dict(sd, device) {
                Ok(()) => format!("{kind} loaded"),
                Err(e) => format!("{kind} load-err {}", shape_of_message(&e.to_string())),
            }
        }
    }
}

/// Runs one input through a target. `Err` is a panic, with its message.
fn run_target(target: Target, bytes: &[u8], device: &Device) -> Result<String, String> {
    catch_unwind(AssertUnwindSafe(|| match target {
        Target::Pth => match pth::read_pth_bytes(bytes, "fuzz.pth") {
            Ok(sd) => format!("ok / {}", use_state_dict(sd, device)),
            Err(e) => shape_of_message(&e.to_string()),
        },
        Target::Pickle => match pickle::unpickle(bytes, Path::new("fuzz.pkl")) {
            Ok((v, end)) => {
                assert!(end <= bytes.len(), "unpickle ended past its input");
                format!("ok {}", v.kind())
            }
            Err(e) => shape_of_message(&e.to_string()),
        },
        Target::Safetensors => {
            match safetensors_io::read_safetensors_bytes(bytes, "fuzz.safetensors") {
                Ok((sd, _)) => {
                    for (k, t) in &sd {
                        assert_eq!(t.data.len(), t.numel(), "{k}: data and shape disagree");
                    }
                    // The file-level path as well: it trusts the header's architecture
                    // metadata over the keys, so that metadata is as untrusted as the rest.
                    let dir = tempfile::tempdir().expect("temp dir");
                    let path = dir.path().join("f.safetensors");
                    std::fs::write(&path, bytes).expect("write");
                    let via_file = match checkpoint::load(&path) {
                        Ok(loaded) => build_and_load(&loaded.config, &loaded.state_dict, device),
                        Err(e) => format!("load-err {}", shape_of_message(&e.to_string())),
                    };
                    format!("ok / {via_file}")
                }
                Err(e) => shape_of_message(&e.to_string()),
            }
        }
        Target::Image => {
            // A small pixel limit keeps mutated headers from asking for gigabytes; the limit
            // itself is what is fuzzed by the bombs among the seeds.
            match decode_rgb8(bytes, Path::new("fuzz.img"), 1 << 22) {
                Ok(img) => {
                    assert_eq!(img.data.len(), img.width * img.height * 3, "RGB8 size");
                    let t = img.to_luma().to_tensor();
                    assert!(t.data.iter().all(|v| (-1.0..=1.0).contains(v)));
                    "ok".to_string()
                }
                Err(e) => shape_of_message(&e.to_string()),
            }
        }
    }))
    .map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into())
    })
}

// ---------------------------------------------------------------------------------------------
// Seeds: the real fixtures, and small files made here.
// ---------------------------------------------------------------------------------------------

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `fixture:<name>` (a PyTorch fixture, see `common::fixture`), `repo:<path under the
/// checkout>` or `shared:<path under ../shared>` (the full-size maps images, which the
/// repository may not hold: only a checkout with `../shared` beside it has them).
fn resolve(base: &str) -> PathBuf {
    if let Some(rest) = base.strip_prefix("fixture:") {
        common::fixture(rest)
    } else if let Some(rest) = base.strip_prefix("repo:") {
        manifest().join(rest)
    } else if let Some(rest) = base.strip_prefix("shared:") {
        manifest().join("../shared").join(rest)
    } else {
        panic!("unknown base `{base}`")
    }
}

fn read_base(base: &str) -> Vec<u8> {
    let p = resolve(base);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A seed: its bytes, and the file it is (for deltas), if it is one.
struct Seed {
    name: String,
    base: Option<String>,
    bytes: Vec<u8>,
}

const PTH_FIXTURES: [&str; 6] = [
    "resnet_official_tiny",
    "resnet_official_tiny_legacy",
    "resnet_seed_tiny",
    "resnet_affine_tiny",
    "unet_official_tiny",
    "patchgan_official_tiny",
];

fn file_seed(base: &str) -> Seed {
    Seed {
        name: base.rsplit('/').next().unwrap_or(base).to_string(),
        base: Some(base.to_string()),
        bytes: read_base(base),
    }
}

fn made_seed(name: &str, bytes: Vec<u8>) -> Seed {
    Seed {
        name: name.to_string(),
        base: None,
        bytes,
    }
}

fn zip_entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).expect("a fixture zip");
    (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).expect("entry");
            let mut data = Vec::new();
            f.read_to_end(&mut data).expect("entry data");
            (f.name().to_string(), data)
        })
        .collect()
}

/// Writes entries as a stored (uncompressed) zip with fixed dates, deterministically, so that
/// a mutated `data.pkl` reaches the pickle reader with a valid CRC.
fn rezip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::default());
    for (name, data) in entries {
        w.start_file(name.as_str(), opts).expect("zip entry");
        w.write_all(data).expect("zip write");
    }
    w.finish().expect("zip finish").into_inner()
}

fn tiny_safetensors(config: NetworkConfig) -> Vec<u8> {
    let device = Device::flex();
    let mut sd = match &config {
        NetworkConfig::Generator(g) => g.init(&device).state_dict(),
        NetworkConfig::Discriminator(d) => d.init(&device).state_dict(),
    };
    // Weights need not be trained, only deterministic.
    for (i, t) in sd.values_mut().enumerate() {
        for (j, v) in t.data.iter_mut().enumerate() {
            *v = ((i * 31 + j * 7) % 13) as f32 / 13.0 - 0.5;
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.safetensors");
    checkpoint::save_state_dict(&path, &sd, &config).expect("save");
    std::fs::read(&path).expect("read back")
}

fn encode(img: image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), format)
        .expect("encode");
    out
}

fn seeds(target: Target) -> Vec<Seed> {
    match target {
        Target::Pth => PTH_FIXTURES
            .iter()
            .map(|n| file_seed(&format!("fixture:{n}.pth")))
            .collect(),
        Target::Pickle => {
            let mut out = Vec::new();
            for n in PTH_FIXTURES {
                let bytes = read_base(&format!("fixture:{n}.pth"));
                if bytes.starts_with(b"PK") {
                    for (name, data) in zip_entries(&bytes) {
                        if name.ends_with("data.pkl") {
                            out.push(made_seed(&format!("{n}.data.pkl"), data));
                        }
                    }
                } else {
                    // A legacy file opens with its pickles.
                    out.push(file_seed(&format!("fixture:{n}.pth")));
                }
            }
            out
        }
        Target::Safetensors => {
            let mut out: Vec<Seed> = [
                "fixture:cyclegan_step_tiny.init/latest_net_G_A.safetensors",
                "fixture:cyclegan_step_tiny.init/latest_net_D_A.safetensors",
                "fixture:resnet_official_tiny.io.safetensors",
            ]
            .iter()
            .map(|b| file_seed(b))
            .collect();
            let resnet = ResnetGeneratorConfig::official(3, 3, 1, 1);
            out.push(made_seed(
                "tiny_resnet",
                tiny_safetensors(NetworkConfig::Generator(GeneratorConfig::Resnet(resnet))),
            ));
            let unet = cyclegan::model::UnetGeneratorConfig::official(1, 3, 5, 1);
            out.push(made_seed(
                "tiny_unet",
                tiny_safetensors(NetworkConfig::Generator(GeneratorConfig::Unet(unet))),
            ));
            out.push(made_seed(
                "tiny_patchgan",
                tiny_safetensors(NetworkConfig::Discriminator(DiscriminatorConfig::basic(
                    3, 1,
                ))),
            ));
            out.push(made_seed(
                "tiny_pixel",
                tiny_safetensors(NetworkConfig::Discriminator(DiscriminatorConfig::pixel(
                    1, 2,
                ))),
            ));
            out
        }
        Target::Image => {
            let mut out: Vec<Seed> = [
                "conv_cmyk.jpg",
                "conv_gray.jpg",
                "conv_gray16.png",
                "conv_gray16.tif",
                "conv_palette.png",
                "conv_rgba.png",
                "conv_rgba16.png",
                "conv_la.png",
                "conv_rgb.bmp",
                "conv_rgb.webp",
                "conv_bilevel.png",
            ]
            .iter()
            .map(|n| file_seed(&format!("repo:tests/fixtures/pillow/{n}")))
            .collect();
            let mut maps: Vec<_> = std::fs::read_dir(common::maps("trainA"))
                .expect("samples/maps/trainA")
                .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect();
            maps.sort();
            out.push(file_seed(&format!("repo:samples/maps/trainA/{}", maps[0])));
            let rgb = image::RgbImage::from_fn(24, 16, |x, y| {
                image::Rgb([(x * 10) as u8, (y * 15) as u8, ((x + y) * 5) as u8])
            });
            let rgb = image::DynamicImage::ImageRgb8(rgb);
            for (name, format) in [
                ("small.png", image::ImageFormat::Png),
                ("small.jpg", image::ImageFormat::Jpeg),
                ("small.bmp", image::ImageFormat::Bmp),
                ("small.tif", image::ImageFormat::Tiff),
                ("small.webp", image::ImageFormat::WebP),
            ] {
                out.push(made_seed(name, encode(rgb.clone(), format)));
            }
            out.push(made_seed("bomb.png", bomb_png(30000, 30000)));
            out.push(made_seed("bomb_small.png", bomb_png(300, 200)));
            out
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Mutations.
// ---------------------------------------------------------------------------------------------

const INTERESTING_U64: [u64; 14] = [
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    i64::MAX as u64,
    u64::MAX,
];

/// A position biased towards the places formats keep their structure: the start (headers) and
/// the end (a zip's central directory).
fn position(rng: &mut ChaCha8Rng, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    match rng.gen_range(0..3) {
        0 => rng.gen_range(0..len.min(256)),
        1 => len - 1 - rng.gen_range(0..len.min(256)),
        _ => rng.gen_range(0..len),
    }
}

/// One to four byte-level mutations.
fn mutate_bytes(rng: &mut ChaCha8Rng, input: &[u8], donor: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..rng.gen_range(1..=4) {
        let len = v.len();
        match rng.gen_range(0..10) {
            0 if len > 0 => {
                let p = position(rng, len);
                v[p] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let p = position(rng, len);
                v[p] = [0u8, 1, 0x7f, 0x80, 0xff, b'0', b'{', b'"'][rng.gen_range(0..8)];
            }
            2 if len > 0 => {
                let p = position(rng, len);
                v[p] = rng.r#gen();
            }
            3 if len >= 8 => {
                // An integer field: 2, 4 or 8 bytes, either byte order.
                let width = [2usize, 4, 8][rng.gen_range(0..3)];
                let p = position(rng, len - width + 1).min(len - width);
                let value = INTERESTING_U64[rng.gen_range(0..INTERESTING_U64.len())]
                    .wrapping_add(rng.gen_range(0..3))
                    .wrapping_sub(1);
                let bytes = if rng.gen_bool(0.5) {
                    value.to_le_bytes()
                } else {
                    value.to_be_bytes()
                };
                let bytes = if rng.gen_bool(0.5) {
                    &bytes[..width]
                } else {
                    &bytes[8 - width..]
                };
                v[p..p + width].copy_from_slice(bytes);
            }
            4 if len > 0 => v.truncate(position(rng, len)),
            5 if len > 1 => {
                let p = position(rng, len);
                let n = rng.gen_range(1..=(len - p).min(64));
                v.drain(p..p + n);
            }
            6 => {
                let p = position(rng, len + 1).min(len);
                let n = rng.gen_range(1..=32);
                let junk: Vec<u8> = (0..n).map(|_| rng.r#gen()).collect();
                v.splice(p..p, junk);
            }
            7 if len > 1 => {
                // Repeat a chunk elsewhere (repeated structures confuse length bookkeeping).
                let from = position(rng, len);
                let n = rng.gen_range(1..=(len - from).min(128));
                let chunk = v[from..from + n].to_vec();
                let to = position(rng, len);
                v.splice(to..to, chunk);
            }
            8 if !donor.is_empty() => {
                // Splice in bytes of another seed of the same format.
                let from = rng.gen_range(0..donor.len());
                let n = rng.gen_range(1..=(donor.len() - from).min(256));
                let to = position(rng, len + 1).min(len);
                let end = (to + n).min(len);
                v.splice(to..end, donor[from..from + n].iter().copied());
            }
            _ if len > 0 => {
                let p = position(rng, len);
                v[p] = v[p].wrapping_add(rng.gen_range(1..=4)).wrapping_sub(2);
            }
            _ => v.push(rng.r#gen()),
        }
    }
    v
}

/// A safetensors header (JSON) mutated as text: numbers in shapes and offsets, dtypes,
/// brackets; then the length prefix fixed up (or, sometimes, not).
fn mutate_safetensors_header(rng: &mut ChaCha8Rng, input: &[u8]) -> Option<Vec<u8>> {
    let n = u64::from_le_bytes(input.get(..8)?.try_into().ok()?) as usize;
    let header = std::str::from_utf8(input.get(8..8usize.checked_add(n)?)?).ok()?;
    let data = &input[8 + n..];
    let mut h = header.to_string();
    for _ in 0..rng.gen_range(1..=3) {
        match rng.gen_range(0..5) {
            0 | 1 => {
                // Replace one number.
                let spans: Vec<(usize, usize)> = number_spans(&h);
                if spans.is_empty() {
                    continue;
                }
                let (s, e) = spans[rng.gen_range(0..spans.len())];
                let old: u64 = h[s..e].parse().unwrap_or(0);
                let new = match rng.gen_range(0..6) {
                    0 => "0".to_string(),
                    1 => old.wrapping_add(rng.gen_range(1..=8)).to_string(),
                    2 => old.saturating_sub(rng.gen_range(1..=8)).to_string(),
                    3 => (old.wrapping_mul(2)).to_string(),
                    4 => INTERESTING_U64[rng.gen_range(0..INTERESTING_U64.len())].to_string(),
                    _ => ["-1", "1e30", "1.5", "18446744073709551616"][rng.gen_range(0..4)]
                        .to_string(),
                };
                h.replace_range(s..e, &new);
            }
            2 => {
                let dtypes = [
                    "F32", "F16", "BF16", "F64", "I64", "I32", "U8", "BOOL", "I8", "U64",
                    "F8_E4M3", "X",
                ];
                if let Some(p) = h.find("\"dtype\":\"") {
                    let s = p + 9;
                    if let Some(e) = h[s..].find('"') {
                        h.replace_range(s..s + e, dtypes[rng.gen_range(0..dtypes.len())]);
                    }
                }
            }
            3 => {
                // Drop or add a shape entry.
                if let Some(p) = h.find("\"shape\":[") {
                    let s = p + 9;
                    if rng.gen_bool(0.5) {
                        h.insert_str(s, "1,");
                    } else if let Some(e) = h[s..].find([',', ']']) {
                        h.replace_range(s..s + e + usize::from(h.as_bytes()[s + e] == b','), "");
                    }
                }
            }
            _ => {
                // The architecture metadata: a network the file cannot hold.
                let absurd = [
                    r#"{\"generator\":{\"net\":\"resnet\",\"input_nc\":3,\"output_nc\":3,\"ngf\":4000000000,\"n_blocks\":9,\"norm\":\"instance\",\"use_bias\":true,\"use_dropout\":false,\"upsampling\":\"transpose\",\"block_naming\":\"conv_block\"}}"#,
                    r#"{\"generator\":{\"net\":\"resnet\",\"input_nc\":3,\"output_nc\":3,\"ngf\":1,\"n_blocks\":100000000000,\"norm\":\"instance\",\"use_bias\":true,\"use_dropout\":false,\"upsampling\":\"transpose\",\"block_naming\":\"conv_block\"}}"#,
                    r#"{\"generator\":{\"net\":\"unet\",\"input_nc\":3,\"output_nc\":3,\"num_downs\":70,\"ngf\":1,\"norm\":\"instance\",\"use_bias\":true,\"use_dropout\":false}}"#,
                    r#"{\"generator\":{\"net\":\"unet\",\"input_nc\":0,\"output_nc\":3,\"num_downs\":2,\"ngf\":0,\"norm\":\"instance\",\"use_bias\":true,\"use_dropout\":false}}"#,
                    r#"{\"discriminator\":{\"net\":\"n_layers\",\"input_nc\":3,\"ndf\":1,\"n_layers\":100,\"norm\":\"instance\",\"use_bias\":true}}"#,
                ];
                let key = "\"cyclegan.network\":\"";
                if let Some(p) = h.find(key) {
                    let s = p + key.len();
                    // The JSON string ends at the first unescaped quote.
                    let bytes = h.as_bytes();
                    let mut e = s;
                    while e < bytes.len() && !(bytes[e] == b'"' && bytes[e - 1] != b'\\') {
                        e += 1;
                    }
                    h.replace_range(s..e, absurd[rng.gen_range(0..absurd.len())]);
                }
            }
        }
    }
    let len = if rng.gen_bool(0.9) {
        h.len() as u64
    } else {
        n as u64
    };
    let mut out = len.to_le_bytes().to_vec();
    out.extend(h.as_bytes());
    out.extend(data);
    Some(out)
}

fn number_spans(s: &str) -> Vec<(usize, usize)> {
    let b = s.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let s0 = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i >= b.len() || !b[i].is_ascii_alphabetic() {
                spans.push((s0, i));
            }
        } else {
            i += 1;
        }
    }
    spans
}

/// A mutated input, and how to write it down again (see [`Kept`]).
struct Case {
    bytes: Vec<u8>,
    base: Option<String>,
    /// The zip entry the mutation applies to, for re-zipped `.pth` inputs.
    entry: Option<String>,
    /// The bytes the delta is against (the seed itself, or that entry of it), and what they
    /// became.
    delta_from: Vec<u8>,
    delta_to: Vec<u8>,
}

fn mutate(target: Target, rng: &mut ChaCha8Rng, seeds: &[Seed]) -> Case {
    let seed = &seeds[rng.gen_range(0..seeds.len())];
    let donor = &seeds[rng.gen_range(0..seeds.len())].bytes;
    let plain = |rng: &mut ChaCha8Rng| {
        let bytes = mutate_bytes(rng, &seed.bytes, donor);
        Case {
            delta_to: bytes.clone(),
            bytes,
            base: seed.base.clone(),
            entry: None,
            delta_from: seed.bytes.clone(),
        }
    };
    match target {
        // Half the time reach inside the archive: a mutated entry, re-zipped with a good CRC.
        Target::Pth if seed.bytes.starts_with(b"PK") && rng.gen_bool(0.5) => {
            let mut entries = zip_entries(&seed.bytes);
            let pick = if rng.gen_bool(0.7) {
                entries
                    .iter()
                    .position(|(n, _)| n.ends_with("data.pkl"))
                    .unwrap_or(0)
            } else {
                rng.gen_range(0..entries.len())
            };
            let before = entries[pick].1.clone();
            entries[pick].1 = mutate_bytes(rng, &before, &[]);
            Case {
                bytes: rezip(&entries),
                base: seed.base.clone(),
                entry: Some(entries[pick].0.clone()),
                delta_from: before,
                delta_to: entries[pick].1.clone(),
            }
        }
        Target::Safetensors if rng.gen_bool(0.6) => {
            match mutate_safetensors_header(rng, &seed.bytes) {
                Some(bytes) => Case {
                    delta_to: bytes.clone(),
                    bytes,
                    base: seed.base.clone(),
                    entry: None,
                    delta_from: seed.bytes.clone(),
                },
                None => plain(rng),
            }
        }
        _ => plain(rng),
    }
}

// ---------------------------------------------------------------------------------------------
// The corpus: kept inputs, as raw bytes or as deltas against a fixture.
// ---------------------------------------------------------------------------------------------

fn corpus_dir(target: Target) -> PathBuf {
    manifest().join("tests/corpus").join(target.dir())
}

/// `splice <offset> <removed> <hex inserted>` lines turning `from` into `to`: the differing
/// runs when the lengths agree, else one splice between the common prefix and suffix.
fn delta(from: &[u8], to: &[u8]) -> Vec<(usize, usize, Vec<u8>)> {
    let prefix = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    let max_suffix = from.len().min(to.len()) - prefix;
    let suffix = from
        .iter()
        .rev()
        .zip(to.iter().rev())
        .take(max_suffix)
        .take_while(|(a, b)| a == b)
        .count();
    if from.len() != to.len() {
        return vec![(
            prefix,
            from.len() - suffix - prefix,
            to[prefix..to.len() - suffix].to_vec(),
        )];
    }
    let mut out: Vec<(usize, usize, Vec<u8>)> = Vec::new();
    let mut i = prefix;
    while i < from.len() - suffix {
        if from[i] == to[i] {
            i += 1;
            continue;
        }
        let start = i;
        let mut last_diff = i;
        // Runs closer than 8 bytes merge.
        while i < from.len() - suffix && i - last_diff < 8 {
            if from[i] != to[i] {
                last_diff = i;
            }
            i += 1;
        }
        out.push((start, last_diff + 1 - start, to[start..=last_diff].to_vec()));
        i = last_diff + 1;
    }
    out
}

fn apply_delta(from: &[u8], splices: &[(usize, usize, Vec<u8>)]) -> Vec<u8> {
    let mut v = from.to_vec();
    // Back to front, so earlier offsets stay valid.
    for (at, removed, inserted) in splices.iter().rev() {
        let at = (*at).min(v.len());
        let end = (at + removed).min(v.len());
        v.splice(at..end, inserted.iter().copied());
    }
    v
}

fn hex(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

/// Reads back one kept input; `None` when it is a delta against a file of `../shared` and
/// this checkout has none beside it.
fn load_kept(path: &Path) -> Option<Vec<u8>> {
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if path.extension().is_some_and(|e| e == "bin") {
        return Some(raw);
    }
    let text = String::from_utf8(raw).expect("a .delta is text");
    let mut base = None;
    let mut entry = None;
    let mut splices = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let parts: Vec<&str> = line.split(' ').collect();
        match parts[0] {
            "base" => base = Some(parts[1].to_string()),
            "entry" => entry = Some(parts[1].to_string()),
            "splice" => splices.push((
                parts[1].parse().expect("offset"),
                parts[2].parse().expect("length"),
                unhex(parts.get(3).copied().unwrap_or("")),
            )),
            other => panic!("{}: unknown line `{other}`", path.display()),
        }
    }
    let base = base.expect("a .delta names its base");
    if base.starts_with("shared:") && !resolve(&base).exists() {
        return None;
    }
    let base = read_base(&base);
    Some(match entry {
        None => apply_delta(&base, &splices),
        Some(name) => {
            let mut entries = zip_entries(&base);
            let e = entries
                .iter_mut()
                .find(|(n, _)| *n == name)
                .expect("the entry exists in the base");
            e.1 = apply_delta(&e.1, &splices);
            rezip(&entries)
        }
    })
}

/// Writes a case into the corpus: raw when small, else as a delta against its fixture when
/// that is small; returns the file written, if any.
fn keep(target: Target, case: &Case, label: &str) -> Option<PathBuf> {
    let dir = corpus_dir(target);
    std::fs::create_dir_all(&dir).ok()?;
    let id = format!("{:016x}", fnv(&case.bytes));
    // The maps images are research-only: what derives from them is kept as a delta against
    // the file it came from (a sample thumbnail, or a full-size image of ../shared), never as
    // bytes of its own in the repository.
    let licensed = case
        .base
        .as_deref()
        .is_some_and(|b| b.starts_with("shared:data/") || b.starts_with("repo:samples/"));
    if case.bytes.len() <= 4096 && case.entry.is_none() && !licensed {
        let p = dir.join(format!("{label}-{id}.bin"));
        std::fs::write(&p, &case.bytes).ok()?;
        return Some(p);
    }
    let splices = delta(&case.delta_from, &case.delta_to);
    write_delta(
        &dir,
        case.base.as_ref()?,
        case.entry.as_deref(),
        &splices,
        label,
        &id,
    )
}

fn write_delta(
    dir: &Path,
    base: &str,
    entry: Option<&str>,
    splices: &[(usize, usize, Vec<u8>)],
    label: &str,
    id: &str,
) -> Option<PathBuf> {
    let size: usize = splices.iter().map(|s| s.2.len()).sum();
    if size > 1024 {
        return None;
    }
    let mut text = format!("base {base}\n");
    if let Some(e) = entry {
        let _ = writeln!(text, "entry {e}");
    }
    for (at, removed, inserted) in splices {
        let _ = writeln!(text, "splice {at} {removed} {}", hex(inserted));
    }
    let p = dir.join(format!("{label}-{id}.delta"));
    std::fs::write(&p, text).ok()?;
    Some(p)
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x100_0000_01b3)
    })
}

fn kept_files(target: Target) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir(target))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "bin" || e == "delta"));
    files.sort();
    files
}

// ---------------------------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------------------------

/// Every kept input still gives a `Result`, not a panic.
#[test]
fn corpus_replays_without_panics() {
    let device = Device::flex();
    let mut replayed = 0;
    let mut absent = Vec::new();
    let mut panics = Vec::new();
    for target in TARGETS {
        for path in kept_files(target) {
            let Some(bytes) = load_kept(&path) else {
                absent.push(path.display().to_string());
                continue;
            };
            replayed += 1;
            if let Err(msg) = run_target(target, &bytes, &device) {
                panics.push(format!("{}: {msg}", path.display()));
            }
        }
    }
    println!("replayed {replayed} kept inputs");
    if !absent.is_empty() {
        // Straight to stderr: the test harness keeps what `eprintln!` writes to itself.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "note: {} kept inputs not replayed: they are deltas against full-size maps images \
             of ../shared/data, which is not beside this checkout:\n  {}",
            absent.len(),
            absent.join("\n  ")
        );
    }
    // The corpus is part of the test: an empty one would pass vacuously.
    assert!(replayed >= 20, "only {replayed} inputs under tests/corpus");
    assert!(panics.is_empty(), "panics:\n{}", panics.join("\n"));
}

/// The seeds themselves: every fixture reads, and each network fixture loads and translates.
#[test]
fn seeds_take_the_good_path() {
    let device = Device::flex();
    for target in [Target::Pth, Target::Safetensors] {
        for seed in seeds(target) {
            let got = run_target(target, &seed.bytes, &device).expect("no panic");
            assert!(got.starts_with("ok / "), "{}: {got}", seed.name);
            let is_io = seed.name.contains(".io.");
            assert_eq!(
                got.contains("translated") || got.contains("loaded"),
                !is_io,
                "{}: {got}",
                seed.name
            );
        }
    }
    for seed in seeds(Target::Image) {
        let got = run_target(Target::Image, &seed.bytes, &device).expect("no panic");
        let bomb = seed.name.starts_with("bomb");
        assert_eq!(got == "ok", !bomb, "{}: {got}", seed.name);
    }
}

/// Fresh seeded mutations of every target: a few hundred in CI, or `CYCLEGAN_FUZZ_SECS`
/// seconds of them (see the module docs).
#[test]
fn seeded_mutations_never_panic() {
    let device = Device::flex();
    let secs: Option<u64> = std::env::var("CYCLEGAN_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok());
    let seed: u64 = std::env::var("CYCLEGAN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let save = std::env::var_os("CYCLEGAN_FUZZ_SAVE").is_some();
    let deadline = secs.map(|s| Instant::now() + Duration::from_secs(s));
    let per_target_in_ci = 500;

    let all_seeds: Vec<Vec<Seed>> = TARGETS.iter().map(|&t| seeds(t)).collect();
    // Outcomes the corpus already covers, so only new ones are kept.
    let mut known: Vec<BTreeSet<String>> = TARGETS
        .iter()
        .map(|&t| {
            kept_files(t)
                .iter()
                .filter_map(|p| run_target(t, &load_kept(p)?, &device).ok())
                .map(|sig| coarse(&sig))
                .collect()
        })
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut counts = [0usize; 4];
    // How often each outcome came up: printed after a long run, to see how deep inputs go.
    let mut seen: Vec<std::collections::BTreeMap<String, usize>> = vec![Default::default(); 4];
    let mut panics = Vec::new();
    let mut saved = 0;
    'outer: for round in 0.. {
        for (t, &target) in TARGETS.iter().enumerate() {
            match deadline {
                Some(d) if Instant::now() >= d => break 'outer,
                None if round >= per_target_in_ci => break 'outer,
                _ => {}
            }
            let case = mutate(target, &mut rng, &all_seeds[t]);
            counts[t] += 1;
            match run_target(target, &case.bytes, &device) {
                Ok(signature) => {
                    *seen[t].entry(signature.clone()).or_default() += 1;
                    let class = coarse(&signature);
                    if save
                        && !known[t].contains(&class)
                        && known[t].len() < 40
                        && let Some(p) = keep(target, &case, "new")
                    {
                        println!("kept {} ({signature})", p.display());
                        saved += 1;
                        known[t].insert(class);
                    }
                }
                Err(msg) => {
                    // Reproducible from the seed; kept as a file too when saving.
                    let kept = save
                        .then(|| keep(target, &case, "panic"))
                        .flatten()
                        .map(|p| p.display().to_string());
                    panics.push(format!(
                        "{target:?} case {} (seed {seed}): {msg}; kept as {kept:?}",
                        counts[t]
                    ));
                }
            }
        }
    }
    println!(
        "fuzzed with seed {seed}: {} pth, {} pickle, {} safetensors, {} image inputs; {saved} new kept",
        counts[0], counts[1], counts[2], counts[3]
    );
    if secs.is_some() {
        for (t, target) in TARGETS.iter().enumerate() {
            println!("{target:?}: {} outcomes", seen[t].len());
            for (sig, n) in &seen[t] {
                println!("  {n:>8}  {sig}");
            }
        }
    }
    assert!(counts.iter().all(|&c| c > 0));
    assert!(panics.is_empty(), "panics:\n{}", panics.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Detection on arbitrary key/shape sets.
// ---------------------------------------------------------------------------------------------

fn tensor(shape: Vec<usize>) -> RawTensor {
    let n: usize = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .expect("small");
    RawTensor {
        data: (0..n).map(|i| ((i % 17) as f32 - 8.0) / 64.0).collect(),
        shape,
    }
}

/// A random shape whose element count stays small: dimensions from a list that includes
/// absurd ones, with a 0 among them whenever the product would be large (a real file can hold
/// such an empty tensor, and detection reads only shapes).
fn random_shape(rng: &mut ChaCha8Rng) -> Vec<usize> {
    const DIMS: [usize; 12] = [0, 1, 2, 3, 4, 7, 8, 16, 65_536, 65_537, 1 << 31, usize::MAX];
    let rank = rng.gen_range(0..=5);
    let mut shape: Vec<usize> = (0..rank)
        .map(|_| {
            if rng.gen_bool(0.8) {
                DIMS[rng.gen_range(1..8)]
            } else {
                DIMS[rng.gen_range(0..DIMS.len())]
            }
        })
        .collect();
    // Readers refuse shapes whose element count overflows (the count of the non-zero
    // dimensions must fit a word); beyond that, a zero keeps a large shape empty.
    let nonzero = |shape: &[usize]| {
        shape
            .iter()
            .filter(|&&d| d != 0)
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
    };
    while nonzero(&shape).is_none() {
        let (i, _) = shape
            .iter()
            .enumerate()
            .max_by_key(|&(_, d)| *d)
            .expect("an overflowing shape has dimensions");
        shape[i] = 1;
    }
    if nonzero(&shape).is_some_and(|n| n > 1 << 16) && !shape.contains(&0) {
        let i = rng.gen_range(0..shape.len());
        shape[i] = 0;
    }
    shape
}

fn random_key(rng: &mut ChaCha8Rng) -> String {
    let i = rng.gen_range(0..30);
    let leaf = [
        "weight",
        "bias",
        "running_mean",
        "running_var",
        "num_batches_tracked",
    ][rng.gen_range(0..5)];
    let mut k = match rng.gen_range(0..6) {
        0 => format!("model.{i}.{leaf}"),
        1 => format!(
            "model.{}.{}.{}.{leaf}",
            10 + i % 12,
            ["conv_block", "block"][rng.gen_range(0..2)],
            rng.gen_range(0..8)
        ),
        2 => {
            let depth = rng.gen_range(0..8);
            let mut k = "model.model".to_string();
            for _ in 0..depth {
                k.push_str(if rng.gen_bool(0.5) {
                    ".1.model"
                } else {
                    ".3.model"
                });
            }
            format!("{k}.{}.{leaf}", rng.gen_range(0..8))
        }
        3 => format!("net.{}.{leaf}", i % 6),
        4 => format!("model.model.{}.{leaf}", i % 5),
        _ => format!("x{i}.{leaf}"),
    };
    if rng.gen_bool(0.05) {
        k.insert_str(0, "module.");
    }
    k
}

/// State dicts made of real ones (the fixtures) with keys dropped, added, renamed and
/// reshaped, and of wholly random keys and shapes: detection, then building the detected
/// network and loading it strictly (and translating with a generator), must give a `Result`.
#[test]
fn arbitrary_state_dicts_never_panic_detection_or_loading() {
    let device = Device::flex();
    let mut bases: Vec<StateDict> = PTH_FIXTURES
        .iter()
        .map(|n| {
            checkpoint::read_state_dict(&common::fixture(&format!("{n}.pth")))
                .expect(n)
                .0
        })
        .collect();
    bases.push(StateDict::new());
    let mut rng = ChaCha8Rng::seed_from_u64(0xde7ec7);
    // 2000 cases in CI, or as many as `CYCLEGAN_FUZZ_SECS` seconds allow.
    let deadline = std::env::var("CYCLEGAN_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(|s| Instant::now() + Duration::from_secs(s));
    let mut outcomes = BTreeSet::new();
    let mut panics = Vec::new();
    let mut cases = 0;
    for case in 0.. {
        match deadline {
            Some(d) if Instant::now() >= d => break,
            None if case >= 2000 => break,
            _ => cases += 1,
        }
        let mut sd = bases[rng.gen_range(0..bases.len())].clone();
        for _ in 0..rng.gen_range(1..=6) {
            let keys: Vec<String> = sd.keys().cloned().collect();
            match rng.gen_range(0..5) {
                0 if !keys.is_empty() => {
                    sd.remove(&keys[rng.gen_range(0..keys.len())]);
                }
                1 if !keys.is_empty() => {
                    // Reshape one tensor: one dimension changed, or a wholly new shape.
                    let k = &keys[rng.gen_range(0..keys.len())];
                    let mut shape = sd[k].shape.clone();
                    if !shape.is_empty() && rng.gen_bool(0.6) {
                        let i = rng.gen_range(0..shape.len());
                        shape[i] = [
                            0,
                            1,
                            2,
                            shape[i].saturating_add(1),
                            shape[i].saturating_mul(2),
                            65_537,
                        ][rng.gen_range(0..6)];
                        let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
                        if n.is_none_or(|n| n > 1 << 20) {
                            shape[i] = 0;
                        }
                    } else {
                        shape = random_shape(&mut rng);
                    }
                    sd.insert(k.clone(), tensor(shape));
                }
                2 if !keys.is_empty() => {
                    let k = &keys[rng.gen_range(0..keys.len())];
                    let t = sd.remove(k).expect("present");
                    sd.insert(random_key(&mut rng), t);
                }
                _ => {
                    sd.insert(random_key(&mut rng), tensor(random_shape(&mut rng)));
                }
            }
        }
        let sd_for_report = sd
            .iter()
            .take(4)
            .map(|(k, t)| format!("{k} {:?}", t.shape))
            .collect::<Vec<_>>();
        match catch_unwind(AssertUnwindSafe(|| use_state_dict(sd, &device))) {
            Ok(outcome) => {
                let net = outcome.split(' ').next().unwrap_or("").to_string();
                let class = if outcome.starts_with("detect-err") {
                    outcome.split(' ').take(4).collect::<Vec<_>>().join(" ")
                } else if outcome.contains(" load-err ") {
                    format!("{net} load-err")
                } else {
                    format!("{net} {}", outcome.rsplit(' ').next().unwrap_or(""))
                };
                outcomes.insert(class);
            }
            Err(p) => panics.push(format!(
                "case {case}: {:?} (first keys {sd_for_report:?})",
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            )),
        }
    }
    println!(
        "{cases} state dicts, {} kinds of outcome: {outcomes:#?}",
        outcomes.len()
    );
    // The cases must reach past detection sometimes, or they test little.
    for reached in [
        "generator translated",
        "generator load-err",
        "discriminator loaded",
    ] {
        assert!(outcomes.contains(reached), "never {reached}: {outcomes:?}");
    }
    assert!(panics.is_empty(), "panics:\n{}", panics.join("\n"));
}

/// Architectures that no file could fill are refused before anything is built: a header's
/// metadata (trusted over the keys) or shapes claiming billions of channels, a zero-channel
/// layer, or depths whose size multiple does not fit a machine word.
#[test]
fn absurd_architectures_are_refused_before_allocation() {
    let fixture = checkpoint::read_state_dict(&common::fixture("resnet_official_tiny.pth"))
        .expect("fixture")
        .0;
    // The stem with a zero-size tensor claiming 2^31 output channels.
    let mut sd = fixture.clone();
    sd.insert("model.1.weight".into(), tensor(vec![1 << 31, 0, 7, 7]));
    let e = detect::detect(sd).expect_err("2^31 channels");
    assert!(e.to_string().contains("channels"), "{e}");
    // 4096 channels with real data: a network of billions of weights in a small file.
    let mut sd = fixture.clone();
    sd.insert("model.1.weight".into(), tensor(vec![4096, 1, 7, 7]));
    let e = detect::detect(sd).expect_err("a network bigger than its file");
    assert!(e.to_string().contains("weights but the file holds"), "{e}");
    // Every fixture passes the same check (it is a lower bound).
    for n in PTH_FIXTURES {
        let sd = checkpoint::read_state_dict(&common::fixture(&format!("{n}.pth")))
            .expect(n)
            .0;
        detect::detect(sd).unwrap_or_else(|e| panic!("{n}: {e}"));
    }
    // Metadata claiming an absurd network, in an otherwise good file.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("g.safetensors");
    let absurd = [
        ResnetGeneratorConfig::official(3, 3, 4_000_000_000, 9),
        ResnetGeneratorConfig::official(3, 3, 1, usize::MAX / 4),
        ResnetGeneratorConfig::official(0, 3, 8, 3),
    ];
    for config in absurd {
        let config = NetworkConfig::Generator(GeneratorConfig::Resnet(config));
        checkpoint::save_state_dict(&path, &fixture, &config).expect("save");
        let e = checkpoint::load(&path).expect_err("absurd metadata");
        assert!(e.to_string().contains("g.safetensors"), "{e}");
        let e = checkpoint::load_generator(&path, &Device::flex()).expect_err("absurd");
        assert!(!e.to_string().contains('\n'), "{e}");
    }
    let unet = cyclegan::model::UnetGeneratorConfig::official(3, 3, 70, 1);
    let config = NetworkConfig::Generator(GeneratorConfig::Unet(unet));
    checkpoint::save_state_dict(&path, &fixture, &config).expect("save");
    assert!(checkpoint::load(&path).is_err(), "a 70-level U-Net");
}

/// The delta format round-trips (so that kept deltas replay the inputs that were kept).
#[test]
fn deltas_round_trip() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for _ in 0..200 {
        let from: Vec<u8> = (0..rng.gen_range(0..300))
            .map(|_| rng.gen_range(0..4))
            .collect();
        let to = mutate_bytes(&mut rng, &from, &[1, 2, 3]);
        assert_eq!(apply_delta(&from, &delta(&from, &to)), to);
    }
}

/// The size check is a lower bound: every network that can be built passes it with its own
/// weights, across the layouts and their options (a wrong formula would refuse real files).
#[test]
fn every_real_network_passes_the_size_check() {
    use cyclegan::model::{BlockNaming, NormKind, UnetGeneratorConfig, Upsampling};
    let device = Device::flex();
    let mut configs = Vec::new();
    for (ngf, n_blocks) in [(1, 0), (2, 1), (3, 2), (4, 3)] {
        for upsampling in [Upsampling::Transpose, Upsampling::Resize] {
            for (norm, dropout) in [(NormKind::Instance, false), (NormKind::Batch, true)] {
                configs.push(NetworkConfig::Generator(GeneratorConfig::Resnet(
                    ResnetGeneratorConfig {
                        norm,
                        use_bias: norm.conv_bias(),
                        use_dropout: dropout,
                        upsampling,
                        block_naming: if dropout {
                            BlockNaming::Block
                        } else {
                            BlockNaming::ConvBlock
                        },
                        ..ResnetGeneratorConfig::official(1 + ngf % 3, 3, ngf, n_blocks)
                    },
                )));
            }
        }
    }
    for (num_downs, ngf) in [(5, 1), (6, 2), (7, 1)] {
        configs.push(NetworkConfig::Generator(GeneratorConfig::Unet(
            UnetGeneratorConfig::official(3, 1, num_downs, ngf),
        )));
    }
    for n_layers in 0..=5 {
        configs.push(NetworkConfig::Discriminator(DiscriminatorConfig::n_layers(
            1, 2, n_layers,
        )));
    }
    configs.push(NetworkConfig::Discriminator(DiscriminatorConfig::pixel(
        3, 2,
    )));
    for config in configs {
        let sd = match &config {
            NetworkConfig::Generator(g) => g.init(&device).state_dict(),
            NetworkConfig::Discriminator(d) => d.init(&device).state_dict(),
        };
        detect::check_buildable(&config, &sd)
            .unwrap_or_else(|e| panic!("{}: {e}", config.describe()));
        // A third of the kernels' values is refused: the bound is not vacuous (it counts all
        // kernels of most layouts, the down-sampling half of a U-Net's).
        let kernels: usize = sd
            .values()
            .filter(|t| t.shape.len() == 4)
            .map(|t| t.data.len())
            .sum();
        let mut short = StateDict::new();
        short.insert("x".into(), tensor(vec![kernels / 3]));
        assert!(
            detect::check_buildable(&config, &short).is_err(),
            "{}",
            config.describe()
        );
    }
}
