//! Convolution on the CPU as im2col + one large GEMM per chunk of output rows, for the forward
//! pass and both gradients. burn's `flex` convolution tiles the output into 512-pixel GEMMs
//! and re-lays the input as NHWC on every call; at the official networks' shapes that runs at
//! ~40 GFLOP/s where the `gemm` crate reaches ~200 on the same cores once its operands are
//! large, so this module hands it whole feature maps.
//!
//! All tensors are dense NCHW `f32`; weights are PyTorch's `[c_out, c_in, k_h, k_w]`.

use super::scratch;
use super::simd;
use super::sum::sum_f64;
use rayon::prelude::*;

/// Im2col buffers are capped at this many floats (32 MiB): large enough that the GEMM's N is a
/// whole 64×64 feature map, small enough that a 7×7 convolution at 256² does not allocate
/// gigabytes.
const COL_CAP: usize = 8 << 20;

/// The shape of one convolution: input `[batch, c_in, in_h, in_w]`, weight
/// `[c_out, c_in, k_h, k_w]`, zero padding `pad` before and after, output `[batch, c_out, out_h,
/// out_w]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    pub batch: usize,
    pub c_in: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub c_out: usize,
    pub k_h: usize,
    pub k_w: usize,
    pub stride: [usize; 2],
    pub pad: [usize; 2],
    pub out_h: usize,
    pub out_w: usize,
}

impl ConvGeom {
    /// The geometry of this stride-1 convolution's input gradient as a forward convolution:
    /// from the output gradient (padded by k − 1 − p) back to the input's shape, channel axes
    /// swapped. The caller checks the padding is below the kernel size.
    pub(super) fn transposed(&self) -> Self {
        assert!(self.stride == [1, 1] && self.pad[0] < self.k_h && self.pad[1] < self.k_w);
        Self {
            batch: self.batch,
            c_in: self.c_out,
            in_h: self.out_h,
            in_w: self.out_w,
            c_out: self.c_in,
            k_h: self.k_h,
            k_w: self.k_w,
            stride: [1, 1],
            pad: [self.k_h - 1 - self.pad[0], self.k_w - 1 - self.pad[1]],
            out_h: self.in_h,
            out_w: self.in_w,
        }
    }

    /// The geometry of a convolution of `x` by `w`, or `None` when the kernel does not fit the
    /// padded input.
    pub fn new(x: [usize; 4], w: [usize; 4], stride: [usize; 2], pad: [usize; 2]) -> Option<Self> {
        let [batch, c_in, in_h, in_w] = x;
        let [c_out, w_c_in, k_h, k_w] = w;
        if w_c_in != c_in || stride.contains(&0) {
            return None;
        }
        let out = |size: usize, k: usize, s: usize, p: usize| {
            (size + 2 * p).checked_sub(k).map(|span| span / s + 1)
        };
        Some(Self {
            batch,
            c_in,
            in_h,
            in_w,
            c_out,
            k_h,
            k_w,
            stride,
            pad,
            out_h: out(in_h, k_h, stride[0], pad[0])?,
            out_w: out(in_w, k_w, stride[1], pad[1])?,
        })
    }

    /// Rows of the im2col matrix: one per (input channel, kernel row, kernel column).
    pub fn k(&self) -> usize {
        self.c_in * self.k_h * self.k_w
    }

    pub fn in_plane(&self) -> usize {
        self.in_h * self.in_w
    }

    pub fn out_plane(&self) -> usize {
        self.out_h * self.out_w
    }

    /// FLOPs of the forward pass (one multiply-add counted as two).
    pub fn flops(&self) -> f64 {
        2.0 * (self.batch * self.c_out * self.out_plane() * self.k()) as f64
    }

    /// 1×1, stride 1, no padding: the input already is its own im2col matrix.
    fn is_pointwise(&self) -> bool {
        self.k_h == 1 && self.k_w == 1 && self.stride == [1, 1] && self.pad == [0, 0]
    }

    /// Output rows per im2col chunk.
    fn chunk_rows(&self) -> usize {
        (COL_CAP / (self.k() * self.out_w).max(1)).clamp(1, self.out_h.max(1))
    }

    fn chunks(&self) -> impl Iterator<Item = (usize, usize)> + use<> {
        let (rows, out_h) = (self.chunk_rows(), self.out_h);
        (0..out_h)
            .step_by(rows)
            .map(move |y0| (y0, (y0 + rows).min(out_h)))
    }

