//! The plan: every buffer of a training iteration, with its shape, and the programs (lists of
//! kernels on those buffers) that run it. It is plain data, built once per image shape, so
//! that one executor can run it on the CPU with the `ops` kernels and another can allocate
//! every buffer once on a GPU and record each program as one CUDA graph.
//!
//! Gradients come from [`Builder::backward`]: reverse-mode differentiation of the forward ops
//! a program recorded, emitted as ops of the same program. The first contribution to a
//! gradient buffer writes it and later ones add (`acc`), so no buffer is ever zeroed.

use std::collections::HashMap;

use crate::ops::Activation;
use crate::ops::geom::ConvGeom;

/// A buffer of the plan: an index into [`Plan::buffers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Buf(pub usize);

/// What a buffer holds, for the executors (what to load, what to report) and for reading.
#[derive(Clone, Debug, PartialEq)]
pub enum Role {
    /// An image the caller writes before a program runs (`real_A`, `fake_B` from the pool…).
    Input(String),
    /// A weight of network `net` under its official state-dict `key`.
    Param { net: String, key: String },
    /// Adam's first or second moment of the parameter buffer it names.
    Moment { param: Buf, second: bool },
    /// The gradient of the buffer it names.
    Grad(Buf),
    /// A named scalar loss (upstream's loss names: `G_A`, `cycle_A`, `D_A`…).
    Loss(String),
    /// Everything else: activations, per-plane statistics.
    Temp(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct BufferInfo {
    pub shape: Vec<usize>,
    pub role: Role,
}

impl BufferInfo {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One kernel. Forward ops write their outputs; gradient ops write (`acc == false`) or add to
/// (`acc == true`) theirs.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `y = act(conv(x, w) + b)`.
    Conv {
        x: Buf,
        w: Buf,
        b: Option<Buf>,
        y: Buf,
        act: Activation,
        geom: ConvGeom,
    },
    /// `y = conv_transpose(x, w) + b`: the input gradient of the convolution `geom`
    /// describes (`x` has its output's shape, `y` its input's).
    ConvTranspose {
        x: Buf,
        w: Buf,
        b: Option<Buf>,
        y: Buf,
        geom: ConvGeom,
    },
    /// `dx (+)= conv_transpose(dy, w)`: a convolution's input gradient.
    ConvData {
        dy: Buf,
        w: Buf,
        dx: Buf,
        geom: ConvGeom,
        acc: bool,
    },
    /// `dw (+)= ∂conv(x, w)/∂w · dy`.
    ConvWeight {
        x: Buf,
        dy: Buf,
        dw: Buf,
        geom: ConvGeom,
        acc: bool,
    },
    /// `db (+)= dy` summed over batch and pixels, per channel.
    BiasGrad {
        dy: Buf,
        db: Buf,
        batch: usize,
        channels: usize,
        acc: bool,
    },
    /// `nn.ReflectionPad2d(p)` of `[.., h, w]` planes.
    ReflectPad {
        x: Buf,
        y: Buf,
        hw: [usize; 2],
        p: usize,
    },
    ReflectPadBackward {
        dy: Buf,
        dx: Buf,
        hw: [usize; 2],
        p: usize,
        acc: bool,
    },
    /// `y = act(instance_norm(x))` per plane of `plane` values; `rstd` keeps each plane's
    /// `1 / sqrt(var + eps)` and `normed` (with an activation) the values before it, which
    /// the backward pass needs.
    InstanceNorm {
        x: Buf,
        y: Buf,
        normed: Option<Buf>,
        rstd: Buf,
        plane: usize,
        eps: f64,
        act: Activation,
    },
    /// `dx (+)=` the input gradient, from the normalised values `normed` (before `act`).
    InstanceNormBackward {
        normed: Buf,
        rstd: Buf,
        dy: Buf,
        dx: Buf,
        plane: usize,
        act: Activation,
        acc: bool,
    },
    /// `dx (+)= dy` through `act`, selected by the sign of its output `y`.
    ActivationBackward {
        y: Buf,
        dy: Buf,
        dx: Buf,
        act: Activation,
        acc: bool,
    },
    Tanh {
        x: Buf,
        y: Buf,
    },
    /// `dx (+)= dy · (1 − y²)`.
    TanhBackward {
        y: Buf,
        dy: Buf,
        dx: Buf,
        acc: bool,
    },
    /// `y = a + b` (the residual connections).
    Add {
        a: Buf,
        b: Buf,
        y: Buf,
    },
    /// `dst (+)= src`.
    Accumulate {
        src: Buf,
        dst: Buf,
        acc: bool,
    },
    /// `loss (+)= weight · mean((x − target)²)` (LSGAN's `MSELoss` against a constant label).
    MseLoss {
        x: Buf,
        target: f32,
        weight: f32,
        loss: Buf,
        acc: bool,
    },
    MseLossBackward {
        x: Buf,
        target: f32,
        weight: f32,
        dx: Buf,
        acc: bool,
    },
    /// `loss (+)= weight · mean(|a − b|)` (`L1Loss`).
    L1Loss {
        a: Buf,
        b: Buf,
        weight: f32,
        loss: Buf,
        acc: bool,
    },
    /// `dx (+)= sign · weight · sign(a − b) / n`, `sign` −1 for `b`'s gradient.
    L1LossBackward {
        a: Buf,
        b: Buf,
        weight: f32,
        sign: f32,
        dx: Buf,
        acc: bool,
    },
    /// Adam's update of `param` and its moments from `grad`, with the step's scalars.
    Adam {
        param: Buf,
        grad: Buf,
        m: Buf,
        v: Buf,
    },
}

impl Op {
    /// The buffers the op reads.
    pub fn reads(&self) -> Vec<Buf> {
        use Op::*;
        let mut r = match self {
            Conv { x, w, b, .. } | ConvTranspose { x, w, b, .. } => {
                let mut r = vec![*x, *w];
                r.extend(b);
                r
            }
            ConvData { dy, w, .. } => vec![*dy, *w],
            ConvWeight { x, dy, .. } => vec![*x, *dy],
            BiasGrad { dy, .. } => vec![*dy],
            ReflectPad { x, .. } | InstanceNorm { x, .. } | Tanh { x, .. } => vec![*x],
            ReflectPadBackward { dy, .. } => vec![*dy],
            InstanceNormBackward {
                normed, rstd, dy, ..
            } => vec![*normed, *rstd, *dy],
            ActivationBackward { y, dy, .. } | TanhBackward { y, dy, .. } => vec![*y, *dy],
            Add { a, b, .. } => vec![*a, *b],
            Accumulate { src, .. } => vec![*src],
            MseLoss { x, .. } | MseLossBackward { x, .. } => vec![*x],
            L1Loss { a, b, .. } | L1LossBackward { a, b, .. } => vec![*a, *b],
            Adam {
                param, grad, m, v, ..
            } => vec![*param, *grad, *m, *v],
        };
        if let Some(out) = self.accumulated() {
            r.push(out);
        }
        r
    }

    /// The buffers the op writes.
    pub fn writes(&self) -> Vec<Buf> {
        use Op::*;
        match self {
            Conv { y, .. } | ConvTranspose { y, .. } | ReflectPad { y, .. } => vec![*y],
            Tanh { y, .. } | Add { y, .. } => vec![*y],
            InstanceNorm {
                y, normed, rstd, ..
            } => {
                let mut w = vec![*y, *rstd];
                w.extend(normed);
                w
            }
            ConvData { dx, .. }
            | ReflectPadBackward { dx, .. }
            | InstanceNormBackward { dx, .. }
            | ActivationBackward { dx, .. }
            | TanhBackward { dx, .. }
            | MseLossBackward { dx, .. }
            | L1LossBackward { dx, .. } => vec![*dx],
            ConvWeight { dw, .. } => vec![*dw],
            BiasGrad { db, .. } => vec![*db],
            Accumulate { dst, .. } => vec![*dst],
            MseLoss { loss, .. } | L1Loss { loss, .. } => vec![*loss],
            Adam { param, m, v, .. } => vec![*param, *m, *v],
        }
    }

    /// The output the op adds to, when it adds rather than writes.
    fn accumulated(&self) -> Option<Buf> {
        use Op::*;
        match *self {
            ConvData { dx, acc: true, .. }
            | ReflectPadBackward { dx, acc: true, .. }
            | InstanceNormBackward { dx, acc: true, .. }
            | ActivationBackward { dx, acc: true, .. }
            | TanhBackward { dx, acc: true, .. }
            | MseLossBackward { dx, acc: true, .. }
            | L1LossBackward { dx, acc: true, .. } => Some(dx),
            ConvWeight { dw, acc: true, .. } => Some(dw),
            BiasGrad { db, acc: true, .. } => Some(db),
            Accumulate { dst, acc: true, .. } => Some(dst),
            MseLoss {
                loss, acc: true, ..
            }
            | L1Loss {
                loss, acc: true, ..
            } => Some(loss),
            _ => None,
        }
    }
}

/// A named list of ops run in order (one CUDA graph on the GPU).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Program {
    pub name: String,
    pub ops: Vec<Op>,
}

/// Every buffer and every program of one iteration.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub buffers: Vec<BufferInfo>,
    pub programs: Vec<Program>,
}

