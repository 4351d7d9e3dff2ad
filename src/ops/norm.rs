//! Instance normalisation (`InstanceNorm2d` without affine parameters) in one pass per plane,
//! with its backward pass. Composed of burn's element-wise ops it is eight tensors and as many
//! graph nodes per call; the generator makes 23 such calls per forward.

use super::simd;
use rayon::prelude::*;

/// `y = (x − mean) / sqrt(var + eps)` per plane of `plane` values (mean and biased variance
/// of the plane, as PyTorch's); also returns each plane's `1 / sqrt(var + eps)`.
pub fn forward(x: &[f32], plane: usize, eps: f64) -> (Vec<f32>, Vec<f32>) {
    let mut y = vec![0.0f32; x.len()];
    let rstd: Vec<f32> = y
        .par_chunks_mut(plane.max(1))
        .zip(x.par_chunks(plane.max(1)))
        .map(|(y, x)| {
            simd::dispatch(
                #[inline(always)]
                || {
                    let n = x.len() as f64;
                    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
                    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
                    let rstd = 1.0 / (var + eps).sqrt();
                    let (mean, rstd_f) = (mean as f32, rstd as f32);
                    for (y, &x) in y.iter_mut().zip(x) {
                        *y = (x - mean) * rstd_f;
                    }
                    rstd_f
                },
            )
        })
        .collect();
    (y, rstd)
}

/// The input gradient given the output `y` and gradient `dy`:
/// `dx = rstd · (dy − mean(dy) − y · mean(dy · y))` per plane.
pub fn backward(y: &[f32], rstd: &[f32], dy: &[f32], plane: usize) -> Vec<f32> {
    let mut dx = vec![0.0f32; y.len()];
    dx.par_chunks_mut(plane.max(1))
        .zip(y.par_chunks(plane.max(1)))
        .zip(dy.par_chunks(plane.max(1)))
        .zip(rstd.par_iter())
        .for_each(|(((dx, y), dy), &rstd)| {
            simd::dispatch(
                #[inline(always)]
                || {
                    let n = y.len() as f64;
                    let mean_dy = dy.iter().map(|&v| v as f64).sum::<f64>() / n;
                    let mean_dy_y = dy
                        .iter()
                        .zip(y)
                        .map(|(&g, &v)| g as f64 * v as f64)
                        .sum::<f64>()
                        / n;
                    let (mean_dy, mean_dy_y) = (mean_dy as f32, mean_dy_y as f32);
                    for ((dx, &y), &dy) in dx.iter_mut().zip(y).zip(dy) {
                        *dx = rstd * (dy - mean_dy - y * mean_dy_y);
                    }
                },
            )
        });
    dx
}
