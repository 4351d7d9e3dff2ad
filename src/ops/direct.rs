//! Direct stride-1 convolution for layers with very few output channels, such as the
//! generator's last 7×7 layer (64 → 3). There im2col + GEMM is the wrong shape: a GEMM three
//! rows tall, fed by an im2col matrix of 49·64 rows per pixel (800 MB at 256²). Here every
//! (channel, kernel tap) is one multiply-add along an image row, which stays in L1.

use super::simd;
use rayon::prelude::*;

use super::geom::ConvGeom;

/// Whether the direct kernels handle this convolution: stride 1 and at most 4 output channels.
pub fn applies(g: &ConvGeom) -> bool {
    g.stride == [1, 1] && g.c_out <= 4
}

/// `dst[lo..hi] += c · src[lo + shift..hi + shift]`, the shifted input row one tap reads.
#[inline(always)]
fn axpy(dst: &mut [f32], src: &[f32], c: f32) {
    dst.iter_mut().zip(src).for_each(|(d, s)| *d += c * s);
}

/// `y = conv(x, w) + bias`, one output row of every output channel at a time.
pub fn forward(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &ConvGeom) -> Vec<f32> {
    let (kk, ow) = (g.k_h * g.k_w, g.out_w);
    let mut y = vec![0.0f32; g.batch * g.c_out * g.out_plane()];
    // Rows of every (image, output channel) plane, in parallel over (image, output row).
    let rows: Vec<(usize, usize)> = (0..g.batch)
        .flat_map(|b| (0..g.out_h).map(move |oy| (b, oy)))
        .collect();
    let out: Vec<Vec<f32>> = rows
        .par_iter()
        .map(|&(b, oy)| {
            simd::dispatch(
                #[inline(always)]
                || {
                    let mut acc = vec![0.0f32; g.c_out * ow];
                    for (o, acc_o) in acc.chunks_exact_mut(ow).enumerate() {
                        acc_o.fill(bias.map_or(0.0, |bias| bias[o]));
                    }
                    let x_b = &x[b * g.c_in * g.in_plane()..][..g.c_in * g.in_plane()];
                    // Columns [0, done) in registers where the CPU allows, the rest here.
                    let done = blocked::forward_row(x_b, w, g, oy, &mut acc);
                    for ci in 0..g.c_in {
                        let plane = &x_b[ci * g.in_plane()..][..g.in_plane()];
                        for ki in 0..g.k_h {
                            let Some(iy) = g.in_row(oy, ki) else { continue };
                            let row = &plane[iy * g.in_w..][..g.in_w];
                            for kj in 0..g.k_w {
                                let (lo, hi) = g.valid_cols(kj);
                                let lo = lo.max(done).min(hi);
                                let src = &row[lo + kj - g.pad[1]..][..hi - lo];
                                for (o, acc_o) in acc.chunks_exact_mut(ow).enumerate() {
                                    let c = w[(o * g.c_in + ci) * kk + ki * g.k_w + kj];
                                    axpy(&mut acc_o[lo..hi], src, c);
                                }
                            }
                        }
                    }
                    acc
                },
            )
        })
        .collect();
    for (&(b, oy), acc) in rows.iter().zip(out) {
        for (o, acc_o) in acc.chunks_exact(ow).enumerate() {
            y[((b * g.c_out + o) * g.out_h + oy) * ow..][..ow].copy_from_slice(acc_o);
        }
    }
    y
}

/// The forward pass with accumulators held in AVX-512 registers: 64 output columns of every
/// output channel at a time, summed over (input channel, kernel row, kernel column) in the
/// same order as the row loops, so with the same values.
mod blocked {
    use super::ConvGeom;

    /// Output columns per register block.
    pub const BLOCK: usize = 64;

