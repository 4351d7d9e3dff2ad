//! Moving images between host [`ImageTensor`]s and device tensors.

use burn::tensor::{Device, Tensor, TensorData};

use crate::data::ImageTensor;

/// Stacks same-size images into a `[b, c, h, w]` tensor.
///
/// # Panics
/// If the images differ in size (a caller bug: batches are made of one size).
pub fn stack(images: &[ImageTensor], device: &Device) -> Tensor<4> {
    let first = &images[0];
    let (c, h, w) = (first.channels, first.height, first.width);
    let mut data = Vec::with_capacity(images.len() * c * h * w);
    for image in images {
        assert_eq!(
            (image.channels, image.height, image.width),
            (c, h, w),
            "batch of mixed sizes"
        );
        data.extend_from_slice(&image.data);
    }
    Tensor::from_data(TensorData::new(data, [images.len(), c, h, w]), device)
}

/// The values of `t` (off any autodiff graph) as host f32, in row-major order.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    let flat = t.inner().into_data().convert::<f32>().try_into_vec::<f32>();
    flat.expect("converted to f32 on the line above")
}

/// Splits a `[b, c, h, w]` tensor into host images.
pub fn unstack(t: Tensor<4>) -> Vec<ImageTensor> {
    let [b, c, h, w] = t.dims();
    let flat = values(t);
    flat.chunks(c * h * w)
        .take(b)
        .map(|chunk| ImageTensor {
            channels: c,
            height: h,
            width: w,
            data: chunk.to_vec(),
        })
        .collect()
}
