//! Runs the [`cpu`] kernels on tensors of burn's `flex` backend, and registers their
//! backward pass on burn's autodiff graph when an operand is tracked.
//!
//! burn's dispatch tensor is opened to its backend primitive (`FlexTensor`, or
//! `AutodiffTensor<Flex>` under autodiff) and the result wrapped back the same way: the
//! backend-extension route burn documents for custom operations.

use std::sync::Arc;

use burn::tensor::{DType, Tensor, TensorData};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_backend::AutodiffBackend;
use burn_backend::tensor::FloatTensor;
use burn_dispatch::{
    BackendTensor, DispatchAutodiffContext, DispatchTensor, DispatchTensorKind,
    GradientCheckpointingStrategy,
};
use burn_flex::{Flex, FlexTensor};

use super::Operands;
use super::adam::{self, AdamScalars};
use super::geom::ConvGeom;
use super::norm::Activation;
use super::profile::timed;
use super::scratch::Scratch;
use super::{cpu, norm, pad, shared, winograd};

type AdTensor = FloatTensor<Autodiff<Flex>>;

/// Which map the kernels compute: the convolution `geom` describes, or its transpose (the
/// input gradient of that convolution, from its output space back to its input space).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Transposed,
}

/// A dispatch tensor opened to its flex primitive.
enum Operand {
    Plain(FlexTensor),
    Tracked(AdTensor),
}

/// The autodiff context our tensors carry when tracked: burn's default, no checkpointing.
const TRACKED: DispatchAutodiffContext =
    DispatchAutodiffContext::Enabled(GradientCheckpointingStrategy::Disabled);

// The "error" is the tensor handed back unopened, not a failure to propagate.
#[allow(clippy::result_large_err)]
fn open(t: DispatchTensor) -> Result<Operand, DispatchTensor> {
    let DispatchTensor { kind, autodiff } = t;
    #[allow(unreachable_patterns)] // a flex-only build has no other backend variant
    match kind {
        DispatchTensorKind::Flex(BackendTensor::Float(f))
            if autodiff == DispatchAutodiffContext::Disabled && f.dtype() == DType::F32 =>
        {
            Ok(Operand::Plain(f))
        }
        DispatchTensorKind::Autodiff(inner) if autodiff == TRACKED => match *inner {
            DispatchTensorKind::Flex(BackendTensor::Autodiff(a))
                if a.primitive().dtype() == DType::F32 =>
            {
                Ok(Operand::Tracked(a))
            }
            inner => Err(DispatchTensor {
                kind: DispatchTensorKind::Autodiff(Box::new(inner)),
                autodiff,
            }),
        },
        kind => Err(DispatchTensor { kind, autodiff }),
    }
}

fn close(op: Operand) -> DispatchTensor {
    match op {
        Operand::Plain(f) => DispatchTensor {
            kind: DispatchTensorKind::Flex(BackendTensor::Float(f)),
            autodiff: DispatchAutodiffContext::Disabled,
        },
        Operand::Tracked(a) => DispatchTensor {
            kind: DispatchTensorKind::Autodiff(Box::new(DispatchTensorKind::Flex(
                BackendTensor::Autodiff(a),
            ))),
            autodiff: TRACKED,
        },
    }
}

impl Operand {
    /// The operand's values, densely laid out (see [`dense`]).
    fn values(&self) -> FlexTensor {
        match self {
            Operand::Plain(f) => dense(f),
            Operand::Tracked(a) => dense(a.primitive()),
        }
    }

    fn tracked(self) -> AdTensor {
        match self {
            Operand::Plain(f) => Autodiff::<Flex>::from_inner(f),
            Operand::Tracked(a) => a,
        }
    }
}

/// `t` laid out densely from offset 0, so that `storage()` is exactly its values (a cheap clone
/// when it already is).
fn dense(t: &FlexTensor) -> FlexTensor {
    t.to_contiguous()
}

fn flex_tensor(data: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data, shape))
}

/// The map `direction` names, on plain values: the input `x` is `[b, c_in, h, w]` of `geom`
/// for a convolution and `[b, c_out, out_h, out_w]` for its transpose.
fn apply(
    direction: Direction,
    geom: &ConvGeom,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
) -> FlexTensor {
    let (values, channels, h, wd) = match direction {
        Direction::Forward => (
            cpu::forward(x, w, bias, geom),
            geom.c_out,
            geom.out_h,
            geom.out_w,
        ),
        Direction::Transposed => {
            let mut y = cpu::backward_data(x, w, geom);
            if let Some(bias) = bias {
                let plane = geom.in_plane();
                for (i, chunk) in y.chunks_mut(plane).enumerate() {
                    let v = bias[i % geom.c_in];
                    chunk.iter_mut().for_each(|e| *e += v);
                }
            }
            (y, geom.c_in, geom.in_h, geom.in_w)
        }
    };
    flex_tensor(values, vec![geom.batch, channels, h, wd])
}