impl Plan {
    pub fn program(&self, name: &str) -> Option<&Program> {
        self.programs.iter().find(|p| p.name == name)
    }

    /// The buffer with role `role`.
    pub fn find(&self, role: &Role) -> Option<Buf> {
        self.buffers.iter().position(|b| &b.role == role).map(Buf)
    }

    /// Every parameter buffer of network `net`, in key order.
    pub fn params(&self, net: &str) -> Vec<(String, Buf)> {
        let mut params: Vec<(String, Buf)> = self
            .buffers
            .iter()
            .enumerate()
            .filter_map(|(i, b)| match &b.role {
                Role::Param { net: n, key } if n == net => Some((key.clone(), Buf(i))),
                _ => None,
            })
            .collect();
        params.sort();
        params
    }

    /// Whether every op of every program reads only buffers an earlier op of the same
    /// program wrote, or inputs, parameters, moments and outputs of earlier programs (`None`),
    /// or the first op that does not (program, op index).
    pub fn first_unwritten_read(&self) -> Option<(String, usize, Buf)> {
        let mut written = vec![false; self.buffers.len()];
        for (i, b) in self.buffers.iter().enumerate() {
            written[i] = matches!(
                b.role,
                Role::Input(_) | Role::Param { .. } | Role::Moment { .. }
            );
        }
        for program in &self.programs {
            for (k, op) in program.ops.iter().enumerate() {
                if let Some(&b) = op.reads().iter().find(|b| !written[b.0]) {
                    return Some((program.name.clone(), k, b));
                }
                for b in op.writes() {
                    written[b.0] = true;
                }
            }
        }
        None
    }
}

