//! The input gradient of a convolution, and so the transposed convolutions built on it, as
//! `s_h·s_w` stride-1 convolutions of the output gradient: one per phase `(py, px)` of the
//! input, the pixels `(s_h·m + py, s_w·n + px)`. Each phase reads only the kernel taps that
//! reach it (for 3×3 with stride 2: 1, 2, 2 and 4 of the nine), so the work is that of the
//! convolution, and every input-gradient pixel is written once.
//!
//! The im2col route ([`super::gemm_conv::backward_data`]) instead writes the `k × pixels`
//! matrix `wᵀ · dy` (9.4 MB per image for the generator's first down-sampling layer at 128²)
//! and adds it back onto the image: here each task of a few rows builds its phases' im2col
//! blocks and products in L2 and writes its rows of the gradient once.

use rayon::prelude::*;

use super::gemm::gemm_on;
use super::gemm_conv::{TASK_COL, TASK_WEIGHTS};
use super::geom::ConvGeom;
use super::scratch;
use super::send_ptr::SendPtr;
use super::simd;

/// The taps of one kernel axis that reach the input positions `s·m + phase`: tap `kk` reads
/// the output gradient at `m + offset`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct AxisPhase {
    /// (kernel index, offset), kernel indices descending, so offsets ascending by one.
    taps: Vec<(usize, isize)>,
    /// The input positions of the phase: `m < count`.
    count: usize,
}

impl AxisPhase {
    /// Input position `s·m + phase` receives from output `o` through tap `kk` when
    /// `s·o + kk − pad = s·m + phase`, i.e. `o = m + (phase + pad − kk) / s`.
    fn new(k: usize, stride: usize, pad: usize, phase: usize, input: usize) -> Self {
        let taps = (0..k)
            .rev()
            .filter_map(|kk| {
                let num = (phase + pad) as isize - kk as isize;
                (num.rem_euclid(stride as isize) == 0)
                    .then(|| (kk, num.div_euclid(stride as isize)))
            })
            .collect();
        let count = input.saturating_sub(phase).div_ceil(stride);
        Self { taps, count }
    }
}

/// One phase: its row and column offsets and the taps of each axis that reach it.
type Phase = (usize, usize, AxisPhase, AxisPhase);

/// The depth of a phase's GEMM: output-gradient channels times the phase's taps.
fn depth(g: &ConvGeom, ty: &AxisPhase, tx: &AxisPhase) -> usize {
    g.c_out * ty.taps.len() * tx.taps.len()
}

/// The phases of a geometry: rows × columns, row-major.
fn phases(g: &ConvGeom) -> Vec<Phase> {
    let (sh, sw) = (g.stride[0], g.stride[1]);
    let mut out = Vec::with_capacity(sh * sw);
    for py in 0..sh {
        for px in 0..sw {
            out.push((
                py,
                px,
                AxisPhase::new(g.k_h, sh, g.pad[0], py, g.in_h),
                AxisPhase::new(g.k_w, sw, g.pad[1], px, g.in_w),
            ));
        }
    }
    out
}

/// The weights of one phase as a `[c_in, c_out·taps_y·taps_x]` matrix: row `ci`, column
/// `(co·ty + t)·tx + u` holds `w[co][ci][ky(t)][kx(u)]`.
fn phase_weights(w: &[f32], g: &ConvGeom, ty: &AxisPhase, tx: &AxisPhase) -> Vec<f32> {
    let k = depth(g, ty, tx);
    let mut wp = vec![0.0f32; g.c_in * k];
    wp.par_chunks_mut(k.max(1))
        .enumerate()
        .for_each(|(ci, row)| {
            let mut r = 0;
            for co in 0..g.c_out {
                let kernel = &w[(co * g.c_in + ci) * g.k_h * g.k_w..][..g.k_h * g.k_w];
                for &(ky, _) in &ty.taps {
                    for &(kx, _) in &tx.taps {
                        row[r] = kernel[ky * g.k_w + kx];
                        r += 1;
                    }
                }
            }
        });
    wp
}

