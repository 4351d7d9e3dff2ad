//! Reusable buffers for the kernels' temporaries (transformed tiles and weights, GEMM
//! products). A fresh `vec![0.0; n]` of several MiB costs a memset and cold pages on every
//! call; these come back as they were left, and every kernel writes each element of its
//! scratch before reading it.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

/// Buffers kept per thread; beyond this the smallest is let go.
const KEEP: usize = 8;

thread_local! {
    static FREE: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// `len` floats of unspecified (but initialised) contents, returned to this thread's pool on
/// drop.
pub struct Scratch(Vec<f32>);

/// Takes the smallest free buffer that holds `len` floats, or allocates one.
pub fn take(len: usize) -> Scratch {
    let mut buf = FREE.with_borrow_mut(|free| {
        let fit = (0..free.len())
            .filter(|&i| free[i].capacity() >= len)
            .min_by_key(|&i| free[i].capacity());
        fit.map(|i| free.swap_remove(i))
            .unwrap_or_else(|| Vec::with_capacity(len))
    });
    // Shrinking keeps old contents; growing zero-fills only the new part.
    buf.resize(len, 0.0);
    Scratch(buf)
}

impl Scratch {
    /// The buffer, kept by the caller instead of going back to the pool.
    pub fn into_vec(mut self) -> Vec<f32> {
        std::mem::take(&mut self.0)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.0);
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
        &self.0
    }
}

impl DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_and_sized() {
        let first = take(1000);
        let ptr = first.as_ptr();
        drop(first);
        let again = take(500);
        assert_eq!(again.len(), 500);
        assert_eq!(again.as_ptr(), ptr, "a freed buffer that fits is reused");
        let other = take(2000);
        assert_eq!(other.len(), 2000);
        assert_ne!(other.as_ptr(), again.as_ptr());
    }
}
