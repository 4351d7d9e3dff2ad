//! Translating images with a trained generator, at any size: each image is reflect-padded to
//! the generator's size multiple (4 for ResNets, 2^num_downs for U-Nets) and at least the
//! smallest size the network can run on (8 for ResNets), translated, and cropped back, so the
//! output has exactly the input's size.

use burn::tensor::{Device, Tensor, TensorData};

use std::path::Path;

use crate::data::{DataError, Image8, ImageTensor, load_image8, resize::resize_bicubic};
use crate::model::{Generator, GeneratorConfig, Mode};
use crate::ops::pad::reflect;

/// A generator ready to translate, on its device.
#[derive(Debug)]
pub struct Translator {
    config: GeneratorConfig,
    generator: Generator,
    device: Device,
    mode: Mode,
}

impl Translator {
    /// A translator that evaluates (`Mode::Eval`: running statistics, no dropout).
    pub fn new(config: GeneratorConfig, generator: Generator, device: Device) -> Self {
        Self {
            config,
            generator,
            device,
            mode: Mode::Eval,
        }
    }

    /// Runs the generator in `mode`: `Mode::Train` is upstream's `test.py` without `--eval`
    /// (batch norm on each image's own statistics, dropout as built).
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// Translates images of one size together (a batch); the output images have the inputs'
    /// sizes. Callers group images by size (see [`group_by_size`]).
    ///
    /// # Panics
    /// If the images differ in size or channel count (a caller bug, not a user error).
    pub fn translate_batch(&self, images: &[&ImageTensor]) -> Vec<ImageTensor> {
        let Some(first) = images.first() else {
            return Vec::new();
        };
        // Batch statistics would mix the images: each runs alone, as upstream's batch of 1.
        if images.len() > 1 && self.mode == Mode::Train && !self.generator.per_sample() {
            return images.iter().map(|i| self.translate(i)).collect();
        }
        let (c, h, w) = (first.channels, first.height, first.width);
        assert!(
            images
                .iter()
                .all(|i| (i.channels, i.height, i.width) == (c, h, w))
        );
        let multiple = self.config.size_multiple();
        let pad = Padding::to_multiple_at_least(h, w, multiple, self.config.min_side());
        let mut data = Vec::with_capacity(images.len() * c * pad.height * pad.width);
        for image in images {
            data.extend(pad.apply(image));
        }
        let x = Tensor::<4>::from_data(
            TensorData::new(data, [images.len(), c, pad.height, pad.width]),
            &self.device,
        );
        let y = self.generator.forward(x, self.mode); // [b, output_nc, H, W]
        let [b, out_c, out_h, out_w] = y.dims();
        let flat = y.into_data().convert::<f32>().try_into_vec::<f32>();
        let flat = flat.expect("converted to f32 on the line above");
        let plane = out_c * out_h * out_w;
        (0..b)
            .map(|i| {
                let padded = ImageTensor {
                    channels: out_c,
                    height: out_h,
                    width: out_w,
                    data: flat[i * plane..(i + 1) * plane].to_vec(),
                };
                pad.crop(&padded)
            })
            .collect()
    }

    pub fn translate(&self, image: &ImageTensor) -> ImageTensor {
        self.translate_batch(&[image]).remove(0)
    }
}

/// Reads an image as the network's input: `channels` channels, optionally resized to N×N first
/// (bicubic on 8-bit pixels, as upstream's test-time `Resize`).
pub fn load_input(
    path: &Path,
    channels: usize,
    max_pixels: u64,
    load_size: Option<usize>,
) -> Result<ImageTensor, DataError> {
    Ok(test_input(
        &load_image8(path, channels, max_pixels)?,
        load_size,
    ))
}

/// An image as the network's input at test time: resized to N×N first when `load_size` is
/// given (bicubic on 8-bit pixels, as upstream's test-time `Resize`), else at its own size.
pub fn test_input(image: &Image8, load_size: Option<usize>) -> ImageTensor {
    match load_size {
        Some(n) => resize_bicubic(image, n, n).to_tensor(),
        None => image.to_tensor(),
    }
}

/// Splits indices of `images` into runs of equal size, at most `batch_size` long, keeping order.
pub fn group_by_size(sizes: &[(usize, usize, usize)], batch_size: usize) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        match groups.last_mut() {
            Some(g) if g.len() < batch_size.max(1) && sizes[g[0]] == *size => g.push(i),
            _ => groups.push(vec![i]),
        }
    }
    groups
}