    /// Adds the convolution into `acc` (`c_out` rows of `out_w`, holding the bias) for the
    /// output columns `[0, done)` and returns `done`: whole blocks, without padding, on CPUs
    /// with AVX-512; 0 otherwise.
    pub fn forward_row(x_b: &[f32], w: &[f32], g: &ConvGeom, oy: usize, acc: &mut [f32]) -> usize {
        #[cfg(target_arch = "x86_64")]
        if g.pad == [0, 0] && g.out_w >= BLOCK && super::simd::has_avx512() {
            let done = g.out_w / BLOCK * BLOCK;
            // SAFETY: AVX-512 is present; the blocks read columns up to
            // done − 1 + k_w − 1 < in_w of rows in_row says exist (no padding, stride 1).
            unsafe {
                match g.c_out {
                    1 => avx512::row::<1>(x_b, w, g, oy, acc, done),
                    2 => avx512::row::<2>(x_b, w, g, oy, acc, done),
                    3 => avx512::row::<3>(x_b, w, g, oy, acc, done),
                    4 => avx512::row::<4>(x_b, w, g, oy, acc, done),
                    _ => return 0,
                }
            }
            return done;
        }
        let _ = (x_b, w, g, oy, acc);
        0
    }

    /// Kernel width of [`weight_taps`]'s register blocks: the generator's 7×7 head.
    const WEIGHT_KW: usize = 7;

    /// Whether [`weight_taps`] handles this geometry's weight gradient: no padding, the
    /// kernel width [`WEIGHT_KW`], at most 3 output channels (3 × 7 accumulators and their
    /// operands fit the 32 registers), on CPUs with AVX-512.
    pub fn weight_applies(g: &ConvGeom) -> bool {
        #[cfg(target_arch = "x86_64")]
        if g.pad == [0, 0] && g.k_w == WEIGHT_KW && g.c_out <= 3 && super::simd::has_avx512() {
            return true;
        }
        let _ = g;
        false
    }

    /// The weight gradient's taps `[o][kj]` of input channel `ci`, kernel row `ki`, for a
    /// geometry [`weight_applies`] accepts: each sum in the order of
    /// [`super::backward_weight`]'s loops (16 lanes over images, rows and columns; the tail
    /// columns' row sums added apart), so with the same values.
    pub fn weight_taps(x: &[f32], dy: &[f32], g: &ConvGeom, ci: usize, ki: usize) -> Vec<f32> {
        assert!(weight_applies(g));
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AVX-512 is present (weight_applies); shapes are checked inside.
        unsafe {
            match g.c_out {
                1 => return avx512::weight_taps::<1>(x, dy, g, ci, ki),
                2 => return avx512::weight_taps::<2>(x, dy, g, ci, ki),
                3 => return avx512::weight_taps::<3>(x, dy, g, ci, ki),
                _ => {}
            }
        }
        let _ = (x, dy, ci, ki);
        unreachable!("weight_applies admits 1 to 3 output channels on x86-64 only")
    }

    #[cfg(target_arch = "x86_64")]
    mod avx512 {
        use std::arch::x86_64::*;

        use super::super::LANES;
        use super::{BLOCK, ConvGeom, WEIGHT_KW};