/// Row `r = (co, t, u)` of a phase's im2col block of phase rows `[m0, m1)` of one image's
/// output gradient `dy_b`: column `(m − m0, n)` is `dy_b[co][m + oy_t][n + ox_u]` for the tap
/// offsets, zero outside the gradient.
#[inline(always)]
fn phase_im2col_row(
    dy_b: &[f32],
    g: &ConvGeom,
    (ty, tx): (&AxisPhase, &AxisPhase),
    (m0, m1): (usize, usize),
    r: usize,
    row: &mut [f32],
) {
    let taps = ty.taps.len() * tx.taps.len();
    let (co, t) = (r / taps, r % taps);
    let (oy, ox) = (ty.taps[t / tx.taps.len()].1, tx.taps[t % tx.taps.len()].1);
    let nx = tx.count;
    let plane = &dy_b[co * g.out_plane()..][..g.out_plane()];
    // Columns n with 0 ≤ n + ox < out_w read the gradient; the rest are zero.
    let lo = (-ox).clamp(0, nx as isize) as usize;
    let hi = (g.out_w as isize - ox).clamp(lo as isize, nx as isize) as usize;
    for (m, dst) in (m0..m1).zip(row.chunks_exact_mut(nx)) {
        let iy = m as isize + oy;
        if !(0..g.out_h as isize).contains(&iy) || lo == hi {
            dst.fill(0.0);
            continue;
        }
        let src = &plane[iy as usize * g.out_w..][..g.out_w];
        dst[..lo].fill(0.0);
        dst[hi..].fill(0.0);
        let first = (lo as isize + ox) as usize;
        dst[lo..hi].copy_from_slice(&src[first..first + (hi - lo)]);
    }
}

/// Writes the phase's products `buf` (`[c_in, (m1 − m0)·tx.count]`) to their pixels
/// `(s_h·m + py, s_w·n + px)` of one image's input gradient `dx_b`.
///
/// # Safety
/// `dx_b` must point to an image of `c_in × in_h × in_w` floats, valid for writes, whose
/// pixels of this phase's rows `[m0, m1)` no other thread reads or writes meanwhile; the
/// phase's pixels must lie inside the image (`s_h·m + py < in_h` for m < m1,
/// `s_w·(nx − 1) + px < in_w`).
unsafe fn scatter_phase(
    buf: &[f32],
    g: &ConvGeom,
    (py, px, nx): (usize, usize, usize),
    (m0, m1): (usize, usize),
    dx_b: SendPtr<*mut f32>,
) {
    let n = (m1 - m0) * nx;
    for ci in 0..g.c_in {
        for (m, src) in (m0..m1).zip(buf[ci * n..][..n].chunks_exact(nx)) {
            let row = (ci * g.in_h + g.stride[0] * m + py) * g.in_w + px;
            // SAFETY: pixel (s_h·m + py, s_w·j + px) of plane ci, j < nx, lies inside the
            // image and no other thread touches it (this function's safety section).
            unsafe {
                let dst = dx_b.get().add(row);
                for (j, v) in src.iter().enumerate() {
                    *dst.add(j * g.stride[1]) = *v;
                }
            }
        }
    }
}

/// Whether [`backward_data`] is the faster route for this convolution: strided, with enough
/// input channels to fill the rows of its GEMMs (`c_in` of them; the im2col route's have
/// `c_in·k_h·k_w`), and phase weights small enough for every task to pack them again.
/// Measured in 128² training steps: the generator's 3×3 stride-2 layers with 64 input
/// channels (its first down-sampling layer and last up-sampling one) 1.5-3× faster; with 128,
/// whose phase weights are 4 times larger, up to 1.3× slower at batch 1; the 3-channel
/// stem's stride-1 input gradient 6× slower.
pub fn applies(g: &ConvGeom) -> bool {
    let strided = g.stride[0] > 1 || g.stride[1] > 1;
    strided && g.c_in >= 32 && g.c_in * max_depth(g, &phases(g)) <= TASK_WEIGHTS / 2
}

/// The deepest of the phases' GEMMs.
fn max_depth(g: &ConvGeom, phases: &[Phase]) -> usize {
    phases
        .iter()
        .map(|(_, _, ty, tx)| depth(g, ty, tx))
        .max()
        .unwrap_or(0)
}