    /// For kernel offset `kj`: the output columns `[lo, hi)` that read inside the input row
    /// (the rest read padding). Column `lo` reads input column `lo · stride + kj − pad`.
    pub(super) fn valid_cols(&self, kj: usize) -> (usize, usize) {
        let s = self.stride[1];
        let lo = self.pad[1].saturating_sub(kj).div_ceil(s).min(self.out_w);
        let hi = (self.in_w + self.pad[1])
            .saturating_sub(kj)
            .div_ceil(s)
            .clamp(lo, self.out_w);
        (lo, hi)
    }

    /// The input row a kernel row `ki` reads for output row `oy`, if inside the input.
    pub(super) fn in_row(&self, oy: usize, ki: usize) -> Option<usize> {
        (oy * self.stride[0] + ki)
            .checked_sub(self.pad[0])
            .filter(|&iy| iy < self.in_h)
    }

    /// The input column kernel column `kj` reads for output column `ox`, if inside the input
    /// (the tests' definition of a convolution; the kernels use [`ConvGeom::valid_cols`]).
    #[cfg(test)]
    fn in_col(&self, ox: usize, kj: usize) -> Option<usize> {
        (ox * self.stride[1] + kj)
            .checked_sub(self.pad[1])
            .filter(|&ix| ix < self.in_w)
    }
}

/// `dst = src_a · src_b` (or `dst += …` with `accumulate`), matrices given by pointer and
/// (row, column) strides, split over the global rayon pool when large enough.
///
/// # Safety
/// As [`gemm_on`].
#[allow(clippy::too_many_arguments)]
unsafe fn gemm(
    mnk: [usize; 3],
    dst: *mut f32,
    dst_rs: usize,
    accumulate: bool,
    a: *const f32,
    a_strides: [usize; 2],
    b: *const f32,
    b_strides: [usize; 2],
) {
    let threads = rayon::current_num_threads();
    let parallelism = if threads > 1 && mnk.iter().product::<usize>() >= 1 << 15 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: forwarded from the caller.
    unsafe {
        gemm_on(
            parallelism,
            mnk,
            dst,
            dst_rs,
            accumulate,
            a,
            a_strides,
            b,
            b_strides,
        )
    }
}

/// [`gemm`] with the threading chosen by the caller: `dst` (`[m, n]`, row stride `dst_rs`)
/// `= a · b` or `+= a · b`, `a` `[m, k]` and `b` `[k, n]` given by (row, column) strides.
///
/// # Safety
/// Every pointer must be valid for the elements its shape and strides reach, and `dst` must not
/// overlap the sources.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm_on(
    parallelism: gemm::Parallelism,
    [m, n, k]: [usize; 3],
    dst: *mut f32,
    dst_rs: usize,
    accumulate: bool,
    a: *const f32,
    [a_rs, a_cs]: [usize; 2],
    b: *const f32,
    [b_rs, b_cs]: [usize; 2],
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            accumulate,
            a,
            a_cs as isize,
            a_rs as isize,
            b,
            b_cs as isize,
            b_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Fills `col` (`[k, (y1 - y0) · out_w]`) with the im2col matrix of output rows `[y0, y1)` of
/// one image.
fn im2col(x: &[f32], g: &ConvGeom, rows: (usize, usize), col: &mut [f32]) {
    let n = (rows.1 - rows.0) * g.out_w;
    col.par_chunks_mut(n).enumerate().for_each(|(r, row)| {
        simd::dispatch(
            #[inline(always)]
            || im2col_row(x, g, rows, r, row),
        )
    });
}

/// [`im2col`] on the calling thread, for a task that runs its own GEMM.
fn im2col_serial(x: &[f32], g: &ConvGeom, rows: (usize, usize), col: &mut [f32]) {
    let n = (rows.1 - rows.0) * g.out_w;
    simd::dispatch(
        #[inline(always)]
        || {
            for (r, row) in col.chunks_exact_mut(n).enumerate() {
                im2col_row(x, g, rows, r, row);
            }
        },
    )
}

