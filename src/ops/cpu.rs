//! The CPU convolution kernels, each map routed to the fastest algorithm for its shape:
//! Winograd for 3×3 stride-1 convolutions, direct loops for layers with very few output
//! channels (whose input gradient is the im2col forward of the output gradient with turned
//! kernels), im2col + GEMM for every other.

use super::gemm_conv::{self, ConvGeom};
use super::{direct, winograd};

/// `y = conv(x, w) + bias`.
pub fn forward(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &ConvGeom) -> Vec<f32> {
    if winograd::applies(g) {
        winograd::forward(x, w, bias, g)
    } else if direct::applies(g) {
        direct::forward(x, w, bias, g)
    } else {
        gemm_conv::forward(x, w, bias, g)
    }
}

/// The gradient of [`forward`] with respect to `x`.
pub fn backward_data(dy: &[f32], w: &[f32], g: &ConvGeom) -> Vec<f32> {
    if winograd::applies(g) {
        winograd::backward_data(dy, w, g)
    } else if direct::applies(g) && gemm_conv::turned_applies(g) {
        gemm_conv::backward_data_turned(dy, w, g)
    } else if direct::applies(g) {
        direct::backward_data(dy, w, g)
    } else {
        gemm_conv::backward_data(dy, w, g)
    }
}

/// The gradient of [`forward`] with respect to `w`.
pub fn backward_weight(x: &[f32], dy: &[f32], g: &ConvGeom) -> Vec<f32> {
    if winograd::applies(g) {
        winograd::backward_weight(x, dy, g)
    } else if direct::applies(g) {
        direct::backward_weight(x, dy, g)
    } else {
        gemm_conv::backward_weight(x, dy, g)
    }
}

pub use gemm_conv::backward_bias;
