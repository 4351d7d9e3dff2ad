//! Preprocessing of one 8-bit image into a float tensor: the official `get_transform` with
//! `params=None` (`data/base_dataset.py`), as the unaligned dataset uses it: resize or
//! scale-width (bicubic, PIL-exact), random crop, random horizontal flip — on 8-bit pixels, in
//! that order — then `ToTensor` + `Normalize(0.5, 0.5)`.
//!
//! Randomness is explicit: every random choice comes from the `Rng` passed in, so one seed gives
//! one result. Draws, in order: crop top, crop left (torchvision's `RandomCrop` order), flip.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use rand::Rng;

use super::error::DataError;
use super::image_io::{Image8, ImageTensor};
use super::resize::resize_bicubic;

/// `--preprocess`: how images are brought to the network's size.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Preprocess {
    /// Resize to `--load-size`², then a random `--crop-size`² crop (the default).
    #[default]
    ResizeAndCrop,
    /// A random `--crop-size`² crop of the original.
    Crop,
    /// Width to `--load-size`, aspect kept (height at least `--crop-size`).
    ScaleWidth,
    /// `scale_width`, then a random `--crop-size`² crop.
    ScaleWidthAndCrop,
    /// The shorter side to `--load-size` (aspect kept), then a random `--crop-size` crop: the
    /// seed's `Resize(int(1.12·img_height))` + `RandomCrop((img_height, img_width))`.
    ResizeShorterAndCrop,
    /// Only round both sides to a multiple of 4 (bicubic), as the generators need.
    None,
}

impl Preprocess {
    pub const ALL: [Preprocess; 6] = [
        Preprocess::ResizeAndCrop,
        Preprocess::Crop,
        Preprocess::ScaleWidth,
        Preprocess::ScaleWidthAndCrop,
        Preprocess::ResizeShorterAndCrop,
        Preprocess::None,
    ];

    /// The official spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Preprocess::ResizeAndCrop => "resize_and_crop",
            Preprocess::Crop => "crop",
            Preprocess::ScaleWidth => "scale_width",
            Preprocess::ScaleWidthAndCrop => "scale_width_and_crop",
            Preprocess::ResizeShorterAndCrop => "resize_shorter_and_crop",
            Preprocess::None => "none",
        }
    }

    /// `'crop' in opt.preprocess`.
    pub fn crops(self) -> bool {
        matches!(
            self,
            Preprocess::ResizeAndCrop
                | Preprocess::Crop
                | Preprocess::ScaleWidthAndCrop
                | Preprocess::ResizeShorterAndCrop
        )
    }
}

impl fmt::Display for Preprocess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Preprocess {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Preprocess::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| DataError::Parse {
                what: "--preprocess",
                value: s.to_string(),
                expected: "resize_and_crop, crop, scale_width, scale_width_and_crop, \
                           resize_shorter_and_crop, none",
            })
    }
}

/// What `get_transform` reads from the options, for one domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransformConfig {
    pub preprocess: Preprocess,
    pub load_size: usize,
    /// The crop's height, and its width unless `crop_width` says otherwise.
    pub crop_size: usize,
    /// A rectangular crop's width (`--crop-size H,W`); `None`: square, as upstream.
    pub crop_width: Option<usize>,
    /// `!no_flip`: a horizontal flip with probability 0.5.
    pub flip: bool,
    /// 1 (grayscale, converted when loading) or 3.
    pub channels: usize,
}

impl TransformConfig {
    /// The official training defaults: resize_and_crop 286 → 256, flip, RGB.
    pub fn new(preprocess: Preprocess, load_size: usize, crop_size: usize) -> Self {
        TransformConfig {
            preprocess,
            load_size,
            crop_size,
            crop_width: None,
            flip: true,
            channels: 3,
        }
    }

    /// Resize/crop/flip an 8-bit image (already in `channels` channels) and convert it to
    /// floats. `path` only names the file in errors.
    pub fn apply<R: Rng + ?Sized>(
        &self,
        img: &Image8,
        path: &Path,
        rng: &mut R,
    ) -> Result<ImageTensor, DataError> {
        Ok(self.apply8(img, path, rng)?.to_tensor())
    }

