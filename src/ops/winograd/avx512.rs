//! The tile gathers, scatters and transforms in AVX-512 registers, 8 tiles (one 256-bit
//! register's lanes) at a time: a 32×32 feature map is 8 tiles wide.
//!
//! The fused transforms compute what the portable path's gather, `combine` passes and scatter
//! compute, term by term in the same order ([`term`]), so the two give the same floats; they
//! only keep each group's values in registers instead of writing every intermediate row.

use std::arch::x86_64::*;

use super::{A, ALPHA, AT, BT, G, G_TURNED, GROUP, GT, M};

/// Phase k < M of two registers: lanes j < 8 take float M·j + k of the pair.
#[inline(always)]
fn phase_index(k: i32) -> __m512i {
    // SAFETY: plain register construction, no memory access.
    unsafe {
        _mm512_setr_epi32(
            k,
            k + 4,
            k + 8,
            k + 12,
            k + 16,
            k + 20,
            k + 24,
            k + 28,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        )
    }
}

/// Lanes of tiles `t0..t0 + 8` that exist.
#[inline(always)]
fn group_mask(cols: usize, t0: usize) -> __mmask8 {
    (((1u32 << (cols - t0).min(GROUP)) - 1) & 0xff) as u8
}

/// A row as the tiles read it: `row` preceded by `left` zeros, its first `inside` floats
/// (`inside ≤ row.len()`), then zeros. Masked loads read it in place: lanes outside `row`
/// load zero and do not touch memory, so no padded copy is needed.
#[derive(Clone, Copy)]
pub struct PaddedRow<'a> {
    pub row: &'a [f32],
    pub left: usize,
    pub inside: usize,
}

impl PaddedRow<'_> {
    /// Floats `p0..p0 + 16` of the padded row.
    ///
    /// # Safety
    /// AVX-512F; `inside ≤ row.len()`.
    #[inline(always)]
    unsafe fn load16(&self, p0: usize) -> __m512 {
        // Lane l holds padded float p0 + l, which is row[p0 + l − left] when that index is
        // below `inside`.
        let first = self.left.saturating_sub(p0).min(16);
        let end = (self.left + self.inside).saturating_sub(p0).min(16);
        let mask: __mmask16 = if end > first {
            ((((1u32 << (end - first)) - 1) << first) & 0xffff) as u16
        } else {
            0
        };
        if mask == 0 {
            // Rows above and below the image are empty slices whose pointer lies outside any
            // allocation; a load of one with every lane masked still takes a slow
            // fault-suppression path on some CPUs (AMD Zen 5: the input transform of a
            // 2-padded 32×32 map, 256 channels, batch 3, 2.5 → 0.97 ms).
            // SAFETY: register construction only.
            return unsafe { _mm512_setzero_ps() };
        }
        let ptr = self.row.as_ptr().wrapping_add(p0).wrapping_sub(self.left);
        // SAFETY: only lanes with their float inside row[..inside] are read.
        unsafe { _mm512_maskz_loadu_ps(mask, ptr) }
    }
}

/// The K < α values each of 8 tiles reads from a padded row: value k of tile j is padded
/// float `p0 + M·j + k`.
///
/// # Safety
/// AVX-512F and VL; `row.inside ≤ row.row.len()`.
#[inline(always)]
unsafe fn phases<const K: usize>(row: &PaddedRow, p0: usize) -> [__m256; K] {
    const { assert!(K <= ALPHA) };
    // SAFETY: masked loads within the row.
    unsafe {
        let (a, b) = (row.load16(p0), row.load16(p0 + 16));
        // Values k = M, M + 1 are phases 0, 1 of the floats M further on.
        let (a4, b4) = (row.load16(p0 + M), row.load16(p0 + M + 16));
        // Loops, not closures: a closure would not inherit the caller's target features,
        // and each intrinsic would become a call.
        let mut out = [_mm256_setzero_ps(); K];
        for (k, out) in out.iter_mut().enumerate() {
            let v = if k < M {
                _mm512_permutex2var_ps(a, phase_index(k as i32), b)
            } else {
                _mm512_permutex2var_ps(a4, phase_index((k - M) as i32), b4)
            };
            *out = _mm512_castps512_ps256(v);
        }
        out
    }
}

