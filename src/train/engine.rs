//! The plan engine (`crate::engine`) as the backend of the CycleGAN step: the same iteration
//! as [`super::step::train_step`], with the weights and Adam's moments living in the
//! executor's buffers (a GPU's with `--device cuda`). The burn networks and optimisers stay
//! the run's record: [`EngineStep::sync`] copies the executor's state into them before
//! anything reads them (checkpoints, resume state, samples, scores), so those stay one code
//! path for every backend.

use burn::tensor::{Device, Tensor, TensorData};

use super::networks::{NamedNetworks, Networks};
use super::step::{LossConfig, Optimizers, Pools, StepLosses, Visuals};
use crate::engine::cyclegan::{CycleGanPlan, DISCRIMINATORS, GENERATORS};
use crate::engine::nets::PlanError;
use crate::engine::{Buf, CpuExecutor, CycleGanLoss, ExecError, Executor, Plan, Role};
use crate::model::loss::GanMode;
use crate::model::{Params, RawTensor, StateDict};
use crate::tensors::values;

use super::ModelConfig;

/// Where the plan runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    /// The CPU executor on the `ops` kernels.
    Cpu,
    /// The CUDA executor on GPU 0.
    #[cfg(feature = "cuda")]
    Cuda(crate::engine::cuda::exec::Precision),
}

impl std::fmt::Display for EngineKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineKind::Cpu => write!(f, "plan engine, CPU executor"),
            #[cfg(feature = "cuda")]
            EngineKind::Cuda(precision) => write!(f, "plan engine, CUDA ({precision:?})"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(
        "the engine runs upstream's CycleGAN objective (lsgan, one architecture for both generators and one for both discriminators); this run asks for {0}"
    )]
    Objective(String),
    #[error("loading the engine's weights into {net}: {cause}")]
    Sync { net: String, cause: String },
}

const NETS: [&str; 4] = ["G_A", "G_B", "D_A", "D_B"];

/// The executor of one image shape, with the plan it runs.
pub struct EngineStep {
    kind: EngineKind,
    exec: Box<dyn Executor>,
    plan: CycleGanPlan,
    shape: [usize; 3],
    /// Whether the executor holds weights the burn networks do not have yet.
    ahead: bool,
}

impl std::fmt::Debug for EngineStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineStep")
            .field("kind", &self.kind)
            .field("shape", &self.shape)
            .finish()
    }
}

/// The engine's objective from the run's, where the engine has it.
fn objective(model: &ModelConfig, loss: &LossConfig) -> Result<CycleGanLoss, EngineError> {
    if loss.gan_mode != GanMode::Lsgan
        || loss.seed.is_some()
        || model.g_a != model.g_b
        || model.d_a != model.d_b
    {
        return Err(EngineError::Objective(format!("{model:?} with {loss:?}")));
    }
    Ok(CycleGanLoss {
        lambda_a: loss.lambda_a,
        lambda_b: loss.lambda_b,
        lambda_identity: loss.lambda_identity,
    })
}

/// An executor of `plan` on `kind`, its buffers zeroed.
pub fn executor(kind: EngineKind, plan: Plan) -> Result<Box<dyn Executor>, EngineError> {
    Ok(match kind {
        EngineKind::Cpu => Box::new(CpuExecutor::new(plan)),
        #[cfg(feature = "cuda")]
        EngineKind::Cuda(precision) => Box::new(
            crate::engine::cuda::exec::CudaExecutor::new(plan, 0, precision)
                .map_err(ExecError::from)?,
        ),
    })
}

/// Checks that the engine can run `model` with `loss` before a run starts.
pub fn check(model: &ModelConfig, loss: &LossConfig) -> Result<(), EngineError> {
    let objective = objective(model, loss)?;
    CycleGanPlan::new(&model.g_a, &model.d_a, objective, [1, 256, 256])?;
    Ok(())
}

