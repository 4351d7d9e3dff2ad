//! PIL-exact bicubic resampling of 8-bit images: what `Image.resize(size, Image.BICUBIC)` does,
//! which is what torchvision's `Resize` and upstream's `__scale_width` / `__make_power_2`
//! (`data/base_dataset.py`) call on PIL images.
//!
//! Pillow's `libImaging/Resample.c`, re-derived: a separable convolution, horizontal pass then
//! vertical pass, each rounding and clipping to 8 bits. The kernel is the bicubic with a = -0.5,
//! stretched by the downscale factor (so downscaling antialiases); each output pixel's weights are
//! computed in f64, normalised to sum 1, then converted to fixed point with 22 fractional bits
//! (`PRECISION_BITS = 32 - 8 - 2`) and accumulated in i32 from a rounding bias of one half.
//! A pass whose size does not change is skipped, as PIL skips it. The order of the two passes
//! follows Pillow 13 (see [`vertical_first`]).

use super::image_io::Image8;

/// Fractional bits of the fixed-point weights: 8 bits of pixel and 2 of headroom for the
/// kernel's negative lobes leave 22 in an i32.
const PRECISION_BITS: u32 = 32 - 8 - 2;
const BICUBIC_SUPPORT: f64 = 2.0;

/// The bicubic convolution kernel (Keys, a = -0.5), as Pillow evaluates it.
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Weights of one pass: for output pixel `i`, input pixels `start[i] .. start[i] + len[i]` with
/// fixed-point weights `k[i * ksize ..][.. len[i]]`.
struct Coeffs {
    ksize: usize,
    start: Vec<usize>,
    len: Vec<usize>,
    k: Vec<i32>,
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the whole-image box.
fn coeffs(in_size: usize, out_size: usize) -> Coeffs {
    // Pillow passes the box as C floats; whole-image boxes are exact in f32 for any sane size.
    let scale = f64::from(in_size as f32) / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = BICUBIC_SUPPORT * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let inv_filterscale = 1.0 / filterscale;
    let mut start = Vec::with_capacity(out_size);
    let mut len = Vec::with_capacity(out_size);
    let mut k = vec![0i32; out_size * ksize];
    let mut w = vec![0f64; ksize];
    for (xx, kk) in k.chunks_exact_mut(ksize).enumerate() {
        let center = (xx as f64 + 0.5) * scale;
        // C's `(int)` truncates toward zero, then clamps; `as i64` does the same.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let n = xmax.saturating_sub(xmin).min(ksize);
        let mut ww = 0.0;
        for (x, wx) in w.iter_mut().enumerate().take(n) {
            *wx = bicubic(((x + xmin) as f64 - center + 0.5) * inv_filterscale);
            ww += *wx;
        }
        for (x, kx) in kk.iter_mut().enumerate().take(n) {
            let v = if ww != 0.0 { w[x] / ww } else { w[x] };
            let f = v * f64::from(1u32 << PRECISION_BITS);
            // Round half away from zero, then truncate, as Pillow's `(int)(±0.5 + …)`.
            *kx = if v < 0.0 {
                (f - 0.5) as i32
            } else {
                (f + 0.5) as i32
            };
        }
        start.push(xmin);
        len.push(n);
    }
    Coeffs {
        ksize,
        start,
        len,
        k,
    }
}

/// Accumulator → 8 bits: Pillow's `clip8` (an arithmetic shift, then clamp).
#[inline]
fn clip8(ss: i32) -> u8 {
    (ss >> PRECISION_BITS).clamp(0, 255) as u8
}

/// The rounding bias every accumulator starts from.
const HALF: i32 = 1 << (PRECISION_BITS - 1);

// The i32 accumulators cannot overflow: the weights of one output pixel sum to 2^22 and their
// absolute values to less than 1.25 · 2^22 for this kernel, times at most 255.

/// Resample rows `rows` of `src` horizontally to `out_w` pixels.
fn horizontal(src: &Image8, rows: std::ops::Range<usize>, out_w: usize, c: &Coeffs) -> Image8 {
    let data = match src.channels {
        1 => horizontal_n::<1>(src, rows.clone(), out_w, c),
        3 => horizontal_n::<3>(src, rows.clone(), out_w, c),
        n => {
            // Not reached (images are L or RGB); kept general rather than panicking.
            let mut data = vec![0u8; rows.len() * out_w * n];
            for b in 0..n {
                let plane = Image8 {
                    channels: 1,
                    width: src.width,
                    height: src.height,
                    data: src.data.iter().skip(b).step_by(n).copied().collect(),
                };
                let out = horizontal_n::<1>(&plane, rows.clone(), out_w, c);
                for (d, v) in data.iter_mut().skip(b).step_by(n).zip(out) {
                    *d = v;
                }
            }
            data
        }
    };
    Image8 {
        channels: src.channels,
        width: out_w,
        height: rows.len(),
        data,
    }
}

/// The horizontal pass for `C` interleaved channels (a constant, so the channel loop unrolls).
fn horizontal_n<const C: usize>(
    src: &Image8,
    rows: std::ops::Range<usize>,
    out_w: usize,
    c: &Coeffs,
) -> Vec<u8> {
    let mut data = vec![0u8; rows.len() * out_w * C];
    let stride = src.width * C;
    for (out_row, y) in data.chunks_exact_mut((out_w * C).max(1)).zip(rows) {
        let line = &src.data[y * stride..(y + 1) * stride];
        for (xx, px) in out_row.chunks_exact_mut(C).enumerate() {
            let k = &c.k[xx * c.ksize..][..c.len[xx]];
            let input = &line[c.start[xx] * C..][..k.len() * C];
            let mut ss = [HALF; C];
            for (p, &kx) in input.chunks_exact(C).zip(k) {
                for b in 0..C {
                    ss[b] += i32::from(p[b]) * kx;
                }
            }
            for b in 0..C {
                px[b] = clip8(ss[b]);
            }
        }
    }
    data
}

/// Resample `src` vertically to `out_h` rows; `c.start` is relative to `src`'s first row.
fn vertical(src: &Image8, out_h: usize, c: &Coeffs) -> Image8 {
    let stride = src.width * src.channels;
    let mut data = vec![0u8; out_h * stride];
    let mut acc = vec![0i32; stride];
    for (yy, out_row) in data.chunks_exact_mut(stride.max(1)).enumerate().take(out_h) {
        acc.fill(HALF);
        let k = &c.k[yy * c.ksize..][..c.len[yy]];
        for (y, &ky) in k.iter().enumerate() {
            let row = c.start[yy] + y;
            let line = &src.data[row * stride..(row + 1) * stride];
            for (a, &v) in acc.iter_mut().zip(line) {
                *a += i32::from(v) * ky;
            }
        }
        for (o, &a) in out_row.iter_mut().zip(&acc) {
            *o = clip8(a);
        }
    }
    Image8 {
        channels: src.channels,
        width: src.width,
        height: out_h,
        data,
    }
}

/// Pillow's `precompute_coeffs` for the whole-image box, the weights left in f64 as its 32-bit
/// float path uses them: for output pixel `i`, `(first input pixel, weights)`.
fn coeffs_f64(in_size: usize, out_size: usize) -> Vec<(usize, Vec<f64>)> {
    let scale = f64::from(in_size as f32) / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = BICUBIC_SUPPORT * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let n = xmax.saturating_sub(xmin).min(ksize);
            let mut w: Vec<f64> = (0..n)
                .map(|x| bicubic(((x + xmin) as f64 - center + 0.5) / filterscale))
                .collect();
            let ww: f64 = w.iter().sum();
            if ww != 0.0 {
                w.iter_mut().for_each(|v| *v /= ww);
            }
            (xmin, w)
        })
        .collect()
}