/// The register arithmetic the transforms need, for 8 lanes (tiles) and 16 (kernels).
///
/// # Safety
/// The methods run AVX-512 instructions: their callers must run on a CPU with AVX-512F, and
/// VL for `__m256`. The `unsafe fn`s below that are generic over `Lanes` ([`term`],
/// `apply_*`) ask the same of their callers and touch no memory.
trait Lanes: Copy {
    unsafe fn zero() -> Self;
    unsafe fn scale(c: f32, v: Self) -> Self;
    unsafe fn add(a: Self, b: Self) -> Self;
    unsafe fn sub(a: Self, b: Self) -> Self;
}

impl Lanes for __m256 {
    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: the caller runs with AVX-512F and VL.
        unsafe { _mm256_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn scale(c: f32, v: Self) -> Self {
        // SAFETY: as above.
        unsafe { _mm256_mul_ps(_mm256_set1_ps(c), v) }
    }
    #[inline(always)]
    unsafe fn add(a: Self, b: Self) -> Self {
        // SAFETY: as above.
        unsafe { _mm256_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: Self, b: Self) -> Self {
        // SAFETY: as above.
        unsafe { _mm256_sub_ps(a, b) }
    }
}

impl Lanes for __m512 {
    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: the caller runs with AVX-512F.
        unsafe { _mm512_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn scale(c: f32, v: Self) -> Self {
        // SAFETY: as above.
        unsafe { _mm512_mul_ps(_mm512_set1_ps(c), v) }
    }
    #[inline(always)]
    unsafe fn add(a: Self, b: Self) -> Self {
        // SAFETY: as above.
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: Self, b: Self) -> Self {
        // SAFETY: as above.
        unsafe { _mm512_sub_ps(a, b) }
    }
}

/// One term of `Σ_q c[q]·s[q]`, summed as `combine` sums: the first term a product, unit
/// coefficients an addition or a subtraction, others a product then an addition (no fused
/// multiply-add); zero coefficients add nothing.
#[inline(always)]
unsafe fn term<V: Lanes>(acc: Option<V>, c: f32, v: V) -> Option<V> {
    if c == 0.0 {
        return acc;
    }
    // SAFETY: register arithmetic only, on the features our caller guarantees ([`Lanes`]).
    unsafe {
        Some(match acc {
            None => V::scale(c, v),
            Some(a) if c == 1.0 => V::add(a, v),
            Some(a) if c == -1.0 => V::sub(a, v),
            Some(a) => V::add(a, V::scale(c, v)),
        })
    }
}

/// `l · s` for a constant matrix `l`, written out term by term: the compiler does not unroll
/// the loops of a generic version, and then tests every coefficient at run time. Written out,
/// each coefficient is a constant and only the non-zero terms' instructions remain.
macro_rules! lin {
    ($row:expr, $s:expr, [$($q:literal)+]) => {{
        let acc = None;
        $(let acc = term(acc, $row[$q], $s[$q]);)+
        acc.unwrap_or(V::zero())
    }};
}

macro_rules! apply {
    ($l:expr, $s:expr, rows [$($p:literal)+], cols $q:tt) => {{
        let (l, s) = (&$l, &$s);
        [$(lin!(l[$p], s, $q)),+]
    }};
}

/// `Bᵀ s` (also `Bᵀ`'s use on the other axis).
#[inline(always)]
unsafe fn apply_bt<V: Lanes>(s: &[V; ALPHA]) -> [V; ALPHA] {
    // SAFETY: register arithmetic only, on the features our caller guarantees ([`Lanes`]).
    unsafe { apply!(BT, s, rows [0 1 2 3 4 5], cols [0 1 2 3 4 5]) }
}

/// `Aᵀ s`.
#[inline(always)]
unsafe fn apply_at<V: Lanes>(s: &[V; ALPHA]) -> [V; M] {
    // SAFETY: register arithmetic only, on the features our caller guarantees ([`Lanes`]).
    unsafe { apply!(AT, s, rows [0 1 2 3], cols [0 1 2 3 4 5]) }
}

/// `A s`.
#[inline(always)]
unsafe fn apply_a<V: Lanes>(s: &[V; M]) -> [V; ALPHA] {
    // SAFETY: register arithmetic only, on the features our caller guarantees ([`Lanes`]).
    unsafe { apply!(A, s, rows [0 1 2 3 4 5], cols [0 1 2 3]) }
}

/// `G s`, or with `TURNED` `G` with its columns reversed (kernels turned 180°).
#[inline(always)]
unsafe fn apply_g<V: Lanes, const TURNED: bool>(s: &[V; 3]) -> [V; ALPHA] {
    // SAFETY: register arithmetic only, on the features our caller guarantees ([`Lanes`]).
    unsafe {
        if TURNED {
            apply!(G_TURNED, s, rows [0 1 2 3 4 5], cols [0 1 2])
        } else {
            apply!(G, s, rows [0 1 2 3 4 5], cols [0 1 2])
        }
    }
}

/// `Gᵀ s`.
#[inline(always)]
unsafe fn apply_gt<V: Lanes>(s: &[V; ALPHA]) -> [V; 3] {
    // SAFETY: register arithmetic only, on the features our caller guarantees ([`Lanes`]).
    unsafe { apply!(GT, s, rows [0 1 2], cols [0 1 2 3 4 5]) }
}

/// Lanes of kernels `i0..i0 + 16` below `ins`.
#[inline(always)]
fn kernel_mask(ins: usize, i0: usize) -> __mmask16 {
    (((1u32 << (ins - i0).min(16)) - 1) & 0xffff) as u16
}

/// The 3×3 kernels one weight transform reads: kernel i's nine taps (`k = 3·row + col`) are
/// `w[first + i·stride + k]`, for i < `count`.
#[derive(Clone, Copy)]
pub struct Kernels<'a> {
    pub w: &'a [f32],
    pub first: usize,
    pub stride: usize,
    pub count: usize,
}

/// `u[(a·α + b)·count + i] = (L g_i Lᵀ)[a][b]` for the kernels i < count, with `L` = G or
/// (`TURNED`) G with its columns reversed: the portable path's tap gather and two `combine`
/// passes, 16 kernels at a time in registers, each tap of the 16 kernels one gather.
///
/// # Safety
/// The CPU must have AVX-512F; `u.len() ≥ α²·count`.
#[target_feature(enable = "avx512f")]
pub unsafe fn weight_kernels<const TURNED: bool>(kernels: Kernels, u: &mut [f32]) {
    let Kernels {
        w,
        first,
        stride,
        count: ins,
    } = kernels;
    assert!(u.len() >= ALPHA * ALPHA * ins);
    if ins == 0 {
        return;
    }
    assert!(
        first + (ins - 1) * stride + 9 <= w.len(),
        "kernels outside the weights"
    );
    // Lane j reads kernel i0 + j: indices up to 15 strides.
    let step = i32::try_from(stride)
        .ok()
        .filter(|s| s.checked_mul(16).is_some())
        .expect("kernel stride fits a gather index");
    let index = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32(step),
    );
    for i0 in (0..ins).step_by(16) {
        let mask = kernel_mask(ins, i0);
        // SAFETY: the gathers read w[first + i·stride + k] for the unmasked kernels i < ins
        // (inside w, checked above); the stores write u[ξ·ins + i0 ..], masked to i < ins.
        unsafe {
            let base = w.as_ptr().add(first + i0 * stride);
            let mut g = [_mm512_setzero_ps(); 9];
            for (k, g) in g.iter_mut().enumerate() {
                *g = _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), mask, index, base.add(k));
            }
            // h[a][col] = Σ_row L[a][row] · g[row][col]
            let mut h = [[_mm512_setzero_ps(); 3]; ALPHA];
            for col in 0..3 {
                let r = apply_g::<_, TURNED>(&[g[col], g[3 + col], g[6 + col]]);
                for (h_a, v) in h.iter_mut().zip(r) {
                    h_a[col] = v;
                }
            }
            for (a, h_a) in h.iter().enumerate() {
                for (b, v) in apply_g::<_, TURNED>(h_a).into_iter().enumerate() {
                    _mm512_mask_storeu_ps(u.as_mut_ptr().add((a * ALPHA + b) * ins + i0), mask, v);
                }
            }
        }
    }
}

