//! Metrics of an image against its reference (pix2pix's output against the real target):
//! mean absolute error in 8-bit levels, PSNR and SSIM, all on 8-bit RGB in `f64`.
//!
//! SSIM is Wang et al. (2004) as scikit-image computes it with
//! `structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
//! data_range=255, channel_axis=-1)`: local means, variances and covariance under a Gaussian
//! window (σ 1.5, truncated at 3.5 σ: 11 taps, SciPy's `gaussian_filter` with `mode='reflect'`),
//! K₁ 0.01, K₂ 0.03, the SSIM map averaged after cropping the 5-pixel border the window reaches
//! past, per channel, then over channels.

use crate::data::Image8;

/// The three scores of one image pair.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairScores {
    /// Mean |a − b| over all pixels and channels, in 8-bit levels (0–255).
    pub l1: f64,
    /// `10 log₁₀(255² / MSE)` in dB; infinite for identical images.
    pub psnr: f64,
    /// Mean structural similarity, 1 for identical images.
    pub ssim: f64,
}

impl PairScores {
    /// Each score's mean over `scores`, summed in their order; `None` for none.
    pub fn mean(scores: &[PairScores]) -> Option<PairScores> {
        let n = scores.len() as f64;
        (!scores.is_empty()).then(|| PairScores {
            l1: scores.iter().map(|s| s.l1).sum::<f64>() / n,
            psnr: scores.iter().map(|s| s.psnr).sum::<f64>() / n,
            ssim: scores.iter().map(|s| s.ssim).sum::<f64>() / n,
        })
    }
}

/// Why a pair cannot be scored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairError {
    #[error("sizes differ: {a_w}×{a_h} against {b_w}×{b_h}")]
    SizeMismatch {
        a_w: usize,
        a_h: usize,
        b_w: usize,
        b_h: usize,
    },
    #[error("channel counts differ: {a} against {b}")]
    ChannelMismatch { a: usize, b: usize },
    #[error(
        "the image is {w}×{h}, smaller than SSIM's {WINDOW}×{WINDOW} window on a side (as \
         scikit-image refuses it)"
    )]
    TooSmall { w: usize, h: usize },
}

/// Gaussian window's σ and the truncation SciPy's filter uses for it (`truncate=3.5`).
const SIGMA: f64 = 1.5;
const TRUNCATE: f64 = 3.5;
/// Radius `int(truncate · σ + 0.5)` = 5, so 11 taps.
const RADIUS: usize = (TRUNCATE * SIGMA + 0.5) as usize;
const WINDOW: usize = 2 * RADIUS + 1;
const K1: f64 = 0.01;
const K2: f64 = 0.03;
const DATA_RANGE: f64 = 255.0;

/// L1, PSNR and SSIM of `a` against `b` (same size and channel count; RGB or grey).
pub fn score_pair(a: &Image8, b: &Image8) -> Result<PairScores, PairError> {
    if (a.width, a.height) != (b.width, b.height) {
        return Err(PairError::SizeMismatch {
            a_w: a.width,
            a_h: a.height,
            b_w: b.width,
            b_h: b.height,
        });
    }
    if a.channels != b.channels {
        return Err(PairError::ChannelMismatch {
            a: a.channels,
            b: b.channels,
        });
    }
    Ok(PairScores {
        l1: l1(a, b),
        psnr: psnr(a, b),
        ssim: ssim(a, b)?,
    })
}

/// Mean absolute difference in levels.
pub fn l1(a: &Image8, b: &Image8) -> f64 {
    let sum: u64 = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(&x, &y)| u64::from(x.abs_diff(y)))
        .sum();
    sum as f64 / a.data.len().max(1) as f64
}

/// scikit-image's `peak_signal_noise_ratio(a, b, data_range=255)`.
pub fn psnr(a: &Image8, b: &Image8) -> f64 {
    let sq: u64 = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(&x, &y)| u64::from(x.abs_diff(y)).pow(2))
        .sum();
    let mse = sq as f64 / a.data.len().max(1) as f64;
    10.0 * (DATA_RANGE * DATA_RANGE / mse).log10()
}

