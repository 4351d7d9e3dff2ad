//! Files ↔ pixels: decoding any supported image into 8-bit RGB (or L) exactly as PIL's
//! `Image.open(p).convert('RGB')` (then `.convert('L')` for one channel) does, the
//! decompression-bomb guard, the float conversion of torchvision's `ToTensor` +
//! `Normalize(0.5, 0.5)`, and saving a float image back as PNG.
//! Mirrors `data/image_folder.py` (`is_image_file`) and the loading lines of
//! `data/unaligned_dataset.py` / `util/util.py` (`tensor2im`, `save_image`).
//!
//! Where the decoders differ from PIL's:
//! - 16-bit grayscale (PIL mode `I;16`): PIL's `convert('RGB')` *clips* (values above 255 become
//!   255, it does not scale); done the same here, so a real 16-bit scan turns mostly white, as it
//!   does upstream.
//! - 16-bit RGB / RGBA / LA (PIL unpacks them to 8 bits with the `;16B` raw modes): the high
//!   byte, `v >> 8`, as PIL.
//! - Alpha is dropped, never composited (PIL's `RGBA → RGB`); palettes are looked up.
//! - JPEG: YCbCr and grayscale files go through libjpeg-turbo's own decoder (inside MozJPEG, the
//!   `mozjpeg` crate), as PIL's do, with PIL's settings (integer IDCT, fancy upsampling), so
//!   their levels equal PIL's bit for bit. CMYK and YCCK files, which libjpeg does not turn into
//!   RGB, take the image crate's decoder, whose `c·k/255` is PIL's `cmyk2rgb` on
//!   Adobe-inverted data (what PIL assumes for every CMYK JPEG); their IDCT may round a level
//!   apart from libjpeg's on detailed blocks.
//! - Lossy WebP may decode a level apart from PIL's libwebp on some pixels; PNG, BMP, TIFF and
//!   lossless WebP decode identically.
//! - EXIF orientation is ignored, as PIL's `Image.open` ignores it.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader, Limits};

use super::error::DataError;

/// PIL's `Image.MAX_IMAGE_PIXELS` (1024 · 1024 · 1024 / 4 / 3): above it PIL warns, we refuse.
pub const DEFAULT_MAX_PIXELS: u64 = 89_478_485;

/// The one list of image extensions, matched case-insensitively: exactly what the `image` crate
/// is built to decode (features png, jpeg, webp, bmp, tiff in Cargo.toml). Upstream's
/// `IMG_EXTENSIONS` (`data/image_folder.py`) plus webp, minus ppm: a listed file that cannot
/// decode would be picked up and then fail mid-run.
pub const IMG_EXTENSIONS: [&str; 7] = ["jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp"];

/// The list for messages: ".jpg/.jpeg/…".
pub fn extension_list() -> String {
    IMG_EXTENSIONS.map(|e| format!(".{e}")).join("/")
}

/// A float image, CHW, values in [-1, 1]: what the models eat.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageTensor {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub data: Vec<f32>,
}