/// Row `r` (input channel, kernel row, kernel column) of the im2col matrix of output rows
/// `[y0, y1)`.
#[inline(always)]
fn im2col_row(x: &[f32], g: &ConvGeom, (y0, y1): (usize, usize), r: usize, row: &mut [f32]) {
    let kk = g.k_h * g.k_w;
    let (ci, ki, kj) = (r / kk, (r % kk) / g.k_w, r % g.k_w);
    let plane = &x[ci * g.in_plane()..][..g.in_plane()];
    for (oy, dst) in (y0..y1).zip(row.chunks_exact_mut(g.out_w)) {
        let Some(iy) = g.in_row(oy, ki) else {
            dst.fill(0.0);
            continue;
        };
        let src = &plane[iy * g.in_w..][..g.in_w];
        let (lo, hi) = g.valid_cols(kj);
        dst[..lo].fill(0.0);
        dst[hi..].fill(0.0);
        if lo == hi {
            continue;
        }
        let first = lo * g.stride[1] + kj - g.pad[1];
        if g.stride[1] == 1 {
            dst[lo..hi].copy_from_slice(&src[first..first + (hi - lo)]);
        } else {
            let src = src[first..].iter().step_by(g.stride[1]);
            dst[lo..hi].iter_mut().zip(src).for_each(|(d, s)| *d = *s);
        }
    }
}

/// Adds the im2col-shaped `col` of output rows `[y0, y1)` back onto the image `dx` it was
/// taken from (the adjoint of [`im2col`]).
fn col2im_add(col: &[f32], g: &ConvGeom, (y0, y1): (usize, usize), dx: &mut [f32]) {
    let n = (y1 - y0) * g.out_w;
    let kk = g.k_h * g.k_w;
    dx.par_chunks_mut(g.in_plane())
        .enumerate()
        .for_each(|(ci, plane)| {
            simd::dispatch(
                #[inline(always)]
                || {
                    for kr in 0..kk {
                        let (ki, kj) = (kr / g.k_w, kr % g.k_w);
                        let row = &col[(ci * kk + kr) * n..][..n];
                        for (oy, src) in (y0..y1).zip(row.chunks_exact(g.out_w)) {
                            let Some(iy) = g.in_row(oy, ki) else { continue };
                            let dst = &mut plane[iy * g.in_w..][..g.in_w];
                            let (lo, hi) = g.valid_cols(kj);
                            if lo == hi {
                                continue;
                            }
                            let first = lo * g.stride[1] + kj - g.pad[1];
                            let src = &src[lo..hi];
                            if g.stride[1] == 1 {
                                let dst = &mut dst[first..first + src.len()];
                                dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
                            } else {
                                let dst = dst[first..].iter_mut().step_by(g.stride[1]);
                                dst.zip(src).for_each(|(d, s)| *d += s);
                            }
                        }
                    }
                },
            )
        });
}

/// The forward GEMM over whole feature maps (up to [`COL_CAP`]), each split over the threads.
fn forward_whole(x: &[f32], w: &[f32], g: &ConvGeom, y: &mut [f32]) {
    let (k, p) = (g.k(), g.out_plane());
    let mut col = Vec::new();
    for b in 0..g.batch {
        let x_b = &x[b * g.c_in * g.in_plane()..][..g.c_in * g.in_plane()];
        let y_b = &mut y[b * g.c_out * p..][..g.c_out * p];
        for (y0, y1) in g.chunks() {
            let n = (y1 - y0) * g.out_w;
            let rhs = if g.is_pointwise() {
                &x_b[y0 * g.out_w..]
            } else {
                col.resize(k * n, 0.0);
                im2col(x_b, g, (y0, y1), &mut col);
                &col[..]
            };
            let rhs_rs = if g.is_pointwise() { p } else { n };
            // SAFETY: y_b is [c_out, p] and receives columns [y0·out_w, y1·out_w); w is
            // [c_out, k]; rhs is [k, n] with row stride rhs_rs.
            unsafe {
                gemm(
                    [g.c_out, n, k],
                    y_b[y0 * g.out_w..].as_mut_ptr(),
                    p,
                    false,
                    w.as_ptr(),
                    [k, 1],
                    rhs.as_ptr(),
                    [rhs_rs, 1],
                );
            }
        }
    }
}

/// Output pixels of a task of [`forward_in_tasks`]: its im2col block (k × pixels floats)
/// stays within the core's L2 (1 MiB of 2).
pub(super) const TASK_COL: usize = 256 << 10;