    /// [`apply`](Self::apply) without the float conversion.
    pub fn apply8<R: Rng + ?Sized>(
        &self,
        img: &Image8,
        path: &Path,
        rng: &mut R,
    ) -> Result<Image8, DataError> {
        let degenerate = |width, height| DataError::Degenerate {
            path: path.to_path_buf(),
            preprocess: self.preprocess.to_string(),
            width,
            height,
        };
        let resized = match self.preprocess {
            Preprocess::ResizeAndCrop => {
                if self.load_size == 0 {
                    return Err(degenerate(0, 0));
                }
                Some(resize_bicubic(img, self.load_size, self.load_size))
            }
            Preprocess::ScaleWidth | Preprocess::ScaleWidthAndCrop => {
                match scale_width_size(img.width, img.height, self.load_size, self.crop_size) {
                    None => None,
                    Some((w, h)) if w == 0 || h == 0 => return Err(degenerate(w, h)),
                    Some((w, h)) => Some(resize_bicubic(img, w, h)),
                }
            }
            Preprocess::None => {
                let (w, h) = make_power_2_size(img.width, img.height, 4);
                if w == 0 || h == 0 {
                    return Err(degenerate(w, h));
                }
                Some(resize_bicubic(img, w, h))
            }
            Preprocess::ResizeShorterAndCrop => {
                let (w, h) = shorter_side_size(img.width, img.height, self.load_size);
                if w == 0 || h == 0 {
                    return Err(degenerate(w, h));
                }
                Some(resize_bicubic(img, w, h))
            }
            Preprocess::Crop => None,
        };
        let img = resized.as_ref().unwrap_or(img);

        let cropped = if self.preprocess.crops() {
            let (ch, cw) = (self.crop_size, self.crop_width.unwrap_or(self.crop_size));
            if ch == 0 || cw == 0 || cw > img.width || ch > img.height {
                return Err(DataError::CropTooLarge {
                    path: path.to_path_buf(),
                    crop_size: self.crop_size,
                    crop_width: self.crop_width,
                    width: img.width,
                    height: img.height,
                });
            }
            // torchvision's RandomCrop: top, then left, each uniform over every valid offset.
            let y = rng.gen_range(0..=img.height - ch);
            let x = rng.gen_range(0..=img.width - cw);
            Some(crop(img, x, y, cw, ch))
        } else {
            None
        };
        let img = cropped.as_ref().unwrap_or(img);

        // RandomHorizontalFlip: `torch.rand(1) < 0.5`.
        if self.flip && rng.gen_bool(0.5) {
            Ok(flip_horizontal(img))
        } else {
            Ok(img.clone())
        }
    }
}

/// Upstream's `__scale_width`: `None` when the image is kept as is (width already `target` and
/// height at least `crop_size`), else the new size `(target, int(max(target·oh/ow, crop_size)))`
/// — the float quotient truncated, as Python's `int()`.
pub fn scale_width_size(
    ow: usize,
    oh: usize,
    target: usize,
    crop_size: usize,
) -> Option<(usize, usize)> {
    if ow == target && oh >= crop_size {
        return None;
    }
    if ow == 0 {
        return Some((target, 0));
    }
    let h = ((target * oh) as f64 / ow as f64).max(crop_size as f64) as usize;
    Some((target, h))
}

/// torchvision's `Resize(size)` with an int size: the shorter side becomes `size` and the
/// longer `int(size · long / short)` (truncated, as Python's `int()`); `(w, h)`.
pub fn shorter_side_size(w: usize, h: usize, size: usize) -> (usize, usize) {
    let (short, long) = if w <= h { (w, h) } else { (h, w) };
    if short == 0 {
        return (0, 0);
    }
    let new_long = (size as f64 * long as f64 / short as f64) as usize;
    if w <= h {
        (size, new_long)
    } else {
        (new_long, size)
    }
}

/// Upstream's `__make_power_2` size: each side `round(side / base) · base`, with Python's
/// `round` (half to even: 6 → 8, 10 → 8, 14 → 16). An image already a multiple of `base` is
/// kept, and [`resize_bicubic`] returns same-size images unchanged.
pub fn make_power_2_size(ow: usize, oh: usize, base: usize) -> (usize, usize) {
    let r = |v: usize| (v as f64 / base as f64).round_ties_even() as usize * base;
    (r(ow), r(oh))
}

/// `img.crop((x, y, x + w, y + h))`, the box cut to the image (PIL would pad with black; the
/// transforms never ask for that).
pub fn crop(img: &Image8, x: usize, y: usize, w: usize, h: usize) -> Image8 {
    let (x, y) = (x.min(img.width), y.min(img.height));
    let (w, h) = (w.min(img.width - x), h.min(img.height - y));
    let c = img.channels;
    let stride = img.width * c;
    let mut data = Vec::with_capacity(w * h * c);
    for row in y..y + h {
        data.extend_from_slice(&img.data[row * stride + x * c..row * stride + (x + w) * c]);
    }
    Image8 {
        channels: c,
        width: w,
        height: h,
        data,
    }
}

