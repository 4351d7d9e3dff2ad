//! Runs a [`Plan`] on the CPU with the `ops` kernels: the check, without a GPU, that the
//! plan's wiring (which buffer feeds which op, the gradients' order and accumulation, Adam) is
//! the iteration PyTorch runs, before any device executor runs the same plan.

use super::executor::{ExecError, Executor};
use super::plan::{Buf, Op, Plan};
use crate::ops::adam::{self, AdamScalars};
use crate::ops::{cpu, norm, pad};

/// Every buffer of a plan as host memory.
pub struct CpuExecutor {
    plan: Plan,
    values: Vec<Vec<f32>>,
}

impl CpuExecutor {
    /// Zero-filled buffers for `plan` (Adam's moments start at zero, as PyTorch's).
    pub fn new(plan: Plan) -> Self {
        let values = plan.buffers.iter().map(|b| vec![0.0; b.len()]).collect();
        Self { plan, values }
    }

    /// Writes or adds `v` into buffer `b`.
    fn put(&mut self, b: Buf, v: Vec<f32>, acc: bool) {
        let dst = &mut self.values[b.0];
        assert_eq!(dst.len(), v.len(), "{:?}", self.plan.buffers[b.0].role);
        if acc {
            dst.iter_mut().zip(&v).for_each(|(d, s)| *d += s);
        } else {
            *dst = v;
        }
    }

