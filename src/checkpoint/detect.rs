//! Architecture detection from a state dict's keys and shapes alone, so that `translate` takes
//! an official pretrained `.pth` (or a third-party one) without `--netG` and friends.
//! Before detection, the repairs upstream's loader makes ([`super::repair`]).

use super::repair::{drop_stale_norm_stats, strip_module_prefix};
use crate::model::{
    BlockNaming, DiscriminatorConfig, GeneratorConfig, NetworkConfig, NormKind,
    ResnetGeneratorConfig, StateDict, UnetGeneratorConfig, Upsampling,
};

/// Why no network could be made of a state dict's keys and shapes. The tensors alone are known
/// here; [`CheckpointError::Detect`](super::CheckpointError::Detect) adds the file's path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DetectError {
    #[error(
        "no known network layout (ResNet or U-Net generator, n-layer or pixel PatchGAN) fits these keys: {first_keys}"
    )]
    UnknownLayout { first_keys: String },

    #[error("`{key}` has shape {shape:?}, expected a 4-d convolution weight")]
    NotAConv { key: String, shape: Vec<usize> },

    #[error("`{key}`, {what}, is missing (is the file complete?)")]
    Missing { key: String, what: &'static str },

    #[error(
        "{network} cannot be built: {reason} (the file's shapes or its architecture metadata are corrupt)"
    )]
    Unbuildable { network: String, reason: String },
}

/// Detects the network a state dict belongs to, and returns the state dict as that network
/// loads it (stale instance-norm statistics dropped) with the keys that were dropped.
pub fn detect(sd: StateDict) -> Result<(NetworkConfig, StateDict, Vec<String>), DetectError> {
    let sd = strip_module_prefix(sd);
    let shape = |k: &str| sd.get(k).map(|t| t.shape.clone());
    let config = if let Some(s) = shape("model.model.0.weight") {
        NetworkConfig::Generator(GeneratorConfig::Unet(detect_unet(&sd, &s)?))
    } else if let Some(s) = shape("net.0.weight") {
        NetworkConfig::Discriminator(detect_pixel(&sd, &s)?)
    } else if let Some(s) = shape("model.1.weight").filter(|s| s.len() == 4 && s[2] == 7) {
        NetworkConfig::Generator(GeneratorConfig::Resnet(detect_resnet(&sd, &s)?))
    } else if let Some(s) = shape("model.0.weight").filter(|s| s.len() == 4 && s[2] == 4) {
        // The seed's has its last conv at model.12 where a 70×70 PatchGAN's is at model.11.
        if super::seed::is_seed_discriminator(&sd) {
            NetworkConfig::Discriminator(super::seed::detect_discriminator(&sd, &s)?)
        } else {
            NetworkConfig::Discriminator(detect_n_layers(&sd, &s)?)
        }
    } else {
        return Err(unknown_layout(&sd));
    };
    check_buildable(&config, &sd)?;
    let (sd, dropped) = drop_stale_norm_stats(sd, config.norm() == NormKind::Batch);
    Ok((config, sd, dropped))
}

/// The most channels any layer may have; upstream's largest networks use 512.
pub const MAX_CHANNELS: usize = 1 << 16;
/// The deepest U-Net (2^24-pixel sides) or PatchGAN (24 stride-2 levels) accepted.
pub const MAX_DEPTH: usize = 24;