/// `Image.resize((out_w, out_h), Image.BICUBIC)` of a PIL float (`'F'`) image, one plane of
/// `w × h` values: each pass sums in f64 and stores f32, without clipping; pass order and
/// skipping as [`resize_bicubic`]. clean-fid resizes each channel this way.
pub fn resize_bicubic_f32(src: &[f32], w: usize, h: usize, out_w: usize, out_h: usize) -> Vec<f32> {
    let horizontal = |src: &[f32], rows: usize| -> Vec<f32> {
        let c = coeffs_f64(w, out_w);
        let mut out = Vec::with_capacity(rows * out_w);
        for row in src.chunks_exact(w).take(rows) {
            for (start, k) in &c {
                let ss: f64 = k
                    .iter()
                    .zip(&row[*start..])
                    .map(|(k, &v)| f64::from(v) * k)
                    .sum();
                out.push(ss as f32);
            }
        }
        out
    };
    let vertical = |src: &[f32], cols: usize| -> Vec<f32> {
        let c = coeffs_f64(h, out_h);
        let mut out = Vec::with_capacity(out_h * cols);
        for (start, k) in &c {
            for col in 0..cols {
                let ss: f64 = k
                    .iter()
                    .enumerate()
                    .map(|(i, k)| f64::from(src[(start + i) * cols + col]) * k)
                    .sum();
                out.push(ss as f32);
            }
        }
        out
    };
    match (out_w != w, out_h != h) {
        (false, false) => src.to_vec(),
        (true, false) => horizontal(src, h),
        (false, true) => vertical(src, w),
        (true, true) if vertical_first(w, h, out_w, out_h) => horizontal(&vertical(src, w), out_h),
        (true, true) => vertical(&horizontal(src, h), out_w),
    }
}