/// Records the forward ops of one program, then differentiates them.
pub struct Builder {
    plan: Plan,
    ops: Vec<Op>,
    /// Buffers whose gradient the current program wants (trainable parameters) or that depend
    /// on one.
    requires_grad: Vec<bool>,
    /// A gradient buffer per buffer, and whether something has written it yet.
    grads: HashMap<Buf, (Buf, bool)>,
    /// Loss ops of the current program: the objective is their sum.
    losses: Vec<Op>,
    /// The networks whose parameters get gradients in the current program.
    trainable: Vec<String>,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    pub fn new() -> Self {
        Self {
            plan: Plan::default(),
            ops: Vec::new(),
            requires_grad: Vec::new(),
            grads: HashMap::new(),
            losses: Vec::new(),
            trainable: Vec::new(),
        }
    }

    pub fn buffer(&mut self, shape: Vec<usize>, role: Role) -> Buf {
        let trainable = matches!(&role, Role::Param { net, .. } if self.trainable.contains(net));
        self.plan.buffers.push(BufferInfo { shape, role });
        self.requires_grad.push(trainable);
        Buf(self.plan.buffers.len() - 1)
    }

    pub fn shape(&self, b: Buf) -> &[usize] {
        &self.plan.buffers[b.0].shape
    }

    /// The buffer of network `net`'s parameter `key`, made on first use.
    pub fn param(&mut self, net: &str, key: &str, shape: Vec<usize>) -> Buf {
        let role = Role::Param {
            net: net.into(),
            key: key.into(),
        };
        match self.plan.find(&role) {
            Some(b) => {
                assert_eq!(self.shape(b), shape, "{net}.{key} used with two shapes");
                b
            }
            None => self.buffer(shape, role),
        }
    }

    pub fn input(&mut self, name: &str, shape: Vec<usize>) -> Buf {
        self.buffer(shape, Role::Input(name.into()))
    }