/// The gradient of the convolution `g` with respect to its input, given the output gradient
/// `dy` and the weights `w` (`[c_out, c_in, k_h, k_w]`): `[batch, c_in, in_h, in_w]`.
pub fn backward_data(dy: &[f32], w: &[f32], g: &ConvGeom) -> Vec<f32> {
    assert_eq!(
        dy.len(),
        g.batch * g.c_out * g.out_plane(),
        "output gradient size"
    );
    assert_eq!(w.len(), g.c_out * g.k(), "weight size");
    let phases = phases(g);
    let weights: Vec<Vec<f32>> = phases
        .iter()
        .map(|(_, _, ty, tx)| phase_weights(w, g, ty, tx))
        .collect();
    let k_max = max_depth(g, &phases);
    // Every pixel belongs to one phase; a phase no tap reaches is zero.
    let mut dx = vec![0.0f32; g.batch * g.c_in * g.in_plane()];
    in_tasks(dy, g, &phases, &weights, k_max, &mut dx);
    dx
}

/// Tasks of one phase of a few rows of one image, each with its own L2-sized im2col block and
/// a single-threaded GEMM: the tasks write disjoint pixels.
fn in_tasks(
    dy: &[f32],
    g: &ConvGeom,
    phases: &[Phase],
    weights: &[Vec<f32>],
    k_max: usize,
    dx: &mut [f32],
) {
    let rows_max = g.in_h.div_ceil(g.stride[0]);
    let nx_max = g.in_w.div_ceil(g.stride[1]);
    let rows = (TASK_COL / (k_max * nx_max).max(1)).clamp(1, rows_max.max(1));
    let tasks: Vec<(usize, usize, usize)> = (0..g.batch)
        .flat_map(|b| {
            (0..rows_max)
                .step_by(rows)
                .flat_map(move |m0| (0..phases.len()).map(move |p| (b, m0, p)))
        })
        .collect();
    let dst = SendPtr(dx.as_mut_ptr());
    let in_image = g.c_in * g.in_plane();
    tasks.into_par_iter().for_each(|(b, m0, p)| {
        let ((py, px, ty, tx), wp) = (&phases[p], &weights[p]);
        let m1 = (m0 + rows).min(ty.count);
        let k = depth(g, ty, tx);
        if m1 <= m0 || k == 0 || tx.count == 0 {
            return;
        }
        let n = (m1 - m0) * tx.count;
        let dy_b = &dy[b * g.c_out * g.out_plane()..][..g.c_out * g.out_plane()];
        let mut col = scratch::take(k * n);
        let mut buf = scratch::take(g.c_in * n);
        simd::dispatch(
            #[inline(always)]
            || {
                for (r, row) in col.chunks_exact_mut(n).enumerate() {
                    phase_im2col_row(dy_b, g, (ty, tx), (m0, m1), r, row);
                }
            },
        );
        // SAFETY: buf is [c_in, n]; wp is [c_in, k]; col is [k, n].
        unsafe {
            gemm_on(
                gemm::Parallelism::None,
                [g.c_in, n, k],
                buf.as_mut_ptr(),
                n,
                false,
                wp.as_ptr(),
                [k, 1],
                col.as_ptr(),
                [n, 1],
            );
        }
        // SAFETY: dx holds batch images of in_image floats, so image b's start lies inside
        // it; of that image this task alone writes phase (py, px) of rows [m0, m1) (the tasks
        // are distinct (image, row block, phase) triples, and the phases partition the
        // pixels), and ty, tx count only the phase's pixels inside the image.
        unsafe {
            let dx_b = SendPtr(dst.get().add(b * in_image));
            scatter_phase(&buf, g, (*py, *px, tx.count), (m0, m1), dx_b);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::gemm_conv;
    use super::super::test_util::{max_diff, pseudo_random};
    use super::*;

    #[test]
    fn axis_phases_of_a_stride_2_kernel() {
        // 3×3, stride 2, pad 1: even inputs from tap 1 at offset 0; odd ones from taps 2
        // (offset 0) and 0 (offset 1).
        assert_eq!(AxisPhase::new(3, 2, 1, 0, 8).taps, [(1, 0)]);
        assert_eq!(AxisPhase::new(3, 2, 1, 1, 8).taps, [(2, 0), (0, 1)]);
        // 4×4, stride 2, pad 1: two taps in each phase.
        assert_eq!(AxisPhase::new(4, 2, 1, 0, 8).taps, [(3, -1), (1, 0)]);
        assert_eq!(AxisPhase::new(4, 2, 1, 1, 8).taps, [(2, 0), (0, 1)]);
        // A 1-wide kernel with stride 2 reaches only one phase.
        assert!(AxisPhase::new(1, 2, 0, 1, 8).taps.is_empty());
        assert_eq!(AxisPhase::new(3, 2, 1, 1, 7).count, 3);
    }

    #[test]
    fn routes_the_layers_where_it_is_faster() {
        let g = |x, w, s| ConvGeom::new(x, w, [s, s], [1, 1]).unwrap();
        // The generator's first down-sampling layer at 128² (and the last up-sampling one).
        assert!(applies(&g([1, 64, 128, 128], [128, 64, 3, 3], 2)));
        // Its second: phase weights of 128 × 1024 floats.
        assert!(!applies(&g([1, 128, 64, 64], [256, 128, 3, 3], 2)));
        // Too few input channels, or no stride.
        assert!(!applies(&g([1, 3, 128, 128], [64, 3, 4, 4], 2)));
        assert!(!applies(&g([1, 256, 16, 16], [512, 256, 4, 4], 1)));
        let rows =
            |g: &ConvGeom| TASK_COL / (max_depth(g, &phases(g)) * g.in_w.div_ceil(g.stride[1]));
        let many = g([1, 64, 130, 129], [128, 64, 3, 3], 2);
        assert!(
            many.in_h.div_ceil(2) > 9 * rows(&many),
            "the test below needs many blocks"
        );
    }

    /// Strides 1 to 3, kernels 1 to 7 (rectangular, wider than the stride and narrower),
    /// every padding below the kernel and one above, odd sizes, batches of 1 to 3, several
    /// row blocks per image, and weights past what `applies` routes here: the same gradient as
    /// the im2col route, which is checked against the definition of a convolution.
    #[test]
    fn matches_the_im2col_input_gradient() {
        type Case = ([usize; 4], [usize; 4], [usize; 2], [usize; 2]);
        let cases: &[Case] = &[
            ([3, 64, 16, 16], [128, 64, 3, 3], [2, 2], [1, 1]),
            // Ten blocks of rows per image.
            ([1, 64, 130, 129], [128, 64, 3, 3], [2, 2], [1, 1]),
            ([2, 5, 9, 8], [6, 5, 4, 4], [2, 2], [1, 1]),
            ([1, 3, 11, 10], [4, 3, 3, 3], [2, 2], [0, 0]),
            ([1, 4, 13, 12], [3, 4, 5, 3], [3, 2], [2, 1]),
            ([2, 3, 7, 7], [2, 3, 1, 1], [2, 2], [0, 0]),
            ([1, 2, 9, 9], [3, 2, 3, 3], [1, 1], [1, 1]),
            ([1, 2, 10, 9], [3, 2, 7, 7], [1, 1], [3, 3]),
            ([2, 4, 15, 15], [5, 4, 4, 4], [1, 1], [1, 1]),
            ([1, 2, 6, 6], [2, 2, 3, 3], [2, 2], [3, 3]),
            ([2, 3, 130, 66], [4, 3, 4, 4], [2, 2], [1, 1]),
            ([2, 128, 6, 5], [65, 128, 4, 4], [1, 1], [1, 1]),
            ([1, 256, 9, 8], [130, 256, 4, 4], [2, 2], [1, 1]),
        ];
        for (i, &(xs, ws, stride, pad)) in cases.iter().enumerate() {
            let g = ConvGeom::new(xs, ws, stride, pad).unwrap();
            let w = pseudo_random(ws.iter().product(), 10 + i as u64);
            let dy = pseudo_random(g.batch * g.c_out * g.out_plane(), 20 + i as u64);
            let want = gemm_conv::backward_data(&dy, &w, &g);
            let got = backward_data(&dy, &w, &g);
            let d = max_diff(&got, &want);
            let tol = 1e-6 * (g.c_out * g.k_h * g.k_w) as f32;
            assert!(d < tol, "case {i} ({g:?}): differs by {d}");
        }
    }
}
