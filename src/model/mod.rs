//! The networks of CycleGAN and pix2pix (upstream `models/networks.py`): generators
//! ([`resnet`], [`unet`]), discriminators ([`discriminator`]), their layers, initialisation and
//! the GAN objectives ([`loss`]). Networks know nothing of files: checkpoints reach them as a
//! [`StateDict`] through [`Params`], and the `checkpoint` module, which reads and writes the
//! files, depends on this one, never the reverse.

pub mod discriminator;
pub mod dropout;
pub mod init;
pub mod layers;
pub mod loss;
pub mod netg;
pub mod params;
pub mod resnet;
pub mod seed_discriminator;
pub mod state_dict;
pub mod unet;

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

pub use discriminator::{Discriminator, DiscriminatorConfig};
pub use dropout::seed_dropout;
pub use init::{InitType, init_weights};
pub use layers::{Mode, NormKind};
pub use netg::{NetD, NetG};
pub use params::{ParamMut, ParamRole, Params, Visitor};
pub use resnet::{BlockNaming, ResnetGenerator, ResnetGeneratorConfig, Upsampling};
pub use state_dict::{KeyMismatch, RawTensor, StateDict};
pub use unet::{UnetGenerator, UnetGeneratorConfig};

/// A generator's architecture: everything needed to rebuild it before loading weights.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "net", rename_all = "snake_case")]
pub enum GeneratorConfig {
    Resnet(ResnetGeneratorConfig),
    Unet(UnetGeneratorConfig),
}

impl GeneratorConfig {
    pub fn init(&self, device: &Device) -> Generator {
        match self {
            GeneratorConfig::Resnet(c) => Generator::Resnet(c.init(device)),
            GeneratorConfig::Unet(c) => Generator::Unet(c.init(device)),
        }
    }

    /// Upstream's `--netG` name of this architecture.
    /// Puts dropout layers in (or takes them out): upstream's `--no_dropout`.
    pub fn set_dropout(&mut self, on: bool) {
        match self {
            GeneratorConfig::Resnet(c) => c.use_dropout = on,
            GeneratorConfig::Unet(c) => c.use_dropout = on,
        }
    }

    pub fn use_dropout(&self) -> bool {
        match self {
            GeneratorConfig::Resnet(c) => c.use_dropout,
            GeneratorConfig::Unet(c) => c.use_dropout,
        }
    }

    pub fn netg(&self) -> NetG {
        match self {
            GeneratorConfig::Resnet(c) => NetG::Resnet {
                n_blocks: c.n_blocks,
            },
            GeneratorConfig::Unet(c) => NetG::Unet {
                num_downs: c.num_downs,
            },
        }
    }

    /// Input sides must be multiples of this for the output to keep the input's size.
    pub fn size_multiple(&self) -> usize {
        match self {
            GeneratorConfig::Resnet(_) => 4,
            GeneratorConfig::Unet(c) => 1 << c.num_downs,
        }
    }

    /// The smallest side the generator runs on. A ResNet reflect-pads its quarter-size features
    /// by 1, which needs 2 pixels there, so 8 at the input; a U-Net needs one full multiple.
    pub fn min_side(&self) -> usize {
        match self {
            GeneratorConfig::Resnet(_) => 8,
            GeneratorConfig::Unet(_) => self.size_multiple(),
        }
    }

    pub fn input_nc(&self) -> usize {
        match self {
            GeneratorConfig::Resnet(c) => c.input_nc,
            GeneratorConfig::Unet(c) => c.input_nc,
        }
    }

    pub fn output_nc(&self) -> usize {
        match self {
            GeneratorConfig::Resnet(c) => c.output_nc,
            GeneratorConfig::Unet(c) => c.output_nc,
        }
    }

    /// Upstream's `--netG` spelling of this architecture, plus what differs from upstream's
    /// defaults.
    pub fn describe(&self) -> String {
        match self {
            GeneratorConfig::Resnet(c) => {
                let mut s = format!(
                    "resnet_{}blocks (ngf {}, {}→{} channels, norm {}",
                    c.n_blocks, c.ngf, c.input_nc, c.output_nc, c.norm
                );
                if c.upsampling == Upsampling::Resize {
                    s.push_str(", nearest-resize up-sampling");
                }
                if c.block_naming == BlockNaming::Block {
                    s.push_str(", `block` naming");
                }
                if c.use_dropout {
                    s.push_str(", dropout");
                }
                s.push(')');
                s
            }
            GeneratorConfig::Unet(c) => format!(
                "unet_{} ({} downs, ngf {}, {}→{} channels, norm {}{})",
                // Checked: a corrupt file's configuration is described when it is refused.
                u32::try_from(c.num_downs)
                    .ok()
                    .and_then(|n| 1usize.checked_shl(n))
                    .map_or_else(|| "huge".to_string(), |side| side.to_string()),
                c.num_downs,
                c.ngf,
                c.input_nc,
                c.output_nc,
                c.norm,
                if c.use_dropout { ", dropout" } else { "" }
            ),
        }
    }
}

/// A generator of either family. Few of these exist, each holding megabytes of tensors, so the
/// variants' size difference does not matter.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Generator {
    Resnet(ResnetGenerator),
    Unet(UnetGenerator),
}