    /// Starts a program in which the parameters of `trainable` networks get gradients.
    pub fn begin(&mut self, trainable: &[&str]) {
        assert!(self.ops.is_empty(), "a program is still open");
        self.grads.clear();
        self.losses.clear();
        self.trainable = trainable.iter().map(|n| n.to_string()).collect();
        for (i, b) in self.plan.buffers.iter().enumerate() {
            self.requires_grad[i] =
                matches!(&b.role, Role::Param { net, .. } if self.trainable.contains(net));
        }
    }

    fn temp(&mut self, name: &str, shape: Vec<usize>, inputs: &[Buf]) -> Buf {
        let b = self.buffer(shape, Role::Temp(name.into()));
        self.requires_grad[b.0] = inputs.iter().any(|i| self.requires_grad[i.0]);
        b
    }

    fn dims4(&self, b: Buf) -> [usize; 4] {
        self.shape(b)
            .try_into()
            .unwrap_or_else(|_| panic!("buffer {b:?} is not 4-d"))
    }

    pub fn conv(
        &mut self,
        x: Buf,
        w: Buf,
        b: Option<Buf>,
        stride: usize,
        pad: usize,
        act: Activation,
    ) -> Buf {
        let geom = ConvGeom::new(self.dims4(x), self.dims4(w), [stride; 2], [pad; 2])
            .expect("the networks' convolutions fit their inputs");
        let shape = vec![geom.batch, geom.c_out, geom.out_h, geom.out_w];
        let mut inputs = vec![x, w];
        inputs.extend(b);
        let y = self.temp("conv", shape, &inputs);
        self.ops.push(Op::Conv {
            x,
            w,
            b,
            y,
            act,
            geom,
        });
        y
    }

    /// `nn.ConvTranspose2d(k, stride, padding, output_padding)` of `x` by `w` (`[c_in, c_out,
    /// k, k]`, PyTorch's layout), as the input gradient of the convolution from its output
    /// back to `x`.
    pub fn conv_transpose(
        &mut self,
        x: Buf,
        w: Buf,
        b: Option<Buf>,
        stride: usize,
        pad: usize,
        output_pad: usize,
    ) -> Buf {
        let [batch, c_in, h, wd] = self.dims4(x);
        let [w_in, c_out, k, _] = self.dims4(w);
        assert_eq!(w_in, c_in, "transposed convolution channels");
        let out = |s: usize| (s - 1) * stride + k + output_pad - 2 * pad;
        let (oh, ow) = (out(h), out(wd));
        let geom = ConvGeom::new(
            [batch, c_out, oh, ow],
            [c_in, c_out, k, k],
            [stride; 2],
            [pad; 2],
        )
        .filter(|g| g.out_h == h && g.out_w == wd)
        .expect("the transposed convolution inverts a convolution");
        let mut inputs = vec![x, w];
        inputs.extend(b);
        let y = self.temp("conv_transpose", vec![batch, c_out, oh, ow], &inputs);
        self.ops.push(Op::ConvTranspose { x, w, b, y, geom });
        y
    }

    pub fn reflect_pad(&mut self, x: Buf, p: usize) -> Buf {
        let [b, c, h, w] = self.dims4(x);
        let y = self.temp("pad", vec![b, c, h + 2 * p, w + 2 * p], &[x]);
        self.ops.push(Op::ReflectPad {
            x,
            y,
            hw: [h, w],
            p,
        });
        y
    }

    pub fn instance_norm(&mut self, x: Buf, act: Activation) -> Buf {
        let [b, c, h, w] = self.dims4(x);
        let y = self.temp("norm", vec![b, c, h, w], &[x]);
        let normed = (act != Activation::Identity)
            .then(|| self.buffer(vec![b, c, h, w], Role::Temp("normed".into())));
        let rstd = self.buffer(vec![b * c], Role::Temp("rstd".into()));
        self.ops.push(Op::InstanceNorm {
            x,
            y,
            normed,
            rstd,
            plane: h * w,
            eps: 1e-5,
            act,
        });
        y
    }

    pub fn tanh(&mut self, x: Buf) -> Buf {
        let y = self.temp("tanh", self.shape(x).to_vec(), &[x]);
        self.ops.push(Op::Tanh { x, y });
        y
    }

    pub fn add(&mut self, a: Buf, b: Buf) -> Buf {
        assert_eq!(self.shape(a), self.shape(b), "added buffers' shapes");
        let y = self.temp("add", self.shape(a).to_vec(), &[a, b]);
        self.ops.push(Op::Add { a, b, y });
        y
    }

