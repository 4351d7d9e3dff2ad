//! Architecture detection from a state dict's keys and shapes alone, so that `translate` takes
//! an official pretrained `.pth` (or a third-party one) without `--netG` and friends.
//!
//! Also the two repairs upstream's loader makes silently (`base_model.py`,
//! `__patch_instance_norm_state_dict`), done here explicitly: stale InstanceNorm
//! `running_mean` / `running_var` / `num_batches_tracked` keys from pre-0.4 PyTorch are dropped,
//! and a `module.` prefix left by `DataParallel` is stripped.

use crate::checkpoint::{CheckpointError, StateDict};
use crate::model::{
    BlockNaming, DiscriminatorConfig, GeneratorConfig, NetworkConfig, NormKind,
    ResnetGeneratorConfig, UnetGeneratorConfig, Upsampling,
};

/// Strips `module.` prefixes (DataParallel) from every key.
pub fn strip_module_prefix(sd: StateDict) -> StateDict {
    sd.into_iter()
        .map(|(k, v)| match k.strip_prefix("module.") {
            Some(rest) => (rest.to_string(), v),
            None => (k, v),
        })
        .collect()
}

/// Detects the network a state dict belongs to, and returns the state dict as that network
/// loads it (stale instance-norm statistics dropped) with the keys that were dropped.
pub fn detect(sd: StateDict) -> Result<(NetworkConfig, StateDict, Vec<String>), CheckpointError> {
    let sd = strip_module_prefix(sd);
    let shape = |k: &str| sd.get(k).map(|t| t.shape.clone());
    let config = if let Some(s) = shape("model.model.0.weight") {
        NetworkConfig::Generator(GeneratorConfig::Unet(detect_unet(&sd, &s)?))
    } else if let Some(s) = shape("net.0.weight") {
        NetworkConfig::Discriminator(detect_pixel(&sd, &s)?)
    } else if let Some(s) = shape("model.1.weight").filter(|s| s.len() == 4 && s[2] == 7) {
        NetworkConfig::Generator(GeneratorConfig::Resnet(detect_resnet(&sd, &s)?))
    } else if let Some(s) = shape("model.0.weight").filter(|s| s.len() == 4 && s[2] == 4) {
        NetworkConfig::Discriminator(detect_n_layers(&sd, &s)?)
    } else {
        return Err(unknown_layout(&sd));
    };
    let (sd, dropped) = drop_stale_norm_stats(sd, &config);
    Ok((config, sd, dropped))
}

fn unknown_layout(sd: &StateDict) -> CheckpointError {
    let keys: Vec<String> = sd
        .iter()
        .take(6)
        .map(|(k, t)| format!("{k} {:?}", t.shape))
        .collect();
    CheckpointError::UnknownLayout {
        path: Default::default(),
        first_keys: keys.join(", "),
    }
}

/// The norm of a layer from the keys under `prefix` and whether the conv before it has a bias
/// (`conv_bias`): weight + running stats + no conv bias is upstream's BatchNorm (its convs drop
/// the bias); running stats alone are stale InstanceNorm statistics.
fn norm_at(sd: &StateDict, prefix: &str, conv_bias: bool) -> NormKind {
    let has = |name: &str| sd.contains_key(&format!("{prefix}.{name}"));
    match (has("weight"), has("running_mean")) {
        (true, true) if !conv_bias => NormKind::Batch,
        (true, _) => NormKind::InstanceAffine,
        (false, _) if conv_bias => NormKind::Instance,
        (false, _) => NormKind::None,
    }
}

fn dim(shape: &[usize], i: usize, key: &str) -> Result<usize, CheckpointError> {
    shape
        .get(i)
        .copied()
        .ok_or_else(|| CheckpointError::UnknownLayout {
            path: Default::default(),
            first_keys: format!("{key} has shape {shape:?}, expected a 4-d convolution weight"),
        })
}

fn detect_resnet(sd: &StateDict, stem: &[usize]) -> Result<ResnetGeneratorConfig, CheckpointError> {
    let ngf = dim(stem, 0, "model.1.weight")?;
    let input_nc = dim(stem, 1, "model.1.weight")?;
    let block_naming = if sd.keys().any(|k| k.contains(".conv_block.")) {
        BlockNaming::ConvBlock
    } else {
        BlockNaming::Block
    };
    let attr = match block_naming {
        BlockNaming::ConvBlock => "conv_block",
        BlockNaming::Block => "block",
    };
    let n_blocks = (0..)
        .take_while(|i| sd.contains_key(&format!("model.{}.{attr}.1.weight", 10 + i)))
        .count();
    // Dropout shifts a block's second convolution from index 5 to 6 (index 6 is otherwise the
    // second norm, whose weight is 1-d).
    let use_dropout = sd
        .get(&format!("model.10.{attr}.6.weight"))
        .is_some_and(|t| t.shape.len() == 4);
    // After the blocks, upstream has ConvTranspose2d at 10+n; the seed has Upsample there and
    // its convolution at 11+n.
    let upsampling = if sd.contains_key(&format!("model.{}.weight", 10 + n_blocks)) {
        Upsampling::Transpose
    } else {
        Upsampling::Resize
    };
    let use_bias = sd.contains_key("model.4.bias");
    let norm = norm_at(sd, "model.2", use_bias);
    let mut config = ResnetGeneratorConfig {
        input_nc,
        output_nc: 0,
        ngf,
        n_blocks,
        norm,
        use_bias,
        use_dropout,
        upsampling,
        block_naming,
    };
    let head = format!("model.{}.weight", config.layout().head());
    config.output_nc = match sd.get(&head) {
        Some(t) => dim(&t.shape, 0, &head)?,
        None => {
            return Err(CheckpointError::LayoutMismatch {
                path: Default::default(),
                missing: format!("{head} (the ResNet generator's last convolution)"),
                unexpected: String::new(),
                mismatched: String::new(),
            });
        }
    };
    Ok(config)
}