impl Generator {
    pub fn forward(&self, x: Tensor<4>, mode: Mode) -> Tensor<4> {
        match self {
            Generator::Resnet(g) => g.forward(x, mode),
            Generator::Unet(g) => g.forward(x, mode),
        }
    }

    /// Whether a batch's samples go through independently (see [`NormKind::per_sample`]), so
    /// that inputs may be stacked into one call.
    pub fn per_sample(&self) -> bool {
        match self {
            Generator::Resnet(g) => g.norm().per_sample(),
            Generator::Unet(g) => g.norm().per_sample(),
        }
    }
}

impl Params for Generator {
    fn visit(&mut self, prefix: &str, v: &mut Visitor<'_>) {
        match self {
            Generator::Resnet(g) => g.visit(prefix, v),
            Generator::Unet(g) => g.visit(prefix, v),
        }
    }
}

/// A network of any kind, as found in a checkpoint file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkConfig {
    Generator(GeneratorConfig),
    Discriminator(DiscriminatorConfig),
}

impl NetworkConfig {
    /// The norm every layer of the network uses.
    pub fn norm(&self) -> NormKind {
        match self {
            NetworkConfig::Generator(GeneratorConfig::Resnet(c)) => c.norm,
            NetworkConfig::Generator(GeneratorConfig::Unet(c)) => c.norm,
            NetworkConfig::Discriminator(
                DiscriminatorConfig::NLayers { norm, .. }
                | DiscriminatorConfig::Pixel { norm, .. }
                | DiscriminatorConfig::Seed { norm, .. },
            ) => *norm,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            NetworkConfig::Generator(g) => format!("generator {}", g.describe()),
            NetworkConfig::Discriminator(d) => format!("discriminator {}", d.describe()),
        }
    }
}

impl DiscriminatorConfig {
    pub fn describe(&self) -> String {
        match self {
            DiscriminatorConfig::NLayers {
                input_nc,
                ndf,
                n_layers,
                norm,
                ..
            } => {
                let name = if *n_layers == 3 {
                    "basic (70×70 PatchGAN)".to_string()
                } else {
                    format!("n_layers={n_layers}")
                };
                format!("{name} (ndf {ndf}, {input_nc} channels, norm {norm})")
            }
            DiscriminatorConfig::Pixel {
                input_nc,
                ndf,
                norm,
                ..
            } => {
                format!("pixel (ndf {ndf}, {input_nc} channels, norm {norm})")
            }
            DiscriminatorConfig::Seed {
                input_nc,
                ndf,
                norm,
            } => format!("seed (ndf {ndf}, {input_nc} channels, norm {norm}, h/16 × w/16 patches)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor};

    use super::*;

    /// Upstream's `print_networks` reports 11.378 M for `resnet_9blocks` and 2.765 M for the
    /// `basic` PatchGAN; counted layer by layer these are 11 378 179 and 2 764 737.
    #[test]
    fn parameter_counts_match_upstream() {
        let device = Device::flex();
        let mut g = GeneratorConfig::Resnet(ResnetGeneratorConfig::resnet_9blocks()).init(&device);
        assert_eq!(g.num_params(), 11_378_179);
        let mut d = DiscriminatorConfig::basic(3, 64).init(&device);
        assert_eq!(d.num_params(), 2_764_737);
        // pix2pix's unet_256 with its batch norm (no conv biases): 54.414 M upstream, 54 413 955
        // counted; the running statistics are buffers, not parameters.
        let batch = UnetGeneratorConfig {
            norm: NormKind::Batch,
            use_bias: false,
            ..UnetGeneratorConfig::unet_256()
        };
        let mut u = GeneratorConfig::Unet(batch).init(&device);
        assert_eq!(u.num_params(), 54_413_955);
    }

    #[test]
    fn presets_keep_the_input_size() {
        let device = Device::flex();
        let x =
            |side: usize| Tensor::<4>::random([1, 3, side, side], Distribution::Default, &device);
        let small_resnet = ResnetGeneratorConfig {
            ngf: 4,
            ..ResnetGeneratorConfig::resnet_6blocks()
        };
        let g = GeneratorConfig::Resnet(small_resnet).init(&device);
        assert_eq!(g.forward(x(36), Mode::Eval).dims(), [1, 3, 36, 36]);
        let small_unet = UnetGeneratorConfig {
            ngf: 2,
            ..UnetGeneratorConfig::unet_128()
        };
        let u = GeneratorConfig::Unet(small_unet).init(&device);
        assert_eq!(u.forward(x(128), Mode::Eval).dims(), [1, 3, 128, 128]);
        // The 70×70 PatchGAN maps 64×64 to 6×6 patches (h/8 − 2).
        let d = DiscriminatorConfig::basic(3, 4).init(&device);
        assert_eq!(d.forward(x(64), Mode::Eval).dims(), [1, 1, 6, 6]);
        let p = DiscriminatorConfig::pixel(3, 4).init(&device);
        assert_eq!(p.forward(x(16), Mode::Eval).dims(), [1, 1, 16, 16]);
    }
}
