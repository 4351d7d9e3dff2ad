//! Winograd F(m×m, 3×3) convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural
//! Networks", 2016) for the 3×3 stride-1 convolutions that are most of the ResNet generator's
//! work, with both gradients.
//!
//! Each m×m output tile is `Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A` for the (m+2)×(m+2) input tile
//! `d`; summed over input channels, each of the α² = (m+2)² frequencies is one GEMM
//! `[c_out, c_in] · [c_in, tiles]`. Per tile and channel pair that is α² multiplications
//! where the direct convolution takes 9m²: with the m = 4 used here ([`M`], F(4×4, 3×3)),
//! 36 against 144, 4× fewer (F(2×2, 3×3) would save 2.25×, 16 against 36). The transforms
//! add work per tile and channel, not per channel pair, so they weigh little at the
//! generator's widths.
//!
//! * The input gradient of a stride-1 3×3 convolution with padding p is the convolution of the
//!   output gradient, padded by 2 − p, with the kernels turned 180° and their channel axes
//!   swapped: the same code on other weights.
//! * The weight gradient differentiates the tile formula: per frequency
//!   `dU = (A dY Aᵀ) · Vᵀ` summed over tiles (one GEMM `[c_out, tiles] · [tiles, c_in]`), then
//!   `dg = Gᵀ dU G`.
//!
//! Layouts keep every GEMM operand a strided matrix the `gemm` crate reads directly: the
//! transformed input is `V[c][ξ][t]`, the products `M[c_out][ξ][t]`, the transformed weights
//! `U[c_out][ξ][c_in]`.

use super::simd;
use rayon::prelude::*;

use super::gemm::gemm_on;
use super::geom::ConvGeom;
use super::profile::timed;
use super::scratch::{self, Scratch};
use super::send_ptr::SendPtr;

/// Output tile side.
const M: usize = 4;
/// Input tile side, m + r − 1.
const ALPHA: usize = M + 2;
const FREQS: usize = ALPHA * ALPHA;

