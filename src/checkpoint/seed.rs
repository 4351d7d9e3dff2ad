//! The seed's checkpoints (eriklindernoren PyTorch-GAN `implementations/cyclegan`): its
//! `saved_models/<dataset>/` folder of `G_AB_<N>.pth`, `G_BA_<N>.pth`, `D_A_<N>.pth`,
//! `D_B_<N>.pth` (N its epoch), and its discriminator's keys.
//!
//! The seed names its networks by direction and its discriminators by the domain they judge;
//! ours by upstream's convention. [`SEED_NAMES`] is the one place that maps them.

use std::path::{Path, PathBuf};

use super::detect::DetectError;
use crate::model::{
    BlockNaming, DiscriminatorConfig, GeneratorConfig, NetworkConfig, NormKind, StateDict,
    Upsampling,
};

/// `(seed name, our name)`: its `G_AB` (A → B) is our `G_A`, `G_BA` our `G_B`; its `D_A` judges
/// domain A, which is our `D_B`'s job, and its `D_B` (judging B) is our `D_A`.
pub const SEED_NAMES: [(&str, &str); 4] = [
    ("G_AB", "G_A"),
    ("G_BA", "G_B"),
    ("D_A", "D_B"),
    ("D_B", "D_A"),
];

/// The seed's name for our network `ours`.
pub fn seed_name(ours: &str) -> Option<&'static str> {
    SEED_NAMES.iter().find(|(_, o)| *o == ours).map(|(s, _)| *s)
}

/// The seed's file for our network `ours` at `epoch`: `G_AB_<epoch>.pth` for `G_A`.
pub fn seed_file_name(ours: &str, epoch: usize) -> Option<String> {
    seed_name(ours).map(|s| format!("{s}_{epoch}.pth"))
}

#[derive(Debug, thiserror::Error)]
pub enum SeedFolderError {
    #[error("{}: {cause}", dir.display())]
    Io { dir: PathBuf, cause: std::io::Error },
    #[error(
        "{}: no G_AB_<N>.pth of epoch {epoch}; the folder has epochs {available} (pass one of them to --init-epoch)",
        dir.display()
    )]
    NoSuchEpoch {
        dir: PathBuf,
        epoch: usize,
        available: String,
    },
    #[error(
        "{}: the seed's saved models of epoch {epoch} lack {file} (generators are required; copy it next to the others)",
        dir.display()
    )]
    MissingGenerator {
        dir: PathBuf,
        epoch: usize,
        file: String,
    },
}

/// A seed folder's files of one epoch, by our network names; a discriminator's is `None` when
/// the folder lacks it.
#[derive(Debug)]
pub struct SeedFiles {
    pub epoch: usize,
    pub files: Vec<(&'static str, Option<PathBuf>)>,
}

/// The epochs N of the `G_AB_<N>.pth` files in `dir`, ascending (empty: not a seed folder).
pub fn epochs(dir: &Path) -> Result<Vec<usize>, SeedFolderError> {
    let entries = std::fs::read_dir(dir).map_err(|cause| SeedFolderError::Io {
        dir: dir.to_path_buf(),
        cause,
    })?;
    let mut epochs: Vec<usize> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix("G_AB_")?
                .strip_suffix(".pth")?
                .parse()
                .ok()
        })
        .collect();
    epochs.sort_unstable();
    Ok(epochs)
}

