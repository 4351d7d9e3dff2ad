//! Runs a kernel body compiled for AVX-512 where the CPU has it. The crate is built for the
//! baseline x86-64 (SSE2) so that one binary runs everywhere; the element-wise loops of the
//! transforms, norms and copies vectorise 4-wide there and 16-wide here. No floating-point
//! contraction or reassociation is enabled, so both paths compute identical values.
//!
//! The body must be a closure called once: it is inlined into the feature-enabled function.
//! Code that crosses threads (rayon jobs) runs outside it, so parallel loops call this inside
//! each job.

/// `f()`, with AVX-512 code generation when the running CPU supports it.
#[inline(always)]
pub fn dispatch<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: the features were detected on this CPU.
        return unsafe { avx512(f) };
    }
    f()
}

/// Proof that the running CPU has the features [`dispatch`] compiles for (AVX-512F and VL,
/// AVX2, FMA): its field is private, so only [`Avx512::detect`], which asks the CPU, makes
/// one. Code that runs `#[target_feature]` kernels on being handed a token is sound on its
/// own, whoever hands it the token.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Avx512 {
    _detected: (),
}

#[cfg(target_arch = "x86_64")]
impl Avx512 {
    /// A token where the running CPU has the features, `None` elsewhere.
    pub fn detect() -> Option<Self> {
        has_avx512().then_some(Self { _detected: () })
    }
}

/// Whether the running CPU has the features [`dispatch`] compiles for.
#[cfg(target_arch = "x86_64")]
pub fn has_avx512() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
    })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}
