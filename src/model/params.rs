//! Walking a network's tensors under their official state_dict keys, and moving them to and
//! from a [`StateDict`]. Loading is strict, as PyTorch's `load_state_dict(strict=True)`: every
//! key must be present with its shape and no key may be left over, so a checkpoint that fits no
//! layout is refused whole instead of half-loaded.

use burn::tensor::{Device, Tensor, TensorData};

use crate::checkpoint::{CheckpointError, RawTensor, StateDict};

/// A mutable reference to one of a network's tensors.
pub enum ParamMut<'a> {
    D1(&'a mut Tensor<1>),
    D4(&'a mut Tensor<4>),
}

impl ParamMut<'_> {
    pub fn shape(&self) -> Vec<usize> {
        match self {
            ParamMut::D1(t) => t.dims().to_vec(),
            ParamMut::D4(t) => t.dims().to_vec(),
        }
    }

    /// The tensor flattened to one dimension (cheap: a view of the same data).
    pub fn flat(&self) -> Tensor<1> {
        match self {
            ParamMut::D1(t) => (*t).clone(),
            ParamMut::D4(t) => (*t).clone().flatten(0, 3),
        }
    }

    /// Replaces the tensor by `flat`, reshaped to the tensor's shape.
    pub fn set_flat(&mut self, flat: Tensor<1>) {
        match self {
            ParamMut::D1(t) => **t = flat,
            ParamMut::D4(t) => {
                let dims = t.dims();
                **t = flat.reshape(dims);
            }
        }
    }
}

/// What a tensor is, which decides how it is initialised and whether an optimiser steps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamRole {
    /// A convolution's weight.
    Conv,
    /// A bias (of a convolution or an affine norm).
    Bias,
    /// An affine instance norm's scale.
    NormWeight,
    /// A batch norm's scale (upstream re-draws these at init; instance norms keep 1).
    BatchNormWeight,
    /// A batch norm's running statistics: saved and loaded, never stepped.
    Buffer,
}

impl ParamRole {
    pub fn trainable(self) -> bool {
        self != ParamRole::Buffer
    }
}

pub type Visitor<'a> = dyn FnMut(&str, ParamMut<'_>, ParamRole) + 'a;

/// A network (or a part of one) whose tensors sit under official state_dict keys.
pub trait Params {
    /// Calls `v` once per tensor with its full key (`prefix` joined with the local name).
    fn visit(&mut self, prefix: &str, v: &mut Visitor<'_>);

    /// Every tensor as host data under its official key.
    fn state_dict(&mut self) -> StateDict {
        let mut sd = StateDict::new();
        self.visit("", &mut |key, p, _| {
            let shape = p.shape();
            let data = p.flat().into_data().convert::<f32>().try_into_vec::<f32>();
            let data = data.expect("converted to f32 on the line above");
            sd.insert(key.to_string(), RawTensor { shape, data });
        });
        sd
    }

    /// Replaces every tensor by the state dict's, strictly (see the module docs).
    fn load_state_dict(&mut self, sd: &StateDict, device: &Device) -> Result<(), CheckpointError> {
        let mut missing = Vec::new();
        let mut mismatched = Vec::new();
        let mut expected = Vec::new();
        self.visit("", &mut |key, mut p, _| {
            expected.push(key.to_string());
            match sd.get(key) {
                None => missing.push(format!("{key} {:?}", p.shape())),
                Some(t) if t.shape != p.shape() => mismatched.push(format!(
                    "{key}: checkpoint {:?}, network {:?}",
                    t.shape,
                    p.shape()
                )),
                Some(t) => {
                    let n = t.data.len();
                    let flat = Tensor::<1>::from_data(TensorData::new(t.data.clone(), [n]), device);
                    p.set_flat(flat);
                }
            }
        });
        let unexpected: Vec<String> = sd
            .iter()
            .filter(|(k, _)| !expected.iter().any(|e| e == *k))
            .map(|(k, t)| format!("{k} {:?}", t.shape))
            .collect();
        if missing.is_empty() && mismatched.is_empty() && unexpected.is_empty() {
            Ok(())
        } else {
            Err(CheckpointError::LayoutMismatch {
                path: Default::default(),
                missing: first_few(&missing),
                unexpected: first_few(&unexpected),
                mismatched: first_few(&mismatched),
            })
        }
    }

    /// Number of trainable scalars, as upstream's `print_networks` counts them.
    fn num_params(&mut self) -> usize {
        let mut n = 0;
        self.visit("", &mut |_, p, role| {
            if role.trainable() {
                n += p.shape().iter().product::<usize>();
            }
        });
        n
    }
}

fn first_few(items: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        s.push_str(&format!(", … ({} in all)", items.len()));
    }
    s
}