/// The files of epoch `epoch` in the seed folder `dir` (the highest epoch when `None`), or
/// `None` when `dir` holds no `G_AB_<N>.pth` at all.
pub fn find(dir: &Path, epoch: Option<usize>) -> Result<Option<SeedFiles>, SeedFolderError> {
    let available = epochs(dir)?;
    let Some(&highest) = available.last() else {
        return Ok(None);
    };
    let epoch = epoch.unwrap_or(highest);
    if !available.contains(&epoch) {
        return Err(SeedFolderError::NoSuchEpoch {
            dir: dir.to_path_buf(),
            epoch,
            available: available
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let mut files = Vec::new();
    for (seed, ours) in SEED_NAMES {
        let path = dir.join(format!("{seed}_{epoch}.pth"));
        let exists = path.is_file();
        if !exists && seed.starts_with('G') {
            return Err(SeedFolderError::MissingGenerator {
                dir: dir.to_path_buf(),
                epoch,
                file: format!("{seed}_{epoch}.pth"),
            });
        }
        files.push((ours, exists.then_some(path)));
    }
    Ok(Some(SeedFiles { epoch, files }))
}

/// Whether a state dict with a 4×4 `model.0` is the seed's discriminator: its last convolution
/// is `model.12` (after the `ZeroPad2d` at 11), where a 70×70 PatchGAN's is `model.11`.
pub fn is_seed_discriminator(sd: &StateDict) -> bool {
    let has = |i: usize| sd.contains_key(&format!("model.{i}.weight"));
    has(12) && !has(11) && [2, 5, 8].into_iter().all(has)
}

/// The seed discriminator's configuration from its first convolution's shape
/// (`[ndf, input_nc, 4, 4]`); affine norm weights at `model.3` mean `InstanceNorm2d(affine=True)`.
pub fn detect_discriminator(
    sd: &StateDict,
    first: &[usize],
) -> Result<DiscriminatorConfig, DetectError> {
    let not_conv = || DetectError::NotAConv {
        key: "model.0.weight".into(),
        shape: first.to_vec(),
    };
    let (&ndf, &input_nc) = (
        first.first().ok_or_else(not_conv)?,
        first.get(1).ok_or_else(not_conv)?,
    );
    let norm = if sd.contains_key("model.3.weight") {
        NormKind::InstanceAffine
    } else {
        NormKind::Instance
    };
    Ok(DiscriminatorConfig::Seed {
        input_nc,
        ndf,
        norm,
    })
}

/// `sd` under the seed's keys, for its `models.py` to load: a ResNet generator with its
/// up-sampling (nearest ×2 + 3×3 conv) and plain instance norm (`GeneratorResNet`, whose
/// residual blocks are `block` where upstream's are `conv_block`), or the seed's
/// discriminator, whose keys are already its own. Anything else is not a network the seed
/// builds, and the error says why.
pub fn to_seed_layout(config: &NetworkConfig, sd: &StateDict) -> Result<StateDict, String> {
    match config {
        NetworkConfig::Generator(GeneratorConfig::Resnet(c))
            if c.upsampling == Upsampling::Resize && c.norm == NormKind::Instance =>
        {
            if c.block_naming == BlockNaming::Block {
                return Ok(sd.clone());
            }
            Ok(sd
                .iter()
                .map(|(k, t)| (k.replacen(".conv_block.", ".block.", 1), t.clone()))
                .collect())
        }
        NetworkConfig::Discriminator(DiscriminatorConfig::Seed {
            norm: NormKind::Instance,
            ..
        }) => Ok(sd.clone()),
        other => Err(format!(
            "{} is not a network the seed's models.py builds (GeneratorResNet: a ResNet with \
             nearest-resize up-sampling and plain instance norm; Discriminator: --netD seed)",
            other.describe()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each of our names maps to one seed name and back: the mapping is a bijection.
    #[test]
    fn names_map_one_to_one() {
        for (seed, ours) in SEED_NAMES {
            assert_eq!(seed_name(ours), Some(seed));
            assert_eq!(SEED_NAMES.iter().filter(|(s, _)| *s == seed).count(), 1);
        }
        assert_eq!(seed_file_name("D_A", 7).as_deref(), Some("D_B_7.pth"));
        assert_eq!(seed_name("G"), None);
    }

    /// The seed's generator keys from a ResNet with resize up-sampling, whatever its block
    /// naming; upstream's transposed-convolution ResNet and PatchGAN are refused.
    #[test]
    fn seed_layout_renames_blocks_and_refuses_other_networks() {
        use crate::model::{Params, ResnetGeneratorConfig};
        let device = burn::tensor::Device::flex();
        let official = ResnetGeneratorConfig::official(3, 3, 4, 1);
        let resize = ResnetGeneratorConfig {
            upsampling: Upsampling::Resize,
            ..official.clone()
        };
        let sd = GeneratorConfig::Resnet(resize.clone())
            .init(&device)
            .state_dict();
        assert!(sd.contains_key("model.10.conv_block.1.weight"));
        let config = NetworkConfig::Generator(GeneratorConfig::Resnet(resize));
        let seed = to_seed_layout(&config, &sd).unwrap();
        assert!(seed.contains_key("model.10.block.1.weight"));
        assert!(!seed.keys().any(|k| k.contains("conv_block")));
        assert_eq!(seed.len(), sd.len());
        let transpose = NetworkConfig::Generator(GeneratorConfig::Resnet(official));
        assert!(to_seed_layout(&transpose, &sd).is_err());
        let patchgan = NetworkConfig::Discriminator(DiscriminatorConfig::basic(3, 4));
        let e = to_seed_layout(&patchgan, &sd).unwrap_err();
        assert!(e.contains("--netD seed"), "{e}");
    }

    #[test]
    fn finds_the_highest_epoch_or_the_one_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        assert!(find(dir.path(), None).unwrap().is_none());
        for n in [0, 5, 10] {
            for s in ["G_AB", "G_BA", "D_A"] {
                std::fs::write(dir.path().join(format!("{s}_{n}.pth")), b"x").unwrap();
            }
        }
        let found = find(dir.path(), None).unwrap().unwrap();
        assert_eq!(found.epoch, 10);
        let by_name = |name: &str| {
            found
                .files
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap()
                .1
                .clone()
        };
        assert_eq!(by_name("G_A"), Some(dir.path().join("G_AB_10.pth")));
        assert_eq!(by_name("D_B"), Some(dir.path().join("D_A_10.pth")));
        assert_eq!(by_name("D_A"), None);
        assert_eq!(find(dir.path(), Some(5)).unwrap().unwrap().epoch, 5);
        let e = find(dir.path(), Some(3)).unwrap_err().to_string();
        assert!(e.contains("epochs 0, 5, 10"), "{e}");
        std::fs::remove_file(dir.path().join("G_BA_5.pth")).unwrap();
        let e = find(dir.path(), Some(5)).unwrap_err().to_string();
        assert!(e.contains("lack G_BA_5.pth"), "{e}");
    }
}