fn detect_unet(sd: &StateDict, outer: &[usize]) -> Result<UnetGeneratorConfig, CheckpointError> {
    let ngf = dim(outer, 0, "model.model.0.weight")?;
    let input_nc = dim(outer, 1, "model.model.0.weight")?;
    let output_nc = match sd.get("model.model.3.weight") {
        Some(t) => dim(&t.shape, 1, "model.model.3.weight")?,
        None => 0,
    };
    // Level 1 is `model.model.1.model`; each deeper level sits at `.3.model` of its parent.
    let mut prefix = "model.model.1.model".to_string();
    let mut num_downs = 1;
    while sd.contains_key(&format!("{prefix}.1.weight")) {
        num_downs += 1;
        prefix.push_str(".3.model");
    }
    let use_bias = sd.contains_key("model.model.1.model.1.bias");
    let norm = norm_at(sd, "model.model.1.model.2", use_bias);
    if num_downs < UnetGeneratorConfig::MIN_DOWNS {
        return Err(CheckpointError::UnknownLayout {
            path: Default::default(),
            first_keys: format!(
                "a U-Net with {num_downs} levels; upstream's construction needs at least {}",
                UnetGeneratorConfig::MIN_DOWNS
            ),
        });
    }
    Ok(UnetGeneratorConfig {
        input_nc,
        output_nc,
        num_downs,
        ngf,
        norm,
        use_bias,
        use_dropout: false,
    })
}

fn detect_n_layers(
    sd: &StateDict,
    first: &[usize],
) -> Result<DiscriminatorConfig, CheckpointError> {
    let ndf = dim(first, 0, "model.0.weight")?;
    let input_nc = dim(first, 1, "model.0.weight")?;
    // Convolutions sit at 0, then every third index from 2: n_layers of them, then the last.
    let convs = (0..)
        .take_while(|i| sd.contains_key(&format!("model.{}.weight", 2 + 3 * i)))
        .count();
    let n_layers = convs.saturating_sub(1);
    let use_bias = sd.contains_key("model.2.bias");
    let norm = norm_at(sd, "model.3", use_bias);
    Ok(DiscriminatorConfig::NLayers {
        input_nc,
        ndf,
        n_layers,
        norm,
        use_bias,
    })
}

fn detect_pixel(sd: &StateDict, first: &[usize]) -> Result<DiscriminatorConfig, CheckpointError> {
    let ndf = dim(first, 0, "net.0.weight")?;
    let input_nc = dim(first, 1, "net.0.weight")?;
    let use_bias = sd.contains_key("net.2.bias");
    let norm = norm_at(sd, "net.3", use_bias);
    Ok(DiscriminatorConfig::Pixel {
        input_nc,
        ndf,
        norm,
        use_bias,
    })
}

/// Drops the statistics an InstanceNorm of pre-0.4 PyTorch saved; the layer never uses them,
/// and upstream's loader deletes them the same way.
pub fn drop_stale_norm_stats(sd: StateDict, config: &NetworkConfig) -> (StateDict, Vec<String>) {
    let batch = match config {
        NetworkConfig::Generator(GeneratorConfig::Resnet(c)) => c.norm == NormKind::Batch,
        NetworkConfig::Generator(GeneratorConfig::Unet(c)) => c.norm == NormKind::Batch,
        NetworkConfig::Discriminator(
            DiscriminatorConfig::NLayers { norm, .. } | DiscriminatorConfig::Pixel { norm, .. },
        ) => *norm == NormKind::Batch,
    };
    // `num_batches_tracked` only matters for BatchNorm with `momentum=None`, which upstream never
    // uses; PyTorch fills it in again when it loads a state dict without it.
    let (dropped, kept): (StateDict, StateDict) = sd.into_iter().partition(|(k, _)| {
        let stale_stats = k.ends_with(".running_mean") || k.ends_with(".running_var");
        k.ends_with(".num_batches_tracked") || (!batch && stale_stats)
    });
    (kept, dropped.into_keys().collect())
}
