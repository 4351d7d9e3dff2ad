//! The convolutions, instance norms and reflection pads the networks run, and the optimiser's
//! Adam update, with kernels of our own on the CPU.
//!
//! On burn's `flex` CPU backend (f32, with or without autodiff) [`conv2d`] and
//! [`conv_transpose2d`] run the [`cpu`] kernels, and [`instance_norm`], [`reflection_pad`] and
//! [`adam_step`] their own one-pass loops; all but Adam register their own backward passes on
//! burn's autodiff graph. On the GPU backends they are burn's own operations, which compile to
//! the device's kernels.

pub mod adam;
pub mod cpu;
pub mod direct;
mod flex;
mod gemm;
pub mod gemm_conv;
pub mod geom;
pub mod norm;
pub mod pad;
mod phases;
pub mod profile;
mod scratch;
mod send_ptr;
pub mod shared;
mod simd;
mod sum;
#[cfg(test)]
pub(crate) mod test_util;
pub mod winograd;

use burn::tensor::Tensor;
use burn::tensor::activation::{leaky_relu, relu};
use burn::tensor::module::{conv_transpose2d as burn_conv_transpose2d, conv2d as burn_conv2d};
use burn::tensor::ops::PadMode;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};

pub use adam::AdamScalars;
use flex::Direction;
use geom::ConvGeom;
pub use norm::Activation;

/// The operands of a convolution: input, weight and optional bias.
type Operands = (Tensor<4>, Tensor<4>, Option<Tensor<1>>);

/// `nn.Conv2d` with zero padding, no dilation and one group: `[b, c_in, h, w]` by
/// `[c_out, c_in, k, k]` → `[b, c_out, h', w']`.
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    stride: usize,
    padding: usize,
) -> Tensor<4> {
    let operands = (x, weight, bias);
    let geom = ConvGeom::new(
        operands.0.dims(),
        operands.1.dims(),
        [stride; 2],
        [padding; 2],
    );
    let (x, weight, bias) = match geom {
        Some(geom) => match flex::conv(Direction::Forward, geom, operands) {
            Ok(y) => return y,
            Err(operands) => operands,
        },
        // Not a valid convolution: burn's own checks say what is wrong.
        None => operands,
    };
    let options = ConvOptions::new([stride; 2], [padding; 2], [1, 1], 1);
    burn_conv2d(x, weight, bias, options)
}

/// Instance normalisation without affine parameters (`InstanceNorm2d(affine=False)`): each
/// `[h, w]` plane to zero mean and unit (biased) variance, `eps` inside the square root.
pub fn instance_norm(x: Tensor<4>, eps: f64) -> Tensor<4> {
    instance_norm_activated(x, eps, Activation::Identity)
}

/// [`instance_norm`] followed by `act`, in the same passes on the CPU.
pub fn instance_norm_activated(x: Tensor<4>, eps: f64, act: Activation) -> Tensor<4> {
    match flex::instance_norm(x, eps, act) {
        Ok(y) => y,
        Err(x) => {
            let [b, c, h, w] = x.dims();
            let flat = x.reshape([b, c, h * w]);
            let (var, mean) = flat.clone().var_mean_bias(2);
            activate(
                ((flat - mean) / (var + eps).sqrt()).reshape([b, c, h, w]),
                act,
            )
        }
    }
}

/// `act` on its own, as burn's tensor ops (where no norm pass takes it in).
pub fn activate(x: Tensor<4>, act: Activation) -> Tensor<4> {
    match act {
        Activation::Identity => x,
        Activation::Relu => relu(x),
        Activation::LeakyRelu(slope) => leaky_relu(x, slope as f64),
    }
}

/// Adam's update in one pass on the CPU: `[param, grad, exp_avg, exp_avg_sq]` to the new
/// `[param, exp_avg, exp_avg_sq]`, or the four tensors back where they are not flex f32.
#[allow(clippy::result_large_err)]
pub fn adam_step(
    tensors: [Tensor<1>; 4],
    scalars: AdamScalars,
) -> Result<[Tensor<1>; 3], [Tensor<1>; 4]> {
    flex::adam_step(tensors, scalars)
}