/// An 8-bit image, interleaved HWC (PIL's layout), 1 (L) or 3 (RGB) channels. Resizing, cropping
/// and flipping happen here, in 8 bits, as upstream does them on PIL images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image8 {
    pub channels: usize,
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl Image8 {
    /// torchvision's `ToTensor()` then `Normalize(0.5, 0.5)`: `((v / 255) - 0.5) / 0.5` in f32,
    /// the exact float ops PyTorch does (f64 arithmetic would differ in the last bit).
    pub fn to_tensor(&self) -> ImageTensor {
        let (c, hw) = (self.channels, self.width * self.height);
        let mut data = vec![0f32; c * hw];
        for (ch, plane) in data.chunks_exact_mut(hw.max(1)).enumerate().take(c) {
            for (dst, px) in plane.iter_mut().zip(self.data.chunks_exact(c)) {
                *dst = ((f32::from(px[ch]) / 255.0) - 0.5) / 0.5;
            }
        }
        ImageTensor {
            channels: c,
            height: self.height,
            width: self.width,
            data,
        }
    }

    /// PIL's `convert('L')` of an RGB image: ITU-R 601-2 luma in 16-bit fixed point,
    /// `(R·19595 + G·38470 + B·7471 + 0x8000) >> 16`. One-channel images are returned as is.
    pub fn to_luma(&self) -> Image8 {
        if self.channels == 1 {
            return self.clone();
        }
        let data = self
            .data
            .chunks_exact(3)
            .map(|p| {
                let l = u32::from(p[0]) * 19595 + u32::from(p[1]) * 38470 + u32::from(p[2]) * 7471;
                ((l + 0x8000) >> 16) as u8
            })
            .collect();
        Image8 {
            channels: 1,
            width: self.width,
            height: self.height,
            data,
        }
    }
}

/// Whether a file name has one of the official image extensions (case-insensitive).
pub fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMG_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// Load a file as upstream does: `Image.open(path).convert('RGB')`, then `convert('L')` when
/// `channels == 1`. Refuses images of more than `max_pixels` pixels before decoding them.
pub fn load_image8(path: &Path, channels: usize, max_pixels: u64) -> Result<Image8, DataError> {
    check_channels(channels)?;
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let rgb = decode_rgb8(&bytes, path, max_pixels)?;
    Ok(if channels == 1 { rgb.to_luma() } else { rgb })
}

/// [`load_image8`] then the float conversion, with no resizing: for translating whole images.
pub fn load_image(path: &Path, channels: usize, max_pixels: u64) -> Result<ImageTensor, DataError> {
    Ok(load_image8(path, channels, max_pixels)?.to_tensor())
}

pub(crate) fn check_channels(channels: usize) -> Result<(), DataError> {
    match channels {
        1 | 3 => Ok(()),
        _ => Err(DataError::Channels { channels }),
    }
}

/// Decode in-memory file bytes (format sniffed from the content, as PIL does) into RGB8.
/// `path` only names the file in errors. Never panics: a decoder panic becomes an error.
pub fn decode_rgb8(bytes: &[u8], path: &Path, max_pixels: u64) -> Result<Image8, DataError> {
    let decode_err = |reason: String| DataError::Decode {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.is_empty() {
        return Err(decode_err("the file is empty (0 bytes)".into()));
    }
    if bytes.starts_with(&[0xFF, 0xD8])
        && let Some(image) = decode_jpeg_like_pil(bytes, path, max_pixels)?
    {
        return Ok(image);
    }
    let run = || -> Result<DynamicImage, DataError> {
        let mut reader = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| decode_err(e.to_string()))?;
        if reader.format().is_none() {
            return Err(decode_err(
                "not a JPEG, PNG, WebP, BMP or TIFF file (unrecognised content)".into(),
            ));
        }
        // Read only the header first, without limits (no decoder allocates the pixel buffer
        // before it is asked to decode), so that the size check below comes first.
        reader.no_limits();
        let mut decoder = reader
            .into_decoder()
            .map_err(|e| decode_err(e.to_string()))?;
        let (width, height) = decoder.dimensions();
        if u64::from(width) * u64::from(height) > max_pixels {
            return Err(DataError::TooLarge {
                path: path.to_path_buf(),
                width,
                height,
                limit: max_pixels,
            });
        }
        if width == 0 || height == 0 {
            return Err(decode_err(format!("the image is {width}×{height}")));
        }
        // Then a byte budget for the decoder's own buffers: the largest pixel format is 16-bit
        // RGBA, 8 bytes a pixel.
        let mut limits = Limits::default();
        limits.max_alloc = Some(
            max_pixels
                .saturating_mul(8)
                .saturating_add(64 << 20)
                .max(512 << 20),
        );
        decoder
            .set_limits(limits)
            .map_err(|e| decode_err(e.to_string()))?;
        DynamicImage::from_decoder(decoder).map_err(|e| decode_err(e.to_string()))
    };
    let img = catch_unwind(AssertUnwindSafe(run))
        .map_err(|p| decode_err(format!("the decoder panicked: {}", panic_message(&*p))))??;
    Ok(to_rgb8_like_pil(img))
}