/// Layers whose weights (c_out × k floats) are at most this run in tasks: each task packs the
/// weights again for its GEMM.
pub(super) const TASK_WEIGHTS: usize = 1 << 17;

/// Output rows per task block: its im2col matrix (k × rows · out_w floats) within
/// [`TASK_COL`].
fn task_rows(g: &ConvGeom) -> usize {
    (TASK_COL / (g.k() * g.out_w).max(1)).clamp(1, g.out_h.max(1))
}

/// Every image's output rows in blocks of `rows`: (image, first row, end row).
fn row_blocks(g: &ConvGeom, rows: usize) -> Vec<(usize, usize, usize)> {
    (0..g.batch)
        .flat_map(|b| {
            (0..g.out_h)
                .step_by(rows)
                .map(move |y0| (b, y0, (y0 + rows).min(g.out_h)))
        })
        .collect()
}

/// The forward pass as independent tasks of a few output rows, each with its own im2col
/// block and a single-threaded GEMM: the block is written and read in L2, where one large
/// im2col matrix shared by a multi-threaded GEMM goes through memory.
fn forward_in_tasks(x: &[f32], w: &[f32], g: &ConvGeom, y: &mut [f32]) {
    let (k, p) = (g.k(), g.out_plane());
    let rows = task_rows(g);
    let tasks = row_blocks(g, rows);
    let dst = SendPtr(y.as_mut_ptr());
    tasks.into_par_iter().for_each(|(b, y0, y1)| {
        let n = (y1 - y0) * g.out_w;
        let x_b = &x[b * g.c_in * g.in_plane()..][..g.c_in * g.in_plane()];
        let mut col = scratch::take(k * n);
        im2col_serial(x_b, g, (y0, y1), &mut col);
        // SAFETY: the task writes columns [y0·out_w, y1·out_w) of image b's [c_out, p] planes,
        // which no other task writes; w is [c_out, k]; col is [k, n].
        unsafe {
            gemm_on(
                gemm::Parallelism::None,
                [g.c_out, n, k],
                dst.get().add(b * g.c_out * p + y0 * g.out_w),
                p,
                false,
                w.as_ptr(),
                [k, 1],
                col.as_ptr(),
                [n, 1],
            );
        }
    });
}

/// `y = conv(x, w) + bias`.
pub fn forward(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &ConvGeom) -> Vec<f32> {
    let (k, p) = (g.k(), g.out_plane());
    assert_eq!(x.len(), g.batch * g.c_in * g.in_plane(), "input size");
    assert_eq!(w.len(), g.c_out * k, "weight size");
    let mut y = vec![0.0f32; g.batch * g.c_out * p];
    if !g.is_pointwise() && g.c_out * k <= TASK_WEIGHTS {
        forward_in_tasks(x, w, g, &mut y);
    } else {
        forward_whole(x, w, g, &mut y);
    }
    if let Some(bias) = bias {
        y.par_chunks_mut(p).enumerate().for_each(|(i, plane)| {
            simd::dispatch(
                #[inline(always)]
                || {
                    let v = bias[i % g.c_out];
                    plane.iter_mut().for_each(|e| *e += v);
                },
            )
        });
    }
    y
}

/// The gradient of [`forward`] with respect to `x`, given the output gradient `dy`.
pub fn backward_data(dy: &[f32], w: &[f32], g: &ConvGeom) -> Vec<f32> {
    let (k, p) = (g.k(), g.out_plane());
    assert_eq!(dy.len(), g.batch * g.c_out * p, "output gradient size");
    assert_eq!(w.len(), g.c_out * k, "weight size");
    let mut dx = vec![0.0f32; g.batch * g.c_in * g.in_plane()];
    let mut dcol = Vec::new();
    for b in 0..g.batch {
        let dy_b = &dy[b * g.c_out * p..][..g.c_out * p];
        let dx_b = &mut dx[b * g.c_in * g.in_plane()..][..g.c_in * g.in_plane()];
        for (y0, y1) in g.chunks() {
            let n = (y1 - y0) * g.out_w;
            // dcol = wᵀ · dy: wᵀ[r, co] = w[co · k + r].
            let (dst, dst_rs) = if g.is_pointwise() {
                (dx_b[y0 * g.out_w..].as_mut_ptr(), p)
            } else {
                dcol.resize(k * n, 0.0);
                (dcol.as_mut_ptr(), n)
            };
            // SAFETY: dst is [k, n] with row stride dst_rs; w is [c_out, k] read transposed;
            // dy_b's columns [y0·out_w, y1·out_w) form [c_out, n] with row stride p.
            unsafe {
                gemm(
                    [k, n, g.c_out],
                    dst,
                    dst_rs,
                    false,
                    w.as_ptr(),
                    [1, k],
                    dy_b[y0 * g.out_w..].as_ptr(),
                    [p, 1],
                );
            }
            if !g.is_pointwise() {
                col2im_add(&dcol, g, (y0, y1), dx_b);
            }
        }
    }
    dx
}