/// `nn.ReflectionPad2d(p)` on `[b, c, h, w]`, `p < min(h, w)`: one op with its own backward on
/// the CPU, burn's composed padding elsewhere.
pub fn reflection_pad(x: Tensor<4>, p: usize) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    if p >= h.min(w) {
        // burn's own check says what is wrong.
        return x.pad([(p, p), (p, p)], PadMode::Reflect);
    }
    match flex::reflection_pad(x, p) {
        Ok(y) => y,
        Err(x) => x.pad([(p, p), (p, p)], PadMode::Reflect),
    }
}

/// `nn.ConvTranspose2d` with no dilation and one group: `[b, c_in, h, w]` by
/// `[c_in, c_out, k, k]` → `[b, c_out, (h - 1)·stride - 2·padding + k + output_padding, …]`.
pub fn conv_transpose2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    stride: usize,
    padding: usize,
    output_padding: usize,
) -> Tensor<4> {
    let operands = (x, weight, bias);
    let [b, c_in, h, w] = operands.0.dims();
    let [w_in, c_out, k_h, k_w] = operands.1.dims();
    // A transposed convolution is the input gradient of the convolution it transposes, from
    // the (larger) output back to the input.
    let out = |size: usize, k: usize| {
        (size.saturating_sub(1) * stride + k + output_padding).checked_sub(2 * padding)
    };
    let geom = match (out(h, k_h), out(w, k_w)) {
        (Some(out_h), Some(out_w)) if w_in == c_in && output_padding < stride => ConvGeom::new(
            [b, c_out, out_h, out_w],
            [c_in, c_out, k_h, k_w],
            [stride; 2],
            [padding; 2],
        )
        .filter(|g| (g.out_h, g.out_w) == (h, w)),
        _ => None,
    };
    let (x, weight, bias) = match geom {
        Some(geom) => match flex::conv(Direction::Transposed, geom, operands) {
            Ok(y) => return y,
            Err(operands) => operands,
        },
        None => operands,
    };
    let options =
        ConvTransposeOptions::new([stride; 2], [padding; 2], [output_padding; 2], [1, 1], 1);
    burn_conv_transpose2d(x, weight, bias, options)
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor};

    use super::*;

    fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    /// Values and all three gradients of our kernels against burn's own convolution on the same
    /// tensors, through burn's autodiff (so the custom backward is what is checked).
    fn check(transposed: bool, x: [usize; 4], w: [usize; 4], stride: usize, padding: usize) {
        let device = Device::flex();
        let rand = |shape: [usize; 4]| {
            Tensor::<4>::random(shape, Distribution::Uniform(-1.0, 1.0), &device)
        };
        let (x, w) = (rand(x), rand(w));
        let bias = Tensor::<1>::random(
            [if transposed { w.dims()[1] } else { w.dims()[0] }],
            Distribution::Uniform(-1.0, 1.0),
            &device,
        );
        let run = |ours: bool| {
            let track = |t: &Tensor<4>| t.clone().autodiff().require_grad();
            let (x, w, b) = (track(&x), track(&w), bias.clone().autodiff().require_grad());
            let y = match (transposed, ours) {
                (false, true) => conv2d(x.clone(), w.clone(), Some(b.clone()), stride, padding),
                (false, false) => burn_conv2d(
                    x.clone(),
                    w.clone(),
                    Some(b.clone()),
                    ConvOptions::new([stride; 2], [padding; 2], [1, 1], 1),
                ),
                (true, true) => conv_transpose2d(
                    x.clone(),
                    w.clone(),
                    Some(b.clone()),
                    stride,
                    padding,
                    stride - 1,
                ),
                (true, false) => burn_conv_transpose2d(
                    x.clone(),
                    w.clone(),
                    Some(b.clone()),
                    ConvTransposeOptions::new(
                        [stride; 2],
                        [padding; 2],
                        [stride - 1; 2],
                        [1, 1],
                        1,
                    ),
                ),
            };
            // A loss whose gradient differs at every output element.
            let r = Tensor::<4>::random(y.dims(), Distribution::Default, &Device::flex());
            let weights = (r * 0.0 + 1.0).cumsum(3) / 7.0;
            let grads = (y.clone() * weights).sum().backward();
            (
                y.inner(),
                x.grad(&grads).unwrap(),
                w.grad(&grads).unwrap(),
                b.grad(&grads).unwrap(),
            )
        };
        let (ours, burns) = (run(true), run(false));
        assert_eq!(ours.0.dims(), burns.0.dims());
        assert!(max_diff(ours.0, burns.0) < 1e-4, "output");
        assert!(max_diff(ours.1, burns.1) < 1e-3, "input gradient");
        assert!(max_diff(ours.2, burns.2) < 1e-3, "weight gradient");
        assert!(max_diff(ours.3, burns.3) < 1e-3, "bias gradient");
    }

    /// The fused instance norm against burn's element-wise composition of the same formula,
    /// values and input gradient through autodiff.
    #[test]
    fn instance_norm_matches_the_composed_ops() {
        let device = Device::flex();
        let x = Tensor::<4>::random([2, 3, 5, 7], Distribution::Uniform(-2.0, 3.0), &device);
        let weights = Tensor::<4>::random([2, 3, 5, 7], Distribution::Uniform(-1.0, 1.0), &device);
        let composed = |x: Tensor<4>| {
            let flat = x.reshape([2, 3, 35]);
            let (var, mean) = flat.clone().var_mean_bias(2);
            ((flat - mean) / (var + 1e-5).sqrt()).reshape([2, 3, 5, 7])
        };
        let run = |fused: bool| {
            let x = x.clone().autodiff().require_grad();
            let y = if fused {
                instance_norm(x.clone(), 1e-5)
            } else {
                composed(x.clone())
            };
            let grads = (y.clone() * weights.clone()).sum().backward();
            (y.inner(), x.grad(&grads).unwrap())
        };
        let (ours, burns) = (run(true), run(false));
        assert!(max_diff(ours.0, burns.0) < 1e-5, "output");
        assert!(max_diff(ours.1, burns.1) < 1e-4, "input gradient");
        // Without autodiff too.
        assert!(max_diff(instance_norm(x.clone(), 1e-5), composed(x)) < 1e-5);
    }

    /// The one-pass reflection padding against burn's composed one, values and input gradient.
    #[test]
    fn reflection_pad_matches_burns() {
        let device = Device::flex();
        for (shape, p) in [([2, 3, 5, 7], 1), ([1, 2, 8, 6], 3)] {
            let x = Tensor::<4>::random(shape, Distribution::Uniform(-1.0, 1.0), &device);
            let run = |ours: bool| {
                let x = x.clone().autodiff().require_grad();
                let y = if ours {
                    reflection_pad(x.clone(), p)
                } else {
                    x.clone().pad([(p, p), (p, p)], PadMode::Reflect)
                };
                let weights = Tensor::<4>::random(y.dims(), Distribution::Default, &device);
                let weights = (weights * 0.0 + 1.0).cumsum(3) / 7.0;
                let grads = (y.clone() * weights).sum().backward();
                (y.inner(), x.grad(&grads).unwrap())
            };
            let (ours, burns) = (run(true), run(false));
            assert_eq!(ours.0.dims(), burns.0.dims());
            assert_eq!(max_diff(ours.0, burns.0), 0.0, "values are copies");
            assert!(max_diff(ours.1, burns.1) < 1e-5, "input gradient");
            let plain = reflection_pad(x.clone(), p);
            assert_eq!(
                max_diff(plain, x.pad([(p, p), (p, p)], PadMode::Reflect)),
                0.0
            );
        }
    }

    #[test]
    fn convolutions_match_burns_with_gradients() {
        check(false, [2, 8, 10, 10], [6, 8, 3, 3], 1, 0); // Winograd
        check(false, [1, 4, 9, 9], [5, 4, 3, 3], 1, 1); // Winograd, zero padding
        check(false, [2, 3, 12, 12], [4, 3, 4, 4], 2, 1); // PatchGAN
        check(false, [1, 3, 13, 13], [2, 3, 7, 7], 1, 0); // c7s1
        check(true, [2, 6, 5, 5], [6, 4, 3, 3], 2, 1); // up-sampling
    }
}
