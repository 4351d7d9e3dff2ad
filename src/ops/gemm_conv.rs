//! Convolution on the CPU as im2col + GEMM, for the forward pass and both gradients: one
//! large GEMM per chunk of output rows, or, for layers with small weights, independent tasks
//! of a few rows whose im2col blocks stay in L2. burn's `flex` convolution tiles the output
//! into 512-pixel GEMMs and re-lays the input as NHWC on every call; at the official
//! networks' shapes that runs at ~40 GFLOP/s where the `gemm` crate reaches ~200 on the same
//! cores once its operands are large, so this module hands it whole feature maps.
//!
//! All tensors are dense NCHW `f32`; weights are PyTorch's `[c_out, c_in, k_h, k_w]`.

use super::gemm::{accumulate_split_k, gemm, gemm_on};
use super::geom::ConvGeom;
use super::norm::Activation;
use super::scratch;
use super::send_ptr::SendPtr;
use super::simd;
use super::sum::sum_f64;
use rayon::prelude::*;

/// Im2col buffers are capped at this many floats (32 MiB): large enough that the GEMM's N is a
/// whole 64×64 feature map, small enough that a 7×7 convolution at 256² does not allocate
/// gigabytes.
const COL_CAP: usize = 8 << 20;

/// Output rows per im2col chunk of `g`.
fn chunk_rows(g: &ConvGeom) -> usize {
    (COL_CAP / (g.k() * g.out_w).max(1)).clamp(1, g.out_h.max(1))
}

