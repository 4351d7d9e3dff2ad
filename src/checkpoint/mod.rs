//! Checkpoints: PyTorch `.pth` (zip and legacy pickle) and safetensors files as state dicts
//! under the official key names, architecture detection from keys and shapes
//! ([`detect`]), and building networks from them. The state dict itself belongs to the
//! networks ([`crate::model::state_dict`]); this module reads and writes it from files and
//! names the file in every error.

pub mod detect;
pub mod elem_type;
pub mod error;
pub mod format;
pub mod pickle;
pub mod pth;
pub mod pth_write;
pub mod repair;
pub mod safetensors_io;
pub mod seed;

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::Device;

pub use crate::model::{RawTensor, StateDict};
pub use error::CheckpointError;
pub use format::{CheckpointFormat, read_state_dict};

use crate::model::{Generator, GeneratorConfig, NetworkConfig, Params};

/// The safetensors metadata key holding the network's architecture as JSON, so a file written
/// here rebuilds exactly (down to things keys cannot show, such as a U-Net's dropout).
pub const CONFIG_METADATA_KEY: &str = "cyclegan.network";

/// A checkpoint read from disk, with its architecture.
#[derive(Debug)]
pub struct LoadedCheckpoint {
    pub config: NetworkConfig,
    /// The tensors the network loads (stale keys removed).
    pub state_dict: StateDict,
    pub format: CheckpointFormat,
    /// Keys in the file that the network does not use and upstream's loader drops too.
    pub dropped: Vec<String>,
}

/// Reads a checkpoint of any supported format and works out its architecture.
pub fn load(path: &Path) -> Result<LoadedCheckpoint, CheckpointError> {
    let (sd, format, metadata) = read_state_dict(path)?;
    let (detected, state_dict, dropped) =
        detect::detect(sd).map_err(|e| CheckpointError::detect(path, e))?;
    // A file written here names its architecture; trust it over the keys when it parses, as
    // it knows what keys cannot show. Strict loading still checks it against the tensors.
    let config = metadata
        .get(CONFIG_METADATA_KEY)
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or(detected);
    // The metadata is as untrusted as the keys: it must not claim a network the file cannot fill.
    detect::check_buildable(&config, &state_dict).map_err(|e| CheckpointError::detect(path, e))?;
    Ok(LoadedCheckpoint {
        config,
        state_dict,
        format,
        dropped,
    })
}

/// Loads a generator checkpoint onto `device`.
pub fn load_generator(
    path: &Path,
    device: &Device,
) -> Result<(GeneratorConfig, Generator), CheckpointError> {
    load_generator_with_dropout(path, device, None)
}

/// [`load_generator`], with its dropout layers present or not as `dropout` says (`None`: as
/// the file says). Dropout has no weights, so either loads the same tensors.
pub fn load_generator_with_dropout(
    path: &Path,
    device: &Device,
    dropout: Option<bool>,
) -> Result<(GeneratorConfig, Generator), CheckpointError> {
    let loaded = load(path)?;
    let NetworkConfig::Generator(mut config) = loaded.config else {
        return Err(CheckpointError::WrongNetwork {
            path: path.to_path_buf(),
            found: loaded.config.describe(),
            wanted: "a generator",
        });
    };
    if let Some(dropout) = dropout {
        config.set_dropout(dropout);
    }
    let mut generator = config.init(device);
    generator
        .load_state_dict(&loaded.state_dict, device)
        .map_err(|e| CheckpointError::layout(path, e))?;
    Ok((config, generator))
}

/// Loads `path` into an already built network, strictly, after the same repairs as [`load`]
/// ([`repair`]); returns the keys those dropped, for the caller to report.
pub fn load_into(
    path: &Path,
    net: &mut impl Params,
    device: &Device,
) -> Result<Vec<String>, CheckpointError> {
    let (sd, _, _) = read_state_dict(path)?;
    let sd = repair::strip_module_prefix(sd);
    // A network keeps running statistics exactly when it is batch-normed.
    let mut batch_norm = false;
    net.visit("", &mut |key, _, _| {
        batch_norm |= key.ends_with(".running_mean");
    });
    let (sd, dropped) = repair::drop_stale_norm_stats(sd, batch_norm);
    net.load_state_dict(&sd, device)
        .map_err(|e| CheckpointError::layout(path, e))?;
    Ok(dropped)
}

/// Writes a state dict as safetensors under the official keys, with the architecture in the
/// metadata. The write is atomic: a crash leaves the old file or the new one, never a mix.
pub fn save_state_dict(
    path: &Path,
    sd: &StateDict,
    config: &NetworkConfig,
) -> Result<(), CheckpointError> {
    let mut metadata = BTreeMap::new();
    // `format: pt` marks the file as PyTorch-layout for the safetensors tooling.
    metadata.insert("format".to_string(), "pt".to_string());
    if let Ok(json) = serde_json::to_string(config) {
        metadata.insert(CONFIG_METADATA_KEY.to_string(), json);
    }
    safetensors_io::write_safetensors(path, sd, &metadata)
}

/// Saves a network's tensors (see [`save_state_dict`]).
pub fn save_network(
    path: &Path,
    net: &mut impl Params,
    config: &NetworkConfig,
) -> Result<(), CheckpointError> {
    save_state_dict(path, &net.state_dict(), config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DiscriminatorConfig;

    /// Errors raised where only tensors are known reach the user with the file's path, and a
    /// refused load leaves the network as it was.
    #[test]
    fn load_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let device = Device::flex();
        let config = DiscriminatorConfig::pixel(3, 2);
        let path = dir.path().join("d.safetensors");
        let mut saved = config.init(&device);
        save_network(
            &path,
            &mut saved,
            &NetworkConfig::Discriminator(config.clone()),
        )
        .unwrap();

        let mut wider = DiscriminatorConfig::pixel(3, 4).init(&device);
        let before = wider.state_dict();
        let e = load_into(&path, &mut wider, &device).unwrap_err();
        assert!(matches!(e, CheckpointError::LayoutMismatch { .. }), "{e:?}");
        let message = e.to_string();
        let expected = format!(
            "`{}`: the checkpoint does not fit the network: missing []; unexpected []; wrong shape",
            path.display()
        );
        assert!(message.starts_with(&expected), "{message}");
        assert!(
            message.ends_with("or let the architecture be detected)"),
            "{message}"
        );
        assert_eq!(wider.state_dict(), before);

        let e = load_generator(&path, &device).unwrap_err();
        assert!(matches!(e, CheckpointError::WrongNetwork { .. }), "{e:?}");

        let junk = dir.path().join("junk.safetensors");
        let sd = StateDict::from([(
            "weight".to_string(),
            RawTensor {
                shape: vec![1],
                data: vec![0.0],
            },
        )]);
        save_state_dict(&junk, &sd, &NetworkConfig::Discriminator(config)).unwrap();
        let e = load(&junk).unwrap_err();
        assert!(matches!(e, CheckpointError::Detect { .. }), "{e:?}");
        let message = e.to_string();
        assert!(
            message.starts_with(&format!("`{}`: no known network layout", junk.display())),
            "{message}"
        );
    }
}