/// Runs the convolution (or its transpose) on flex f32 tensors; hands the operands back
/// untouched when they live elsewhere.
#[allow(clippy::result_large_err)]
pub fn conv(
    direction: Direction,
    geom: ConvGeom,
    operands: Operands,
) -> Result<Tensor<4>, Operands> {
    let (x, w, bias) = operands;
    let opened = (
        open(x.into_dispatch()),
        open(w.into_dispatch()),
        bias.map(|b| open(b.into_dispatch())),
    );
    let (x, w, bias) = match opened {
        (Ok(x), Ok(w), None) => (x, w, None),
        (Ok(x), Ok(w), Some(Ok(b))) => (x, w, Some(b)),
        (x, w, bias) => {
            let back = |o: Result<Operand, DispatchTensor>| o.map_or_else(|t| t, close);
            return Err((
                Tensor::from_dispatch(back(x)),
                Tensor::from_dispatch(back(w)),
                bias.map(|b| Tensor::from_dispatch(back(b))),
            ));
        }
    };
    let (xv, wv) = (x.values(), w.values());
    let bv = bias.as_ref().map(Operand::values);
    let bias_values = bv.as_ref().map(|b| b.storage());
    // A Winograd convolution whose weight needs a gradient keeps its transformed input, so
    // that the weight gradient does not transform it again, and shares its transformed
    // weights with the network's other calls (ops::shared).
    let weight_id = match &w {
        Operand::Tracked(a) if direction == Direction::Forward && winograd::applies(&geom) => {
            Some(a.id().value)
        }
        _ => None,
    };
    let (y, kept) = if let Some(id) = weight_id {
        let (y, kept) = timed(
            || cpu::profile_name("winograd", "forward", &geom),
            || {
                let u =
                    shared::forward_weights(id, || winograd::forward_weights(wv.storage(), &geom));
                winograd::forward_with_weights(xv.storage(), &u, bias_values, &geom, true)
            },
        );
        let shape = vec![geom.batch, geom.c_out, geom.out_h, geom.out_w];
        (flex_tensor(y, shape), kept)
    } else {
        let y = apply(direction, &geom, xv.storage(), wv.storage(), bias_values);
        (y, None)
    };
    let any_tracked = matches!(x, Operand::Tracked(_))
        || matches!(w, Operand::Tracked(_))
        || matches!(bias, Some(Operand::Tracked(_)));
    if !any_tracked {
        return Ok(Tensor::from_dispatch(close(Operand::Plain(y))));
    }
    let (x, w) = (x.tracked(), w.tracked());
    let bias = bias.map(Operand::tracked);
    let state = ConvState {
        direction,
        geom,
        weight_id,
        x: match kept {
            Some(v) => ConvInput::Transformed(Arc::new(v)),
            None => ConvInput::Values(xv),
        },
        w: wv,
    };
    let out = match bias {
        Some(b) => record(ConvBackward, [x.node(), w.node(), b.node()], state, y),
        None => record(ConvBackward, [x.node(), w.node()], state, y),
    };
    Ok(Tensor::from_dispatch(close(Operand::Tracked(out))))
}

fn record<const N: usize>(
    op: ConvBackward,
    nodes: [burn_autodiff::ops::NodeGuard; N],
    state: ConvState,
    y: FlexTensor,
) -> AdTensor
where
    ConvBackward: Backward<Flex, N, State = ConvState>,
{
    match op
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(state, y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    }
}

/// What the backward pass needs: the operands' values (shared, not copied) and the shape.
#[derive(Clone, Debug)]
struct ConvState {
    direction: Direction,
    geom: ConvGeom,
    /// The weight's autodiff node, for a Winograd convolution of a tracked weight.
    weight_id: Option<u64>,
    x: ConvInput,
    w: FlexTensor,
}

/// The input as the weight gradient needs it.
#[derive(Clone)]
enum ConvInput {
    Values(FlexTensor),
    /// Winograd's transformed input, kept from the forward pass.
    Transformed(Arc<Scratch>),
}

impl std::fmt::Debug for ConvInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConvInput::Values(t) => f.debug_tuple("Values").field(t).finish(),
            ConvInput::Transformed(v) => write!(f, "Transformed({} values)", v.len()),
        }
    }
}