/// A JPEG decoded by libjpeg-turbo with PIL's settings, as RGB (grayscale replicated, as PIL's
/// `convert('RGB')`); `None` for CMYK and YCCK files, which libjpeg does not convert to RGB.
/// libjpeg reports fatal errors by unwinding (the crate's `resume_unwind`, which prints
/// nothing); its warnings are silent, so a truncated file decodes with its missing part
/// filled in (PIL refuses one unless `ImageFile.LOAD_TRUNCATED_IMAGES` is set).
fn decode_jpeg_like_pil(
    bytes: &[u8],
    path: &Path,
    max_pixels: u64,
) -> Result<Option<Image8>, DataError> {
    use mozjpeg::{ColorSpace, DctMethod, Decompress};
    let decode_err = |reason: String| DataError::Decode {
        path: path.to_path_buf(),
        reason,
    };
    let run = || -> Result<Option<Image8>, DataError> {
        let io_err = |e: std::io::Error| decode_err(e.to_string());
        let mut jpeg = Decompress::new_mem(bytes).map_err(io_err)?;
        if matches!(
            jpeg.color_space(),
            ColorSpace::JCS_CMYK | ColorSpace::JCS_YCCK
        ) {
            return Ok(None);
        }
        let (width, height) = jpeg.size();
        if width as u64 * height as u64 > max_pixels {
            return Err(DataError::TooLarge {
                path: path.to_path_buf(),
                width: u32::try_from(width).unwrap_or(u32::MAX),
                height: u32::try_from(height).unwrap_or(u32::MAX),
                limit: max_pixels,
            });
        }
        if width == 0 || height == 0 {
            return Err(decode_err(format!("the image is {width}×{height}")));
        }
        // PIL's JpegDecoder leaves libjpeg's defaults; set them anyway, as they are what makes
        // the levels equal.
        jpeg.dct_method(DctMethod::IntegerSlow);
        jpeg.do_fancy_upsampling(true);
        let mut started = jpeg.rgb().map_err(io_err)?;
        let data: Vec<u8> = started.read_scanlines().map_err(io_err)?;
        started.finish().map_err(io_err)?;
        if data.len() != width * height * 3 {
            return Err(decode_err(format!(
                "{} of {width}×{height}×3 values decoded",
                data.len()
            )));
        }
        Ok(Some(Image8 {
            channels: 3,
            width,
            height,
            data,
        }))
    };
    catch_unwind(AssertUnwindSafe(run)).map_err(|p| decode_err(panic_message(&*p)))?
}

pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}

/// PIL's `convert('RGB')` of whatever mode the file decoded to (see the module notes).
fn to_rgb8_like_pil(img: DynamicImage) -> Image8 {
    let (width, height) = (img.width() as usize, img.height() as usize);
    let data: Vec<u8> = match img {
        DynamicImage::ImageRgb8(b) => b.into_raw(),
        DynamicImage::ImageLuma8(b) => b.as_raw().iter().flat_map(|&l| [l, l, l]).collect(),
        DynamicImage::ImageLumaA8(b) => b
            .as_raw()
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0]])
            .collect(),
        DynamicImage::ImageRgba8(b) => b
            .as_raw()
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
        // I;16 → RGB clips (`in[1] == 0 ? in[0] : 255` in PIL's Convert.c).
        DynamicImage::ImageLuma16(b) => b
            .as_raw()
            .iter()
            .flat_map(|&v| {
                let l = v.min(255) as u8;
                [l, l, l]
            })
            .collect(),
        DynamicImage::ImageLumaA16(b) => b
            .as_raw()
            .chunks_exact(2)
            .flat_map(|p| {
                let l = (p[0] >> 8) as u8;
                [l, l, l]
            })
            .collect(),
        DynamicImage::ImageRgb16(b) => b.as_raw().iter().map(|&v| (v >> 8) as u8).collect(),
        DynamicImage::ImageRgba16(b) => b
            .as_raw()
            .chunks_exact(4)
            .flat_map(|p| [(p[0] >> 8) as u8, (p[1] >> 8) as u8, (p[2] >> 8) as u8])
            .collect(),
        // Float images (32-bit float TIFF) and anything newer: the image crate's scaling; PIL
        // cannot open float RGB at all.
        other => other.to_rgb8().into_raw(),
    };
    Image8 {
        channels: 3,
        width,
        height,
        data,
    }
}

