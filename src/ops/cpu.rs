//! The CPU convolution kernels, each map routed to the fastest algorithm for its shape:
//! Winograd for 3×3 stride-1 convolutions, direct loops for layers with very few output
//! channels (whose input gradient is the im2col forward of the output gradient with turned
//! kernels where the padding allows), im2col + GEMM for every other. The input gradient of a
//! strided layer with enough input channels ([`phases::applies`]) runs as one stride-1
//! convolution per phase of the input; the rest go through im2col's `wᵀ · dy` and col2im.

use super::gemm_conv;
use super::geom::ConvGeom;
use super::norm::Activation;
use super::profile::timed;
use super::{direct, phases, winograd};

/// The profile's name for one map of a geometry: algorithm, map, then the shape.
pub(super) fn profile_name(algorithm: &str, map: &str, g: &ConvGeom) -> String {
    format!(
        "{algorithm} {map} · {}→{} {}×{}/{} {}×{} b{}",
        g.c_in, g.c_out, g.k_h, g.k_w, g.stride[0], g.out_h, g.out_w, g.batch
    )
}

/// `y = conv(x, w) + bias`.
pub fn forward(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &ConvGeom) -> Vec<f32> {
    forward_activated(x, w, bias, Activation::Identity, g)
}

/// `y = act(conv(x, w) + bias)`: im2col applies the activation as it adds the bias, the
/// others in a pass of their own.
pub fn forward_activated(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    g: &ConvGeom,
) -> Vec<f32> {
    let name = |alg| move || profile_name(alg, "forward", g);
    let mut y = if winograd::applies(g) {
        timed(name("winograd"), || winograd::forward(x, w, bias, g))
    } else if direct::applies(g) {
        timed(name("direct"), || direct::forward(x, w, bias, g))
    } else {
        return timed(name("im2col"), || {
            gemm_conv::forward_activated(x, w, bias, act, g)
        });
    };
    if act != Activation::Identity {
        timed(
            || "activation".into(),
            || gemm_conv::activate_in_place(&mut y, act),
        );
    }
    y
}

/// The gradient of [`forward`] with respect to `x`.
pub fn backward_data(dy: &[f32], w: &[f32], g: &ConvGeom) -> Vec<f32> {
    let name = |alg| move || profile_name(alg, "input gradient", g);
    if winograd::applies(g) {
        timed(name("winograd"), || winograd::backward_data(dy, w, g))
    } else if direct::applies(g) && gemm_conv::turned_applies(g) {
        timed(name("im2col turned"), || {
            gemm_conv::backward_data_turned(dy, w, g)
        })
    } else if direct::applies(g) {
        timed(name("direct"), || direct::backward_data(dy, w, g))
    } else if phases::applies(g) {
        timed(name("phases"), || phases::backward_data(dy, w, g))
    } else {
        timed(name("im2col"), || gemm_conv::backward_data(dy, w, g))
    }
}

/// The gradient of [`forward`] with respect to `w`.
pub fn backward_weight(x: &[f32], dy: &[f32], g: &ConvGeom) -> Vec<f32> {
    let name = |alg| move || profile_name(alg, "weight gradient", g);
    if winograd::applies(g) {
        timed(name("winograd"), || winograd::backward_weight(x, dy, g))
    } else if direct::applies(g) {
        timed(name("direct"), || direct::backward_weight(x, dy, g))
    } else {
        timed(name("im2col"), || gemm_conv::backward_weight(x, dy, g))
    }
}

/// The bias gradient: `dy` summed over batch and pixels, per channel.
pub fn backward_bias(dy: &[f32], batch: usize, channels: usize) -> Vec<f32> {
    timed(
        || "bias gradient".into(),
        || gemm_conv::backward_bias(dy, batch, channels),
    )
}