/// Refuses an architecture that could not be built and loaded from `sd` before anything is
/// allocated for it: a channel count of 0 or over [`MAX_CHANNELS`], a depth over
/// [`MAX_DEPTH`], or more weights than the file holds values. A strict load needs every weight
/// of the network in the file, so a corrupt or hostile file whose shapes (or metadata) claim an
/// enormous network is refused here instead of exhausting memory in `init`. The weight count
/// is a lower bound (the largest convolutions only), so no loadable checkpoint is refused.
pub fn check_buildable(config: &NetworkConfig, sd: &StateDict) -> Result<(), DetectError> {
    let refuse = |reason: String| {
        Err(DetectError::Unbuildable {
            network: config.describe(),
            reason,
        })
    };
    // Upstream's option names, so the reason says which number is wrong.
    let (channels, depth): (&[(&str, usize)], usize) = match config {
        NetworkConfig::Generator(GeneratorConfig::Resnet(c)) => (
            &[
                ("input_nc", c.input_nc),
                ("output_nc", c.output_nc),
                ("ngf", c.ngf),
            ],
            0,
        ),
        NetworkConfig::Generator(GeneratorConfig::Unet(c)) => (
            &[
                ("input_nc", c.input_nc),
                ("output_nc", c.output_nc),
                ("ngf", c.ngf),
            ],
            c.num_downs,
        ),
        NetworkConfig::Discriminator(DiscriminatorConfig::NLayers {
            input_nc,
            ndf,
            n_layers,
            ..
        }) => (&[("input_nc", *input_nc), ("ndf", *ndf)], *n_layers),
        NetworkConfig::Discriminator(
            DiscriminatorConfig::Pixel { input_nc, ndf, .. }
            | DiscriminatorConfig::Seed { input_nc, ndf, .. },
        ) => (&[("input_nc", *input_nc), ("ndf", *ndf)], 0),
    };
    if let Some((name, c)) = channels.iter().find(|(_, c)| *c == 0 || *c > MAX_CHANNELS) {
        return refuse(format!(
            "{name} is {c}, and a layer needs 1 to {MAX_CHANNELS} channels"
        ));
    }
    if depth > MAX_DEPTH {
        return refuse(format!(
            "a network {depth} levels deep (at most {MAX_DEPTH} are accepted)"
        ));
    }
    if let NetworkConfig::Generator(GeneratorConfig::Unet(c)) = config
        && c.num_downs < UnetGeneratorConfig::MIN_DOWNS
    {
        return refuse(format!(
            "a U-Net with {} levels; upstream's construction needs at least {}",
            c.num_downs,
            UnetGeneratorConfig::MIN_DOWNS
        ));
    }
    let needed = min_weights(config);
    let held: u128 = sd.values().map(|t| t.data.len() as u128).sum();
    if needed > held {
        return refuse(format!(
            "{} needs at least {needed} weights but the file holds {held} values",
            config.describe()
        ));
    }
    Ok(())
}

/// A lower bound of a network's weight count: its convolution kernels, without biases and
/// norms (u128 and saturating, so absurd configurations cannot overflow).
fn min_weights(config: &NetworkConfig) -> u128 {
    let w = |v: usize| v as u128;
    let conv = |k: u128, a: u128, b: u128| k.saturating_mul(a).saturating_mul(b);
    match config {
        NetworkConfig::Generator(GeneratorConfig::Resnet(c)) => {
            let g = w(c.ngf);
            let inner = conv(9, 4 * g, 4 * g).saturating_mul(2 * w(c.n_blocks));
            // Stem and head 7×7, two 3×3 down- and two up-samplings, then the blocks.
            conv(49, w(c.input_nc), g)
                .saturating_add(conv(49, g, w(c.output_nc)))
                .saturating_add(conv(9, g, 2 * g).saturating_mul(2))
                .saturating_add(conv(9, 2 * g, 4 * g).saturating_mul(2))
                .saturating_add(inner)
        }
        NetworkConfig::Generator(GeneratorConfig::Unet(c)) => {
            // The 4×4 down-convolutions: input→ngf→2ngf→4ngf→8ngf, then 8ngf→8ngf.
            let g = w(c.ngf);
            let deep = w(c.num_downs.saturating_sub(4));
            conv(16, w(c.input_nc), g)
                .saturating_add(conv(16, g, 2 * g))
                .saturating_add(conv(16, 2 * g, 4 * g))
                .saturating_add(conv(16, 4 * g, 8 * g))
                .saturating_add(conv(16, 8 * g, 8 * g).saturating_mul(deep))
        }
        NetworkConfig::Discriminator(DiscriminatorConfig::NLayers {
            input_nc,
            ndf,
            n_layers,
            ..
        }) => {
            let d = w(*ndf);
            let mut total = conv(16, w(*input_nc), d);
            let mut mult = 1u128;
            for n in 1..=(*n_layers).min(MAX_DEPTH) {
                let next = 1u128 << n.min(3);
                total = total.saturating_add(conv(16, d * mult, d * next));
                mult = next;
            }
            total.saturating_add(conv(16, d * mult, 1))
        }
        NetworkConfig::Discriminator(DiscriminatorConfig::Seed { input_nc, ndf, .. }) => {
            let d = w(*ndf);
            conv(16, w(*input_nc), d)
                .saturating_add(conv(16, d, 2 * d))
                .saturating_add(conv(16, 2 * d, 4 * d))
                .saturating_add(conv(16, 4 * d, 8 * d))
                .saturating_add(conv(16, 8 * d, 1))
        }
        NetworkConfig::Discriminator(DiscriminatorConfig::Pixel { input_nc, ndf, .. }) => {
            let d = w(*ndf);
            conv(1, w(*input_nc), d)
                .saturating_add(conv(1, d, 2 * d))
                .saturating_add(conv(1, 2 * d, 1))
        }
    }
}