#[derive(Debug)]
struct ConvBackward;

impl<const N: usize> Backward<Flex, N> for ConvBackward {
    type State = ConvState;

    fn backward(self, ops: Ops<ConvState, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let ConvState {
            direction,
            geom,
            weight_id,
            x,
            w,
        } = ops.state;
        let grad = dense(&grads.consume::<Flex>(&ops.node));
        let (g, w) = (grad.storage::<f32>(), w.storage::<f32>());
        let [node_x, node_w, node_b] = [0, 1, 2].map(|i| ops.parents.get(i).cloned().flatten());
        let x_shape = match direction {
            Direction::Forward => vec![geom.batch, geom.c_in, geom.in_h, geom.in_w],
            Direction::Transposed => vec![geom.batch, geom.c_out, geom.out_h, geom.out_w],
        };
        let w_shape = vec![geom.c_out, geom.c_in, geom.k_h, geom.k_w];
        if let Some(node) = node_x {
            let dx = match (direction, weight_id) {
                (Direction::Forward, Some(id)) => timed(
                    || cpu::profile_name("winograd", "input gradient", &geom),
                    || {
                        let u = shared::turned_weights(id, || winograd::turned_weights(w, &geom));
                        winograd::backward_data_with_weights(g, &u, &geom)
                    },
                ),
                (Direction::Forward, None) => cpu::backward_data(g, w, &geom),
                (Direction::Transposed, _) => cpu::forward(g, w, None, &geom),
            };
            grads.register::<Flex>(node.id, flex_tensor(dx, x_shape));
        }
        if let Some(node) = node_w {
            let dw = match (direction, &x) {
                (Direction::Forward, ConvInput::Values(x)) => {
                    cpu::backward_weight(x.storage(), g, &geom)
                }
                (Direction::Forward, ConvInput::Transformed(v)) => timed(
                    || cpu::profile_name("winograd", "weight gradient", &geom),
                    || winograd::backward_weight_transformed(v, g, &geom),
                ),
                // The transposed map's output plays the convolution's input.
                (Direction::Transposed, ConvInput::Values(x)) => {
                    cpu::backward_weight(g, x.storage(), &geom)
                }
                (Direction::Transposed, ConvInput::Transformed(_)) => {
                    unreachable!("only forward convolutions keep a transformed input")
                }
            };
            grads.register::<Flex>(node.id, flex_tensor(dw, w_shape));
        }
        if let Some(node) = node_b {
            let channels = match direction {
                Direction::Forward => geom.c_out,
                Direction::Transposed => geom.c_in,
            };
            let db = cpu::backward_bias(g, geom.batch, channels);
            grads.register::<Flex>(node.id, flex_tensor(db, vec![channels]));
        }
    }
}