/// Whether [`backward_data_turned`] handles this convolution: stride 1, padding narrower than
/// the kernel on both axes.
pub fn turned_applies(g: &ConvGeom) -> bool {
    g.stride == [1, 1] && g.pad[0] < g.k_h && g.pad[1] < g.k_w
}

/// The gradient of [`forward`] with respect to `x` for a geometry [`turned_applies`] accepts,
/// as the forward convolution of `dy`, padded by k − 1 − p, with the kernels turned 180° and
/// their channel axes swapped. Where the layer has few output channels (the generator's 7×7
/// head, 64 → 3) this GEMM is as deep as `dy` has channels times taps, where
/// [`backward_data`]'s is only as deep as `dy` has channels.
pub fn backward_data_turned(dy: &[f32], w: &[f32], g: &ConvGeom) -> Vec<f32> {
    assert!(turned_applies(g), "stride 1, padding below the kernel size");
    let kk = g.k_h * g.k_w;
    let mut turned = vec![0.0f32; w.len()];
    for (oi, kernel) in w.chunks_exact(kk).enumerate() {
        let (o, i) = (oi / g.c_in, oi % g.c_in);
        let dst = &mut turned[(i * g.c_out + o) * kk..][..kk];
        dst.iter_mut()
            .zip(kernel.iter().rev())
            .for_each(|(d, s)| *d = *s);
    }
    let gt = g.transposed();
    forward(dy, &turned, None, &gt)
}

/// The gradient of [`forward`] with respect to `w`, given the input `x` and output gradient `dy`.
pub fn backward_weight(x: &[f32], dy: &[f32], g: &ConvGeom) -> Vec<f32> {
    let (k, p) = (g.k(), g.out_plane());
    assert_eq!(x.len(), g.batch * g.c_in * g.in_plane(), "input size");
    assert_eq!(dy.len(), g.batch * g.c_out * p, "output gradient size");
    if !g.is_pointwise() && g.c_out * k <= TASK_WEIGHTS {
        return backward_weight_in_tasks(x, dy, g);
    }
    let mut dw = vec![0.0f32; g.c_out * k];
    let mut col = Vec::new();
    for b in 0..g.batch {
        let x_b = &x[b * g.c_in * g.in_plane()..][..g.c_in * g.in_plane()];
        let dy_b = &dy[b * g.c_out * p..][..g.c_out * p];
        for (y0, y1) in g.chunks() {
            let n = (y1 - y0) * g.out_w;
            let (col_ptr, col_rs) = if g.is_pointwise() {
                (x_b[y0 * g.out_w..].as_ptr(), p)
            } else {
                col.resize(k * n, 0.0);
                im2col(x_b, g, (y0, y1), &mut col);
                (col.as_ptr(), n)
            };
            // dw += dy · colᵀ.
            // SAFETY: dy_b's chunk is [c_out, n] with row stride p; col is [k, n] with row
            // stride col_rs, read transposed.
            unsafe {
                accumulate_split_k(
                    &mut dw,
                    [g.c_out, k, n],
                    dy_b[y0 * g.out_w..].as_ptr(),
                    p,
                    col_ptr,
                    col_rs,
                );
            }
        }
    }
    dw
}