    /// The scalar loss buffer `name`, made on first use.
    pub fn loss_buffer(&mut self, name: &str) -> Buf {
        let role = Role::Loss(name.into());
        self.plan
            .find(&role)
            .unwrap_or_else(|| self.buffer(vec![1], role))
    }

    /// Adds `weight · mean((x − target)²)` to loss `name` and to the objective.
    pub fn mse_loss(&mut self, name: &str, x: Buf, target: f32, weight: f32) {
        let loss = self.loss_buffer(name);
        let acc = self.ops.iter().any(|op| op.writes().contains(&loss));
        let op = Op::MseLoss {
            x,
            target,
            weight,
            loss,
            acc,
        };
        self.ops.push(op.clone());
        self.losses.push(op);
    }

    /// Adds `weight · mean(|a − b|)` to loss `name` and to the objective.
    pub fn l1_loss(&mut self, name: &str, a: Buf, b: Buf, weight: f32) {
        let loss = self.loss_buffer(name);
        let acc = self.ops.iter().any(|op| op.writes().contains(&loss));
        let op = Op::L1Loss {
            a,
            b,
            weight,
            loss,
            acc,
        };
        self.ops.push(op.clone());
        self.losses.push(op);
    }

    /// The gradient buffer of `b` and whether it already holds a contribution (then the next
    /// one adds); marks it written.
    fn grad(&mut self, b: Buf) -> (Buf, bool) {
        if let Some(&(g, written)) = self.grads.get(&b) {
            self.grads.insert(b, (g, true));
            return (g, written);
        }
        let g = self.buffer(self.shape(b).to_vec(), Role::Grad(b));
        self.grads.insert(b, (g, true));
        (g, false)
    }

    /// The gradient of `b` if anything contributed to it.
    fn existing_grad(&self, b: Buf) -> Option<Buf> {
        self.grads.get(&b).map(|&(g, _)| g)
    }

    fn needs(&self, b: Buf) -> bool {
        self.requires_grad[b.0]
    }