        /// # Safety
        /// The CPU must have AVX-512F; `g` stride 1 without padding, `k_w == WEIGHT_KW`,
        /// `CO == g.c_out`.
        #[target_feature(enable = "avx512f")]
        pub unsafe fn weight_taps<const CO: usize>(
            x: &[f32],
            dy: &[f32],
            g: &ConvGeom,
            ci: usize,
            ki: usize,
        ) -> Vec<f32> {
            const KW: usize = WEIGHT_KW;
            // The row loops' lanes, one register: the same sums only with the same width.
            const { assert!(LANES == 16) };
            assert!(g.pad == [0, 0] && g.stride == [1, 1] && g.k_w == KW && g.c_out == CO);
            assert!(x.len() == g.batch * g.c_in * g.in_plane() && ci < g.c_in && ki < g.k_h);
            assert!(dy.len() == g.batch * CO * g.out_plane() && g.out_w + KW - 1 == g.in_w);
            let (ow, whole) = (g.out_w, g.out_w / LANES * LANES);
            let mut lanes = [[_mm512_setzero_ps(); KW]; CO];
            let mut tail = [[0.0f32; KW]; CO];
            for b in 0..g.batch {
                let x_plane = &x[(b * g.c_in + ci) * g.in_plane()..][..g.in_plane()];
                for oy in 0..g.out_h {
                    let xs = &x_plane[(oy + ki) * g.in_w..][..g.in_w];
                    let ds: [&[f32]; CO] =
                        std::array::from_fn(|o| &dy[((b * CO + o) * g.out_h + oy) * ow..][..ow]);
                    for x0 in (0..whole).step_by(LANES) {
                        // SAFETY: x0 + 16 ≤ whole ≤ ow, and x0 + kj + 16 ≤ ow + KW − 1 = in_w.
                        unsafe {
                            let d: [__m512; CO] =
                                std::array::from_fn(|o| _mm512_loadu_ps(ds[o].as_ptr().add(x0)));
                            for kj in 0..KW {
                                let s = _mm512_loadu_ps(xs.as_ptr().add(x0 + kj));
                                for (l_o, d_o) in lanes.iter_mut().zip(&d) {
                                    l_o[kj] = _mm512_add_ps(l_o[kj], _mm512_mul_ps(s, *d_o));
                                }
                            }
                        }
                    }
                    for (t_o, d_o) in tail.iter_mut().zip(&ds) {
                        for (kj, t) in t_o.iter_mut().enumerate() {
                            let row: f32 = xs[whole + kj..ow + kj]
                                .iter()
                                .zip(&d_o[whole..])
                                .map(|(x, y)| x * y)
                                .sum();
                            *t += row;
                        }
                    }
                }
            }
            let mut out = Vec::with_capacity(CO * KW);
            for (l_o, t_o) in lanes.iter().zip(&tail) {
                for (l, t) in l_o.iter().zip(t_o) {
                    let mut v = [0.0f32; LANES];
                    // SAFETY: v holds 16 floats.
                    unsafe { _mm512_storeu_ps(v.as_mut_ptr(), *l) };
                    out.push(v.iter().sum::<f32>() + t);
                }
            }
            out
        }

        const VECS: usize = BLOCK / 16;

        /// # Safety
        /// The CPU must have AVX-512F; `g` stride 1 without padding, `CO == g.c_out`,
        /// `done` a multiple of [`BLOCK`] at most `out_w`.
        #[target_feature(enable = "avx512f")]
        pub unsafe fn row<const CO: usize>(
            x_b: &[f32],
            w: &[f32],
            g: &ConvGeom,
            oy: usize,
            acc: &mut [f32],
            done: usize,
        ) {
            let (ow, kk) = (g.out_w, g.k_h * g.k_w);
            assert!(acc.len() == CO * ow && w.len() == CO * g.c_in * kk);
            assert!(x_b.len() == g.c_in * g.in_plane() && done + g.k_w - 1 <= g.in_w);
            for x0 in (0..done).step_by(BLOCK) {
                // SAFETY (all pointer reads and writes below): acc rows are ow long and
                // x0 + BLOCK ≤ ow; input rows are in_w long and x0 + kj + BLOCK ≤ in_w.
                unsafe {
                    let mut a = [[_mm512_setzero_ps(); VECS]; CO];
                    for (o, a_o) in a.iter_mut().enumerate() {
                        for (v, a_ov) in a_o.iter_mut().enumerate() {
                            *a_ov = _mm512_loadu_ps(acc.as_ptr().add(o * ow + x0 + 16 * v));
                        }
                    }
                    for ci in 0..g.c_in {
                        for ki in 0..g.k_h {
                            let Some(iy) = g.in_row(oy, ki) else { continue };
                            // wrapping_add: the same address as add, without the debug
                            // build's precondition check in the innermost loop.
                            let row = x_b
                                .as_ptr()
                                .wrapping_add(ci * g.in_plane() + iy * g.in_w + x0);
                            let taps = w.as_ptr().wrapping_add(ci * kk + ki * g.k_w);
                            for kj in 0..g.k_w {
                                let p = row.wrapping_add(kj);
                                let s: [__m512; VECS] = [
                                    _mm512_loadu_ps(p),
                                    _mm512_loadu_ps(p.wrapping_add(16)),
                                    _mm512_loadu_ps(p.wrapping_add(32)),
                                    _mm512_loadu_ps(p.wrapping_add(48)),
                                ];
                                let taps = taps.wrapping_add(kj);
                                for (o, a_o) in a.iter_mut().enumerate() {
                                    let c = _mm512_set1_ps(*taps.wrapping_add(o * g.c_in * kk));
                                    for (a_ov, s_v) in a_o.iter_mut().zip(&s) {
                                        *a_ov = _mm512_add_ps(*a_ov, _mm512_mul_ps(c, *s_v));
                                    }
                                }
                            }
                        }
                    }
                    for (o, a_o) in a.iter().enumerate() {
                        for (v, a_ov) in a_o.iter().enumerate() {
                            _mm512_storeu_ps(acc.as_mut_ptr().add(o * ow + x0 + 16 * v), *a_ov);
                        }
                    }
                }
            }
        }
    }
}

