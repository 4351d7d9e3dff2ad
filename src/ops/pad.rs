//! Reflection padding (`nn.ReflectionPad2d`) as one pass per plane, with its backward pass.
//! burn composes it from a slice, a flip and a slice-assign per side and axis: fourteen
//! tensors and graph nodes for each of the generator's twenty pads per forward.

use rayon::prelude::*;

use super::simd;

/// Index of position `i` (possibly outside `0..n`) under reflection without edge repetition,
/// as `ReflectionPad2d` reflects (`-1 → 1`, `n → n − 2`); beyond one reflection it continues
/// periodically, which `ReflectionPad2d` itself would refuse.
pub fn reflect(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let m = i.rem_euclid(period);
    (if m < n as isize { m } else { period - m }) as usize
}

/// The input index padded position `i` of an axis of `n` copies.
#[inline(always)]
fn source(i: usize, p: usize, n: usize) -> usize {
    reflect(i as isize - p as isize, n)
}

/// `x` (planes of `h × w`) padded by `p` on every side; `p < min(h, w)`.
pub fn forward(x: &[f32], [h, w]: [usize; 2], p: usize) -> Vec<f32> {
    let (ph, pw) = (h + 2 * p, w + 2 * p);
    let planes = x.len() / (h * w).max(1);
    let mut y = vec![0.0f32; planes * ph * pw];
    y.par_chunks_mut(ph * pw)
        .zip(x.par_chunks(h * w))
        .for_each(|(y, x)| {
            simd::dispatch(
                #[inline(always)]
                || {
                    for (oy, row) in y.chunks_exact_mut(pw).enumerate() {
                        let src = &x[source(oy, p, h) * w..][..w];
                        row[p..p + w].copy_from_slice(src);
                        for j in 0..p {
                            row[j] = src[source(j, p, w)];
                            row[p + w + j] = src[source(p + w + j, p, w)];
                        }
                    }
                },
            )
        });
    y
}

/// The gradient of [`forward`]: each padded position's gradient added back onto the input
/// position it copied.
pub fn backward(dy: &[f32], [h, w]: [usize; 2], p: usize) -> Vec<f32> {
    let (ph, pw) = (h + 2 * p, w + 2 * p);
    let planes = dy.len() / (ph * pw).max(1);
    let mut dx = vec![0.0f32; planes * h * w];
    dx.par_chunks_mut(h * w)
        .zip(dy.par_chunks(ph * pw))
        .for_each(|(dx, dy)| {
            simd::dispatch(
                #[inline(always)]
                || {
                    for (oy, row) in dy.chunks_exact(pw).enumerate() {
                        let dst = &mut dx[source(oy, p, h) * w..][..w];
                        dst.iter_mut()
                            .zip(&row[p..p + w])
                            .for_each(|(d, s)| *d += s);
                        for j in 0..p {
                            dst[source(j, p, w)] += row[j];
                            dst[source(p + w + j, p, w)] += row[p + w + j];
                        }
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

    #[test]
    fn reflection_matches_reflection_pad_2d() {
        // ReflectionPad2d(2) of [0 1 2 3] is [2 1 0 1 2 3 2 1].
        let got: Vec<usize> = (-2..6).map(|i| reflect(i, 4)).collect();
        assert_eq!(got, vec![2, 1, 0, 1, 2, 3, 2, 1]);
        // Beyond one reflection it continues periodically (period 2·(n−1)).
        assert_eq!(reflect(-5, 4), 1);
        assert_eq!(reflect(9, 4), 3);
        assert_eq!(reflect(7, 1), 0);
    }

    /// Against the definition, index by index: PyTorch's `ReflectionPad2d` on a 3×4 plane
    /// padded by 2 gives rows 2,1,0,1,2,1,0 and columns 2,1,0,1,2,3,2,1.
    #[test]
    fn pads_as_pytorch_reflects() {
        let x: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let y = forward(&x, [3, 4], 2);
        let rows = [2, 1, 0, 1, 2, 1, 0];
        let cols = [2, 1, 0, 1, 2, 3, 2, 1];
        for (oy, &r) in rows.iter().enumerate() {
            for (ox, &c) in cols.iter().enumerate() {
                assert_eq!(y[oy * 8 + ox], x[r * 4 + c], "({oy}, {ox})");
            }
        }
    }

    /// The backward pass is the adjoint of the forward: `<pad(x), dy> = <x, pad'(dy)>`.
    #[test]
    fn backward_is_the_adjoint() {
        for (shape, p) in [([5, 6], 1), ([4, 7], 3), ([9, 9], 1)] {
            let planes = 3;
            let x = pseudo_random(planes * shape[0] * shape[1], 1);
            let dy = pseudo_random(planes * (shape[0] + 2 * p) * (shape[1] + 2 * p), 2);
            let lhs: f64 = forward(&x, shape, p)
                .iter()
                .zip(&dy)
                .map(|(a, b)| (*a as f64) * (*b as f64))
                .sum();
            let rhs: f64 = x
                .iter()
                .zip(&backward(&dy, shape, p))
                .map(|(a, b)| (*a as f64) * (*b as f64))
                .sum();
            assert!(
                (lhs - rhs).abs() < 1e-4 * lhs.abs().max(1.0),
                "{shape:?} p {p}"
            );
        }
    }
}
