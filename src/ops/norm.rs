//! Instance normalisation (`InstanceNorm2d` without affine parameters) in one pass per plane,
//! with its backward pass, and the ReLU or leaky ReLU that follows it in the official networks
//! folded into the same passes. Composed of burn's element-wise ops it is eight tensors and as
//! many graph nodes per call; the generator makes 23 such calls per forward, 14 of them
//! followed by a ReLU that would be two more passes (and a mask) of its own.

use super::simd;
use super::sum::{sum_f64, sum_f64_zip};
use rayon::prelude::*;

/// What follows the normalisation in the same pass: nothing, `nn.ReLU`, or
/// `nn.LeakyReLU(slope)`, computed as burn computes them (ReLU: zero where the value is not
/// positive; leaky: `slope · v` where `v < 0`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Identity,
    Relu,
    LeakyRelu(f32),
}

impl Activation {
    /// The activation of `v`: its derivative's selection applied to `v` itself (zero or
    /// `slope · v` below zero, `v` above), so the two can never disagree on the boundary.
    #[inline(always)]
    pub(super) fn apply(self, v: f32) -> f32 {
        self.back(v, v)
    }

    /// The gradient `dy` of the activation's output at `v`, taken back through it. `v` may be
    /// the input or the output: their signs agree (ReLU's zero output passes nothing either
    /// way, and the leaky slope is positive).
    #[inline(always)]
    pub(crate) fn back(self, v: f32, dy: f32) -> f32 {
        match self {
            Activation::Identity => dy,
            Activation::Relu => {
                if v > 0.0 {
                    dy
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu(slope) => {
                if v < 0.0 {
                    dy * slope
                } else {
                    dy
                }
            }
        }
    }
}

/// `y = act((x − mean) / sqrt(var + eps))` per plane of `plane` values (mean and biased
/// variance of the plane, as PyTorch's); also returns each plane's `1 / sqrt(var + eps)`.
/// Where a backward pass follows an activation, [`forward_activated`] keeps the values it
/// needs.
pub fn forward(x: &[f32], plane: usize, eps: f64, act: Activation) -> (Vec<f32>, Vec<f32>) {
    let mut y = vec![0.0f32; x.len()];
    let rstd = normalise(x, plane, eps, &mut y, None, act);
    (y, rstd)
}

/// [`forward`] followed by `act`: returns the normalised values (which the backward pass
/// needs), the activation's output, and each plane's `1 / sqrt(var + eps)`.
pub fn forward_activated(
    x: &[f32],
    plane: usize,
    eps: f64,
    act: Activation,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut normed = vec![0.0f32; x.len()];
    let mut y = vec![0.0f32; x.len()];
    let rstd = normalise(x, plane, eps, &mut normed, Some(&mut y), act);
    (normed, y, rstd)
}

/// Writes each plane normalised into `normed` and `act` of it into `out`, or without `out`
/// `act` of it into `normed`.
fn normalise(
    x: &[f32],
    plane: usize,
    eps: f64,
    normed: &mut [f32],
    out: Option<&mut [f32]>,
    act: Activation,
) -> Vec<f32> {
    let plane = plane.max(1);
    let planes = normed.par_chunks_mut(plane).zip(x.par_chunks(plane));
    let stats = |x: &[f32]| {
        let n = x.len() as f64;
        let mean = sum_f64(x, |v| v as f64) / n;
        let var = sum_f64(x, |v| (v as f64 - mean).powi(2)) / n;
        let rstd = 1.0 / (var + eps).sqrt();
        (mean as f32, rstd as f32)
    };
    match out {
        None => planes
            .map(|(normed, x)| {
                simd::dispatch(
                    #[inline(always)]
                    || {
                        let (mean, rstd) = stats(x);
                        for (d, &x) in normed.iter_mut().zip(x) {
                            *d = act.apply((x - mean) * rstd);
                        }
                        rstd
                    },
                )
            })
            .collect(),
        Some(out) => planes
            .zip(out.par_chunks_mut(plane))
            .map(|((normed, x), out)| {
                simd::dispatch(
                    #[inline(always)]
                    || {
                        let (mean, rstd) = stats(x);
                        for ((d, o), &x) in normed.iter_mut().zip(out.iter_mut()).zip(x) {
                            let v = (x - mean) * rstd;
                            *d = v;
                            *o = act.apply(v);
                        }
                        rstd
                    },
                )
            })
            .collect(),
    }
}

/// The input gradient given the normalised values `y` and the gradient `dy` of `act`'s output
/// (of `y` itself for [`Activation::Identity`]): with `g = dy` taken back through `act`,
/// `dx = rstd · (g − mean(g) − y · mean(g · y))` per plane.
pub fn backward(y: &[f32], rstd: &[f32], dy: &[f32], plane: usize, act: Activation) -> Vec<f32> {
    match act {
        Activation::Identity => backward_through(y, rstd, dy, plane, Activation::Identity),
        Activation::Relu => backward_through(y, rstd, dy, plane, Activation::Relu),
        Activation::LeakyRelu(slope) => {
            backward_through(y, rstd, dy, plane, Activation::LeakyRelu(slope))
        }
    }
}

/// [`backward`] for one activation, so that each variant's loops are compiled on their own.
#[inline(always)]
fn backward_through(
    y: &[f32],
    rstd: &[f32],
    dy: &[f32],
    plane: usize,
    act: Activation,
) -> Vec<f32> {
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
                    let mean_g = sum_f64_zip(y, dy, |y, dy| act.back(y, dy) as f64) / n;
                    let mean_g_y =
                        sum_f64_zip(y, dy, |y, dy| act.back(y, dy) as f64 * y as f64) / n;
                    let (mean_g, mean_g_y) = (mean_g as f32, mean_g_y as f32);
                    for ((dx, &y), &dy) in dx.iter_mut().zip(y).zip(dy) {
                        *dx = rstd * (act.back(y, dy) - mean_g - y * mean_g_y);
                    }
                },
            )
        });
    dx
}