/// The gradient of [`forward`] with respect to `x`: every tap scatters the output gradient
/// back along the input row it read, in parallel over input planes.
pub fn backward_data(dy: &[f32], w: &[f32], g: &ConvGeom) -> Vec<f32> {
    let kk = g.k_h * g.k_w;
    let mut dx = vec![0.0f32; g.batch * g.c_in * g.in_plane()];
    dx.par_chunks_mut(g.in_plane())
        .enumerate()
        .for_each(|(bc, dx_plane)| {
            simd::dispatch(
                #[inline(always)]
                || {
                    let (b, ci) = (bc / g.c_in, bc % g.c_in);
                    for o in 0..g.c_out {
                        let dy_plane = &dy[(b * g.c_out + o) * g.out_plane()..][..g.out_plane()];
                        for ki in 0..g.k_h {
                            for kj in 0..g.k_w {
                                let c = w[(o * g.c_in + ci) * kk + ki * g.k_w + kj];
                                let (lo, hi) = g.valid_cols(kj);
                                for oy in 0..g.out_h {
                                    let Some(iy) = g.in_row(oy, ki) else { continue };
                                    let dst = &mut dx_plane[iy * g.in_w + lo + kj - g.pad[1]..]
                                        [..hi - lo];
                                    axpy(dst, &dy_plane[oy * g.out_w + lo..][..hi - lo], c);
                                }
                            }
                        }
                    }
                },
            )
        });
    dx
}

/// The gradient of [`forward`] with respect to `w`: per (output channel, input channel, tap),
/// the products of output gradient and shifted input summed in 16 lanes over the batch and
/// the rows, the lanes added once at the end.
pub fn backward_weight(x: &[f32], dy: &[f32], g: &ConvGeom) -> Vec<f32> {
    if blocked::weight_applies(g) {
        let kk = g.k_h * g.k_w;
        let mut dw = vec![0.0f32; g.c_out * g.c_in * kk];
        // One task per (input channel, kernel row): every output channel and kernel column
        // of it at once, so that each row of dy and x is read once instead of k_w·c_out times.
        let parts: Vec<Vec<f32>> = (0..g.c_in * g.k_h)
            .into_par_iter()
            .map(|cr| blocked::weight_taps(x, dy, g, cr / g.k_h, cr % g.k_h))
            .collect();
        for (cr, part) in parts.iter().enumerate() {
            let (ci, ki) = (cr / g.k_h, cr % g.k_h);
            for (o, taps) in part.chunks_exact(g.k_w).enumerate() {
                dw[(o * g.c_in + ci) * kk + ki * g.k_w..][..g.k_w].copy_from_slice(taps);
            }
        }
        return dw;
    }
    backward_weight_rows(x, dy, g)
}