/// `dw[i·9 + 3·row + col] = (Gᵀ dU_i G)[row][col]` for the kernels i < ins from
/// `du[(a·α + b)·ins + i]`: the portable path's two `combine` passes, 16 kernels at a time in
/// registers.
///
/// # Safety
/// The CPU must have AVX-512F; `du.len() ≥ α²·ins`, `dw.len() ≥ 9·ins`.
#[target_feature(enable = "avx512f")]
pub unsafe fn weight_grad_kernels(du: &[f32], ins: usize, dw: &mut [f32]) {
    assert!(du.len() >= ALPHA * ALPHA * ins && dw.len() >= 9 * ins);
    for i0 in (0..ins).step_by(16) {
        let mask = kernel_mask(ins, i0);
        let lanes = (ins - i0).min(16);
        // SAFETY: reads du[ξ·ins + i0 ..] masked to i < ins; writes dw[i0·9 ..][..9·lanes].
        unsafe {
            // h[row][b] = Σ_a Gᵀ[row][a] · dU[a][b]
            let mut h = [[_mm512_setzero_ps(); ALPHA]; 3];
            for b in 0..ALPHA {
                let mut column = [_mm512_setzero_ps(); ALPHA];
                for (a, v) in column.iter_mut().enumerate() {
                    *v = _mm512_maskz_loadu_ps(mask, du.as_ptr().add((a * ALPHA + b) * ins + i0));
                }
                for (h_row, v) in h.iter_mut().zip(apply_gt(&column)) {
                    h_row[b] = v;
                }
            }
            // Taps k = 3·row + col of the 16 kernels, then laid out kernel by kernel.
            let mut dg = [[0.0f32; 16]; 9];
            for (row, h_row) in h.iter().enumerate() {
                for (col, v) in apply_gt(h_row).into_iter().enumerate() {
                    _mm512_storeu_ps(dg[3 * row + col].as_mut_ptr(), v);
                }
            }
            let out = &mut dw[i0 * 9..][..9 * lanes];
            for (l, kernel) in out.chunks_exact_mut(9).enumerate() {
                for (k, d) in kernel.iter_mut().enumerate() {
                    *d = dg[k][l];
                }
            }
        }
    }
}