impl EngineStep {
    /// A plan for `[batch, h, w]` images on `kind`, holding the weights of `nets` and the
    /// moments of `optim` as they are now (fresh, resumed or initialised from a checkpoint).
    pub fn new(
        kind: EngineKind,
        model: &ModelConfig,
        loss: &LossConfig,
        shape: [usize; 3],
        nets: &mut Networks,
        optim: &Optimizers,
    ) -> Result<Self, EngineError> {
        let plan = CycleGanPlan::new(&model.g_a, &model.d_a, objective(model, loss)?, shape)?;
        let mut exec = executor(kind, plan.plan.clone())?;
        for (name, mut net) in nets.named_mut() {
            exec.load(name, &net.state_dict())?;
        }
        let (g, _) = optim.g.state_dict();
        let (d, _) = optim.d.state_dict();
        for moments in [g, d] {
            for (i, info) in plan.plan.buffers.iter().enumerate() {
                let Role::Moment { param, second } = info.role else {
                    continue;
                };
                let Role::Param { net, key } = &plan.plan.buffers[param.0].role else {
                    unreachable!("moments are of parameters");
                };
                let name = if second { "exp_avg_sq" } else { "exp_avg" };
                if let Some(t) = moments.get(&format!("{name}.{net}.{key}")) {
                    exec.set(Buf(i), &t.data)?;
                }
            }
        }
        Ok(Self {
            kind,
            exec,
            plan,
            shape,
            ahead: false,
        })
    }

    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    /// One iteration at learning rate `lr`: the generators' program, the pools' choice, the
    /// discriminators' program. Upstream's order, as [`super::step::train_step`].
    pub fn step(
        &mut self,
        optim: &mut Optimizers,
        pools: &mut Pools,
        real_a: &Tensor<4>,
        real_b: &Tensor<4>,
        lr: f64,
    ) -> Result<(StepLosses, Visuals), EngineError> {
        let device = real_a.device();
        let b = self.plan.buffers.clone();
        self.exec.set(b.real_a, &values(real_a.clone()))?;
        self.exec.set(b.real_b, &values(real_b.clone()))?;
        optim.g.begin_step();
        self.exec.run(GENERATORS, optim.g.scalars(lr))?;
        self.ahead = true;
        // The pools choose on the host: one image each way per iteration crosses.
        for (fake, pooled, pool) in [
            (b.fake_a, b.fake_a_pool, &mut pools.fake_a),
            (b.fake_b, b.fake_b_pool, &mut pools.fake_b),
        ] {
            let image = self.tensor(fake, &device)?;
            let chosen = pool.query(image);
            self.exec.set(pooled, &values(chosen))?;
        }
        optim.d.begin_step();
        self.exec.run(DISCRIMINATORS, optim.d.scalars(lr))?;
        let loss = |name| self.exec.loss(name).map(f64::from);
        let losses = StepLosses {
            d_a: loss("D_A")?,
            g_a: loss("G_A")?,
            cycle_a: loss("cycle_A")?,
            idt_a: loss("idt_A")?,
            d_b: loss("D_B")?,
            g_b: loss("G_B")?,
            cycle_b: loss("cycle_B")?,
            idt_b: loss("idt_B")?,
        };
        let idt = |buf: Option<Buf>| buf.map(|buf| self.tensor(buf, &device)).transpose();
        let visuals = Visuals {
            real_a: real_a.clone(),
            fake_b: self.tensor(b.fake_b, &device)?,
            rec_a: self.tensor(b.rec_a, &device)?,
            idt_b: idt(b.idt_b)?,
            real_b: real_b.clone(),
            fake_a: self.tensor(b.fake_a, &device)?,
            rec_b: self.tensor(b.rec_b, &device)?,
            idt_a: idt(b.idt_a)?,
        };
        Ok((losses, visuals))
    }

    /// Buffer `buf` (an image batch) as a tensor on `device`.
    fn tensor(&self, buf: Buf, device: &Device) -> Result<Tensor<4>, ExecError> {
        let shape: [usize; 4] = self.plan.plan.buffers[buf.0]
            .shape
            .clone()
            .try_into()
            .expect("image buffers are 4-d");
        let data = self.exec.values(buf)?;
        Ok(Tensor::from_data(TensorData::new(data, shape), device))
    }

    /// Copies the executor's weights into `nets` and its moments into `optim`, if it is ahead
    /// of them.
    pub fn sync(
        &mut self,
        nets: &mut Networks,
        optim: &mut Optimizers,
        device: &Device,
    ) -> Result<(), EngineError> {
        if !self.ahead {
            return Ok(());
        }
        for (name, mut net) in nets.named_mut() {
            let sd = self.exec.state_dict(name)?;
            net.load_state_dict(&sd, device)
                .map_err(|e| EngineError::Sync {
                    net: name.into(),
                    cause: e.to_string(),
                })?;
        }
        for (adam, nets) in [(&mut optim.g, &NETS[..2]), (&mut optim.d, &NETS[2..])] {
            let mut sd = StateDict::new();
            for (i, info) in self.plan.plan.buffers.iter().enumerate() {
                let Role::Moment { param, second } = info.role else {
                    continue;
                };
                let Role::Param { net, key } = &self.plan.plan.buffers[param.0].role else {
                    unreachable!("moments are of parameters");
                };
                if !nets.contains(&net.as_str()) {
                    continue;
                }
                let name = if second { "exp_avg_sq" } else { "exp_avg" };
                let data = self.exec.values(Buf(i))?;
                let shape = vec![data.len()];
                sd.insert(format!("{name}.{net}.{key}"), RawTensor { shape, data });
            }
            let steps = adam.steps();
            adam.load_state_dict(&sd, steps, device)
                .map_err(|cause| EngineError::Sync {
                    net: "the optimiser".into(),
                    cause,
                })?;
        }
        self.ahead = false;
        Ok(())
    }
}
