//! Walking a network's tensors under their official state_dict keys, and moving them to and
//! from a [`StateDict`]. Loading is strict, as PyTorch's `load_state_dict(strict=True)`: every
//! key must be present with its shape and no key may be left over, so a checkpoint that fits no
//! layout is refused whole instead of half-loaded: every key is checked before any tensor is
//! replaced, and a refused load leaves the network as it was.

use std::collections::BTreeSet;

use burn::tensor::{Device, Tensor, TensorData};

use super::state_dict::{KeyMismatch, RawTensor, StateDict};

/// A mutable reference to one of a network's tensors.
pub enum ParamMut<'a> {
    D1(&'a mut Tensor<1>),
    D4(&'a mut Tensor<4>),
    /// A counter PyTorch keeps as a 0-d int64 tensor (a batch norm's `num_batches_tracked`):
    /// saved and loaded with the state dict, never on a device or stepped.
    Count(&'a mut u64),
}

impl ParamMut<'_> {
    pub fn shape(&self) -> Vec<usize> {
        match self {
            ParamMut::D1(t) => t.dims().to_vec(),
            ParamMut::D4(t) => t.dims().to_vec(),
            ParamMut::Count(_) => Vec::new(),
        }
    }

    /// The tensor flattened to one dimension (cheap: a view of the same data); `None` for a
    /// [`ParamMut::Count`], which is no tensor.
    pub fn flat(&self) -> Option<Tensor<1>> {
        match self {
            ParamMut::D1(t) => Some((*t).clone()),
            ParamMut::D4(t) => Some((*t).clone().flatten(0, 3)),
            ParamMut::Count(_) => None,
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
            ParamMut::Count(c) => {
                let values = flat.into_data().convert::<f32>().try_into_vec::<f32>();
                **c = count_of(&values.unwrap_or_default());
            }
        }
    }

    /// The values on the host, in row-major order.
    pub fn host(&self) -> Vec<f32> {
        match self {
            ParamMut::Count(c) => vec![**c as f32],
            _ => {
                let flat = self.flat().expect("a tensor");
                let data = flat.into_data().convert::<f32>().try_into_vec::<f32>();
                data.expect("converted to f32 on the line above")
            }
        }
    }

    /// Replaces the values by `values` (as many as the shape holds), on `device`.
    pub fn set_host(&mut self, values: Vec<f32>, device: &Device) {
        match self {
            ParamMut::Count(c) => **c = count_of(&values),
            _ => {
                let n = values.len();
                self.set_flat(Tensor::<1>::from_data(TensorData::new(values, [n]), device));
            }
        }
    }
}

/// A counter read back from a state dict's `f32`s (exact below 2^24; negative or missing as 0).
fn count_of(values: &[f32]) -> u64 {
    values.first().map_or(0, |&v| v.max(0.0) as u64)
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
            let (shape, data) = (p.shape(), p.host());
            sd.insert(key.to_string(), RawTensor { shape, data });
        });
        sd
    }

    /// Replaces every tensor by the state dict's, strictly (see the module docs). On `Err`
    /// nothing was replaced.
    fn load_state_dict(&mut self, sd: &StateDict, device: &Device) -> Result<(), KeyMismatch> {
        // First pass: check every key, replace nothing.
        let mut missing = Vec::new();
        let mut mismatched = Vec::new();
        let mut expected = BTreeSet::new();
        self.visit("", &mut |key, p, _| {
            expected.insert(key.to_string());
            match sd.get(key) {
                None => missing.push(format!("{key} {:?}", p.shape())),
                Some(t) if t.shape != p.shape() => mismatched.push(format!(
                    "{key}: checkpoint {:?}, network {:?}",
                    t.shape,
                    p.shape()
                )),
                // Readers check this; a state dict built in memory might not have.
                Some(t) if t.data.len() != t.numel() => mismatched.push(format!(
                    "{key}: {} values for shape {:?}",
                    t.data.len(),
                    t.shape
                )),
                Some(_) => {}
            }
        });
        let unexpected: Vec<String> = sd
            .iter()
            .filter(|(k, _)| !expected.contains(k.as_str()))
            .map(|(k, t)| format!("{k} {:?}", t.shape))
            .collect();
        let mismatch = KeyMismatch {
            missing,
            unexpected,
            mismatched,
        };
        if !mismatch.is_empty() {
            return Err(mismatch);
        }
        // Second pass: every key is there with its shape.
        self.visit("", &mut |key, mut p, _| {
            if let Some(t) = sd.get(key) {
                p.set_host(t.data.clone(), device);
            }
        });
        Ok(())
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

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;
    use crate::model::DiscriminatorConfig;

    /// A load refused for any key, even the last one visited, replaces no tensor: the network
    /// keeps its weights, not a mix of its own and the file's.
    #[test]
    fn a_refused_load_leaves_the_network_untouched() {
        let device = Device::flex();
        let mut net = DiscriminatorConfig::basic(3, 2).init(&device);
        let before = net.state_dict();
        let mut last = String::new();
        net.visit("", &mut |key, _, _| last = key.to_string());
        let other: StateDict = before
            .iter()
            .map(|(k, t)| {
                let data = t.data.iter().map(|v| v + 1.0).collect();
                let t = RawTensor {
                    shape: t.shape.clone(),
                    data,
                };
                (k.clone(), t)
            })
            .collect();

        let mut without_last = other.clone();
        without_last.remove(&last);
        let e = net.load_state_dict(&without_last, &device).unwrap_err();
        assert_eq!(e.missing.len(), 1, "{e}");
        assert!(e.missing[0].starts_with(&last), "{e}");
        assert_eq!(net.state_dict(), before);

        let mut wrong_shape = other.clone();
        let t = wrong_shape.get_mut(&last).unwrap();
        t.shape.push(1);
        let e = net.load_state_dict(&wrong_shape, &device).unwrap_err();
        assert_eq!(e.mismatched.len(), 1, "{e}");
        assert_eq!(net.state_dict(), before);

        let mut extra = other.clone();
        extra.insert("extra.weight".into(), before[&last].clone());
        let e = net.load_state_dict(&extra, &device).unwrap_err();
        assert_eq!(e.unexpected.len(), 1, "{e}");
        assert!(e.unexpected[0].starts_with("extra.weight "), "{e}");
        assert_eq!(net.state_dict(), before);

        let mut short = other.clone();
        short.get_mut(&last).unwrap().data.pop();
        assert!(net.load_state_dict(&short, &device).is_err());
        assert_eq!(net.state_dict(), before);

        // The same state dict, whole, loads: the refusals above were for the one bad key.
        net.load_state_dict(&other, &device).unwrap();
        assert_eq!(net.state_dict(), other);
    }
}