/// The weight gradient of a layer with small weights as one task per thread over blocks of
/// a few output rows: each block's im2col matrix is written and read in L2 (where the whole
/// map's goes through memory), and its product added to the task's own gradient, which stays
/// in L2 too. The tasks take fixed, contiguous runs of blocks and their sums are added in
/// order, so the result does not depend on scheduling.
fn backward_weight_in_tasks(x: &[f32], dy: &[f32], g: &ConvGeom) -> Vec<f32> {
    let (k, p) = (g.k(), g.out_plane());
    let rows = task_rows(g);
    let blocks = row_blocks(g, rows);
    let parts = rayon::current_num_threads().clamp(1, blocks.len().max(1));
    let per_part = blocks.len().div_ceil(parts).max(1);
    let partials: Vec<Vec<f32>> = blocks
        .par_chunks(per_part)
        .map(|run| {
            let mut dw = vec![0.0f32; g.c_out * k];
            let mut col = scratch::take(k * rows * g.out_w);
            for (i, &(b, y0, y1)) in run.iter().enumerate() {
                let n = (y1 - y0) * g.out_w;
                let x_b = &x[b * g.c_in * g.in_plane()..][..g.c_in * g.in_plane()];
                let dy_b = &dy[b * g.c_out * p..][..g.c_out * p];
                im2col_serial(x_b, g, (y0, y1), &mut col[..k * n]);
                // dw (+)= dy · colᵀ for the block's n pixels.
                // SAFETY: dw is [c_out, k] dense; dy_b's columns [y0·out_w, y1·out_w) form
                // [c_out, n] with row stride p; col is [k, n], read transposed.
                unsafe {
                    gemm_on(
                        gemm::Parallelism::None,
                        [g.c_out, k, n],
                        dw.as_mut_ptr(),
                        k,
                        i > 0,
                        dy_b[y0 * g.out_w..].as_ptr(),
                        [p, 1],
                        col.as_ptr(),
                        [1, n],
                    );
                }
            }
            dw
        })
        .collect();
    let mut partials = partials.into_iter();
    let mut dw = partials.next().unwrap_or_else(|| vec![0.0f32; g.c_out * k]);
    for part in partials {
        dw.iter_mut().zip(&part).for_each(|(d, p)| *d += p);
    }
    dw
}

/// `dst += a · bᵀ` (`dst` `[m, n]` dense, `a` `[m, k]` and `b` `[n, k]` with row strides
/// `a_rs`, `b_rs`). The weight gradient's products are short and wide (k is every pixel), and
/// the `gemm` crate splits them poorly over threads (105 GFLOP/s on 2 threads against 91 on
/// one, measured at 128×576×4096); here each thread takes a slice of k into a buffer of its
/// own, and the buffers are added in order.
///
/// # Safety
/// `a` and `b` must be valid for the elements their shapes and strides reach.
unsafe fn accumulate_split_k(
    dst: &mut [f32],
    [m, n, k]: [usize; 3],
    a: *const f32,
    a_rs: usize,
    b: *const f32,
    b_rs: usize,
) {
    /// Columns of k below which a thread's share is not worth a buffer.
    const MIN_SHARE: usize = 512;
    assert_eq!(dst.len(), m * n);
    let parts = rayon::current_num_threads().min(k / MIN_SHARE).max(1);
    if parts == 1 {
        // SAFETY: forwarded from the caller; dst is [m, n] dense.
        unsafe {
            gemm(
                [m, n, k],
                dst.as_mut_ptr(),
                n,
                true,
                a,
                [a_rs, 1],
                b,
                [1, b_rs],
            )
        };
        return;
    }
    let (a, b) = (SendPtr(a), SendPtr(b));
    let share = k.div_ceil(parts);
    let partials: Vec<Vec<f32>> = (0..parts)
        .into_par_iter()
        .map(|t| {
            let (k0, k1) = (t * share, ((t + 1) * share).min(k));
            let mut part = vec![0.0f32; m * n];
            // SAFETY: columns [k0, k1) of a and b lie inside their shapes.
            unsafe {
                gemm_on(
                    gemm::Parallelism::None,
                    [m, n, k1 - k0],
                    part.as_mut_ptr(),
                    n,
                    false,
                    a.get().add(k0),
                    [a_rs, 1],
                    b.get().add(k0),
                    [1, b_rs],
                );
            }
            part
        })
        .collect();
    for part in partials {
        dst.iter_mut().zip(&part).for_each(|(d, p)| *d += p);
    }
}

/// A raw pointer that may cross threads: the threads given it either write disjoint parts of
/// what it points to or only read, and are joined before the owner touches the data again.
#[derive(Clone, Copy)]
pub(super) struct SendPtr<P>(pub(super) P);
// SAFETY: see the type's documentation; every use states its disjointness.
unsafe impl<T> Send for SendPtr<*mut T> {}
unsafe impl<T> Sync for SendPtr<*mut T> {}
unsafe impl<T> Send for SendPtr<*const T> {}
unsafe impl<T> Sync for SendPtr<*const T> {}

