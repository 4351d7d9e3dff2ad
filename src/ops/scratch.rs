//! Reusable buffers for the kernels' temporaries (transformed tiles and weights, GEMM
//! products). A fresh `vec![0.0; n]` of several MiB costs a memset (on the calling thread,
//! while the other cores wait) and cold pages on every call; these come back as they were
//! left, and every kernel writes each element of its scratch before reading it.
//!
//! A buffer remembers how many of its floats were ever written, so handing it out again at
//! another length zero-fills nothing it has already initialised.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

/// Buffers kept per thread; beyond this the smallest is let go. The training step keeps one
/// transformed input per Winograd convolution of a generator (54 at the official sizes) from
/// the forward pass to the backward pass, and those come back here for the next step.
const KEEP: usize = 64;

thread_local! {
    static FREE: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// `len` floats of unspecified (but initialised) contents, returned to the pool of the thread
/// that drops it.
pub struct Scratch {
    /// Every float of `buf` is initialised; the scratch is its first `len`.
    buf: Vec<f32>,
    len: usize,
}

/// Takes the smallest free buffer whose initialised part holds `len` floats, else the smallest
/// whose capacity does, else allocates one.
pub fn take(len: usize) -> Scratch {
    let mut buf = FREE.with_borrow_mut(|free| {
        let smallest = |holds: &dyn Fn(&Vec<f32>) -> Option<usize>| {
            (0..free.len())
                .filter_map(|i| holds(&free[i]).map(|size| (size, i)))
                .min()
                .map(|(_, i)| i)
        };
        let fit = smallest(&|b| (b.len() >= len).then_some(b.len()))
            .or_else(|| smallest(&|b| (b.capacity() >= len).then_some(b.capacity())));
        fit.map(|i| free.swap_remove(i))
            .unwrap_or_else(|| Vec::with_capacity(len))
    });
    if buf.len() < len {
        // Zero-fills only floats never handed out before.
        buf.resize(len, 0.0);
    }
    Scratch { buf, len }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        if buf.capacity() == 0 {
            return;
        }
        FREE.with_borrow_mut(|free| {
            free.push(buf);
            if free.len() > KEEP {
                let smallest = (0..free.len()).min_by_key(|&i| free[i].capacity());
                if let Some(i) = smallest {
                    free.swap_remove(i);
                }
            }
        });
    }
}

impl Deref for Scratch {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.buf[..self.len]
    }
}

impl DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.buf[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_and_sized() {
        let mut first = take(1000);
        let ptr = first.as_ptr();
        first[999] = 7.0;
        drop(first);
        let again = take(500);
        assert_eq!(again.len(), 500);
        assert_eq!(again.as_ptr(), ptr, "a freed buffer that fits is reused");
        drop(again);
        // Back at the full length: what was written is still there, so nothing was zeroed.
        let full = take(1000);
        assert_eq!((full.as_ptr(), full[999]), (ptr, 7.0));
        let other = take(2000);
        assert_eq!(other.len(), 2000);
        assert_ne!(other.as_ptr(), full.as_ptr());
        assert!(other.iter().all(|&x| x == 0.0), "new floats start as zeros");
    }

    #[test]
    fn the_pool_is_bounded() {
        let many: Vec<Scratch> = (0..KEEP + 10).map(|i| take(16 + i)).collect();
        drop(many);
        let kept = FREE.with_borrow(|free| free.len());
        assert!(kept <= KEEP, "{kept} buffers kept");
    }
}
