//! The image pool (upstream `util/image_pool.py`; Shrivastava et al. 2017): discriminators are
//! shown a history of generated images rather than only the latest, which steadies training.
//!
//! Query semantics, per image of the batch: while the pool holds fewer than `pool_size` images
//! the image is stored and returned; afterwards, with probability ½ a random stored image is
//! returned and replaced by the new one, otherwise the new image is returned and not stored.

use burn::tensor::Tensor;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A history buffer of generated images with its own random stream, so that its choices can be
/// saved and replayed exactly on resume.
#[derive(Debug)]
pub struct ImagePool {
    pool_size: usize,
    images: Vec<Tensor<4>>, // each [1, c, h, w]
    rng: ChaCha8Rng,
}

impl ImagePool {
    pub fn new(pool_size: usize, seed: u64) -> Self {
        Self {
            pool_size,
            images: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Returns the images the discriminator should see for `images` (`[b, c, h, w]`, detached).
    pub fn query(&mut self, images: Tensor<4>) -> Tensor<4> {
        if self.pool_size == 0 {
            return images;
        }
        let b = images.dims()[0];
        let mut out = Vec::with_capacity(b);
        for i in 0..b {
            let image = images.clone().narrow(0, i, 1);
            if self.images.len() < self.pool_size {
                self.images.push(image.clone());
                out.push(image);
            } else if self.rng.r#gen::<f64>() > 0.5 {
                let j = self.rng.gen_range(0..self.pool_size);
                out.push(std::mem::replace(&mut self.images[j], image));
            } else {
                out.push(image);
            }
        }
        Tensor::cat(out, 0)
    }

    pub fn images(&self) -> &[Tensor<4>] {
        &self.images
    }

    /// The random stream's position, which with the seed restores it.
    pub fn rng_state(&self) -> ([u8; 32], u128) {
        (self.rng.get_seed(), self.rng.get_word_pos())
    }

    /// Restores a pool saved as its images and [`ImagePool::rng_state`].
    pub fn restore(&mut self, images: Vec<Tensor<4>>, (seed, word_pos): ([u8; 32], u128)) {
        self.images = images;
        self.rng = ChaCha8Rng::from_seed(seed);
        self.rng.set_word_pos(word_pos);
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, TensorData};

    use super::*;

    fn image(v: f32) -> Tensor<4> {
        Tensor::from_data(TensorData::new(vec![v; 4], [1, 1, 2, 2]), &Device::flex())
    }

    fn value(t: &Tensor<4>, i: usize) -> f32 {
        let v = t
            .clone()
            .narrow(0, i, 1)
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>();
        v.expect("f32")[0]
    }

    #[test]
    fn size_zero_passes_images_through() {
        let mut pool = ImagePool::new(0, 1);
        let out = pool.query(image(3.0));
        assert_eq!(value(&out, 0), 3.0);
        assert!(pool.images().is_empty());
    }

    #[test]
    fn fills_first_then_swaps_about_half_the_time() {
        let mut pool = ImagePool::new(3, 7);
        for v in 0..3 {
            // While filling, each image is stored and returned as is.
            assert_eq!(value(&pool.query(image(v as f32)), 0), v as f32);
        }
        assert_eq!(pool.images().len(), 3);
        let mut from_history = 0;
        let n = 2000;
        for v in 3..3 + n {
            let out = value(&pool.query(image(v as f32)), 0);
            if out != v as f32 {
                // A returned history image is older than the query and was in the pool.
                assert!(out < v as f32);
                from_history += 1;
            }
            assert_eq!(pool.images().len(), 3);
        }
        let share = from_history as f64 / n as f64;
        assert!((0.45..0.55).contains(&share), "history share {share}");
    }

    #[test]
    fn restored_pool_replays_the_same_choices() {
        let mut a = ImagePool::new(2, 11);
        for v in 0..5 {
            a.query(image(v as f32));
        }
        let mut b = ImagePool::new(2, 99);
        b.restore(a.images().to_vec(), a.rng_state());
        for v in 5..40 {
            let (x, y) = (a.query(image(v as f32)), b.query(image(v as f32)));
            assert_eq!(value(&x, 0), value(&y, 0));
        }
    }

    #[test]
    fn batch_queries_image_by_image() {
        let mut pool = ImagePool::new(1, 3);
        let batch = Tensor::cat(vec![image(1.0), image(2.0)], 0);
        let out = pool.query(batch);
        // The first image fills the pool and comes back; the second either comes back or swaps
        // with the first.
        assert_eq!(value(&out, 0), 1.0);
        assert!([1.0, 2.0].contains(&value(&out, 1)));
    }
}