/// [`backward_weight`] one (output channel, input channel, tap) at a time.
fn backward_weight_rows(x: &[f32], dy: &[f32], g: &ConvGeom) -> Vec<f32> {
    let kk = g.k_h * g.k_w;
    let mut dw = vec![0.0f32; g.c_out * g.c_in * kk];
    dw.par_chunks_mut(kk).enumerate().for_each(|(oc, dw_oc)| {
        simd::dispatch(
            #[inline(always)]
            || {
                let (o, ci) = (oc / g.c_in, oc % g.c_in);
                for (tap, d) in dw_oc.iter_mut().enumerate() {
                    let (ki, kj) = (tap / g.k_w, tap % g.k_w);
                    let (lo, hi) = g.valid_cols(kj);
                    let mut lanes = [0.0f32; LANES];
                    let mut tail = 0.0f32;
                    for b in 0..g.batch {
                        let x_plane = &x[(b * g.c_in + ci) * g.in_plane()..][..g.in_plane()];
                        let dy_plane = &dy[(b * g.c_out + o) * g.out_plane()..][..g.out_plane()];
                        for oy in 0..g.out_h {
                            let Some(iy) = g.in_row(oy, ki) else { continue };
                            let xs = &x_plane[iy * g.in_w + lo + kj - g.pad[1]..][..hi - lo];
                            let ds = &dy_plane[oy * g.out_w + lo..][..hi - lo];
                            tail += accumulate(&mut lanes, xs, ds);
                        }
                    }
                    *d = lanes.iter().sum::<f32>() + tail;
                }
            },
        )
    });
    dw
}

const LANES: usize = 16;

/// Adds `a · b` element-wise into 16 lanes (so that it vectorises without reassociating);
/// returns the dot product of the elements past the last whole 16.
#[inline(always)]
fn accumulate(lanes: &mut [f32; LANES], a: &[f32], b: &[f32]) -> f32 {
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (xa, xb) in ca.zip(cb) {
        for ((l, x), y) in lanes.iter_mut().zip(xa).zip(xb) {
            *l += x * y;
        }
    }
    tail
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{ConvMaps, assert_matches_im2col, pseudo_random};
    use super::*;

    /// The im2col kernels are checked against the definition of a convolution; the direct
    /// ones must compute the same three maps.
    #[test]
    fn matches_the_im2col_kernels() {
        let cases = [
            ([2, 5, 12, 11], [3, 5, 7, 7], 0),
            // Wider than a register block (64) plus a tail, for each channel count.
            ([1, 3, 9, 75], [3, 3, 7, 7], 0),
            ([2, 2, 5, 140], [1, 2, 3, 3], 0),
            ([1, 4, 4, 67], [4, 4, 4, 4], 0),
            ([1, 2, 3, 66], [2, 2, 3, 3], 0),
            ([1, 4, 9, 9], [1, 4, 3, 3], 1),
            ([2, 3, 6, 7], [4, 3, 4, 4], 2),
        ];
        for (s, (xs, ws, pad)) in cases.into_iter().enumerate() {
            let g = ConvGeom::new(xs, ws, [1, 1], [pad, pad]).unwrap();
            assert!(applies(&g));
            let tol = 1e-5 * (g.k() as f32).max((g.batch * g.out_plane()) as f32);
            let maps = ConvMaps {
                forward,
                backward_data,
                backward_weight,
            };
            assert_matches_im2col(s, &g, 10 * s as u64, maps, [tol, tol]);
        }
    }

    /// The register-blocked weight gradient sums in the row loops' order: the same floats.
    #[test]
    fn blocked_weight_gradient_equals_the_row_loops() {
        for (xs, ws) in [([2, 3, 9, 75], [3, 3, 7, 7]), ([1, 2, 8, 26], [1, 2, 7, 7])] {
            let g = ConvGeom::new(xs, ws, [1, 1], [0, 0]).unwrap();
            if !blocked::weight_applies(&g) {
                // backward_weight is the row loops themselves here
                crate::ops::test_util::note_no_avx512(
                    "blocked_weight_gradient_equals_the_row_loops",
                );
                return;
            }
            let x = pseudo_random(g.batch * g.c_in * g.in_plane(), 3);
            let dy = pseudo_random(g.batch * g.c_out * g.out_plane(), 4);
            assert_eq!(
                backward_weight(&x, &dy, &g),
                backward_weight_rows(&x, &dy, &g)
            );
        }
    }
}
