//! `nn.Dropout(0.5)`, the U-Net's and (with `--dropout`) the ResNet blocks', with masks drawn
//! from a stream this crate seeds instead of burn's global generator: a training step seeds it
//! from (seed, iteration), so a resumed run draws the masks the uninterrupted one would have,
//! and `test`/`translate` seed it from `--seed`, so their outputs repeat.
//!
//! The stream is per thread: the networks' forwards run on the thread that calls them (the
//! kernels inside fan out, the layer sequence does not), so one call's masks never depend on
//! what another thread runs at the same time.

use std::cell::RefCell;

use burn::tensor::{Tensor, TensorData};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::layers::Mode;

thread_local! {
    static STREAM: RefCell<ChaCha8Rng> = RefCell::new(ChaCha8Rng::seed_from_u64(0));
}

/// Restarts this thread's dropout stream at `seed`.
pub fn seed_dropout(seed: u64) {
    STREAM.with(|s| *s.borrow_mut() = ChaCha8Rng::seed_from_u64(seed));
}

/// Each element kept with probability ½ and doubled (PyTorch's inverted dropout), or `x`
/// unchanged when evaluating, as upstream's `eval()` makes it.
pub fn dropout(x: Tensor<4>, mode: Mode) -> Tensor<4> {
    if mode == Mode::Eval {
        return x;
    }
    let dims = x.dims();
    let n: usize = dims.iter().product();
    let mask = STREAM.with(|s| {
        let mut rng = s.borrow_mut();
        let mut mask = Vec::with_capacity(n);
        while mask.len() < n {
            let bits = rng.next_u64();
            let take = (n - mask.len()).min(64);
            mask.extend((0..take).map(|i| if bits >> i & 1 == 1 { 2.0f32 } else { 0.0 }));
        }
        mask
    });
    // A constant beside an autodiff `x`: the gradient passes through the kept elements only.
    x.clone() * Tensor::<4>::from_data(TensorData::new(mask, dims), &x.device())
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32")
    }

    /// Half the elements (within a few standard deviations of 4,096 draws) are zeroed, the rest
    /// doubled; the same seed gives the same mask, and evaluation changes nothing.
    #[test]
    fn keeps_about_half_doubled_and_repeats_with_its_seed() {
        let device = Device::flex();
        let x = Tensor::<4>::ones([1, 4, 32, 32], &device);
        seed_dropout(5);
        let a = values(dropout(x.clone(), Mode::Train));
        assert!(a.iter().all(|&v| v == 0.0 || v == 2.0));
        let kept = a.iter().filter(|&&v| v == 2.0).count();
        // Binomial(4096, ½): standard deviation 32.
        assert!((2048 - 160..=2048 + 160).contains(&kept), "{kept} kept");
        let b = values(dropout(x.clone(), Mode::Train));
        assert_ne!(a, b, "the stream moves on between calls");
        seed_dropout(5);
        assert_eq!(values(dropout(x.clone(), Mode::Train)), a);
        assert_eq!(values(dropout(x.clone(), Mode::Eval)), values(x));
    }
}