/// Instance normalisation of a flex f32 tensor `[b, c, h, w]` followed by `act`, one graph
/// node under autodiff; hands the tensor back untouched when it lives elsewhere.
#[allow(clippy::result_large_err)]
pub fn instance_norm(x: Tensor<4>, eps: f64, act: Activation) -> Result<Tensor<4>, Tensor<4>> {
    let [_, _, h, w] = x.dims();
    let plane = h * w;
    match open(x.into_dispatch()) {
        Err(t) => Err(Tensor::from_dispatch(t)),
        Ok(Operand::Plain(f)) => {
            // No backward pass: only the output.
            let f = dense(&f);
            let (y, _) = timed(
                || "instance norm forward".into(),
                || norm::forward(f.storage(), plane, eps, act),
            );
            let y = flex_tensor(y, f.layout().shape().to_vec());
            Ok(Tensor::from_dispatch(close(Operand::Plain(y))))
        }
        Ok(Operand::Tracked(a)) => {
            // The normalised values (kept for the backward pass; the output itself when no
            // activation follows), the output, and the planes' 1/std.
            let x = dense(a.primitive());
            let shape = x.layout().shape().to_vec();
            let (normed, y, rstd) = timed(
                || "instance norm forward".into(),
                || {
                    if act == Activation::Identity {
                        let (y, rstd) = norm::forward(x.storage(), plane, eps, act);
                        let y = flex_tensor(y, shape);
                        (y.clone(), y, rstd)
                    } else {
                        let (normed, y, rstd) =
                            norm::forward_activated(x.storage(), plane, eps, act);
                        (
                            flex_tensor(normed, shape.clone()),
                            flex_tensor(y, shape),
                            rstd,
                        )
                    }
                },
            );
            let out = match NormBackward
                .prepare::<NoCheckpointing>([a.node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish(
                    NormState {
                        normed,
                        rstd,
                        plane,
                        act,
                    },
                    y,
                ),
                OpsKind::UnTracked(prep) => prep.finish(y),
            };
            Ok(Tensor::from_dispatch(close(Operand::Tracked(out))))
        }
    }
}

/// The normalised values (shared with the output, not copied, when no activation follows),
/// each plane's reciprocal deviation, and the activation.
#[derive(Clone, Debug)]
struct NormState {
    normed: FlexTensor,
    rstd: Vec<f32>,
    plane: usize,
    act: Activation,
}

#[derive(Debug)]
struct NormBackward;

impl Backward<Flex, 1> for NormBackward {
    type State = NormState;

    fn backward(self, ops: Ops<NormState, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let NormState {
            normed,
            rstd,
            plane,
            act,
        } = ops.state;
        let grad = dense(&grads.consume::<Flex>(&ops.node));
        if let [Some(node)] = ops.parents {
            let dx = timed(
                || "instance norm backward".into(),
                || norm::backward(normed.storage(), &rstd, grad.storage(), plane, act),
            );
            grads.register::<Flex>(node.id, flex_tensor(dx, normed.layout().shape().to_vec()));
        }
    }
}

/// Reflection padding by `p` of a flex f32 tensor `[b, c, h, w]`, one graph node under
/// autodiff; hands the tensor back untouched when it lives elsewhere.
#[allow(clippy::result_large_err)]
pub fn reflection_pad(x: Tensor<4>, p: usize) -> Result<Tensor<4>, Tensor<4>> {
    let [b, c, h, w] = x.dims();
    let shape = vec![b, c, h + 2 * p, w + 2 * p];
    match open(x.into_dispatch()) {
        Err(t) => Err(Tensor::from_dispatch(t)),
        Ok(Operand::Plain(f)) => {
            let y = timed(
                || "reflection pad forward".into(),
                || pad::forward(dense(&f).storage(), [h, w], p),
            );
            Ok(Tensor::from_dispatch(close(Operand::Plain(flex_tensor(
                y, shape,
            )))))
        }
        Ok(Operand::Tracked(a)) => {
            let y = timed(
                || "reflection pad forward".into(),
                || pad::forward(dense(a.primitive()).storage(), [h, w], p),
            );
            let y = flex_tensor(y, shape);
            let out = match PadBackward
                .prepare::<NoCheckpointing>([a.node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish([b, c, h, w, p], y),
                OpsKind::UnTracked(prep) => prep.finish(y),
            };
            Ok(Tensor::from_dispatch(close(Operand::Tracked(out))))
        }
    }
}

#[derive(Debug)]
struct PadBackward;

impl Backward<Flex, 1> for PadBackward {
    /// The input's shape and the padding.
    type State = [usize; 5];

    fn backward(self, ops: Ops<[usize; 5], 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [b, c, h, w, p] = ops.state;
        let grad = dense(&grads.consume::<Flex>(&ops.node));
        if let [Some(node)] = ops.parents {
            let dx = timed(
                || "reflection pad backward".into(),
                || pad::backward(grad.storage(), [h, w], p),
            );
            grads.register::<Flex>(node.id, flex_tensor(dx, vec![b, c, h, w]));
        }
    }
}

/// Adam's update of a flex f32 parameter (without autodiff) and its moments in one pass;
/// hands the four tensors back untouched when any lives elsewhere.
#[allow(clippy::result_large_err, clippy::type_complexity)]
pub fn adam_step(
    tensors: [Tensor<1>; 4],
    scalars: AdamScalars,
) -> Result<[Tensor<1>; 3], [Tensor<1>; 4]> {
    let opened = tensors.map(|t| open(t.into_dispatch()));
    if !opened.iter().all(|o| matches!(o, Ok(Operand::Plain(_)))) {
        return Err(opened.map(|o| Tensor::from_dispatch(o.map_or_else(|t| t, close))));
    }
    let [p, g, m, v] = opened.map(|o| match o {
        Ok(op) => op.values(),
        Err(_) => unreachable!("checked above"),
    });
    let n = p.storage::<f32>().len();
    let (p, m, v) = timed(
        || "adam".into(),
        || adam::step(p.storage(), g.storage(), m.storage(), v.storage(), scalars),
    );
    Ok([p, m, v]
        .map(|values| Tensor::from_dispatch(close(Operand::Plain(flex_tensor(values, vec![n]))))))
}