/// [`super::gather_tiles`] for 8 tiles at a time.
///
/// # Safety
/// The CPU must have AVX-512F and VL; `K ≤ α`, `padded.len() ≥ padded_len(cols)`,
/// `dst.len() ≥ (K − 1)·stride + cols`.
#[target_feature(enable = "avx512f,avx512vl")]
pub unsafe fn tiles<const K: usize>(padded: &[f32], dst: &mut [f32], stride: usize, cols: usize) {
    for t0 in (0..cols).step_by(GROUP) {
        let mask = group_mask(cols, t0);
        // SAFETY: group t0 reads padded[t0·M .. t0·M + 36) < padded_len(cols) and writes
        // dst[k·stride + t0 ..][..min(8, cols − t0)] for k < K.
        unsafe {
            let row = PaddedRow {
                row: padded,
                left: 0,
                inside: padded.len(),
            };
            let values = phases::<K>(&row, t0 * M);
            for (k, v) in values.into_iter().enumerate() {
                _mm256_mask_storeu_ps(dst.as_mut_ptr().add(k * stride + t0), mask, v);
            }
        }
    }
}

/// The permutes that interleave 4 rows of 8 tiles (rows 0, 1 in the first register, lanes
/// 8q + j; rows 2, 3 in the second, lanes 16 + 8(q − 2) + j) into 32 output floats, tile by
/// tile: output lane l of half h holds tile j = l / M + 4h, row q = l % M.
#[inline(always)]
fn interleave_index(half: i32) -> __m512i {
    let lane = |l: i32| {
        let (j, q) = (l / 4 + 4 * half, l % 4);
        if q < 2 {
            8 * q + j
        } else {
            16 + 8 * (q - 2) + j
        }
    };
    // SAFETY: plain register construction, no memory access.
    unsafe {
        _mm512_setr_epi32(
            lane(0),
            lane(1),
            lane(2),
            lane(3),
            lane(4),
            lane(5),
            lane(6),
            lane(7),
            lane(8),
            lane(9),
            lane(10),
            lane(11),
            lane(12),
            lane(13),
            lane(14),
            lane(15),
        )
    }
}

