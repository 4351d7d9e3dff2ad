//! The resume file `train_state.safetensors`: everything an interrupted run needs to continue
//! as if it had never stopped — the model's networks (batch-norm statistics included), both
//! optimisers' moments and step counts, CycleGAN's image pools with their random streams, and the position (epoch, batch, iteration
//! counts). The data loader needs nothing saved: its choices derive from (seed, epoch, index).
//!
//! It is one file written atomically, so a kill at any moment leaves either the previous
//! complete state or the new one; the `latest_net_*` files beside it are exports for users.

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::model::Trainee;
use super::networks::NamedNetworks;
use super::step::Optimizers;
use crate::checkpoint::{self, CheckpointError};
use crate::model::{Params, RawTensor, StateDict};

pub const STATE_FILE: &str = "train_state.safetensors";
const METADATA_KEY: &str = "cyclegan.train_state";

/// Where a run stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The epoch to run next (1-based, upstream's numbering).
    pub epoch: usize,
    /// Batches of that epoch already done.
    pub next_batch: usize,
    /// Iterations done in all, across resumes (what `--max-steps` counts).
    pub steps: u64,
    /// Images seen in all (upstream's `total_iters`, which the save/print frequencies count).
    pub total_iters: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Metadata {
    position: Position,
    optimizer_g_steps: u64,
    optimizer_d_steps: u64,
    /// Each image pool's random stream (seed, position), under its name; CycleGAN's two were
    /// once fields of their own, which [`Metadata::pool_rng`] still reads.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pool_rngs: BTreeMap<String, (String, String)>,
    #[serde(default, skip_serializing)]
    pool_fake_a_rng: Option<(String, String)>,
    #[serde(default, skip_serializing)]
    pool_fake_b_rng: Option<(String, String)>,
}

impl Metadata {
    fn pool_rng(&self, name: &str) -> Option<&(String, String)> {
        self.pool_rngs.get(name).or(match name {
            "pool_fake_A" => self.pool_fake_a_rng.as_ref(),
            "pool_fake_B" => self.pool_fake_b_rng.as_ref(),
            _ => None,
        })
    }
}

fn host(t: &Tensor<4>) -> RawTensor {
    let shape = t.dims().to_vec();
    let data = t.clone().into_data().convert::<f32>().try_into_vec::<f32>();
    RawTensor {
        shape,
        data: data.expect("converted to f32 on the line above"),
    }
}

/// Writes the whole training state to `dir/train_state.safetensors`, atomically.
pub fn save(
    dir: &Path,
    trainee: &mut Trainee,
    optim: &Optimizers,
    position: Position,
) -> Result<(), CheckpointError> {
    let mut sd = StateDict::new();
    for (name, mut net) in trainee.named_mut() {
        for (k, t) in net.state_dict() {
            sd.insert(format!("{name}.{k}"), t);
        }
    }
    let (g, g_steps) = optim.g.state_dict();
    let (d, d_steps) = optim.d.state_dict();
    for (prefix, part) in [("optimizer_G", g), ("optimizer_D", d)] {
        for (k, t) in part {
            sd.insert(format!("{prefix}.{k}"), t);
        }
    }
    let mut pool_rngs = BTreeMap::new();
    for (prefix, pool) in trainee.pools() {
        for (i, image) in pool.images().iter().enumerate() {
            sd.insert(format!("{prefix}.{i:04}"), host(image));
        }
        let (seed, pos) = pool.rng_state();
        pool_rngs.insert(prefix.to_string(), (hex(&seed), pos.to_string()));
    }
    let metadata = Metadata {
        position,
        optimizer_g_steps: g_steps,
        optimizer_d_steps: d_steps,
        pool_rngs,
        pool_fake_a_rng: None,
        pool_fake_b_rng: None,
    };
    let json = serde_json::to_string(&metadata).map_err(|e| CheckpointError::Corrupt {
        path: dir.join(STATE_FILE),
        what: format!("cannot encode training state: {e}"),
    })?;
    let meta = BTreeMap::from([(METADATA_KEY.to_string(), json)]);
    checkpoint::safetensors_io::write_safetensors(&dir.join(STATE_FILE), &sd, &meta)
}

/// Restores a state written by [`save`] into a freshly built model and optimisers.
pub fn load(
    dir: &Path,
    trainee: &mut Trainee,
    optim: &mut Optimizers,
    device: &Device,
) -> Result<Position, CheckpointError> {
    let path = dir.join(STATE_FILE);
    let (sd, metadata) = checkpoint::safetensors_io::read_safetensors(&path)?;
    let corrupt = |what: String| CheckpointError::Corrupt {
        path: path.clone(),
        what,
    };
    let json = metadata.get(METADATA_KEY).ok_or_else(|| {
        corrupt(format!(
            "no `{METADATA_KEY}` metadata: not a cyclegan training state"
        ))
    })?;
    let meta: Metadata = serde_json::from_str(json)
        .map_err(|e| corrupt(format!("bad training-state metadata: {e}")))?;
    let part = |prefix: &str| -> StateDict {
        let dotted = format!("{prefix}.");
        sd.iter()
            .filter_map(|(k, t)| {
                k.strip_prefix(&dotted)
                    .map(|rest| (rest.to_string(), t.clone()))
            })
            .collect()
    };
    for (name, mut net) in trainee.named_mut() {
        net.load_state_dict(&part(name), device)
            .map_err(|e| CheckpointError::layout(&path, e))?;
    }
    optim
        .g
        .load_state_dict(&part("optimizer_G"), meta.optimizer_g_steps, device)
        .map_err(corrupt)?;
    optim
        .d
        .load_state_dict(&part("optimizer_D"), meta.optimizer_d_steps, device)
        .map_err(corrupt)?;
    for (prefix, pool) in trainee.pools_mut() {
        let rng = meta
            .pool_rng(prefix)
            .ok_or_else(|| corrupt(format!("no random state for {prefix}")))?;
        let images = part(prefix)
            .into_values()
            .map(|t| {
                let dims: [usize; 4] = t.shape.clone().try_into().map_err(|_| {
                    corrupt(format!(
                        "{prefix} image has shape {:?}, expected 4-d",
                        t.shape
                    ))
                })?;
                Ok(Tensor::<4>::from_data(
                    TensorData::new(t.data, dims),
                    device,
                ))
            })
            .collect::<Result<Vec<_>, CheckpointError>>()?;
        let seed = unhex(&rng.0).ok_or_else(|| corrupt(format!("bad {prefix} random state")))?;
        let pos = rng
            .1
            .parse()
            .map_err(|_| corrupt(format!("bad {prefix} random position")))?;
        pool.restore(images, (seed, pos));
    }
    Ok(meta.position)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}