/// `img.transpose(Image.FLIP_LEFT_RIGHT)`.
pub fn flip_horizontal(img: &Image8) -> Image8 {
    let c = img.channels;
    let mut data = Vec::with_capacity(img.data.len());
    for row in img.data.chunks_exact((img.width * c).max(1)) {
        for px in row.chunks_exact(c).rev() {
            data.extend_from_slice(px);
        }
    }
    Image8 {
        channels: c,
        width: img.width,
        height: img.height,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Pixel (x, y) of channel b holds `x + 10·y + 100·b` (mod 256): any crop's values are known.
    fn ramp(w: usize, h: usize, c: usize) -> Image8 {
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                for b in 0..c {
                    data.push(((x + 10 * y + 100 * b) % 256) as u8);
                }
            }
        }
        Image8 {
            channels: c,
            width: w,
            height: h,
            data,
        }
    }

    fn px(img: &Image8, x: usize, y: usize, b: usize) -> u8 {
        img.data[(y * img.width + x) * img.channels + b]
    }

    #[test]
    fn preprocess_spellings_roundtrip() {
        for p in Preprocess::ALL {
            assert_eq!(p.to_string().parse::<Preprocess>().unwrap(), p);
        }
        assert_eq!(
            "scale_width_and_crop".parse::<Preprocess>().unwrap(),
            Preprocess::ScaleWidthAndCrop
        );
        let e = "resize".parse::<Preprocess>().unwrap_err().to_string();
        assert!(
            e.contains("`resize`") && e.contains("resize_and_crop"),
            "{e}"
        );
    }

    #[test]
    fn crop_of_ramp_has_known_values() {
        let img = ramp(9, 7, 3);
        let c = crop(&img, 2, 3, 4, 2);
        assert_eq!((c.width, c.height), (4, 2));
        for y in 0..2 {
            for x in 0..4 {
                for b in 0..3 {
                    assert_eq!(
                        px(&c, x, y, b) as usize,
                        (x + 2 + 10 * (y + 3) + 100 * b) % 256
                    );
                }
            }
        }
    }

    #[test]
    fn flipped_crop_is_crop_of_flipped() {
        let img = ramp(11, 6, 3);
        for (x, y, s) in [(0, 0, 4), (3, 1, 5), (7, 2, 4), (5, 0, 6)] {
            let a = flip_horizontal(&crop(&img, x, y, s, s));
            // The mirror image of the box [x, x+s) is [w - x - s, w - x).
            let b = crop(&flip_horizontal(&img), img.width - x - s, y, s, s);
            assert_eq!(a, b);
        }
        assert_eq!(flip_horizontal(&flip_horizontal(&img)), img);
        assert_eq!(px(&flip_horizontal(&img), 0, 2, 1), px(&img, 10, 2, 1));
    }

    #[test]
    fn random_crop_offsets_cover_the_range_and_stay_inside() {
        let img = ramp(10, 8, 1);
        let cfg = TransformConfig {
            preprocess: Preprocess::Crop,
            load_size: 0,
            crop_size: 6,
            crop_width: None,
            flip: false,
            channels: 1,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (mut xs, mut ys) = (
            std::collections::BTreeSet::new(),
            std::collections::BTreeSet::new(),
        );
        for _ in 0..400 {
            let out = cfg.apply8(&img, Path::new("r.png"), &mut rng).unwrap();
            assert_eq!((out.width, out.height), (6, 6));
            // Recover the offset from the ramp: pixel (0, 0) = x + 10·y.
            let v = px(&out, 0, 0, 0) as usize;
            xs.insert(v % 10);
            ys.insert(v / 10);
        }
        // Offsets are uniform over [0, size - crop] inclusive.
        assert_eq!(xs.into_iter().collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
        assert_eq!(ys.into_iter().collect::<Vec<_>>(), vec![0, 1, 2]);
    }

    #[test]
    fn flip_happens_about_half_the_time() {
        let img = ramp(5, 1, 1);
        let cfg = TransformConfig {
            preprocess: Preprocess::ScaleWidth, // 5 wide, target 5, height 1 >= crop 1: kept
            load_size: 5,
            crop_size: 1,
            crop_width: None,
            flip: true,
            channels: 1,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let n = 2000;
        let flips = (0..n)
            .filter(|_| cfg.apply8(&img, Path::new("f"), &mut rng).unwrap().data[0] == 4)
            .count();
        // Binomial(2000, 0.5): σ ≈ 22; 6σ bounds.
        assert!((870..=1130).contains(&flips), "{flips}");
        let no_flip = TransformConfig { flip: false, ..cfg };
        assert_eq!(no_flip.apply8(&img, Path::new("f"), &mut rng).unwrap(), img);
    }

    #[test]
    fn same_seed_same_result() {
        let img = ramp(40, 30, 3);
        let cfg = TransformConfig::new(Preprocess::ResizeAndCrop, 36, 20);
        let a = cfg
            .apply(&img, Path::new("a"), &mut ChaCha8Rng::seed_from_u64(3))
            .unwrap();
        let b = cfg
            .apply(&img, Path::new("a"), &mut ChaCha8Rng::seed_from_u64(3))
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(
            (a.channels, a.height, a.width, a.data.len()),
            (3, 20, 20, 1200)
        );
    }

    #[test]
    fn resize_and_crop_equals_resize_then_crop() {
        // The pipeline is exactly resize → crop → flip with the draws in order top, left, flip.
        let img = ramp(33, 21, 3);
        let cfg = TransformConfig::new(Preprocess::ResizeAndCrop, 24, 16);
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let got = cfg.apply8(&img, Path::new("a"), &mut rng).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let y = rng.gen_range(0..=8usize);
        let x = rng.gen_range(0..=8usize);
        let flip = rng.gen_bool(0.5);
        let mut want = crop(&resize_bicubic(&img, 24, 24), x, y, 16, 16);
        if flip {
            want = flip_horizontal(&want);
        }
        assert_eq!(got, want);
    }

    #[test]
    fn scale_width_and_make_power_2_sizes_follow_upstream() {
        // 600×400 → width 286: 286·400/600 = 190.67 → int() = 190, then max with crop 256.
        assert_eq!(scale_width_size(600, 400, 286, 256), Some((286, 256)));
        assert_eq!(scale_width_size(600, 400, 286, 100), Some((286, 190)));
        assert_eq!(scale_width_size(286, 300, 286, 256), None);
        // Width already right but too short: upstream still resizes (height → crop_size).
        assert_eq!(scale_width_size(286, 200, 286, 256), Some((286, 256)));
        // Python round: half to even.
        assert_eq!(make_power_2_size(6, 10, 4), (8, 8));
        assert_eq!(make_power_2_size(14, 13, 4), (16, 12));
        assert_eq!(make_power_2_size(600, 601, 4), (600, 600));
        assert_eq!(make_power_2_size(1, 2, 4), (0, 0));
    }

    #[test]
    fn preprocess_none_keeps_multiples_of_4() {
        let img = ramp(12, 8, 3);
        let cfg = TransformConfig {
            preprocess: Preprocess::None,
            load_size: 286,
            crop_size: 256,
            crop_width: None,
            flip: false,
            channels: 3,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        assert_eq!(cfg.apply8(&img, Path::new("a"), &mut rng).unwrap(), img);
        let odd = ramp(13, 10, 3);
        let out = cfg.apply8(&odd, Path::new("a"), &mut rng).unwrap();
        assert_eq!((out.width, out.height), (12, 8));
        assert_eq!(out, resize_bicubic(&odd, 12, 8));
        let tiny = ramp(1, 1, 3);
        assert!(matches!(
            cfg.apply8(&tiny, Path::new("t.png"), &mut rng),
            Err(DataError::Degenerate { .. })
        ));
    }

    #[test]
    fn crop_larger_than_image_is_an_error_naming_sizes() {
        let img = ramp(20, 10, 3);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let cfg = TransformConfig::new(Preprocess::Crop, 0, 16);
        let e = cfg
            .apply8(&img, Path::new("small.png"), &mut rng)
            .unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("small.png") && m.contains("--crop-size 16") && m.contains("20×10"),
            "{m}"
        );
        assert!(m.contains("lower --crop-size or raise --load-size"), "{m}");
        let cfg = TransformConfig::new(Preprocess::ResizeAndCrop, 200, 256);
        assert!(matches!(
            cfg.apply8(&img, Path::new("x"), &mut rng),
            Err(DataError::CropTooLarge {
                width: 200,
                height: 200,
                crop_size: 256,
                crop_width: None,
                ..
            })
        ));
        assert!(!e.is_file_error());
    }
}