/// Mean SSIM over channels (see the module comment for the exact recipe).
pub fn ssim(a: &Image8, b: &Image8) -> Result<f64, PairError> {
    let (w, h, c) = (a.width, a.height, a.channels);
    if w < WINDOW || h < WINDOW {
        return Err(PairError::TooSmall { w, h });
    }
    let kernel = gaussian_kernel();
    let plane = |img: &Image8, ch: usize| -> Vec<f64> {
        img.data
            .iter()
            .skip(ch)
            .step_by(c)
            .map(|&v| f64::from(v))
            .collect()
    };
    let (c1, c2) = ((K1 * DATA_RANGE).powi(2), (K2 * DATA_RANGE).powi(2));
    let mut total = 0.0;
    for ch in 0..c {
        let (x, y) = (plane(a, ch), plane(b, ch));
        let product =
            |p: &[f64], q: &[f64]| -> Vec<f64> { p.iter().zip(q).map(|(u, v)| u * v).collect() };
        let filt = |v: &[f64]| gaussian_filter(v, w, h, &kernel);
        let (ux, uy) = (filt(&x), filt(&y));
        let (uxx, uyy, uxy) = (
            filt(&product(&x, &x)),
            filt(&product(&y, &y)),
            filt(&product(&x, &y)),
        );
        // Only the interior the window covers counts (scikit-image's `crop(S, pad)`).
        let mut sum = 0.0;
        for row in RADIUS..h - RADIUS {
            for col in RADIUS..w - RADIUS {
                let i = row * w + col;
                let (mx, my) = (ux[i], uy[i]);
                let vx = uxx[i] - mx * mx;
                let vy = uyy[i] - my * my;
                let vxy = uxy[i] - mx * my;
                let num = (2.0 * mx * my + c1) * (2.0 * vxy + c2);
                let den = (mx * mx + my * my + c1) * (vx + vy + c2);
                sum += num / den;
            }
        }
        total += sum / ((h - 2 * RADIUS) * (w - 2 * RADIUS)) as f64;
    }
    Ok(total / c as f64)
}

/// SciPy's `_gaussian_kernel1d(σ, 0, radius)`: `exp(−x² / 2σ²)` normalised to sum 1.
fn gaussian_kernel() -> [f64; WINDOW] {
    let mut k = [0.0; WINDOW];
    for (i, v) in k.iter_mut().enumerate() {
        let x = i as f64 - RADIUS as f64;
        *v = (-0.5 / (SIGMA * SIGMA) * x * x).exp();
    }
    let sum: f64 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= sum);
    k
}

/// SciPy's `mode='reflect'` (half-sample symmetric: `d c b a | a b c d | d c b a`), for an
/// index at most one length outside `[0, n)` (the window is smaller than the image).
fn reflect_half(i: isize, n: usize) -> usize {
    let n = n as isize;
    let j = if i < 0 {
        -i - 1
    } else if i >= n {
        2 * n - i - 1
    } else {
        i
    };
    j as usize
}