/// How a float in [-1, 1] becomes a level in [0, 255].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantize {
    /// `round((y + 1) / 2 · 255)`, ties to even (`torch.round`): the nearest level.
    Round,
    /// Upstream's `util.tensor2im`: `uint8((y + 1) / 2 · 255)` in f32, truncated, and one
    /// channel tiled to RGB, so saved files equal what upstream's `test.py` writes.
    Upstream,
}

/// Save a float image as an 8-bit PNG: `round((y + 1) / 2 · 255)` clamped to [0, 255] (ties to
/// even, as `torch.round`); 1 channel → grayscale PNG, 3 → RGB.
pub fn save_png(path: &Path, img: &ImageTensor) -> Result<(), DataError> {
    save_png_as(path, img, Quantize::Round)
}

/// [`save_png`] with the levels computed as `quantize` says.
pub fn save_png_as(path: &Path, img: &ImageTensor, quantize: Quantize) -> Result<(), DataError> {
    let save_err = |reason: String| DataError::Save {
        path: path.to_path_buf(),
        reason,
    };
    save_levels(path, &to_levels(img, quantize).map_err(save_err)?)
}

/// Writes 8-bit levels (1 or 3 channels, interleaved) as a PNG.
pub fn save_levels(path: &Path, levels: &Image8) -> Result<(), DataError> {
    let save_err = |reason: String| DataError::Save {
        path: path.to_path_buf(),
        reason,
    };
    let color = match levels.channels {
        1 => image::ExtendedColorType::L8,
        _ => image::ExtendedColorType::Rgb8,
    };
    let (wu, hu) = match (u32::try_from(levels.width), u32::try_from(levels.height)) {
        (Ok(wu), Ok(hu)) => (wu, hu),
        _ => {
            return Err(save_err(format!(
                "cannot save a {}×{} image",
                levels.width, levels.height
            )));
        }
    };
    image::save_buffer_with_format(path, &levels.data, wu, hu, color, image::ImageFormat::Png)
        .map_err(|e| save_err(e.to_string()))
}