/// `lo` in the low half, `hi` in the high half.
#[inline(always)]
unsafe fn pair(lo: __m256, hi: __m256) -> __m512 {
    // SAFETY: register work only.
    unsafe {
        _mm512_castpd_ps(_mm512_insertf64x4(
            _mm512_castps_pd(_mm512_castps256_ps512(lo)),
            _mm256_castps_pd(hi),
            1,
        ))
    }
}

/// Writes `rows[q]` lane j (tile t0 + j) plus `bias` to `dst[(t0 + j)·M + q]`, within
/// `dst`'s first `valid` floats from `t0·M`.
///
/// # Safety
/// AVX-512F and VL; `dst` writable for `t0·M + valid` floats, `valid ≤ 32`.
#[inline(always)]
unsafe fn store_interleaved(rows: [__m256; M], bias: __m512, dst: *mut f32, valid: usize) {
    // SAFETY: register work, and stores of at most `valid` floats from dst.
    unsafe {
        let a = pair(rows[0], rows[1]);
        let b = pair(rows[2], rows[3]);
        for h in 0..2 {
            let n = valid.saturating_sub(16 * h).min(16);
            if n == 0 {
                break;
            }
            let v = _mm512_add_ps(
                _mm512_permutex2var_ps(a, interleave_index(h as i32), b),
                bias,
            );
            let mask: __mmask16 = (((1u32 << n) - 1) & 0xffff) as u16;
            _mm512_mask_storeu_ps(dst.add(16 * h), mask, v);
        }
    }
}

/// [`super::scatter_tiles`] for 8 tiles (32 outputs) at a time.
///
/// # Safety
/// The CPU must have AVX-512F and VL; `src.len() ≥ (M − 1)·stride + cols`, `dst.len() ≤
/// cols·M`.
#[target_feature(enable = "avx512f,avx512vl")]
pub unsafe fn scatter(src: &[f32], stride: usize, cols: usize, dst: &mut [f32], bias: f32) {
    let bias = _mm512_set1_ps(bias);
    for t0 in (0..cols).step_by(GROUP) {
        let mask = group_mask(cols, t0);
        let valid = dst.len().saturating_sub(t0 * M).min(GROUP * M);
        // SAFETY: the loads read src[q·stride + t0 ..][..min(8, cols − t0)], the stores
        // write dst[t0·M ..][..valid].
        unsafe {
            let mut rows = [_mm256_setzero_ps(); M];
            for (q, row) in rows.iter_mut().enumerate() {
                *row = _mm256_maskz_loadu_ps(mask, src.as_ptr().add(q * stride + t0));
            }
            store_interleaved(rows, bias, dst.as_mut_ptr().add(t0 * M), valid);
        }
    }
}

/// `V[(p·α + j)·stride + t] = (Bᵀ d_t B)[p][j]` for the tiles t < cols of one tile row, whose
/// α padded input rows are `rows`: the portable path's gather and two `combine` passes
/// (columns, then rows) in registers.
///
/// # Safety
/// The CPU must have AVX-512F and VL; `dst.len() ≥ (α² − 1)·stride + cols`.
#[target_feature(enable = "avx512f,avx512vl")]
pub unsafe fn input_tiles(rows: [PaddedRow; ALPHA], dst: &mut [f32], stride: usize, cols: usize) {
    assert!(rows.iter().all(|r| r.inside <= r.row.len()));
    assert!(dst.len() >= (ALPHA * ALPHA - 1) * stride + cols);
    for t0 in (0..cols).step_by(GROUP) {
        let mask = group_mask(cols, t0);
        // SAFETY: reads rows[i] by masked loads within its first `inside` floats (checked
        // above); writes dst[ξ·stride + t0 ..][..min(8, cols − t0)] for ξ < α².
        unsafe {
            // e[j][i]: row i of every tile transformed along its columns. Every element is
            // written below before it is read; zeroing the 36 registers first compiled to a
            // memset of the spilled array in every group (1.3 % of a training step's time).
            let mut e = [[std::mem::MaybeUninit::<__m256>::uninit(); ALPHA]; ALPHA];
            for (i, row) in rows.iter().enumerate() {
                let h = apply_bt(&phases::<ALPHA>(row, t0 * M));
                for (e_j, h_j) in e.iter_mut().zip(h) {
                    e_j[i].write(h_j);
                }
            }
            for (j, e_j) in e.iter().enumerate() {
                // SAFETY: the loop above wrote e[j][i] for every i < α.
                let e_j = e_j.map(|v| v.assume_init());
                for (p, v) in apply_bt(&e_j).into_iter().enumerate() {
                    let out = dst.as_mut_ptr().add((p * ALPHA + j) * stride + t0);
                    _mm256_mask_storeu_ps(out, mask, v);
                }
            }
        }
    }
}