    /// Appends the gradient of the sum of this program's losses with respect to every
    /// buffer that requires one, walking the forward ops backwards.
    pub fn backward(&mut self) {
        for op in self.losses.clone().into_iter().rev() {
            match op {
                Op::MseLoss {
                    x, target, weight, ..
                } if self.needs(x) => {
                    let (dx, acc) = self.grad(x);
                    self.ops.push(Op::MseLossBackward {
                        x,
                        target,
                        weight,
                        dx,
                        acc,
                    });
                }
                Op::L1Loss { a, b, weight, .. } => {
                    for (input, sign) in [(a, 1.0), (b, -1.0)] {
                        if self.needs(input) {
                            let (dx, acc) = self.grad(input);
                            self.ops.push(Op::L1LossBackward {
                                a,
                                b,
                                weight,
                                sign,
                                dx,
                                acc,
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        let forward: Vec<Op> = self.ops.clone();
        for op in forward.iter().rev() {
            self.differentiate(op);
        }
    }

    fn differentiate(&mut self, op: &Op) {
        match *op {
            Op::Conv {
                x,
                w,
                b,
                y,
                act,
                geom,
            } => {
                let Some(dy) = self.existing_grad(y) else {
                    return;
                };
                let dz = if act == Activation::Identity {
                    dy
                } else {
                    let dz = self.buffer(self.shape(y).to_vec(), Role::Temp("dact".into()));
                    self.ops.push(Op::ActivationBackward {
                        y,
                        dy,
                        dx: dz,
                        act,
                        acc: false,
                    });
                    dz
                };
                if let Some(b) = b.filter(|&b| self.needs(b)) {
                    let (db, acc) = self.grad(b);
                    self.ops.push(Op::BiasGrad {
                        dy: dz,
                        db,
                        batch: geom.batch,
                        channels: geom.c_out,
                        acc,
                    });
                }
                if self.needs(w) {
                    let (dw, acc) = self.grad(w);
                    self.ops.push(Op::ConvWeight {
                        x,
                        dy: dz,
                        dw,
                        geom,
                        acc,
                    });
                }
                if self.needs(x) {
                    let (dx, acc) = self.grad(x);
                    self.ops.push(Op::ConvData {
                        dy: dz,
                        w,
                        dx,
                        geom,
                        acc,
                    });
                }
            }
            Op::ConvTranspose { x, w, b, y, geom } => {
                let Some(dy) = self.existing_grad(y) else {
                    return;
                };
                if let Some(b) = b.filter(|&b| self.needs(b)) {
                    let (db, acc) = self.grad(b);
                    self.ops.push(Op::BiasGrad {
                        dy,
                        db,
                        batch: geom.batch,
                        channels: geom.c_in,
                        acc,
                    });
                }
                // The transposed map's output plays the convolution's input, its input the
                // convolution's output.
                if self.needs(w) {
                    let (dw, acc) = self.grad(w);
                    self.ops.push(Op::ConvWeight {
                        x: dy,
                        dy: x,
                        dw,
                        geom,
                        acc,
                    });
                }
                if self.needs(x) {
                    let (dx, acc) = self.grad(x);
                    // A forward convolution of dy, as an op of its own kind so executors
                    // need not special-case it: accumulation goes through a temporary.
                    let tmp = if acc {
                        self.buffer(self.shape(x).to_vec(), Role::Temp("dconvT".into()))
                    } else {
                        dx
                    };
                    self.ops.push(Op::Conv {
                        x: dy,
                        w,
                        b: None,
                        y: tmp,
                        act: Activation::Identity,
                        geom,
                    });
                    if acc {
                        self.ops.push(Op::Accumulate {
                            src: tmp,
                            dst: dx,
                            acc: true,
                        });
                    }
                }
            }
            Op::ReflectPad { x, y, hw, p } => {
                if let Some(dy) = self.existing_grad(y).filter(|_| self.needs(x)) {
                    let (dx, acc) = self.grad(x);
                    self.ops.push(Op::ReflectPadBackward { dy, dx, hw, p, acc });
                }
            }
            Op::InstanceNorm {
                x,
                y,
                normed,
                rstd,
                plane,
                act,
                ..
            } => {
                if let Some(dy) = self.existing_grad(y).filter(|_| self.needs(x)) {
                    let (dx, acc) = self.grad(x);
                    self.ops.push(Op::InstanceNormBackward {
                        normed: normed.unwrap_or(y),
                        rstd,
                        dy,
                        dx,
                        plane,
                        act,
                        acc,
                    });
                }
            }
            Op::Tanh { x, y } => {
                if let Some(dy) = self.existing_grad(y).filter(|_| self.needs(x)) {
                    let (dx, acc) = self.grad(x);
                    self.ops.push(Op::TanhBackward { y, dy, dx, acc });
                }
            }
            Op::Add { a, b, y } => {
                let Some(dy) = self.existing_grad(y) else {
                    return;
                };
                for input in [a, b] {
                    if self.needs(input) {
                        let (dst, acc) = self.grad(input);
                        self.ops.push(Op::Accumulate { src: dy, dst, acc });
                    }
                }
            }
            // Loss ops were seeded above; gradient ops are never differentiated again.
            _ => {}
        }
    }

    /// Appends one Adam update per parameter of `nets` from its gradient in this program;
    /// a parameter without one is an error in the network's wiring.
    pub fn adam(&mut self, nets: &[&str]) {
        let params: Vec<Buf> = nets
            .iter()
            .flat_map(|n| self.plan.params(n))
            .map(|(_, b)| b)
            .collect();
        for param in params {
            let grad = self.existing_grad(param).unwrap_or_else(|| {
                panic!(
                    "parameter {:?} got no gradient",
                    self.plan.buffers[param.0].role
                )
            });
            let shape = self.shape(param).to_vec();
            let moment = |second| Role::Moment { param, second };
            let m = match self.plan.find(&moment(false)) {
                Some(m) => m,
                None => self.buffer(shape.clone(), moment(false)),
            };
            let v = match self.plan.find(&moment(true)) {
                Some(v) => v,
                None => self.buffer(shape, moment(true)),
            };
            self.ops.push(Op::Adam { param, grad, m, v });
        }
    }

    /// Closes the current program under `name`.
    pub fn end(&mut self, name: &str) {
        self.plan.programs.push(Program {
            name: name.into(),
            ops: std::mem::take(&mut self.ops),
        });
    }

    pub fn finish(self) -> Plan {
        assert!(self.ops.is_empty(), "a program is still open");
        self.plan
    }
}