/// The 8-bit image [`save_png_as`] writes: levels as `quantize` says, interleaved; `Err` says
/// why the tensor is no image (a channel count other than 1 or 3, a size that does not match
/// its values, an empty side).
pub fn to_levels(img: &ImageTensor, quantize: Quantize) -> Result<Image8, String> {
    let (c, h, w) = (img.channels, img.height, img.width);
    if c != 1 && c != 3 {
        return Err(format!("{c} channels; only 1 and 3 can be saved"));
    }
    if img.data.len() != c * h * w {
        return Err(format!("{} values for a {c}×{h}×{w} image", img.data.len()));
    }
    if w == 0 || h == 0 || u32::try_from(w).is_err() || u32::try_from(h).is_err() {
        return Err(format!("cannot save a {w}×{h} image"));
    }
    let hw = h * w;
    // Upstream tiles a gray image to three channels before saving.
    let out_c = match quantize {
        Quantize::Upstream => 3,
        Quantize::Round => c,
    };
    let mut data = vec![0u8; out_c * hw];
    for (i, px) in data.chunks_exact_mut(out_c).enumerate() {
        for (ch, dst) in px.iter_mut().enumerate() {
            let y = img.data[ch.min(c - 1) * hw + i];
            let level = (y + 1.0) / 2.0 * 255.0;
            // NaN → 0 via the saturating cast; the cast itself truncates.
            *dst = match quantize {
                Quantize::Round => level.round_ties_even().clamp(0.0, 255.0) as u8,
                Quantize::Upstream => level.clamp(0.0, 255.0) as u8,
            };
        }
    }
    Ok(Image8 {
        channels: out_c,
        width: w,
        height: h,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    use crate::testdata::{pytorch_fixture, repo, st_tensor};

    fn pillow(rel: &str) -> PathBuf {
        repo("tests/fixtures/pillow").join(rel)
    }

    #[test]
    fn pytorch_fixture_inputs_load_bit_exact() {
        let dir = pytorch_fixture("");
        let mut cases: Vec<(PathBuf, PathBuf, &str)> = [
            "patchgan_official_tiny",
            "resnet_official_tiny",
            "resnet_official_tiny_legacy",
            "resnet_seed_tiny",
            "resnet_affine_tiny",
            "unet_official_tiny",
        ]
        .iter()
        .map(|n| {
            (
                dir.join(format!("{n}.input.png")),
                dir.join(format!("{n}.io.safetensors")),
                "input",
            )
        })
        .collect();
        let step = dir.join("cyclegan_step_tiny.safetensors");
        cases.push((
            dir.join("cyclegan_step_tiny.real_A.png"),
            step.clone(),
            "real_A",
        ));
        cases.push((dir.join("cyclegan_step_tiny.real_B.png"), step, "real_B"));
        for (png, st, name) in cases {
            let img = load_image(&png, 3, DEFAULT_MAX_PIXELS).unwrap();
            let (shape, want) = st_tensor(&st, name);
            assert_eq!(
                shape,
                vec![1, img.channels, img.height, img.width],
                "{png:?}"
            );
            // Bit-exact, not approximately equal.
            let same = img
                .data
                .iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{png:?} differs from the PyTorch tensor");
        }
    }

    #[test]
    fn float_formula_is_torchvision_not_f64() {
        // v = 1: torchvision gives (1/255 - 0.5)/0.5 in f32; the f64 formula rounds differently,
        // which is why the fixtures above pin the f32 one.
        let img = Image8 {
            channels: 1,
            width: 256,
            height: 1,
            data: (0..=255).collect(),
        };
        let t = img.to_tensor();
        assert_eq!(t.data[0], -1.0);
        assert_eq!(t.data[255], 1.0);
        let f64_differs =
            (0..=255u8).any(|v| t.data[v as usize] != (f64::from(v) / 255.0 * 2.0 - 1.0) as f32);
        assert!(f64_differs);
        for v in 0..=255u8 {
            assert_eq!(t.data[v as usize], (f32::from(v) / 255.0 - 0.5) / 0.5);
        }
    }

    #[test]
    fn chw_layout() {
        let img = Image8 {
            channels: 3,
            width: 2,
            height: 1,
            data: vec![0, 255, 0, 255, 0, 255],
        };
        let t = img.to_tensor();
        // plane R = [px0.r, px1.r], G = [px0.g, px1.g], B = ...
        assert_eq!(t.data, vec![-1.0, 1.0, 1.0, -1.0, -1.0, 1.0]);
    }

    fn rgb_of(p: &Path) -> Image8 {
        let b = image::open(p).unwrap().to_rgb8();
        Image8 {
            channels: 3,
            width: b.width() as usize,
            height: b.height() as usize,
            data: b.into_raw(),
        }
    }

    #[test]
    fn modes_convert_like_pil() {
        // Each file was written by Pillow (or by hand for 16-bit RGB/RGBA PNG), and its
        // `.convert('RGB')` / `.convert('RGB').convert('L')` saved as 8-bit PNGs.
        for f in [
            "palette.png",
            "rgba.png",
            "la.png",
            "bilevel.png",
            "rgb.bmp",
            "rgb.webp",
            "gray16.png",
            "gray16.tif",
            "rgb16.png",
            "rgba16.png",
            "cmyk.jpg",
            "gray.jpg",
            "ycbcr420.jpg",
            "progressive.jpg",
            "ycbcr444.jpg",
            "graydetail.jpg",
            "photo.jpg",
        ] {
            let stem = f.replace('.', "_");
            let src = pillow(&format!("conv_{f}"));
            let got = load_image8(&src, 3, DEFAULT_MAX_PIXELS).unwrap();
            let want = rgb_of(&pillow(&format!("conv_{stem}.rgb.png")));
            assert_eq!(got, want, "{f}: RGB differs from PIL");
            let got = load_image8(&src, 1, DEFAULT_MAX_PIXELS).unwrap();
            let want = image::open(pillow(&format!("conv_{stem}.l.png")))
                .unwrap()
                .to_luma8();
            assert_eq!(got.channels, 1);
            assert_eq!(got.data, want.into_raw(), "{f}: L differs from PIL");
        }
    }

    #[test]
    fn luma_formula() {
        let img = Image8 {
            channels: 3,
            width: 4,
            height: 1,
            data: vec![255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30],
        };
        // 255·19595/65536 = 76.24 → 76; 255·38470/65536 = 149.69 → 150 and 255·7471/65536 =
        // 29.07 → 29 (the +0x8000 rounds); (10·19595 + 20·38470 + 30·7471)/65536 = 18.15 → 18.
        let l = img.to_luma();
        assert_eq!(l.data, vec![76, 150, 29, 18]);
    }

    #[test]
    fn crafted_variants_decode_as_specified() {
        let dir = tempfile::tempdir().unwrap();
        // 16-bit gray, written by the image crate: clipped, not scaled.
        let g16 = image::ImageBuffer::<image::Luma<u16>, _>::from_raw(3, 1, vec![7u16, 255, 256])
            .unwrap();
        let p = dir.path().join("g16.png");
        g16.save(&p).unwrap();
        assert_eq!(
            load_image8(&p, 3, DEFAULT_MAX_PIXELS).unwrap().data,
            vec![7, 7, 7, 255, 255, 255, 255, 255, 255]
        );
        // 16-bit RGB: high byte.
        let rgb16 = image::ImageBuffer::<image::Rgb<u16>, _>::from_raw(
            1,
            1,
            vec![0x1234u16, 0xFF00, 0x00FF],
        )
        .unwrap();
        let p = dir.path().join("rgb16.png");
        rgb16.save(&p).unwrap();
        assert_eq!(
            load_image8(&p, 3, DEFAULT_MAX_PIXELS).unwrap().data,
            vec![0x12, 0xFF, 0x00]
        );
        // RGBA: alpha dropped, not composited on anything.
        let rgba = image::RgbaImage::from_raw(1, 1, vec![200, 100, 50, 0]).unwrap();
        let p = dir.path().join("rgba.png");
        rgba.save(&p).unwrap();
        assert_eq!(
            load_image8(&p, 3, DEFAULT_MAX_PIXELS).unwrap().data,
            vec![200, 100, 50]
        );
        // Grayscale → replicated.
        let g = image::GrayImage::from_raw(2, 1, vec![3, 250]).unwrap();
        let p = dir.path().join("g.png");
        g.save(&p).unwrap();
        let img = load_image8(&p, 3, DEFAULT_MAX_PIXELS).unwrap();
        assert_eq!((img.width, img.height), (2, 1));
        assert_eq!(img.data, vec![3, 3, 3, 250, 250, 250]);
        assert_eq!(
            load_image8(&p, 1, DEFAULT_MAX_PIXELS).unwrap().data,
            vec![3, 250]
        );
        // Other channel counts are refused, naming the supported ones.
        let e = load_image8(&p, 4, DEFAULT_MAX_PIXELS).unwrap_err();
        assert!(matches!(e, DataError::Channels { channels: 4 }), "{e}");
    }

    /// A PNG whose header claims `w`×`h`, followed by a tiny IDAT: no decoder should ever
    /// allocate for it.
    fn bomb_png(w: u32, h: u32) -> Vec<u8> {
        fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
            out.extend((data.len() as u32).to_be_bytes());
            let start = out.len();
            out.extend(kind);
            out.extend(data);
            let crc = crc32(&out[start..]);
            out.extend(crc.to_be_bytes());
        }
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
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend(w.to_be_bytes());
        ihdr.extend(h.to_be_bytes());
        ihdr.extend([8, 2, 0, 0, 0]);
        chunk(&mut out, b"IHDR", &ihdr);
        // zlib stream of a few zero bytes: valid start of a (far too short) image.
        chunk(
            &mut out,
            b"IDAT",
            &[0x78, 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01],
        );
        chunk(&mut out, b"IEND", &[]);
        out
    }

    #[test]
    fn decompression_bomb_header_is_refused_before_decoding() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.png");
        std::fs::write(&p, bomb_png(30000, 30000)).unwrap();
        let e = load_image8(&p, 3, DEFAULT_MAX_PIXELS).unwrap_err();
        match &e {
            DataError::TooLarge {
                width,
                height,
                limit,
                ..
            } => assert_eq!(
                (*width, *height, *limit),
                (30000, 30000, DEFAULT_MAX_PIXELS)
            ),
            other => panic!("expected TooLarge, got {other}"),
        }
        assert!(e.to_string().contains("30000×30000"));
        // The limit is a parameter: a 4×4 image is over a 15-pixel limit.
        let small = dir.path().join("s.png");
        image::RgbImage::new(4, 4).save(&small).unwrap();
        assert!(matches!(
            load_image8(&small, 3, 15),
            Err(DataError::TooLarge { .. })
        ));
        assert!(load_image8(&small, 3, 16).is_ok());
        // Same header under the limit: it is the truncated data that fails, as a Decode error.
        let p2 = dir.path().join("y.png");
        std::fs::write(&p2, bomb_png(300, 300)).unwrap();
        assert!(matches!(
            load_image8(&p2, 3, DEFAULT_MAX_PIXELS),
            Err(DataError::Decode { .. })
        ));
    }

    #[test]
    fn broken_files_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.png");
        image::RgbImage::from_fn(32, 32, |x, y| image::Rgb([x as u8, y as u8, 7]))
            .save(&good)
            .unwrap();
        let png = std::fs::read(&good).unwrap();
        let mut jpg = Vec::new();
        image::RgbImage::from_fn(32, 32, |x, y| image::Rgb([x as u8 * 8, y as u8 * 8, 7]))
            .write_to(&mut Cursor::new(&mut jpg), image::ImageFormat::Jpeg)
            .unwrap();
        let mut corrupt = png.clone();
        for b in corrupt.iter_mut().skip(40) {
            *b ^= 0x5a;
        }
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("zero.png", vec![]),
            ("trunc.png", png[..png.len() / 2].to_vec()),
            ("trunc.jpg", jpg[..jpg.len() / 3].to_vec()),
            ("header_only.jpg", jpg[..20].to_vec()),
            ("corrupt.png", corrupt),
            ("text.jpg", b"hello, I am not an image\n".to_vec()),
            (
                "random.bmp",
                (0..5000u32)
                    .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                    .collect(),
            ),
        ];
        for (name, bytes) in cases {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            match load_image8(&p, 3, DEFAULT_MAX_PIXELS) {
                Err(e @ DataError::Decode { .. }) => {
                    assert!(e.to_string().contains(name), "{e}");
                    assert!(e.is_file_error());
                }
                Err(other) => panic!("{name}: unexpected error kind {other}"),
                // A truncated JPEG may decode (zune pads missing data, like libjpeg's
                // "premature end" warning); then it must still be the full size.
                Ok(img) => {
                    assert!(
                        name.ends_with(".jpg") && name.starts_with("trunc"),
                        "{name} decoded"
                    );
                    assert_eq!((img.width, img.height), (32, 32));
                }
            }
        }
        let missing = load_image8(&dir.path().join("nope.png"), 3, DEFAULT_MAX_PIXELS).unwrap_err();
        assert!(matches!(missing, DataError::Io { .. }), "{missing}");
    }

    /// Every listed extension decodes: a small image saved under it loads again, pixel for
    /// pixel where the format is lossless.
    #[test]
    fn every_listed_extension_decodes() {
        let dir = tempfile::tempdir().unwrap();
        let img =
            image::RgbImage::from_fn(8, 8, |x, y| image::Rgb([x as u8 * 30, y as u8 * 30, 7]));
        for ext in IMG_EXTENSIONS {
            let format = image::ImageFormat::from_extension(ext).unwrap();
            assert!(format.reading_enabled(), "{ext}: no decoder built");
            let p = dir.path().join(format!("x.{ext}"));
            img.save(&p).unwrap_or_else(|e| panic!("{ext}: {e}"));
            assert!(is_image_file(&p), "{ext}");
            let back =
                load_image8(&p, 3, DEFAULT_MAX_PIXELS).unwrap_or_else(|e| panic!("{ext}: {e}"));
            assert_eq!((back.width, back.height, back.channels), (8, 8, 3), "{ext}");
            if !matches!(ext, "jpg" | "jpeg") {
                assert_eq!(back.data, img.as_raw().as_slice(), "{ext}");
            }
        }
        assert_eq!(extension_list(), ".jpg/.jpeg/.png/.bmp/.tif/.tiff/.webp");
    }

    #[test]
    fn extensions() {
        for ok in [
            "a.jpg", "a.JPG", "b.Jpeg", "c.png", "e.BMP", "f.tif", "g.tiff", "h.webp",
        ] {
            assert!(is_image_file(Path::new(ok)), "{ok}");
        }
        // ppm is upstream's, but the image crate is built without its decoder.
        for no in ["a.gif", "a", "a.jpg.txt", ".png.bak", "jpg", "d.ppm"] {
            assert!(!is_image_file(Path::new(no)), "{no}");
        }
    }

    #[test]
    fn save_png_roundtrips_and_rounds() {
        let dir = tempfile::tempdir().unwrap();
        let src = Image8 {
            channels: 3,
            width: 5,
            height: 3,
            data: (0..45).map(|i| (i * 37 % 256) as u8).collect(),
        };
        let p = dir.path().join("o.png");
        save_png(&p, &src.to_tensor()).unwrap();
        assert_eq!(load_image8(&p, 3, DEFAULT_MAX_PIXELS).unwrap(), src);
        // Out-of-range values clamp; 1 channel → a grayscale PNG.
        let t = ImageTensor {
            channels: 1,
            height: 1,
            width: 4,
            data: vec![-3.0, 5.0, 0.0, f32::NAN],
        };
        let p = dir.path().join("g.png");
        save_png(&p, &t).unwrap();
        let back = image::open(&p).unwrap();
        assert_eq!(back.color(), image::ColorType::L8);
        // (0 + 1) / 2 · 255 = 127.5 → 128 (ties to even).
        assert_eq!(back.to_luma8().into_raw(), vec![0, 255, 128, 0]);
        let bad = ImageTensor {
            channels: 2,
            height: 1,
            width: 1,
            data: vec![0.0; 2],
        };
        assert!(matches!(save_png(&p, &bad), Err(DataError::Save { .. })));
    }
}