impl<P: Copy> SendPtr<P> {
    /// Through a method, so that closures capture the whole (Send) wrapper, not its field.
    pub(super) fn get(self) -> P {
        self.0
    }
}

/// The gradient of the bias: `dy` summed over the batch and the pixels.
pub fn backward_bias(dy: &[f32], batch: usize, channels: usize) -> Vec<f32> {
    let plane = dy.len() / (batch * channels).max(1);
    let per_plane: Vec<f64> = dy
        .par_chunks(plane.max(1))
        .map(|c| {
            simd::dispatch(
                #[inline(always)]
                || sum_f64(c, |v| v as f64),
            )
        })
        .collect();
    (0..channels)
        .map(|c| (0..batch).map(|b| per_plane[b * channels + c]).sum::<f64>() as f32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::test_util::pseudo_random;
    use super::*;

    /// The definition of a convolution, one output at a time.
    fn naive(x: &[f32], w: &[f32], g: &ConvGeom) -> Vec<f32> {
        let mut y = vec![0.0f32; g.batch * g.c_out * g.out_plane()];
        for b in 0..g.batch {
            for co in 0..g.c_out {
                for oy in 0..g.out_h {
                    for ox in 0..g.out_w {
                        let mut acc = 0.0f64;
                        for ci in 0..g.c_in {
                            for ki in 0..g.k_h {
                                for kj in 0..g.k_w {
                                    if let (Some(iy), Some(ix)) =
                                        (g.in_row(oy, ki), g.in_col(ox, kj))
                                    {
                                        let xv = x[((b * g.c_in + ci) * g.in_h + iy) * g.in_w + ix];
                                        let wv = w[((co * g.c_in + ci) * g.k_h + ki) * g.k_w + kj];
                                        acc += (xv * wv) as f64;
                                    }
                                }
                            }
                        }
                        y[((b * g.c_out + co) * g.out_h + oy) * g.out_w + ox] = acc as f32;
                    }
                }
            }
        }
        y
    }

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
    }

    /// Input shape, weight shape, stride, padding.
    type Case = ([usize; 4], [usize; 4], [usize; 2], [usize; 2]);

    const SHAPES: &[Case] = &[
        ([2, 3, 9, 11], [4, 3, 3, 3], [1, 1], [1, 1]),
        ([1, 5, 8, 8], [6, 5, 4, 4], [2, 2], [1, 1]),
        ([2, 4, 7, 6], [3, 4, 4, 4], [1, 1], [1, 1]),
        ([1, 3, 10, 10], [2, 3, 7, 7], [1, 1], [0, 0]),
        ([1, 6, 5, 5], [7, 6, 1, 1], [1, 1], [0, 0]),
        ([1, 4, 9, 9], [5, 4, 3, 3], [2, 2], [1, 1]),
        ([1, 2, 3, 3], [3, 2, 4, 4], [2, 2], [1, 1]),
        // Over 1024 output pixels: the weight gradient splits its sum over threads.
        ([1, 2, 40, 40], [3, 2, 3, 3], [1, 1], [1, 1]),
        ([2, 2, 70, 66], [3, 2, 4, 4], [2, 2], [1, 1]),
        // The weight gradient's tasks: several blocks of output rows per image, and runs of
        // blocks that cross from one image to the next.
        ([3, 9, 130, 130], [4, 9, 4, 4], [2, 2], [1, 1]),
        // Weights above TASK_WEIGHTS: the forward GEMM runs over whole maps.
        ([2, 128, 5, 4], [65, 128, 4, 4], [1, 1], [1, 1]),
    ];

    #[test]
    fn forward_matches_the_definition() {
        assert!(
            SHAPES
                .iter()
                .any(|&(_, [o, i, kh, kw], ..)| o * i * kh * kw > TASK_WEIGHTS)
        );
        for (i, &(xs, ws, stride, pad)) in SHAPES.iter().enumerate() {
            let g = ConvGeom::new(xs, ws, stride, pad).unwrap();
            let x = pseudo_random(xs.iter().product(), i as u64);
            let w = pseudo_random(ws.iter().product(), 100 + i as u64);
            let bias = pseudo_random(ws[0], 200 + i as u64);
            let got = forward(&x, &w, Some(&bias), &g);
            let want = naive(&x, &w, &g);
            for (j, (a, b)) in got.iter().zip(&want).enumerate() {
                let b = b + bias[(j / g.out_plane()) % g.c_out];
                assert!((a - b).abs() < 1e-4, "shape {i} at {j}: {a} vs {b}");
            }
        }
    }

    /// The gradients are the adjoints of the forward map: <conv(x, w), dy> equals both
    /// <x, backward_data(dy, w)> and <w, backward_weight(x, dy)>.
    #[test]
    fn gradients_are_adjoints() {
        for (i, &(xs, ws, stride, pad)) in SHAPES.iter().enumerate() {
            let g = ConvGeom::new(xs, ws, stride, pad).unwrap();
            let x = pseudo_random(xs.iter().product(), 300 + i as u64);
            let w = pseudo_random(ws.iter().product(), 400 + i as u64);
            let dy = pseudo_random(g.batch * g.c_out * g.out_plane(), 500 + i as u64);
            let y = forward(&x, &w, None, &g);
            let lhs = dot(&y, &dy);
            let dx = backward_data(&dy, &w, &g);
            let dw = backward_weight(&x, &dy, &g);
            let tol = 1e-4 * lhs.abs().max(1.0);
            assert!((dot(&x, &dx) - lhs).abs() < tol, "shape {i}: data gradient");
            assert!(
                (dot(&w, &dw) - lhs).abs() < tol,
                "shape {i}: weight gradient"
            );
        }
    }

    /// The turned forward gives the transposed GEMM's input gradient, for every stride-1 case
    /// (rectangular kernels and unequal padding too).
    #[test]
    fn turned_input_gradient_matches_the_transposed_gemm() {
        let cases: &[Case] = &[
            ([2, 64, 14, 13], [3, 64, 7, 7], [1, 1], [0, 0]),
            ([1, 5, 9, 8], [1, 5, 4, 4], [1, 1], [1, 1]),
            ([1, 3, 6, 9], [2, 3, 3, 5], [1, 1], [2, 1]),
        ];
        for (i, &(xs, ws, stride, pad)) in SHAPES.iter().chain(cases).enumerate() {
            let g = ConvGeom::new(xs, ws, stride, pad).unwrap();
            if !turned_applies(&g) {
                continue;
            }
            let w = pseudo_random(ws.iter().product(), 600 + i as u64);
            let dy = pseudo_random(g.batch * g.c_out * g.out_plane(), 700 + i as u64);
            let want = backward_data(&dy, &w, &g);
            let got = backward_data_turned(&dy, &w, &g);
            assert_eq!(got.len(), want.len());
            for (j, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!((a - b).abs() < 1e-4, "shape {i} at {j}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn bias_gradient_sums_batch_and_pixels() {
        let dy: Vec<f32> = (0..2 * 3 * 4).map(|v| v as f32).collect();
        // Channel c of image b holds 4 values starting at (b·3 + c)·4.
        let want: Vec<f32> = (0..3)
            .map(|c| {
                (0..2)
                    .map(|b| ((b * 3 + c) * 4..(b * 3 + c) * 4 + 4).sum::<usize>())
                    .sum::<usize>() as f32
            })
            .collect();
        assert_eq!(backward_bias(&dy, 2, 3), want);
        // Planes of 37: two whole groups of 16 lanes and a tail; integers sum exactly.
        let dy: Vec<f32> = (0..2 * 37).map(|v| (v % 11) as f32 - 5.0).collect();
        let want = [dy.iter().map(|&v| v as f64).sum::<f64>() as f32];
        assert_eq!(backward_bias(&dy, 2, 1), want);
    }

    #[test]
    fn chunking_covers_every_row_once() {
        let g = ConvGeom::new([1, 512, 200, 200], [4, 512, 7, 7], [1, 1], [3, 3]).unwrap();
        let rows: Vec<(usize, usize)> = g.chunks().collect();
        assert!(rows.len() > 1, "this shape must need several chunks");
        assert_eq!(rows.first().unwrap().0, 0);
        assert_eq!(rows.last().unwrap().1, g.out_h);
        assert!(rows.windows(2).all(|w| w[0].1 == w[1].0));
    }
}