/// Bᵀ, G and Aᵀ for F(4×4, 3×3), interpolation points 0, ±1, ±2, ∞ (Lavin & Gray).
const BT: [[f32; ALPHA]; ALPHA] = [
    [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
    [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
    [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
    [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
    [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
    [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
];
const G: [[f32; 3]; ALPHA] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];
const AT: [[f32; ALPHA]; M] = [
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
    [0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
    [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
];
const A: [[f32; M]; ALPHA] = transpose(AT);
const GT: [[f32; ALPHA]; 3] = transpose(G);
/// `G` for kernels turned 180°: `G rot(g) Gᵀ = G_TURNED g G_TURNEDᵀ`.
const G_TURNED: [[f32; 3]; ALPHA] = reverse_columns(G);

const fn reverse_columns<const P: usize, const Q: usize>(m: [[f32; Q]; P]) -> [[f32; Q]; P] {
    let mut r = [[0.0f32; Q]; P];
    let mut i = 0;
    while i < P {
        let mut j = 0;
        while j < Q {
            r[i][j] = m[i][Q - 1 - j];
            j += 1;
        }
        i += 1;
    }
    r
}

const fn transpose<const P: usize, const Q: usize>(m: [[f32; Q]; P]) -> [[f32; P]; Q] {
    let mut t = [[0.0f32; P]; Q];
    let mut i = 0;
    while i < P {
        let mut j = 0;
        while j < Q {
            t[j][i] = m[i][j];
            j += 1;
        }
        i += 1;
    }
    t
}

/// Transformed tiles are processed in chunks of at most this many floats of `V` (32 MiB), so
/// that large images do not need the whole transformed input at once.
const V_CAP: usize = 8 << 20;

/// Whether [`forward`] and the gradients handle this convolution: 3×3, stride 1, the same
/// padding of at most 2 on both axes.
pub fn applies(g: &ConvGeom) -> bool {
    g.k_h == 3 && g.k_w == 3 && g.stride == [1, 1] && g.pad[0] == g.pad[1] && g.pad[0] <= 2
}

/// The tile grid of a geometry.
#[derive(Clone, Copy, Debug)]
struct Tiles {
    rows: usize,
    cols: usize,
    total: usize,
}

impl Tiles {
    fn of(g: &ConvGeom) -> Self {
        let (rows, cols) = (g.out_h.div_ceil(M), g.out_w.div_ceil(M));
        Self {
            rows,
            cols,
            total: g.batch * rows * cols,
        }
    }

    /// The parts of the tile range `[t0, t1)` (whole tile rows) that lie in one image each:
    /// (image, first tile row in it, end tile row, offset of the part's first tile from `t0`).
    fn segments(
        &self,
        (t0, t1): (usize, usize),
    ) -> impl Iterator<Item = (usize, usize, usize, usize)> + use<> {
        let (rows, cols) = (self.rows, self.cols);
        let (first, last) = (t0 / cols, t1 / cols);
        (first / rows..last.div_ceil(rows)).map(move |b| {
            let r0 = (b * rows).max(first);
            let r1 = ((b + 1) * rows).min(last);
            (b, r0 - b * rows, r1 - b * rows, r0 * cols - t0)
        })
    }

    /// Tile ranges `[t0, t1)`, in whole tile rows, whose transformed input for `channels` fits
    /// `cap` floats.
    fn chunks(&self, channels: usize, cap: usize) -> impl Iterator<Item = (usize, usize)> + use<> {
        let size = (cap / (FREQS * channels * self.cols).max(1)).max(1) * self.cols;
        let total = self.total;
        (0..total)
            .step_by(size)
            .map(move |t0| (t0, (t0 + size).min(total)))
    }
}

/// `dst[p] = Σ_q l[p][q] · src[q]` on rows of `n` floats (`src` rows `src_stride` apart, `dst`
/// rows `dst_stride` apart). The transform matrices are constants, so after inlining the
/// zero and unit coefficients cost nothing and each row loop is plain SIMD over tiles.
#[inline(always)]
fn combine<const P: usize, const Q: usize>(
    l: &[[f32; Q]; P],
    src: &[f32],
    src_stride: usize,
    dst: &mut [f32],
    dst_stride: usize,
    n: usize,
) {
    for (p, coeffs) in l.iter().enumerate() {
        let d = &mut dst[p * dst_stride..][..n];
        let mut first = true;
        for (q, &c) in coeffs.iter().enumerate() {
            let s = &src[q * src_stride..][..n];
            if c == 0.0 {
                continue;
            } else if first {
                first = false;
                d.iter_mut().zip(s).for_each(|(d, s)| *d = c * s);
            } else if c == 1.0 {
                d.iter_mut().zip(s).for_each(|(d, s)| *d += s);
            } else if c == -1.0 {
                d.iter_mut().zip(s).for_each(|(d, s)| *d -= s);
            } else {
                d.iter_mut().zip(s).for_each(|(d, s)| *d += c * s);
            }
        }
        if first {
            d.fill(0.0);
        }
    }
}

/// `V[c][ξ][t - t0] = (Bᵀ d B)_ξ` for the input tiles `t0..t1` (whole tile rows) of `x`
/// (`[batch, c, h, w]`), every step running along all of an image's tiles at once.
fn transform_input(x: &[f32], g: &ConvGeom, tiles: &Tiles, chunk: (usize, usize)) -> Scratch {
    timed(
        || "winograd · input transform".into(),
        || transform_input_on(Path::best(), x, g, tiles, chunk),
    )
}

fn transform_input_on(
    path: Path,
    x: &[f32],
    g: &ConvGeom,
    tiles: &Tiles,
    chunk: (usize, usize),
) -> Scratch {
    let n_chunk = chunk.1 - chunk.0;
    let cols = tiles.cols;
    let mut v = scratch::take(g.c_in * FREQS * n_chunk);
    let pad = g.pad[0] as isize;
    v.par_chunks_mut(FREQS * n_chunk)
        .enumerate()
        .for_each(|(c, v_c)| {
            #[cfg(target_arch = "x86_64")]
            if let Path::Avx512(_detected) = path {
                for (b, r0, r1, local) in tiles.segments(chunk) {
                    let plane = &x[(b * g.c_in + c) * g.in_plane()..][..g.in_plane()];
                    let left = g.pad[1];
                    let inside = g.in_w.min(cols * M + 2 - left);
                    for (ty, part) in (r0..r1).zip(0..) {
                        // Rows above and below the image are empty: all padding.
                        let rows: [avx512::PaddedRow; ALPHA] = std::array::from_fn(|i| {
                            let iy = (ty * M + i) as isize - pad;
                            let row = if (0..g.in_h as isize).contains(&iy) {
                                &plane[iy as usize * g.in_w..][..g.in_w]
                            } else {
                                &[]
                            };
                            avx512::PaddedRow {
                                row,
                                left,
                                inside: inside.min(row.len()),
                            }
                        });
                        let dst = &mut v_c[local + part * cols..];
                        // SAFETY: `_detected` proves the CPU has AVX-512F and VL; the
                        // kernel asserts the lengths its accesses need.
                        unsafe { avx512::input_tiles(rows, dst, n_chunk, cols) };
                    }
                }
                return;
            }
            simd::dispatch(
                #[inline(always)]
                || {
                    for (b, r0, r1, local) in tiles.segments(chunk) {
                        let n = (r1 - r0) * cols;
                        let plane = &x[(b * g.c_in + c) * g.in_plane()..][..g.in_plane()];
                        let mut gathered = scratch::take(ALPHA * n);
                        // e[j][i][t]: row i of every tile, transformed along its columns.
                        let mut e = scratch::take(ALPHA * ALPHA * n);
                        // One input row with its padding: tile column tx reads
                        // padded[tx·M + k], k < α. The edges stay zero for the whole plane;
                        // the slack lets the gather read whole groups of tiles.
                        let mut padded = scratch::take(padded_len(cols));
                        let left = g.pad[1];
                        let inside = g.in_w.min(cols * M + 2 - left);
                        padded[..left].fill(0.0);
                        padded[left + inside..].fill(0.0);
                        for i in 0..ALPHA {
                            for (ty, part) in (r0..r1).zip(0..) {
                                let iy = (ty * M + i) as isize - pad;
                                let inside_rows = 0..g.in_h as isize;
                                if inside_rows.contains(&iy) {
                                    padded[left..][..inside]
                                        .copy_from_slice(&plane[iy as usize * g.in_w..][..inside]);
                                }
                                let dst = &mut gathered[part * cols..];
                                if inside_rows.contains(&iy) {
                                    gather_tiles::<ALPHA>(&padded, dst, n, cols);
                                } else {
                                    for k in 0..ALPHA {
                                        dst[k * n..][..cols].fill(0.0);
                                    }
                                }
                            }
                            combine(&BT, &gathered, n, &mut e[i * n..], ALPHA * n, n);
                        }
                        for j in 0..ALPHA {
                            combine(
                                &BT,
                                &e[j * ALPHA * n..],
                                n,
                                &mut v_c[j * n_chunk + local..],
                                ALPHA * n_chunk,
                                n,
                            );
                        }
                    }
                },
            )
        });
    v
}

/// Which code runs the tile transforms: the AVX-512 kernels, which keep each group of tiles
/// in registers from gather to store, where the CPU has them; elsewhere (and in tests, to
/// compare) the portable gather, `combine` passes and scatter, which give the same floats.
///
/// The AVX-512 variant holds the token only runtime feature detection makes, so a
/// `transform_*_on` handed it may run the AVX-512 kernels without trusting its caller.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Path {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx512(simd::Avx512),
}

impl Path {
    fn best() -> Self {
        #[cfg(target_arch = "x86_64")]
        if let Some(avx) = simd::Avx512::detect() {
            return Path::Avx512(avx);
        }
        Path::Portable
    }
}

/// Tiles per group of [`gather_tiles`]: 8 tiles span 32 floats, two AVX-512 registers.
const GROUP: usize = 8;

/// The length of a padded row for `cols` tiles: whole groups for [`gather_tiles`], whose last
/// group reads 36 floats from its start (two registers, at offsets 0 and M).
fn padded_len(cols: usize) -> usize {
    cols.div_ceil(GROUP) * GROUP * M + 32
}

/// `dst[k·stride + tx] = padded[tx·M + k]` for k < K, tx < cols: each tile's K values of one
/// row (`padded` at least [`padded_len`] long; K = α input values or M output values), in rows
/// of tiles that the row transforms read.
#[inline(always)]
fn gather_tiles<const K: usize>(padded: &[f32], dst: &mut [f32], stride: usize, cols: usize) {
    const { assert!(K <= ALPHA) };
    assert!(padded.len() >= padded_len(cols) && dst.len() >= (K - 1) * stride + cols);
    #[cfg(target_arch = "x86_64")]
    if let Some(_detected) = simd::Avx512::detect() {
        // SAFETY: `_detected` proves the CPU has AVX-512F and VL; the assert above checked
        // the lengths the kernel's safety section asks for, and K ≤ α holds at compile time.
        unsafe { avx512::tiles::<K>(padded, dst, stride, cols) };
        return;
    }
    gather_tiles_scalar::<K>(padded, dst, stride, cols);
}

fn gather_tiles_scalar<const K: usize>(
    padded: &[f32],
    dst: &mut [f32],
    stride: usize,
    cols: usize,
) {
    for k in 0..K {
        let d = &mut dst[k * stride..][..cols];
        for (d, s) in d.iter_mut().zip(padded[k..].iter().step_by(M)) {
            *d = *s;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512;

/// `dst[tx·M + q] = src[q·stride + tx] + bias` for q < M, tx < cols, within `dst` (an output
/// row, whose last tile may be cut): the adjoint layout of [`gather_tiles`].
#[inline(always)]
fn scatter_tiles(src: &[f32], stride: usize, cols: usize, dst: &mut [f32], bias: f32) {
    assert!(src.len() >= (M - 1) * stride + cols && dst.len() <= cols * M);
    #[cfg(target_arch = "x86_64")]
    if let Some(_detected) = simd::Avx512::detect() {
        // SAFETY: `_detected` proves the CPU has AVX-512F and VL; the assert above checked
        // the lengths the kernel's safety section asks for.
        unsafe { avx512::scatter(src, stride, cols, dst, bias) };
        return;
    }
    scatter_tiles_scalar(src, stride, cols, dst, bias);
}

fn scatter_tiles_scalar(src: &[f32], stride: usize, cols: usize, dst: &mut [f32], bias: f32) {
    for q in 0..M {
        let s = &src[q * stride..][..cols];
        for (d, s) in dst.iter_mut().skip(q).step_by(M).zip(s) {
            *d = s + bias;
        }
    }
}

/// `U[o][ξ][i] = (L g Lᵀ)_ξ` for the 3×3 kernels `g[o][i]`, the nine taps (`k = 3·row +
/// col`) of kernel (o, i) starting at `w[o·strides[0] + i·strides[1]]`; `L` is `G` or, for
/// kernels turned 180° (`turned`), `G` with its columns reversed. Vectorised along `i`, as
/// the tile transforms are along tiles.
fn transform_weights(
    outs: usize,
    ins: usize,
    turned: bool,
    w: &[f32],
    strides: [usize; 2],
) -> Scratch {
    timed(
        || "winograd · weight transform".into(),
        || transform_weights_on(Path::best(), outs, ins, turned, w, strides),
    )
}

fn transform_weights_on(
    path: Path,
    outs: usize,
    ins: usize,
    turned: bool,
    w: &[f32],
    strides: [usize; 2],
) -> Scratch {
    let l = if turned { &G_TURNED } else { &G };
    let mut u = scratch::take(outs * FREQS * ins);
    u.par_chunks_mut(FREQS * ins)
        .enumerate()
        .for_each(|(o, u_o)| {
            simd::dispatch(
                #[inline(always)]
                || {
                    #[cfg(target_arch = "x86_64")]
                    if let Path::Avx512(_detected) = path {
                        let kernels = avx512::Kernels {
                            w,
                            first: o * strides[0],
                            stride: strides[1],
                            count: ins,
                        };
                        // SAFETY: `_detected` proves the CPU has AVX-512F and VL; the
                        // kernel asserts the lengths its accesses need.
                        unsafe {
                            if turned {
                                avx512::weight_kernels::<true>(kernels, u_o);
                            } else {
                                avx512::weight_kernels::<false>(kernels, u_o);
                            }
                        }
                        return;
                    }
                    let mut taps = scratch::take(9 * ins);
                    // Tap k of every kernel as one strided run: no index arithmetic per
                    // element, and the ins kernels stay in L1 across the nine runs.
                    for (k, taps_k) in taps.chunks_exact_mut(ins).enumerate() {
                        let first = &w[o * strides[0] + k..];
                        for (t, s) in taps_k.iter_mut().zip(first.iter().step_by(strides[1])) {
                            *t = *s;
                        }
                    }
                    // h[a][col][i] = Σ_row L[a][row] · g[row][col][i]
                    let mut h = scratch::take(ALPHA * 3 * ins);
                    for col in 0..3 {
                        combine(
                            l,
                            &taps[col * ins..],
                            3 * ins,
                            &mut h[col * ins..],
                            3 * ins,
                            ins,
                        );
                    }
                    for a in 0..ALPHA {
                        combine(
                            l,
                            &h[a * 3 * ins..],
                            ins,
                            &mut u_o[a * ALPHA * ins..],
                            ins,
                            ins,
                        );
                    }
                },
            )
        });
    u
}

/// `M[o][ξ][t] = U[o][ξ][·] · V[·][ξ][t]` for every frequency, one single-threaded GEMM per
/// frequency on the rayon pool.
fn multiply(u: &[f32], v: &[f32], outs: usize, ins: usize, n: usize) -> Scratch {
    timed(
        || "winograd · products".into(),
        || multiply_untimed(u, v, outs, ins, n),
    )
}

fn multiply_untimed(u: &[f32], v: &[f32], outs: usize, ins: usize, n: usize) -> Scratch {
    let mut m = scratch::take(outs * FREQS * n);
    let dst = SendPtr(m.as_mut_ptr());
    // Frequencies in parallel, each GEMM on one thread: at 32×32 feature maps a GEMM is too
    // small to split (measured 7.7 s per 128² training step against 8.9 s).
    (0..FREQS).into_par_iter().for_each(|xi| {
        // SAFETY: frequency ξ writes only M[·][ξ][·]; U_ξ is [outs, ins] with row stride
        // FREQS·ins; V's rows for ξ are n long with stride FREQS·n.
        unsafe {
            gemm_on(
                gemm::Parallelism::None,
                [outs, n, ins],
                dst.get().add(xi * n),
                FREQS * n,
                false,
                u[xi * ins..].as_ptr(),
                [FREQS * ins, 1],
                v[xi * n..].as_ptr(),
                [FREQS * n, 1],
            );
        }
    });
    m
}

/// Writes `Aᵀ M_t A` of tiles `t0..t1` (whole tile rows) into `y` (`[batch, outs, out_h,
/// out_w]`), adding `bias`.
fn transform_output(
    m: &[f32],
    g: &ConvGeom,
    tiles: &Tiles,
    chunk: (usize, usize),
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    timed(
        || "winograd · output transform".into(),
        || transform_output_on(Path::best(), m, g, tiles, chunk, bias, y),
    );
}

fn transform_output_on(
    path: Path,
    m: &[f32],
    g: &ConvGeom,
    tiles: &Tiles,
    chunk: (usize, usize),
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    let n_chunk = chunk.1 - chunk.0;
    let cols = tiles.cols;
    let plane = g.out_plane();
    let segments: Vec<_> = tiles.segments(chunk).collect();
    y.par_chunks_mut(plane)
        .enumerate()
        .for_each(|(bc, y_plane)| {
            #[cfg(target_arch = "x86_64")]
            if let Path::Avx512(_detected) = path {
                let (b, o) = (bc / g.c_out, bc % g.c_out);
                let Some(&(_, r0, r1, local)) = segments.iter().find(|s| s.0 == b) else {
                    return;
                };
                let bias = bias.map_or(0.0, |bias| bias[o]);
                let m_o = &m[o * FREQS * n_chunk..][..FREQS * n_chunk];
                for (ty, part) in (r0..r1).zip(0..) {
                    let band = &mut y_plane[ty * M * g.out_w..];
                    let band_len = band.len().min(M * g.out_w);
                    let mut band_rows = band[..band_len].chunks_mut(g.out_w);
                    // The last tile row may have fewer than M output rows: empty rows are
                    // skipped.
                    let mut rows: [&mut [f32]; M] =
                        std::array::from_fn(|_| band_rows.next().unwrap_or_default());
                    let m_t = &m_o[local + part * cols..];
                    // SAFETY: `_detected` proves the CPU has AVX-512F and VL; the
                    // kernel asserts the lengths its accesses need.
                    unsafe { avx512::output_tiles(m_t, n_chunk, cols, &mut rows, bias) };
                }
                return;
            }
            simd::dispatch(
                #[inline(always)]
                || {
                    let (b, o) = (bc / g.c_out, bc % g.c_out);
                    let Some(&(_, r0, r1, local)) = segments.iter().find(|s| s.0 == b) else {
                        return;
                    };
                    let n = (r1 - r0) * cols;
                    let bias = bias.map_or(0.0, |bias| bias[o]);
                    let m_o = &m[o * FREQS * n_chunk..][..FREQS * n_chunk];
                    // f[p][j][t], then out[p][q][t].
                    let mut f = scratch::take(M * ALPHA * n);
                    for j in 0..ALPHA {
                        combine(
                            &AT,
                            &m_o[j * n_chunk + local..],
                            ALPHA * n_chunk,
                            &mut f[j * n..],
                            ALPHA * n,
                            n,
                        );
                    }
                    let mut out = scratch::take(M * M * n);
                    for p in 0..M {
                        combine(&AT, &f[p * ALPHA * n..], n, &mut out[p * M * n..], n, n);
                    }
                    for (ty, part) in (r0..r1).zip(0..) {
                        for p in 0..M.min(g.out_h - ty * M) {
                            let dst = &mut y_plane[(ty * M + p) * g.out_w..][..g.out_w];
                            scatter_tiles(&out[p * M * n + part * cols..], n, cols, dst, bias);
                        }
                    }
                },
            )
        });
}

/// The convolution of `x` with the transformed weights `u` (`[ξ][c_out][c_in]`), and with
/// `keep` the transformed input when it was made in one chunk.
fn convolve(
    x: &[f32],
    u: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeom,
    cap: usize,
    keep: bool,
) -> (Vec<f32>, Option<Scratch>) {
    let tiles = Tiles::of(g);
    let mut y = vec![0.0f32; g.batch * g.c_out * g.out_plane()];
    let chunks: Vec<_> = tiles.chunks(g.c_in.max(g.c_out), cap).collect();
    let mut kept = None;
    for &chunk in &chunks {
        let v = transform_input(x, g, &tiles, chunk);
        let m = multiply(u, &v, g.c_out, g.c_in, chunk.1 - chunk.0);
        transform_output(&m, g, &tiles, chunk, bias, &mut y);
        if keep && chunks.len() == 1 {
            kept = Some(v);
        }
    }
    (y, kept)
}

/// `y = conv(x, w) + bias` for a geometry [`applies`] accepts.
pub fn forward(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &ConvGeom) -> Vec<f32> {
    forward_with_weights(x, &forward_weights(w, g), bias, g, false).0
}

/// The transformed weights [`forward_with_weights`] takes: `U[c_out][ξ][c_in]`.
pub(crate) fn forward_weights(w: &[f32], g: &ConvGeom) -> Scratch {
    assert!(applies(g), "a 3×3 stride-1 convolution");
    let ins = g.c_in;
    transform_weights(g.c_out, g.c_in, false, w, [9 * ins, 9])
}

/// [`forward`] with the weights already transformed by [`forward_weights`], also returning
/// (with `keep`) the transformed input for [`backward_weight_transformed`], which then need
/// not transform `x` again; `None` when the image was too large to transform at once.
pub(crate) fn forward_with_weights(
    x: &[f32],
    u: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeom,
    keep: bool,
) -> (Vec<f32>, Option<Scratch>) {
    assert!(applies(g), "a 3×3 stride-1 convolution");
    assert_eq!(
        u.len(),
        g.c_out * FREQS * g.c_in,
        "transformed weights of this geometry"
    );
    convolve(x, u, bias, g, V_CAP, keep)
}

/// The gradient of [`forward`] with respect to `x`.
pub fn backward_data(dy: &[f32], w: &[f32], g: &ConvGeom) -> Vec<f32> {
    backward_data_in_chunks(dy, &turned_weights(w, g), g, V_CAP)
}

/// The transformed weights [`backward_data_with_weights`] takes: the kernels turned 180°,
/// their channel axes swapped (the transposed convolution, from c_out channels to c_in).
pub(crate) fn turned_weights(w: &[f32], g: &ConvGeom) -> Scratch {
    assert!(applies(g), "a 3×3 stride-1 convolution");
    // G_TURNED turns the kernels.
    transform_weights(g.c_in, g.c_out, true, w, [9, 9 * g.c_in])
}

/// [`backward_data`] with the weights already transformed by [`turned_weights`].
pub(crate) fn backward_data_with_weights(dy: &[f32], u: &[f32], g: &ConvGeom) -> Vec<f32> {
    backward_data_in_chunks(dy, u, g, V_CAP)
}

fn backward_data_in_chunks(dy: &[f32], u: &[f32], g: &ConvGeom, cap: usize) -> Vec<f32> {
    assert!(applies(g), "a 3×3 stride-1 convolution");
    assert_eq!(
        u.len(),
        g.c_in * FREQS * g.c_out,
        "turned weights of this geometry"
    );
    convolve(dy, u, None, &g.transposed(), cap, false).0
}

/// `dM[o][ξ][t - t0] = (A dY_t Aᵀ)_ξ` for tiles `t0..t1` (whole tile rows): the adjoint of
/// the output transform, on the output gradient's tiles (zero beyond the output's edge).
fn transform_output_grad(
    dy: &[f32],
    g: &ConvGeom,
    tiles: &Tiles,
    chunk: (usize, usize),
) -> Scratch {
    timed(
        || "winograd · output-gradient transform".into(),
        || transform_output_grad_on(Path::best(), dy, g, tiles, chunk),
    )
}

fn transform_output_grad_on(
    path: Path,
    dy: &[f32],
    g: &ConvGeom,
    tiles: &Tiles,
    chunk: (usize, usize),
) -> Scratch {
    let n_chunk = chunk.1 - chunk.0;
    let cols = tiles.cols;
    let mut dm = scratch::take(g.c_out * FREQS * n_chunk);
    dm.par_chunks_mut(FREQS * n_chunk)
        .enumerate()
        .for_each(|(o, dm_o)| {
            #[cfg(target_arch = "x86_64")]
            if let Path::Avx512(_detected) = path {
                for (b, r0, r1, local) in tiles.segments(chunk) {
                    let plane = &dy[(b * g.c_out + o) * g.out_plane()..][..g.out_plane()];
                    for (ty, part) in (r0..r1).zip(0..) {
                        // Rows below the output are empty: zero.
                        let rows: [avx512::PaddedRow; M] = std::array::from_fn(|p| {
                            let oy = ty * M + p;
                            let row = if oy < g.out_h {
                                &plane[oy * g.out_w..][..g.out_w]
                            } else {
                                &[]
                            };
                            avx512::PaddedRow {
                                row,
                                left: 0,
                                inside: row.len(),
                            }
                        });
                        let dst = &mut dm_o[local + part * cols..];
                        // SAFETY: `_detected` proves the CPU has AVX-512F and VL; the
                        // kernel asserts the lengths its accesses need.
                        unsafe { avx512::output_grad_tiles(rows, dst, n_chunk, cols) };
                    }
                }
                return;
            }
            simd::dispatch(
                #[inline(always)]
                || {
                    for (b, r0, r1, local) in tiles.segments(chunk) {
                        let n = (r1 - r0) * cols;
                        let plane = &dy[(b * g.c_out + o) * g.out_plane()..][..g.out_plane()];
                        let mut gathered = scratch::take(M * n);
                        // h[p][b][t]: output row p of every tile, transformed along its columns.
                        let mut h = scratch::take(M * ALPHA * n);
                        // One output-gradient row, zero past the output's edge.
                        let mut padded = scratch::take(padded_len(cols));
                        padded[g.out_w..].fill(0.0);
                        for p in 0..M {
                            for (ty, part) in (r0..r1).zip(0..) {
                                let oy = ty * M + p;
                                let dst = &mut gathered[part * cols..];
                                if oy < g.out_h {
                                    padded[..g.out_w]
                                        .copy_from_slice(&plane[oy * g.out_w..][..g.out_w]);
                                    gather_tiles::<M>(&padded, dst, n, cols);
                                } else {
                                    for q in 0..M {
                                        dst[q * n..][..cols].fill(0.0);
                                    }
                                }
                            }
                            combine(&A, &gathered, n, &mut h[p * ALPHA * n..], n, n);
                        }
                        for b2 in 0..ALPHA {
                            combine(
                                &A,
                                &h[b2 * n..],
                                ALPHA * n,
                                &mut dm_o[b2 * n_chunk + local..],
                                ALPHA * n_chunk,
                                n,
                            );
                        }
                    }
                },
            )
        });
    dm
}

/// The gradient of [`forward`] with respect to `w`.
pub fn backward_weight(x: &[f32], dy: &[f32], g: &ConvGeom) -> Vec<f32> {
    backward_weight_in_chunks(Input::Values(x), dy, g, V_CAP)
}

/// [`backward_weight`] from the transformed input [`forward_with_weights`] kept.
pub fn backward_weight_transformed(v: &[f32], dy: &[f32], g: &ConvGeom) -> Vec<f32> {
    backward_weight_in_chunks(Input::Transformed(v), dy, g, V_CAP)
}

/// The forward pass's input, as values or already transformed (whole, in one chunk).
#[derive(Clone, Copy)]
enum Input<'a> {
    Values(&'a [f32]),
    Transformed(&'a [f32]),
}

fn backward_weight_in_chunks(x: Input, dy: &[f32], g: &ConvGeom, cap: usize) -> Vec<f32> {
    assert!(applies(g), "a 3×3 stride-1 convolution");
    let tiles = Tiles::of(g);
    let (outs, ins) = (g.c_out, g.c_in);
    // Every frequency's GEMM writes all of its dU rows on the first chunk and adds to them on
    // the others, so the buffer needs no zeros.
    let mut du = scratch::take(FREQS * outs * ins);
    for (c, chunk) in tiles.chunks(ins.max(outs), cap).enumerate() {
        let n = chunk.1 - chunk.0;
        let transformed;
        let v: &[f32] = match x {
            Input::Values(x) => {
                transformed = transform_input(x, g, &tiles, chunk);
                &transformed
            }
            Input::Transformed(v) => {
                assert_eq!(chunk, (0, tiles.total), "a kept input is transformed whole");
                v
            }
        };
        let dm = transform_output_grad(dy, g, &tiles, chunk);
        let dst = SendPtr(du.as_mut_ptr());
        timed(
            || "winograd · weight-gradient products".into(),
            || {
                (0..FREQS).into_par_iter().for_each(|xi| {
                    // SAFETY: frequency ξ accumulates only into dU[·][ξ][·] (row stride
                    // FREQS·ins); dM's rows for ξ are n long with stride FREQS·n, and V read
                    // transposed likewise.
                    unsafe {
                        gemm_on(
                            gemm::Parallelism::None,
                            [outs, ins, n],
                            dst.get().add(xi * ins),
                            FREQS * ins,
                            c > 0,
                            dm[xi * n..].as_ptr(),
                            [FREQS * n, 1],
                            v[xi * n..].as_ptr(),
                            [1, FREQS * n],
                        );
                    }
                })
            },
        );
    }
    timed(
        || "winograd · weight-gradient inverse".into(),
        || weight_grad_from_transformed(Path::best(), &du, outs, ins),
    )
}

/// `dg = Gᵀ dU G` for every kernel, from `dU[o][ξ][i]`, vectorised along i, laid out as
/// `[o][i][3][3]`.
fn weight_grad_from_transformed(path: Path, du: &[f32], outs: usize, ins: usize) -> Vec<f32> {
    let mut dw = vec![0.0f32; outs * ins * 9];
    dw.par_chunks_mut(ins * 9)
        .zip(du.par_chunks(FREQS * ins))
        .for_each(|(dw_o, du_o)| {
            #[cfg(target_arch = "x86_64")]
            if let Path::Avx512(_detected) = path {
                // SAFETY: `_detected` proves the CPU has AVX-512F; the kernel asserts
                // the lengths its accesses need.
                unsafe { avx512::weight_grad_kernels(du_o, ins, dw_o) };
                return;
            }
            simd::dispatch(
                #[inline(always)]
                || {
                    // h[row][b][i] = Σ_a Gᵀ[row][a] · dU[a][b][i]
                    let mut h = scratch::take(3 * ALPHA * ins);
                    for b in 0..ALPHA {
                        combine(
                            &GT,
                            &du_o[b * ins..],
                            ALPHA * ins,
                            &mut h[b * ins..],
                            ALPHA * ins,
                            ins,
                        );
                    }
                    let mut dg = scratch::take(9 * ins);
                    for row in 0..3 {
                        combine(
                            &GT,
                            &h[row * ALPHA * ins..],
                            ins,
                            &mut dg[row * 3 * ins..],
                            ins,
                            ins,
                        );
                    }
                    for (k, taps) in dg.chunks_exact(ins).enumerate() {
                        for (d, t) in dw_o[k..].iter_mut().step_by(9).zip(taps) {
                            *d = *t;
                        }
                    }
                },
            )
        });
    dw
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{ConvMaps, assert_matches_im2col, max_diff, pseudo_random};
    use super::*;

    /// Odd and even sizes (partial edge tiles), every padding, batches of 1 and 3.
    const SHAPES: &[([usize; 4], usize, usize)] = &[
        ([1, 3, 8, 8], 4, 0),
        ([2, 5, 9, 7], 6, 1),
        ([3, 4, 5, 6], 3, 2),
        ([1, 16, 13, 13], 8, 0),
        ([1, 2, 3, 3], 2, 0),
    ];

    /// The AVX-512 scatter (where the CPU has it) writes what the strided loop writes, with
    /// the last tile cut at every possible width.
    #[test]
    fn tile_scatter_matches_the_strided_loop() {
        for cols in 1..=19 {
            for cut in 0..M {
                let stride = cols + 2;
                let src = pseudo_random((M - 1) * stride + cols, 100 + cols as u64);
                let width = cols * M - cut;
                let mut fast = vec![f32::NAN; width];
                let mut slow = fast.clone();
                scatter_tiles(&src, stride, cols, &mut fast, 0.25);
                scatter_tiles_scalar(&src, stride, cols, &mut slow, 0.25);
                for (i, (a, b)) in fast.iter().zip(&slow).enumerate() {
                    assert!(a.to_bits() == b.to_bits(), "cols {cols}, cut {cut}, at {i}");
                }
            }
        }
    }

    /// The AVX-512 gather (where the CPU has it) picks the same floats as the strided loop,
    /// for whole groups of 8 tiles and for tails.
    #[test]
    fn tile_gather_matches_the_strided_loop() {
        for cols in 1..=19 {
            let padded = pseudo_random(padded_len(cols), cols as u64);
            let stride = cols + 3;
            let mut fast = vec![f32::NAN; ALPHA * stride];
            let mut slow = fast.clone();
            gather_tiles::<ALPHA>(&padded, &mut fast, stride, cols);
            gather_tiles_scalar::<ALPHA>(&padded, &mut slow, stride, cols);
            let (mut fast4, mut slow4) = (fast.clone(), fast.clone());
            fast4.fill(f32::NAN);
            slow4.fill(f32::NAN);
            gather_tiles::<M>(&padded, &mut fast4, stride, cols);
            gather_tiles_scalar::<M>(&padded, &mut slow4, stride, cols);
            assert!(
                fast4
                    .iter()
                    .zip(&slow4)
                    .all(|(a, b)| a.to_bits() == b.to_bits())
            );
            for (i, (a, b)) in fast.iter().zip(&slow).enumerate() {
                assert!(
                    a.to_bits() == b.to_bits(),
                    "cols {cols}, at {i}: {a} vs {b}"
                );
            }
        }
    }

    /// The AVX-512 tile transforms (where the CPU has them) give the portable passes' floats
    /// bit for bit: every tile-group tail (widths 1 to 19 tiles), cut last tile rows and
    /// columns, every padding, several images in one chunk and a chunk starting mid-batch.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx512_transforms_equal_the_portable_passes() {
        let Some(avx) =
            crate::ops::test_util::avx512_or_note("avx512_transforms_equal_the_portable_passes")
        else {
            return;
        };
        let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits());
        for (case, (batch, h, w, pad)) in
            [(2, 7, 5, 1), (1, 13, 30, 0), (3, 9, 76, 2), (2, 4, 64, 1)]
                .into_iter()
                .enumerate()
        {
            let g = ConvGeom::new([batch, 3, h, w], [2, 3, 3, 3], [1, 1], [pad, pad]).unwrap();
            let tiles = Tiles::of(&g);
            let x = pseudo_random(batch * 3 * h * w, case as u64);
            let dy = pseudo_random(batch * 2 * g.out_plane(), 50 + case as u64);
            // Whole, and from the second tile row on (one image's part, then whole images).
            for chunk in [(0, tiles.total), (tiles.cols, tiles.total)] {
                let n = chunk.1 - chunk.0;
                let v = transform_input_on(Path::Avx512(avx), &x, &g, &tiles, chunk);
                let v_ref = transform_input_on(Path::Portable, &x, &g, &tiles, chunk);
                assert!(same(&v, &v_ref), "input, case {case}, chunk {chunk:?}");
                let dm = transform_output_grad_on(Path::Avx512(avx), &dy, &g, &tiles, chunk);
                let dm_ref = transform_output_grad_on(Path::Portable, &dy, &g, &tiles, chunk);
                assert!(
                    same(&dm, &dm_ref),
                    "output grad, case {case}, chunk {chunk:?}"
                );
                let m = pseudo_random(2 * FREQS * n, 90 + case as u64);
                let bias = [0.5, -0.25];
                let mut y = vec![f32::NAN; batch * 2 * g.out_plane()];
                let mut y_ref = y.clone();
                transform_output_on(
                    Path::Avx512(avx),
                    &m,
                    &g,
                    &tiles,
                    chunk,
                    Some(&bias),
                    &mut y,
                );
                transform_output_on(
                    Path::Portable,
                    &m,
                    &g,
                    &tiles,
                    chunk,
                    Some(&bias),
                    &mut y_ref,
                );
                assert!(same(&y, &y_ref), "output, case {case}, chunk {chunk:?}");
            }
        }
    }

    /// The AVX-512 weight transform and weight-gradient inverse (where the CPU has them) give
    /// the portable passes' floats bit for bit, for whole groups of 16 kernels and tails, and
    /// for kernels read turned.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx512_weight_transforms_equal_the_portable_passes() {
        let Some(avx) = crate::ops::test_util::avx512_or_note(
            "avx512_weight_transforms_equal_the_portable_passes",
        ) else {
            return;
        };
        let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits());
        for ins in [1, 3, 16, 21, 40] {
            let outs = 3;
            let w = pseudo_random(outs * ins * 9, ins as u64);
            for (turned, strides) in [(false, [9 * ins, 9]), (true, [9, 9 * ins])] {
                // Turned: U's rows are the convolution's inputs, read across its outputs.
                let (o, i) = if turned { (ins, outs) } else { (outs, ins) };
                let u = transform_weights_on(Path::Avx512(avx), o, i, turned, &w, strides);
                let u_ref = transform_weights_on(Path::Portable, o, i, turned, &w, strides);
                assert!(same(&u, &u_ref), "ins {ins}, turned {turned}");
            }
            let du = pseudo_random(outs * FREQS * ins, 7 + ins as u64);
            let dw = weight_grad_from_transformed(Path::Avx512(avx), &du, outs, ins);
            let dw_ref = weight_grad_from_transformed(Path::Portable, &du, outs, ins);
            assert!(same(&dw, &dw_ref), "weight gradient, ins {ins}");
        }
    }

    /// The im2col kernels are checked against the definition of a convolution; these check
    /// that the Winograd forms compute the same three maps.
    #[test]
    fn matches_the_direct_convolution_and_its_gradients() {
        for (s, &(xs, c_out, pad)) in SHAPES.iter().enumerate() {
            let g = ConvGeom::new(xs, [c_out, xs[1], 3, 3], [1, 1], [pad, pad]).unwrap();
            assert!(applies(&g));
            let tol = 1e-5 * (xs[1] * 9) as f32;
            let tol_w = 1e-5 * (g.batch * g.out_plane()) as f32;
            let maps = ConvMaps {
                forward,
                backward_data,
                backward_weight,
            };
            let (x, w, bias, dy) = assert_matches_im2col(s, &g, 10 * s as u64, maps, [tol, tol_w]);
            // The forward's kept transformed input gives the same output and weight gradient.
            let (y, kept) =
                forward_with_weights(&x, &forward_weights(&w, &g), Some(&bias), &g, true);
            assert_eq!(y, forward(&x, &w, Some(&bias), &g), "shape {s}");
            let v = kept.expect("small images are transformed whole");
            assert_eq!(
                backward_weight_transformed(&v, &dy, &g),
                backward_weight(&x, &dy, &g),
                "shape {s}"
            );
        }
    }

    /// Large images are transformed a few tile rows at a time; the chunks must add up to the
    /// whole.
    #[test]
    fn chunked_equals_whole() {
        let g = ConvGeom::new([2, 3, 11, 9], [4, 3, 3, 3], [1, 1], [1, 1]).unwrap();
        let x = pseudo_random(2 * 3 * 11 * 9, 7);
        let w = pseudo_random(4 * 3 * 9, 8);
        let dy = pseudo_random(2 * 4 * g.out_plane(), 9);
        let ins = g.c_in;
        let u = transform_weights(g.c_out, g.c_in, false, &w, [9 * ins, 9]);
        // Room for one tile row of 4 channels at a time.
        let cap = FREQS * 4 * g.out_w.div_ceil(M);
        assert!(Tiles::of(&g).chunks(4, cap).count() > 2);
        let d = max_diff(
            &convolve(&x, &u, None, &g, cap, false).0,
            &forward(&x, &w, None, &g),
        );
        assert!(d < 1e-6, "forward: {d}");
        let d = max_diff(
            &backward_data_in_chunks(&dy, &turned_weights(&w, &g), &g, cap),
            &backward_data(&dy, &w, &g),
        );
        assert!(d < 1e-6, "input gradient: {d}");
        let d = max_diff(
            &backward_weight_in_chunks(Input::Values(&x), &dy, &g, cap),
            &backward_weight(&x, &dy, &g),
        );
        // The chunks only reorder the sum over the 2·11·9 output pixels.
        let tol = 1e-6 * (g.batch * g.out_plane()) as f32;
        assert!(d < tol, "weight gradient: {d}");
    }

    #[test]
    fn only_3x3_stride_1_with_small_padding() {
        let g = |k, s, p| ConvGeom::new([1, 2, 9, 9], [2, 2, k, k], [s, s], [p, p]).unwrap();
        assert!(applies(&g(3, 1, 0)) && applies(&g(3, 1, 1)) && applies(&g(3, 1, 2)));
        assert!(!applies(&g(3, 2, 1)) && !applies(&g(4, 1, 1)) && !applies(&g(3, 1, 3)));
    }
}
