//! Inputs and comparisons the kernel tests share.

use super::gemm_conv;
use super::geom::ConvGeom;

/// `n` reproducible values, uniform in [-1, 1).
pub fn pseudo_random(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// The largest absolute difference between two equally long slices.
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A kernel module's forward: `(x, w, bias, geometry) → y`.
pub type Forward = fn(&[f32], &[f32], Option<&[f32]>, &ConvGeom) -> Vec<f32>;

/// A kernel module's three maps: forward, input gradient, weight gradient.
pub struct ConvMaps {
    pub forward: Forward,
    pub backward_data: fn(&[f32], &[f32], &ConvGeom) -> Vec<f32>,
    pub backward_weight: fn(&[f32], &[f32], &ConvGeom) -> Vec<f32>,
}

/// The operands a check drew: input, weight, bias, output gradient.
pub type Operands = (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>);

/// Asserts that `maps` compute what the im2col kernels (checked against the definition of a
/// convolution) compute, on operands drawn from `seed`, within `tol` for the forward and input
/// gradient and `tol_w` for the weight gradient; returns the operands.
pub fn assert_matches_im2col(
    case: usize,
    g: &ConvGeom,
    seed: u64,
    maps: ConvMaps,
    [tol, tol_w]: [f32; 2],
) -> Operands {
    let x = pseudo_random(g.batch * g.c_in * g.in_plane(), seed);
    let w = pseudo_random(g.c_out * g.k(), seed + 1);
    let bias = pseudo_random(g.c_out, seed + 2);
    let dy = pseudo_random(g.batch * g.c_out * g.out_plane(), seed + 3);
    let d = max_diff(
        &(maps.forward)(&x, &w, Some(&bias), g),
        &gemm_conv::forward(&x, &w, Some(&bias), g),
    );
    assert!(d < tol, "case {case}: forward differs by {d}");
    let d = max_diff(
        &(maps.backward_data)(&dy, &w, g),
        &gemm_conv::backward_data(&dy, &w, g),
    );
    assert!(d < tol, "case {case}: input gradient differs by {d}");
    let d = max_diff(
        &(maps.backward_weight)(&x, &dy, g),
        &gemm_conv::backward_weight(&x, &dy, g),
    );
    assert!(d < tol_w, "case {case}: weight gradient differs by {d}");
    (x, w, bias, dy)
}

/// The AVX-512 token for a test that compares the AVX-512 kernels with the portable ones, or
/// `None` after [`note_no_avx512`].
#[cfg(target_arch = "x86_64")]
pub fn avx512_or_note(test: &str) -> Option<super::simd::Avx512> {
    let token = super::simd::Avx512::detect();
    if token.is_none() {
        note_no_avx512(test);
    }
    token
}

/// Says on stderr that `test` does not run on this CPU, so that it does not pass in silence:
/// straight to stderr, since the test harness keeps what `eprintln!` writes to itself.
pub fn note_no_avx512(test: &str) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "note: {test} not run: this CPU lacks AVX-512 (F, VL), so only the portable kernels run here"
    );
}