/// `g`'s output rows in chunks whose im2col matrix fits [`COL_CAP`]: `[y0, y1)`.
fn chunks(g: &ConvGeom) -> impl Iterator<Item = (usize, usize)> + use<> {
    let (rows, out_h) = (chunk_rows(g), g.out_h);
    (0..out_h)
        .step_by(rows)
        .map(move |y0| (y0, (y0 + rows).min(out_h)))
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
        for (y0, y1) in chunks(g) {
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
    forward_activated(x, w, bias, Activation::Identity, g)
}

/// `y = act(conv(x, w) + bias)`, the activation in the pass that adds the bias.
pub fn forward_activated(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    g: &ConvGeom,
) -> Vec<f32> {
    let (k, p) = (g.k(), g.out_plane());
    assert_eq!(x.len(), g.batch * g.c_in * g.in_plane(), "input size");
    assert_eq!(w.len(), g.c_out * k, "weight size");
    let mut y = vec![0.0f32; g.batch * g.c_out * p];
    if batched_applies(g) {
        // The bias and activation come with the GEMM's scatter.
        forward_batched(x, w, bias, act, g, &mut y);
        return y;
    }
    if !g.is_pointwise() && g.c_out * k <= TASK_WEIGHTS {
        forward_in_tasks(x, w, g, &mut y);
    } else {
        forward_whole(x, w, g, &mut y);
    }
    if bias.is_some() || act != Activation::Identity {
        y.par_chunks_mut(p).enumerate().for_each(|(i, plane)| {
            let b = bias.map_or(0.0, |bias| bias[i % g.c_out]);
            simd::dispatch(
                #[inline(always)]
                || epilogue_in_place(plane, b, act),
            )
        });
    }
    y
}

/// Output planes of at most this many pixels run with several images side by side in one
/// GEMM ([`forward_batched`]) when their weights are too large for [`forward_in_tasks`]: one
/// image's plane makes a narrow GEMM (Inception's 17×17 and 8×8 grids give N = 289 and 64)
/// that two threads split poorly, and each per-image call packs the weights again. 1×1
/// layers stay with [`forward_whole`], which reads their input in place: gathering it into
/// one matrix cost more than it saved (measured on Inception's layers at batch 16).
const BATCHED_PLANE: usize = 1536;

/// Whether [`forward`] runs `g` through [`forward_batched`]: more than one image, small planes,
/// a spatial kernel with large weights.
fn batched_applies(g: &ConvGeom) -> bool {
    g.batch > 1
        && g.out_plane() <= BATCHED_PLANE
        && !g.is_pointwise()
        && g.c_out * g.k() > TASK_WEIGHTS
}

/// Images per GEMM of [`forward_batched`]: as many as keep its im2col matrix within
/// [`COL_CAP`], at least one.
fn batched_images(g: &ConvGeom) -> usize {
    (COL_CAP / (g.k() * g.out_plane()).max(1)).clamp(1, g.batch.max(1))
}

/// The forward pass with several images side by side in the GEMM's columns: `col`
/// (`[k, images · p]`) holds each image's im2col matrix at column `j · p`, one GEMM over all the threads makes `[c_out, images · p]`, and
/// [`scatter_planes`] lays that back out as NCHW with the bias and activation.
fn forward_batched(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    g: &ConvGeom,
    y: &mut [f32],
) {
    let (k, p, x_len) = (g.k(), g.out_plane(), g.c_in * g.in_plane());
    let per_gemm = batched_images(g);
    let mut col = scratch::take(k * per_gemm * p);
    let mut prod = scratch::take(g.c_out * per_gemm * p);
    for b0 in (0..g.batch).step_by(per_gemm) {
        let images = per_gemm.min(g.batch - b0);
        let n = images * p;
        let image = |j: usize| &x[(b0 + j) * x_len..][..x_len];
        col[..k * n]
            .par_chunks_mut(n)
            .enumerate()
            .for_each(|(r, row)| {
                simd::dispatch(
                    #[inline(always)]
                    || {
                        for (j, dst) in row.chunks_exact_mut(p).enumerate() {
                            im2col_row(image(j), g, (0, g.out_h), r, dst);
                        }
                    },
                )
            });
        // SAFETY: prod is [c_out, n] dense; w is [c_out, k]; col is [k, n] dense.
        unsafe {
            gemm(
                [g.c_out, n, k],
                prod.as_mut_ptr(),
                n,
                false,
                w.as_ptr(),
                [k, 1],
                col.as_ptr(),
                [n, 1],
            );
        }
        let y_b = &mut y[b0 * g.c_out * p..][..n * g.c_out];
        scatter_planes(&prod[..g.c_out * n], [images, g.c_out, p], bias, act, y_b);
    }
}

/// `y[j][c] = act(prod[c][j] + bias[c])` on planes of `p` floats: `prod` is
/// `[channels, images, p]`, `y` is `[images, channels, p]`.
fn scatter_planes(
    prod: &[f32],
    [images, channels, p]: [usize; 3],
    bias: Option<&[f32]>,
    act: Activation,
    y: &mut [f32],
) {
    y.par_chunks_mut(p).enumerate().for_each(|(jc, dst)| {
        let (j, c) = (jc / channels, jc % channels);
        let src = &prod[(c * images + j) * p..][..p];
        let b = bias.map_or(0.0, |bias| bias[c]);
        simd::dispatch(
            #[inline(always)]
            || {
                dst.copy_from_slice(src);
                epilogue_in_place(dst, b, act);
            },
        )
    });
}

/// `v = act(v)` in place, over the threads.
pub fn activate_in_place(v: &mut [f32], act: Activation) {
    /// Floats per task: large enough that a task outweighs its scheduling.
    const TASK: usize = 1 << 14;
    v.par_chunks_mut(TASK).for_each(|part| {
        simd::dispatch(
            #[inline(always)]
            || epilogue_in_place(part, 0.0, act),
        )
    });
}

/// `v = act(v + bias)`, each activation its own loop so that every one vectorises.
#[inline(always)]
fn epilogue_in_place(v: &mut [f32], bias: f32, act: Activation) {
    match act {
        Activation::Identity => v.iter_mut().for_each(|e| *e += bias),
        Activation::Relu => v
            .iter_mut()
            .for_each(|e| *e = Activation::Relu.apply(*e + bias)),
        Activation::LeakyRelu(slope) => v
            .iter_mut()
            .for_each(|e| *e = Activation::LeakyRelu(slope).apply(*e + bias)),
    }
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
        for (y0, y1) in chunks(g) {
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
        for (y0, y1) in chunks(g) {
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

    /// The batched GEMM with ReLU against the definition: the Inception's 1×7 and 7×1 kernels,
    /// a strided 3×3, and a batch the im2col cap splits over GEMMs (weights over
    /// TASK_WEIGHTS in each, as the path requires).
    #[test]
    fn batched_forward_matches_the_definition() {
        let cases: &[Case] = &[
            ([3, 64, 9, 7], [300, 64, 1, 7], [1, 1], [0, 3]),
            ([4, 64, 7, 9], [300, 64, 7, 1], [1, 1], [3, 0]),
            ([2, 128, 9, 9], [120, 128, 3, 3], [2, 2], [0, 0]),
            // k · p over half of COL_CAP: one image per GEMM.
            ([2, 512, 32, 32], [30, 512, 3, 3], [1, 1], [1, 1]),
        ];
        for (i, &(xs, ws, stride, pad)) in cases.iter().enumerate() {
            let g = ConvGeom::new(xs, ws, stride, pad).unwrap();
            assert!(batched_applies(&g), "case {i} takes the batched path");
            if i == cases.len() - 1 {
                assert!(batched_images(&g) < g.batch, "case {i} needs several GEMMs");
            }
            let x = pseudo_random(xs.iter().product(), 300 + i as u64);
            let w = pseudo_random(ws.iter().product(), 400 + i as u64);
            let bias = pseudo_random(ws[0], 500 + i as u64);
            let got = forward_activated(&x, &w, Some(&bias), Activation::Relu, &g);
            let want = naive(&x, &w, &g);
            // f32 sums of k products drift from the f64 definition by about √k ulps.
            let tol = 1e-5 * (g.k() as f32).sqrt();
            for (j, (a, b)) in got.iter().zip(&want).enumerate() {
                let b = (b + bias[(j / g.out_plane()) % g.c_out]).max(0.0);
                assert!((a - b).abs() < tol, "case {i} at {j}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn chunking_covers_every_row_once() {
        let g = ConvGeom::new([1, 512, 200, 200], [4, 512, 7, 7], [1, 1], [3, 3]).unwrap();
        let rows: Vec<(usize, usize)> = chunks(&g).collect();
        assert!(rows.len() > 1, "this shape must need several chunks");
        assert_eq!(rows.first().unwrap().0, 0);
        assert_eq!(rows.last().unwrap().1, g.out_h);
        assert!(rows.windows(2).all(|w| w[0].1 == w[1].0));
    }
}