fn unknown_layout(sd: &StateDict) -> DetectError {
    let keys: Vec<String> = sd
        .iter()
        .take(6)
        .map(|(k, t)| format!("{k} {:?}", t.shape))
        .collect();
    DetectError::UnknownLayout {
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

fn dim(shape: &[usize], i: usize, key: &str) -> Result<usize, DetectError> {
    shape.get(i).copied().ok_or_else(|| DetectError::NotAConv {
        key: key.to_string(),
        shape: shape.to_vec(),
    })
}

fn detect_resnet(sd: &StateDict, stem: &[usize]) -> Result<ResnetGeneratorConfig, DetectError> {
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
            return Err(DetectError::Missing {
                key: head,
                what: "the ResNet generator's last convolution",
            });
        }
    };
    Ok(config)
}

fn detect_unet(sd: &StateDict, outer: &[usize]) -> Result<UnetGeneratorConfig, DetectError> {
    let ngf = dim(outer, 0, "model.model.0.weight")?;
    let input_nc = dim(outer, 1, "model.model.0.weight")?;
    // A transposed convolution's weight is [in, out, k, k].
    let head = "model.model.3.weight";
    let output_nc = match sd.get(head) {
        Some(t) => dim(&t.shape, 1, head)?,
        None => {
            return Err(DetectError::Missing {
                key: head.to_string(),
                what: "the U-Net generator's last (transposed) convolution",
            });
        }
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
    // Too shallow a U-Net is refused by `check_buildable`, which `detect` runs on every result.
    Ok(UnetGeneratorConfig {
        input_nc,
        output_nc,
        num_downs,
        ngf,
        norm,
        use_bias,
        // Dropout has no weights, so keys cannot show it. A batch-normed U-Net is pix2pix's,
        // which upstream trains (and tests, unless --eval or --no_dropout) with dropout on:
        // assume what upstream's test.py would build. It acts only outside --eval.
        use_dropout: norm == NormKind::Batch,
    })
}

fn detect_n_layers(sd: &StateDict, first: &[usize]) -> Result<DiscriminatorConfig, DetectError> {
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

fn detect_pixel(sd: &StateDict, first: &[usize]) -> Result<DiscriminatorConfig, DetectError> {
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

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;
    use crate::model::Params;

    fn unet_state_dict() -> StateDict {
        let config = UnetGeneratorConfig::official(3, 2, 5, 1);
        GeneratorConfig::Unet(config)
            .init(&Device::flex())
            .state_dict()
    }

    #[test]
    fn detects_a_unet_and_names_its_missing_head() {
        let sd = unet_state_dict();
        let (config, _, dropped) = detect(sd.clone()).unwrap();
        let NetworkConfig::Generator(GeneratorConfig::Unet(unet)) = config else {
            panic!("not a U-Net: {config:?}");
        };
        assert_eq!((unet.input_nc, unet.output_nc, unet.num_downs), (3, 2, 5));
        assert!(dropped.is_empty());
        // Without its last convolution the output channels are unknown: said so, rather than
        // detected as 0 channels and refused as unbuildable.
        let mut headless = sd;
        headless.remove("model.model.3.weight");
        let e = detect(headless).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`model.model.3.weight`, the U-Net generator's last (transposed) convolution, is \
             missing (is the file complete?)"
        );
    }

    /// A refusal names the network and the number that cannot be built, not "no known layout".
    #[test]
    fn unbuildable_networks_say_which_number_is_wrong() {
        let sd = unet_state_dict();
        let no_input = NetworkConfig::Generator(GeneratorConfig::Unet(
            UnetGeneratorConfig::official(0, 3, 5, 1),
        ));
        let e = check_buildable(&no_input, &sd).unwrap_err();
        assert!(matches!(e, DetectError::Unbuildable { .. }), "{e:?}");
        let message = e.to_string();
        assert!(message.starts_with("generator unet_32 ("), "{message}");
        assert!(
            message.contains(": input_nc is 0, and a layer needs 1 to 65536 channels"),
            "{message}"
        );
        assert!(!message.contains("fits these keys"), "{message}");
        let wide = NetworkConfig::Discriminator(DiscriminatorConfig::pixel(3, MAX_CHANNELS + 1));
        let message = check_buildable(&wide, &sd).unwrap_err().to_string();
        assert!(message.contains("ndf is 65537"), "{message}");
        // Describing a refused network must not overflow on its absurd numbers.
        let deep = NetworkConfig::Generator(GeneratorConfig::Unet(UnetGeneratorConfig::official(
            3, 3, 70, 1,
        )));
        let message = check_buildable(&deep, &sd).unwrap_err().to_string();
        assert!(
            message.starts_with("generator unet_huge (70 downs"),
            "{message}"
        );
        assert!(message.contains("a network 70 levels deep"), "{message}");
    }
}