/// Output rows `p < rows.len()` of one tile row, `rows[p][t·M + q] = (Aᵀ M_t A)[p][q] + bias`,
/// from the products `m[ξ·stride + t]` of its tiles t < cols: the portable path's two
/// `combine` passes and scatter in registers.
///
/// # Safety
/// The CPU must have AVX-512F and VL; `m.len() ≥ (α² − 1)·stride + cols`; every row at
/// most `cols·M` long.
#[target_feature(enable = "avx512f,avx512vl")]
pub unsafe fn output_tiles(
    m: &[f32],
    stride: usize,
    cols: usize,
    rows: &mut [&mut [f32]],
    bias: f32,
) {
    assert!(m.len() >= (ALPHA * ALPHA - 1) * stride + cols && rows.len() <= M);
    assert!(rows.iter().all(|r| r.len() <= cols * M));
    let bias = _mm512_set1_ps(bias);
    for t0 in (0..cols).step_by(GROUP) {
        let mask = group_mask(cols, t0);
        // SAFETY: reads m[ξ·stride + t0 ..][..min(8, cols − t0)] for ξ < α²; writes each
        // row's floats from t0·M within its length.
        unsafe {
            // f[p][j] = Σ_i Aᵀ[p][i] · M[i][j]
            let mut f = [[_mm256_setzero_ps(); ALPHA]; M];
            for j in 0..ALPHA {
                let mut column = [_mm256_setzero_ps(); ALPHA];
                for (i, v) in column.iter_mut().enumerate() {
                    *v = _mm256_maskz_loadu_ps(mask, m.as_ptr().add((i * ALPHA + j) * stride + t0));
                }
                for (f_p, v) in f.iter_mut().zip(apply_at(&column)) {
                    f_p[j] = v;
                }
            }
            for (f_p, row) in f.iter().zip(rows.iter_mut()) {
                let valid = row.len().saturating_sub(t0 * M).min(GROUP * M);
                if valid > 0 {
                    let out = apply_at(f_p);
                    store_interleaved(out, bias, row.as_mut_ptr().add(t0 * M), valid);
                }
            }
        }
    }
}

/// `dM[(a·α + b)·stride + t] = (A dY_t Aᵀ)[a][b]` for the tiles t < cols of one tile row,
/// whose M output-gradient rows (zero past the output's edges) are `rows`: the portable
/// path's gather and two `combine` passes in registers.
///
/// # Safety
/// The CPU must have AVX-512F and VL; `dst.len() ≥ (α² − 1)·stride + cols`.
#[target_feature(enable = "avx512f,avx512vl")]
pub unsafe fn output_grad_tiles(rows: [PaddedRow; M], dst: &mut [f32], stride: usize, cols: usize) {
    assert!(rows.iter().all(|r| r.inside <= r.row.len()));
    assert!(dst.len() >= (ALPHA * ALPHA - 1) * stride + cols);
    for t0 in (0..cols).step_by(GROUP) {
        let mask = group_mask(cols, t0);
        // SAFETY: reads rows[p] by masked loads within its first `inside` floats (checked
        // above); writes dst[ξ·stride + t0 ..][..min(8, cols − t0)] for ξ < α².
        unsafe {
            // h[b][p] = Σ_q A[b][q] · dY[p][q]
            let mut h = [[_mm256_setzero_ps(); M]; ALPHA];
            for (p, row) in rows.iter().enumerate() {
                let r = apply_a(&phases::<M>(row, t0 * M));
                for (h_b, v) in h.iter_mut().zip(r) {
                    h_b[p] = v;
                }
            }
            for (b, h_b) in h.iter().enumerate() {
                for (a, v) in apply_a(h_b).into_iter().enumerate() {
                    let out = dst.as_mut_ptr().add((a * ALPHA + b) * stride + t0);
                    _mm256_mask_storeu_ps(out, mask, v);
                }
            }
        }
    }
}