/// Pillow 13's pass order: vertical first when the height loses more than twice as many pixels
/// as the width (Pillow PR #9549; a speed-up that changes rounding). Pillow 12 and earlier always
/// go horizontal first; the two agree whenever this is false, e.g. for square → square resizes.
pub fn vertical_first(in_w: usize, in_h: usize, out_w: usize, out_h: usize) -> bool {
    let (dw, dh) = (in_w as i64 - out_w as i64, in_h as i64 - out_h as i64);
    dh > 0 && dh > dw * 2
}

/// `Image.resize((out_w, out_h), Image.BICUBIC)` of Pillow 13, bit for bit. Same size → a copy,
/// as PIL. Sizes must be non-zero (callers check; a zero size returns a black image).
pub fn resize_bicubic(src: &Image8, out_w: usize, out_h: usize) -> Image8 {
    if out_w == 0 || out_h == 0 || src.width == 0 || src.height == 0 {
        return Image8 {
            channels: src.channels,
            width: out_w,
            height: out_h,
            data: vec![0; out_w * out_h * src.channels],
        };
    }
    let need_h = out_w != src.width;
    let need_v = out_h != src.height;
    match (need_h, need_v) {
        (false, false) => src.clone(),
        (true, false) => horizontal(src, 0..src.height, out_w, &coeffs(src.width, out_w)),
        (false, true) => vertical(src, out_h, &coeffs(src.height, out_h)),
        (true, true) if vertical_first(src.width, src.height, out_w, out_h) => {
            let tmp = vertical(src, out_h, &coeffs(src.height, out_h));
            horizontal(&tmp, 0..out_h, out_w, &coeffs(src.width, out_w))
        }
        (true, true) => {
            let mut cv = coeffs(src.height, out_h);
            // Only the rows the vertical pass reads go through the horizontal pass.
            let first = cv.start[0];
            let last = cv.start[out_h - 1] + cv.len[out_h - 1];
            let tmp = horizontal(src, first..last, out_w, &coeffs(src.width, out_w));
            cv.start.iter_mut().for_each(|s| *s -= first);
            vertical(&tmp, out_h, &cv)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PIL's own `Image.fromarray(plane, 'F').resize(size, BICUBIC)` (clean-fid's per-channel
    /// resize; scripts/fid_reference.py): up, down in one axis, and down in both.
    #[test]
    fn float_bicubic_matches_pil() {
        let path =
            crate::testdata::repo("tests/fixtures/metrics/inception/pil_float_bicubic.safetensors");
        let (shape, input) = crate::testdata::st_tensor(&path, "input");
        let (h, w) = (shape[0], shape[1]);
        for (oh, ow) in [(29, 31), (7, 5), (13, 4)] {
            let (_, want) = crate::testdata::st_tensor(&path, &format!("out_{oh}x{ow}"));
            let got = resize_bicubic_f32(&input, w, h, ow, oh);
            let worst = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            // Both sum in f64 and store f32; only the order of additions may differ.
            assert!(worst <= 1e-4, "{oh}×{ow}: max |Δ| {worst}");
        }
    }
    use std::path::PathBuf;

    fn load(p: &PathBuf) -> Image8 {
        let img = image::open(p).unwrap();
        let (c, raw) = match img.color() {
            image::ColorType::L8 => (1, img.to_luma8().into_raw()),
            _ => (3, img.to_rgb8().into_raw()),
        };
        Image8 {
            channels: c,
            width: img.width() as usize,
            height: img.height() as usize,
            data: raw,
        }
    }

    #[test]
    fn matches_pillow_exactly() {
        let dir = crate::testdata::repo("tests/fixtures/pillow");
        let names = [
            "resize_up",
            "resize_down",
            "resize_h_only",
            "resize_v_only",
            "resize_mixed",
            "resize_gray",
            "resize_286",
            "resize_v_first",
            "resize_v_first_edge",
            "resize_h_first_edge",
        ];
        for name in names {
            let src = load(&dir.join(format!("{name}.in.png")));
            let want = load(&dir.join(format!("{name}.out.png")));
            assert_eq!(src.channels, want.channels);
            let got = resize_bicubic(&src, want.width, want.height);
            let diff = got
                .data
                .iter()
                .zip(&want.data)
                .filter(|(a, b)| a != b)
                .count();
            assert_eq!(
                diff,
                0,
                "{name}: {diff} of {} values differ from Pillow",
                want.data.len()
            );
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn weights_sum_to_one_in_fixed_point() {
        for (i, o) in [(600, 286), (286, 600), (7, 16), (37, 13), (5, 5)] {
            let c = coeffs(i, o);
            for xx in 0..o {
                let s: i64 = c.k[xx * c.ksize..][..c.len[xx]]
                    .iter()
                    .map(|&k| i64::from(k))
                    .sum();
                // Each weight is rounded separately: off by at most half a unit each.
                assert!(
                    (s - (1 << PRECISION_BITS)).abs() <= c.len[xx] as i64,
                    "{i}->{o} px {xx}: {s}"
                );
                assert!(c.start[xx] + c.len[xx] <= i);
            }
        }
    }

    #[test]
    fn constant_image_stays_constant() {
        // Normalised weights: a flat image resizes to the same flat image at any size.
        let src = Image8 {
            channels: 3,
            width: 37,
            height: 23,
            data: [200u8, 13, 97].repeat(37 * 23),
        };
        for (w, h) in [(286, 286), (5, 3), (37, 50), (10, 23)] {
            let out = resize_bicubic(&src, w, h);
            assert_eq!((out.width, out.height), (w, h));
            assert!(out.data.chunks_exact(3).all(|p| p == [200, 13, 97]));
        }
    }

    #[test]
    fn pass_order_rule() {
        assert!(!vertical_first(600, 600, 286, 286));
        assert!(vertical_first(600, 600, 601, 599));
        assert!(vertical_first(40, 40, 30, 19));
        assert!(!vertical_first(40, 40, 30, 20));
        assert!(!vertical_first(40, 40, 50, 40));
    }

    #[test]
    fn same_size_is_identity() {
        let src = Image8 {
            channels: 1,
            width: 4,
            height: 3,
            data: (0..12).map(|v| v * 20).collect(),
        };
        assert_eq!(resize_bicubic(&src, 4, 3), src);
    }
}
