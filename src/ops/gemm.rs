//! Dense f32 GEMMs on strided operands through the `gemm` crate, for the im2col, phase and
//! Winograd kernels: one call with the threading chosen by the caller ([`gemm_on`]) or by
//! size ([`gemm`]), and the weight gradient's short, wide `dst += a · bᵀ` split over k
//! ([`accumulate_split_k`]).

use rayon::prelude::*;

use super::send_ptr::SendPtr;

/// `dst = src_a · src_b` (or `dst += …` with `accumulate`), matrices given by pointer and
/// (row, column) strides, split over the global rayon pool when large enough.
///
/// # Safety
/// As [`gemm_on`].
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm(
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
        ::gemm::Parallelism::Rayon(threads)
    } else {
        ::gemm::Parallelism::None
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
    parallelism: ::gemm::Parallelism,
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
        ::gemm::gemm(
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

/// `dst += a · bᵀ` (`dst` `[m, n]` dense, `a` `[m, k]` and `b` `[n, k]` with row strides
/// `a_rs`, `b_rs`). The weight gradient's products are short and wide (k is every pixel), and
/// the `gemm` crate splits them poorly over threads (105 GFLOP/s on 2 threads against 91 on
/// one, measured at 128×576×4096); here each thread takes a slice of k into a buffer of its
/// own, and the buffers are added in order.
///
/// # Safety
/// `a` and `b` must be valid for the elements their shapes and strides reach.
pub(super) unsafe fn accumulate_split_k(
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
                    ::gemm::Parallelism::None,
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
