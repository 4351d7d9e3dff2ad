//! What every executor of a plan offers: buffers in and out, and programs run. The training
//! loop and the tests speak to this, so the CPU check and the GPU run share one code path.

use super::plan::{Buf, Plan, Role};
use crate::model::{RawTensor, StateDict};
use crate::ops::adam::AdamScalars;

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("the plan has no {0}")]
    Missing(String),
    #[error("{what}: {got} values where the plan has {expected}")]
    Size {
        what: String,
        got: usize,
        expected: usize,
    },
    #[cfg(feature = "cuda")]
    #[error(transparent)]
    Cuda(#[from] super::cuda::exec::CudaError),
}

pub trait Executor {
    fn plan(&self) -> &Plan;

    /// Writes `data` into buffer `b` (exactly its length).
    fn set(&mut self, b: Buf, data: &[f32]) -> Result<(), ExecError>;

    /// The values of buffer `b`.
    fn values(&self, b: Buf) -> Result<Vec<f32>, ExecError>;

    /// Copies buffer `src` into `dst` (the image pool's hand-over).
    fn copy(&mut self, src: Buf, dst: Buf) -> Result<(), ExecError>;

    /// Runs program `name`; `adam` are the scalars of the optimiser step it ends with.
    fn run(&mut self, name: &str, adam: AdamScalars) -> Result<(), ExecError>;

    /// `data` into buffer `b`, checked against its length.
    fn check_size(&self, b: Buf, data: &[f32]) -> Result<(), ExecError> {
        let expected = self.plan().buffers[b.0].len();
        if data.len() != expected {
            return Err(ExecError::Size {
                what: format!("{:?}", self.plan().buffers[b.0].role),
                got: data.len(),
                expected,
            });
        }
        Ok(())
    }

    fn set_input(&mut self, name: &str, data: &[f32]) -> Result<(), ExecError> {
        let b = self
            .plan()
            .find(&Role::Input(name.into()))
            .ok_or_else(|| ExecError::Missing(format!("input {name}")))?;
        self.set(b, data)
    }

    /// Loads every parameter of network `net` from `sd` (official keys); a key the plan needs
    /// and `sd` lacks is an error, keys the plan does not use (running statistics) are left.
    fn load(&mut self, net: &str, sd: &StateDict) -> Result<(), ExecError> {
        for (key, b) in self.plan().params(net) {
            let t = sd
                .get(&key)
                .ok_or_else(|| ExecError::Missing(format!("{net}.{key} in the loaded weights")))?;
            self.set(b, &t.data)?;
        }
        Ok(())
    }

    /// The parameters of network `net` under their official keys.
    fn state_dict(&self, net: &str) -> Result<StateDict, ExecError> {
        self.plan()
            .params(net)
            .into_iter()
            .map(|(key, b)| {
                let shape = self.plan().buffers[b.0].shape.clone();
                let data = self.values(b)?;
                Ok((key, RawTensor { shape, data }))
            })
            .collect()
    }

    fn loss(&self, name: &str) -> Result<f32, ExecError> {
        let b = self
            .plan()
            .find(&Role::Loss(name.into()))
            .ok_or_else(|| ExecError::Missing(format!("loss {name}")))?;
        Ok(self.values(b)?[0])
    }

    /// The gradient the last run of a program left for `b`, if the plan makes one.
    fn grad(&self, b: Buf) -> Result<Option<Vec<f32>>, ExecError> {
        match self.plan().find(&Role::Grad(b)) {
            Some(g) => self.values(g).map(Some),
            None => Ok(None),
        }
    }

    /// Looks program `name` up.
    fn program_index(&self, name: &str) -> Result<usize, ExecError> {
        self.plan()
            .programs
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| ExecError::Missing(format!("program {name}")))
    }
}