    fn exec(&mut self, op: &Op, adam: AdamScalars) {
        let v = |b: Buf| -> &[f32] { &self.values[b.0] };
        match *op {
            Op::Conv {
                x,
                w,
                b,
                y,
                act,
                geom,
            } => {
                let out = cpu::forward_activated(v(x), v(w), b.map(v), act, &geom);
                self.put(y, out, false);
            }
            Op::ConvTranspose { x, w, b, y, geom } => {
                let mut out = cpu::backward_data(v(x), v(w), &geom);
                if let Some(b) = b {
                    let bias = v(b);
                    for (i, plane) in out.chunks_mut(geom.in_plane()).enumerate() {
                        let c = bias[i % geom.c_in];
                        plane.iter_mut().for_each(|e| *e += c);
                    }
                }
                self.put(y, out, false);
            }
            Op::ConvData {
                dy,
                w,
                dx,
                geom,
                acc,
            } => {
                let out = cpu::backward_data(v(dy), v(w), &geom);
                self.put(dx, out, acc);
            }
            Op::ConvWeight {
                x,
                dy,
                dw,
                geom,
                acc,
            } => {
                let out = cpu::backward_weight(v(x), v(dy), &geom);
                self.put(dw, out, acc);
            }
            Op::BiasGrad {
                dy,
                db,
                batch,
                channels,
                acc,
            } => {
                let out = cpu::backward_bias(v(dy), batch, channels);
                self.put(db, out, acc);
            }
            Op::ReflectPad { x, y, hw, p } => {
                let out = pad::forward(v(x), hw, p);
                self.put(y, out, false);
            }
            Op::ReflectPadBackward { dy, dx, hw, p, acc } => {
                let out = pad::backward(v(dy), hw, p);
                self.put(dx, out, acc);
            }
            Op::InstanceNorm {
                x,
                y,
                normed,
                rstd,
                plane,
                eps,
                act,
            } => match normed {
                Some(normed) => {
                    let (n, out, r) = norm::forward_activated(v(x), plane, eps, act);
                    self.put(normed, n, false);
                    self.put(y, out, false);
                    self.put(rstd, r, false);
                }
                None => {
                    let (out, r) = norm::forward(v(x), plane, eps, act);
                    self.put(y, out, false);
                    self.put(rstd, r, false);
                }
            },
            Op::InstanceNormBackward {
                normed,
                rstd,
                dy,
                dx,
                plane,
                act,
                acc,
            } => {
                let out = norm::backward(v(normed), v(rstd), v(dy), plane, act);
                self.put(dx, out, acc);
            }
            Op::ActivationBackward {
                y,
                dy,
                dx,
                act,
                acc,
            } => {
                let out = v(y)
                    .iter()
                    .zip(v(dy))
                    .map(|(&y, &g)| act.back(y, g))
                    .collect();
                self.put(dx, out, acc);
            }
            Op::Tanh { x, y } => {
                let out = v(x).iter().map(|e| e.tanh()).collect();
                self.put(y, out, false);
            }
            Op::TanhBackward { y, dy, dx, acc } => {
                let out = v(y)
                    .iter()
                    .zip(v(dy))
                    .map(|(&y, &g)| g * (1.0 - y * y))
                    .collect();
                self.put(dx, out, acc);
            }
            Op::Add { a, b, y } => {
                let out = v(a).iter().zip(v(b)).map(|(a, b)| a + b).collect();
                self.put(y, out, false);
            }
            Op::Accumulate { src, dst, acc } => {
                let out = v(src).to_vec();
                self.put(dst, out, acc);
            }
            Op::MseLoss {
                x,
                target,
                weight,
                loss,
                acc,
            } => {
                let x = v(x);
                let sum: f64 = x.iter().map(|&e| ((e - target) as f64).powi(2)).sum();
                let value = (sum / x.len() as f64) as f32 * weight;
                self.put(loss, vec![value], acc);
            }
            Op::MseLossBackward {
                x,
                target,
                weight,
                dx,
                acc,
            } => {
                let x = v(x);
                let scale = 2.0 * weight / x.len() as f32;
                let out = x.iter().map(|&e| (e - target) * scale).collect();
                self.put(dx, out, acc);
            }
            Op::L1Loss {
                a,
                b,
                weight,
                loss,
                acc,
            } => {
                let (a, b) = (v(a), v(b));
                let sum: f64 = a.iter().zip(b).map(|(&a, &b)| (a - b).abs() as f64).sum();
                let value = (sum / a.len() as f64) as f32 * weight;
                self.put(loss, vec![value], acc);
            }
            Op::L1LossBackward {
                a,
                b,
                weight,
                sign,
                dx,
                acc,
            } => {
                let (a, b) = (v(a), v(b));
                let scale = sign * weight / a.len() as f32;
                // PyTorch's sign(0) = 0: equal values pass no gradient.
                let out = a
                    .iter()
                    .zip(b)
                    .map(|(&a, &b)| match a - b {
                        d if d > 0.0 => scale,
                        d if d < 0.0 => -scale,
                        _ => 0.0,
                    })
                    .collect();
                self.put(dx, out, acc);
            }
            Op::Adam {
                param,
                grad,
                m,
                v: s,
            } => {
                let (p, mo, vo) = adam::step(v(param), v(grad), v(m), v(s), adam);
                self.put(param, p, false);
                self.put(m, mo, false);
                self.put(s, vo, false);
            }
        }
    }
}

impl Executor for CpuExecutor {
    fn plan(&self) -> &Plan {
        &self.plan
    }

    fn set(&mut self, b: Buf, data: &[f32]) -> Result<(), ExecError> {
        self.check_size(b, data)?;
        self.values[b.0].copy_from_slice(data);
        Ok(())
    }

    fn values(&self, b: Buf) -> Result<Vec<f32>, ExecError> {
        Ok(self.values[b.0].clone())
    }

    fn copy(&mut self, src: Buf, dst: Buf) -> Result<(), ExecError> {
        let v = self.values[src.0].clone();
        self.set(dst, &v)
    }

    fn run(&mut self, name: &str, adam: AdamScalars) -> Result<(), ExecError> {
        let p = self.program_index(name)?;
        // The ops are cloned out so that buffers can be borrowed mutably while they run.
        let ops = self.plan.programs[p].ops.clone();
        for op in &ops {
            self.exec(op, adam);
        }
        Ok(())
    }
}