/// `gaussian_filter`: the 1-D kernel along rows (axis 0) then columns (axis 1).
fn gaussian_filter(v: &[f64], w: usize, h: usize, k: &[f64; WINDOW]) -> Vec<f64> {
    let mut vertical = vec![0.0; w * h];
    for row in 0..h {
        for (t, &kt) in k.iter().enumerate() {
            let src = reflect_half(row as isize + t as isize - RADIUS as isize, h);
            let (dst, src) = (&mut vertical[row * w..][..w], &v[src * w..][..w]);
            dst.iter_mut().zip(src).for_each(|(d, s)| *d += kt * s);
        }
    }
    let mut out = vec![0.0; w * h];
    for row in 0..h {
        let line = &vertical[row * w..][..w];
        for (col, o) in out[row * w..][..w].iter_mut().enumerate() {
            *o = k
                .iter()
                .enumerate()
                .map(|(t, kt)| {
                    kt * line[reflect_half(col as isize + t as isize - RADIUS as isize, w)]
                })
                .sum();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(w: usize, h: usize, f: impl Fn(usize, usize, usize) -> u8) -> Image8 {
        let mut data = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    data.push(f(x, y, c));
                }
            }
        }
        Image8 {
            channels: 3,
            width: w,
            height: h,
            data,
        }
    }

    #[test]
    fn identical_images_score_perfectly() {
        let a = image(16, 13, |x, y, c| ((x * 7 + y * 13 + c * 50) % 256) as u8);
        let s = score_pair(&a, &a).unwrap();
        assert_eq!(s.l1, 0.0);
        assert!(s.psnr.is_infinite() && s.psnr > 0.0);
        assert!((s.ssim - 1.0).abs() < 1e-12, "{}", s.ssim);
    }

    /// A constant offset d: L1 = d, MSE = d², PSNR = 10 log₁₀(255²/d²). SSIM of two flat
    /// images whose means differ: (2μₐμ_b + C₁)/(μₐ² + μ_b² + C₁) (variances all zero).
    #[test]
    fn flat_images_follow_the_formulas() {
        let a = image(12, 12, |_, _, _| 100);
        let b = image(12, 12, |_, _, _| 110);
        let s = score_pair(&a, &b).unwrap();
        assert_eq!(s.l1, 10.0);
        assert!((s.psnr - 10.0 * (255.0f64 * 255.0 / 100.0).log10()).abs() < 1e-12);
        let c1 = (0.01f64 * 255.0).powi(2);
        let want = (2.0 * 100.0 * 110.0 + c1) / (100.0f64.powi(2) + 110.0f64.powi(2) + c1);
        assert!((s.ssim - want).abs() < 1e-12, "{} vs {want}", s.ssim);
    }

    #[test]
    fn kernel_is_scipys() {
        let k = gaussian_kernel();
        assert_eq!(k.len(), 11);
        assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        // exp(−25/4.5) / Σ exp(−x²/4.5), x = −5..5 (NumPy: 0.00102838008447911).
        assert!((k[0] - 0.001_028_380_1).abs() < 1e-9, "{}", k[0]);
    }

    #[test]
    fn reflect_is_half_sample_symmetric() {
        let idx: Vec<usize> = (-3..8).map(|i| reflect_half(i, 5)).collect();
        assert_eq!(idx, [2, 1, 0, 0, 1, 2, 3, 4, 4, 3, 2]);
    }

    /// Scores of real image pairs against scikit-image's (scripts/make_metrics_fixtures.py).
    #[test]
    fn matches_scikit_image_on_fixture_pairs() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/metrics/paired");
        let text = std::fs::read_to_string(dir.join("paired.json")).unwrap();
        let want: serde_json::Value = serde_json::from_str(&text).unwrap();
        let want = want.as_object().unwrap();
        assert_eq!(want.len(), 3);
        for (name, scores) in want {
            let load = |side: &str| {
                let path = dir.join(format!("{name}_{side}.png"));
                crate::data::load_image8(&path, 3, u64::MAX).unwrap()
            };
            let got = score_pair(&load("real"), &load("fake")).unwrap();
            let field = |k: &str| scores[k].as_f64().unwrap();
            assert!((got.l1 - field("l1")).abs() < 1e-9, "{name} l1 {}", got.l1);
            assert!(
                (got.psnr - field("psnr")).abs() < 1e-9,
                "{name} psnr {}",
                got.psnr
            );
            // Both sum in f64; only the order of additions differs.
            assert!(
                (got.ssim - field("ssim")).abs() < 1e-9,
                "{name} ssim {}",
                got.ssim
            );
        }
    }

    #[test]
    fn mismatches_and_small_images_are_errors() {
        let a = image(12, 12, |_, _, _| 0);
        let b = image(12, 11, |_, _, _| 0);
        assert!(matches!(
            score_pair(&a, &b),
            Err(PairError::SizeMismatch { .. })
        ));
        let small = image(10, 12, |_, _, _| 0);
        assert_eq!(
            score_pair(&small, &small),
            Err(PairError::TooSmall { w: 10, h: 12 })
        );
    }
}