/// Reflection padding of an image to a size multiple, split evenly between the two sides so
/// border effects fall equally on both, and the crop that undoes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Padding {
    pub top: usize,
    pub left: usize,
    pub height: usize,
    pub width: usize,
    pub orig_height: usize,
    pub orig_width: usize,
}

impl Padding {
    pub fn to_multiple(h: usize, w: usize, multiple: usize) -> Self {
        Self::to_multiple_at_least(h, w, multiple, 1)
    }

    /// [`Padding::to_multiple`], with each padded side also at least `min_side`.
    pub fn to_multiple_at_least(h: usize, w: usize, multiple: usize, min_side: usize) -> Self {
        let up = |n: usize| n.max(min_side).div_ceil(multiple.max(1)) * multiple.max(1);
        let (height, width) = (up(h.max(1)), up(w.max(1)));
        Self {
            top: (height - h) / 2,
            left: (width - w) / 2,
            height,
            width,
            orig_height: h,
            orig_width: w,
        }
    }

    /// The padded image's CHW data. Reflection (PyTorch's `ReflectionPad2d`: the edge pixel is
    /// not repeated) continues periodically when the padding exceeds the image, where
    /// `ReflectionPad2d` itself would refuse.
    pub fn apply(&self, image: &ImageTensor) -> Vec<f32> {
        let rows: Vec<usize> = (0..self.height)
            .map(|y| reflect(y as isize - self.top as isize, image.height))
            .collect();
        let cols: Vec<usize> = (0..self.width)
            .map(|x| reflect(x as isize - self.left as isize, image.width))
            .collect();
        let mut out = Vec::with_capacity(image.channels * self.height * self.width);
        for c in 0..image.channels {
            let plane = &image.data[c * image.height * image.width..][..image.height * image.width];
            for &y in &rows {
                out.extend(cols.iter().map(|&x| plane[y * image.width + x]));
            }
        }
        out
    }

    /// Crops a padded-size image back to the original size.
    pub fn crop(&self, padded: &ImageTensor) -> ImageTensor {
        let (h, w) = (self.orig_height, self.orig_width);
        let mut data = Vec::with_capacity(padded.channels * h * w);
        for c in 0..padded.channels {
            for y in 0..h {
                let start = (c * padded.height + y + self.top) * padded.width + self.left;
                data.extend_from_slice(&padded.data[start..start + w]);
            }
        }
        ImageTensor {
            channels: padded.channels,
            height: h,
            width: w,
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(c: usize, h: usize, w: usize) -> ImageTensor {
        let data = (0..c * h * w).map(|i| i as f32).collect();
        ImageTensor {
            channels: c,
            height: h,
            width: w,
            data,
        }
    }

    #[test]
    fn padding_reaches_the_multiple_and_splits_evenly() {
        let p = Padding::to_multiple(30, 33, 4);
        assert_eq!((p.height, p.width), (32, 36));
        assert_eq!((p.top, p.left), (1, 1));
        let p = Padding::to_multiple(32, 32, 4);
        assert_eq!((p.top, p.left, p.height, p.width), (0, 0, 32, 32));
        let p = Padding::to_multiple(100, 7, 256);
        assert_eq!((p.height, p.width, p.top, p.left), (256, 256, 78, 124));
        // A 6×4 image for a ResNet (multiple 4, at least 8): 8×8, split evenly.
        let p = Padding::to_multiple_at_least(6, 4, 4, 8);
        assert_eq!((p.height, p.width, p.top, p.left), (8, 8, 1, 2));
        let p = Padding::to_multiple_at_least(12, 9, 4, 8);
        assert_eq!((p.height, p.width), (12, 12));
    }

    #[test]
    fn crop_undoes_padding() {
        let image = ramp(3, 5, 7);
        let p = Padding::to_multiple(5, 7, 4);
        let padded = ImageTensor {
            channels: 3,
            height: p.height,
            width: p.width,
            data: p.apply(&image),
        };
        assert_eq!(padded.data.len(), 3 * 8 * 8);
        assert_eq!(p.crop(&padded), image);
    }

    #[test]
    fn groups_keep_order_and_split_on_size_and_batch() {
        let s = [(3, 4, 4), (3, 4, 4), (3, 4, 4), (3, 8, 8), (3, 4, 4)];
        assert_eq!(
            group_by_size(&s, 2),
            vec![vec![0, 1], vec![2], vec![3], vec![4]]
        );
    }
}