#[cfg(test)]
mod tests {
    use super::super::test_util::pseudo_random;
    use super::*;

    fn same(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits())
    }

    /// Folding the activation in gives what the two steps give one after the other: the
    /// activation applied to the normalised values, and the normalisation's backward pass on
    /// the gradient the activation's backward pass (burn's definitions) hands it.
    #[test]
    fn activation_in_the_same_pass_equals_the_two_steps() {
        let plane = 37;
        let x = pseudo_random(6 * plane, 1);
        let dy = pseudo_random(6 * plane, 2);
        let (normed, rstd) = forward(&x, plane, 1e-5, Activation::Identity);
        for act in [Activation::Relu, Activation::LeakyRelu(0.2)] {
            let (n, y, r) = forward_activated(&x, plane, 1e-5, act);
            assert!(same(&n, &normed) && same(&r, &rstd), "{act:?}");
            let want: Vec<f32> = normed
                .iter()
                .map(|&v| match act {
                    Activation::LeakyRelu(s) if v < 0.0 => v * s,
                    Activation::LeakyRelu(_) => v,
                    _ if v > 0.0 => v,
                    _ => 0.0,
                })
                .collect();
            assert!(same(&y, &want), "{act:?} forward");
            assert!(
                same(&forward(&x, plane, 1e-5, act).0, &want),
                "{act:?} output only"
            );
            assert!(y.iter().any(|&v| v > 0.0) && normed.iter().any(|&v| v < 0.0));
            let g: Vec<f32> = normed
                .iter()
                .zip(&dy)
                .map(|(&v, &d)| match act {
                    Activation::LeakyRelu(s) if v < 0.0 => d * s,
                    Activation::Relu if v <= 0.0 => 0.0,
                    _ => d,
                })
                .collect();
            let want = backward(&normed, &rstd, &g, plane, Activation::Identity);
            let got = backward(&normed, &rstd, &dy, plane, act);
            assert!(same(&got, &want), "{act:?} backward");
        }
    }
}
