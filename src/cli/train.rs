//! `cyclegan train`: upstream's `train.py` flags for `--model cycle_gan` and `--model pix2pix`,
//! validated into a [`TrainConfig`] before any work. Flags whose default depends on the model
//! (upstream's `modify_commandline_options`) are optional here and resolved per model; a flag
//! that means nothing for the chosen model is an error, not ignored.

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, ValueEnum};

use super::seed_args::{Recipe, SeedArgs};
use super::{DeviceArgs, EngineArgs, UsageError};
use crate::data::{DatasetMode, DatasetOptions, Direction, LoaderConfig, Preprocess};
use crate::model::loss::GanMode;
use crate::model::{
    DiscriminatorConfig, GeneratorConfig, InitType, NetD, NetG, NormKind, ResnetGeneratorConfig,
    UnetGeneratorConfig, Upsampling,
};
use crate::train::adam::AdamConfig;
use crate::train::engine::EngineKind;
use crate::train::model::ModelSpec;
use crate::train::pix2pix::Pix2PixConfig;
use crate::train::quality::QualityConfig;
use crate::train::schedule::{LrPolicy, ScheduleConfig};
use crate::train::step::LossConfig;
use crate::train::{ModelConfig, OutputConfig, TrainConfig, train};

/// Upstream `--model`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum ModelKind {
    /// Unpaired translation: two generators, two discriminators, cycle losses.
    CycleGan,
    /// Paired translation: a U-Net generator and a conditional PatchGAN, L1 to the target.
    Pix2pix,
}

/// Upstream `--norm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum NormArg {
    Instance,
    Batch,
    None,
}

#[derive(Clone, Debug, Args)]
pub struct TrainArgs {
    /// Whose defaults to train with: official (upstream's train.py) or seed (eriklindernoren
    /// PyTorch-GAN's cyclegan.py: its networks, averaged losses, LambdaLR schedule, shorter-side
    /// resize, log line and samples; its flags, marked (--recipe seed), need it). Under seed,
    /// --n-epochs is the seed's total (default 200) and --epoch its 0-based starting epoch.
    #[arg(long, value_enum, default_value_t = Recipe::Official)]
    pub recipe: Recipe,
    /// Folder with trainA/ and trainB/ (or train/A and train/B); for pix2pix, train/ holding
    /// A|B pairs side by side (or train/A and train/B with matching file names). Required,
    /// except under --recipe seed with --dataset_name (then data/<name>).
    #[arg(long, required_unless_present = "dataset_name")]
    pub dataroot: Option<PathBuf>,
    /// Experiment name: checkpoints, logs and samples go to <checkpoints-dir>/<name>/.
    #[arg(long, default_value = "experiment_name")]
    pub name: String,
    /// Folder that holds one sub-folder per experiment.
    #[arg(
        long = "checkpoints-dir",
        alias = "checkpoints_dir",
        default_value = "checkpoints"
    )]
    pub checkpoints_dir: PathBuf,
    /// Which model to train: cycle_gan (unpaired) or pix2pix (pairs). pix2pix changes the
    /// defaults of --netG (unet_256), --norm (batch), --gan-mode (vanilla), --dataset-mode
    /// (aligned) and dropout (on), as upstream's does.
    #[arg(long, value_enum, default_value_t = ModelKind::CycleGan)]
    pub model: ModelKind,

    // Networks.
    /// Generator: resnet_9blocks, resnet_6blocks, resnet_<N>blocks, unet_256, unet_128,
    /// unet_<2^N>. Default: resnet_9blocks for cycle_gan, unet_256 for pix2pix.
    #[arg(long = "netG", alias = "netg")]
    pub net_g: Option<String>,
    /// Discriminator: basic (70×70 PatchGAN), n_layers, pixel, seed (the seed's, h/16 × w/16
    /// patches; the default with --recipe seed).
    #[arg(long = "netD", alias = "netd", value_enum, default_value_t = NetD::Basic)]
    pub net_d: NetD,
    /// Layers of the discriminator with --netD n_layers (basic is n_layers 3); ignored otherwise.
    #[arg(long = "n-layers-D", alias = "n_layers_D", default_value_t = 3)]
    pub n_layers_d: usize,
    /// Filters in the generators' last convolution (their width; the others scale with it).
    #[arg(long, default_value_t = 64)]
    pub ngf: usize,
    /// Filters in the discriminators' first convolution (their width).
    #[arg(long, default_value_t = 64)]
    pub ndf: usize,
    /// Normalisation layers of every network. Default: instance for cycle_gan, batch for
    /// pix2pix.
    #[arg(long, value_enum)]
    pub norm: Option<NormArg>,
    /// Learnable scale and shift in instance norms (many third-party models have them).
    #[arg(long = "norm-affine", alias = "norm_affine")]
    pub norm_affine: bool,
    /// Dropout 0.5 in the generators (ResNet blocks; the U-Net's innermost ngf·8 levels). Off by
    /// default for cycle_gan, on for pix2pix.
    #[arg(long, overrides_with = "no_dropout")]
    pub dropout: bool,
    /// No dropout (upstream's flag; the cycle_gan default).
    #[arg(long = "no-dropout", alias = "no_dropout", overrides_with = "dropout")]
    pub no_dropout: bool,
    /// Up-sampling in ResNet generators: transpose (upstream) or resize (nearest ×2 + conv; the
    /// default with --recipe seed).
    #[arg(long, value_enum, default_value_t = UpsamplingArg::Transpose)]
    pub upsampling: UpsamplingArg,
    /// How the initial weights are drawn (normal: N(0, --init-gain)).
    #[arg(long = "init-type", alias = "init_type", value_enum, default_value_t = InitType::Normal)]
    pub init_type: InitType,
    /// Scale of the normal, xavier and orthogonal initialisations.
    #[arg(long = "init-gain", alias = "init_gain", default_value_t = 0.02)]
    pub init_gain: f64,
    /// Channels of domain A's images: 3 for RGB, 1 for grayscale.
    #[arg(long = "input-nc", alias = "input_nc", default_value_t = 3)]
    pub input_nc: usize,
    /// Channels of domain B's images: 3 for RGB, 1 for grayscale.
    #[arg(long = "output-nc", alias = "output_nc", default_value_t = 3)]
    pub output_nc: usize,

    // Data.
    /// Which split of --dataroot to train on: <phase>A/ and <phase>B/ (pairs: <phase>/).
    #[arg(long, default_value = "train")]
    pub phase: String,
    /// unaligned (two folders of unpaired images) or aligned (A|B pairs). Default: unaligned
    /// for cycle_gan, aligned for pix2pix.
    #[arg(long = "dataset-mode", alias = "dataset_mode", value_enum)]
    pub dataset_mode: Option<DatasetMode>,
    /// AtoB trains G_A to map the A folder to the B folder; BtoA swaps the folders.
    #[arg(long, value_enum, default_value_t = Direction::AtoB)]
    pub direction: Direction,
    /// Take B images in order instead of at random, and do not shuffle.
    #[arg(long = "serial-batches", alias = "serial_batches")]
    pub serial_batches: bool,
    /// Use at most this many images of each folder (the first, in sorted order); without it,
    /// all of them.
    #[arg(long = "max-dataset-size", alias = "max_dataset_size")]
    pub max_dataset_size: Option<usize>,
    /// How images are scaled and cropped when loaded (resize_and_crop: to --load-size², then a
    /// random --crop-size crop; --recipe seed defaults to resize_shorter_and_crop).
    #[arg(long, value_enum, default_value_t = Preprocess::ResizeAndCrop)]
    pub preprocess: Preprocess,
    /// Side images are resized to (the width, with scale_width; the shorter side, with
    /// resize_shorter_and_crop) before cropping; --recipe seed: int(1.12·--img_height).
    #[arg(long = "load-size", alias = "load_size", default_value_t = 286)]
    pub load_size: usize,
    /// The random crop the networks train on: a side (256: square, upstream's) or H,W
    /// (rectangular; both multiples of 4 for the generators).
    #[arg(long = "crop-size", alias = "crop_size", default_value = "256")]
    pub crop_size: CropSize,
    /// The crop's height (overrides --crop-size's).
    #[arg(long = "crop-height", alias = "crop_height")]
    pub crop_height: Option<usize>,
    /// The crop's width (overrides --crop-size's).
    #[arg(long = "crop-width", alias = "crop_width")]
    pub crop_width: Option<usize>,
    /// Do not flip images left-right at random (flipping augments the data).
    #[arg(long = "no-flip", alias = "no_flip")]
    pub no_flip: bool,
    /// Image pairs per iteration.
    #[arg(long = "batch-size", alias = "batch_size", default_value_t = 1)]
    pub batch_size: usize,
    /// Image-decoding threads.
    #[arg(long = "num-threads", alias = "num_threads", default_value_t = 4)]
    pub num_threads: usize,
    /// Refuse images with more pixels than this (decompression bombs); the default is PIL's.
    #[arg(long = "max-pixels", alias = "max_pixels", default_value_t = crate::data::DEFAULT_MAX_PIXELS)]
    pub max_pixels: u64,

    // Objective and optimisation.
    /// The adversarial loss: lsgan (least squares) or vanilla (the original GAN's
    /// cross-entropy). Default: lsgan for cycle_gan, vanilla for pix2pix.
    #[arg(long = "gan-mode", alias = "gan_mode", value_enum)]
    pub gan_mode: Option<GanMode>,
    /// cycle_gan: weight of the cycle loss A → B → A (and of G_B's identity loss, times
    /// --lambda-identity). Default 10.
    #[arg(long = "lambda-A", alias = "lambda_A")]
    pub lambda_a: Option<f64>,
    /// cycle_gan: weight of the cycle loss B → A → B (and of G_A's identity loss, times
    /// --lambda-identity). Default 10.
    #[arg(long = "lambda-B", alias = "lambda_B")]
    pub lambda_b: Option<f64>,
    /// cycle_gan: weight of the identity losses (a generator fed its output domain should
    /// change nothing), relative to the cycle losses: 0.1 makes them ten times smaller; 0 turns
    /// them off. Default 0.5.
    #[arg(long = "lambda-identity", alias = "lambda_identity")]
    pub lambda_identity: Option<f64>,
    /// pix2pix: weight of the L1 distance between fake_B and real_B. Default 100.
    #[arg(long = "lambda-L1", alias = "lambda_L1")]
    pub lambda_l1: Option<f64>,
    /// cycle_gan: earlier generated images kept to show the discriminators (0: only the
    /// current ones). Default 50; pix2pix has no pool (only 0 is accepted).
    #[arg(long = "pool-size", alias = "pool_size")]
    pub pool_size: Option<usize>,
    /// Initial learning rate of both Adam optimisers.
    #[arg(long, default_value_t = 0.0002)]
    pub lr: f64,
    /// Adam's momentum term (β₁).
    #[arg(long, default_value_t = 0.5)]
    pub beta1: f64,
    /// Adam's second-moment decay (β₂).
    #[arg(long, default_value_t = 0.999)]
    pub beta2: f64,

    // Schedule.
    /// Epochs at the initial learning rate. Under --recipe seed: the seed's total number of
    /// epochs (default 200), the decay starting after --decay_epoch.
    #[arg(long = "n-epochs", alias = "n_epochs", default_value_t = 100)]
    pub n_epochs: usize,
    /// Epochs after those over which the learning rate decays linearly to zero.
    #[arg(
        long = "n-epochs-decay",
        alias = "n_epochs_decay",
        default_value_t = 100
    )]
    pub n_epochs_decay: usize,
    /// How the learning rate changes over epochs (linear: constant, then down to zero).
    #[arg(long = "lr-policy", alias = "lr_policy", value_enum, default_value_t = LrPolicy::Linear)]
    pub lr_policy: LrPolicy,
    /// With --lr-policy step: multiply the learning rate by 0.1 every this many epochs.
    #[arg(
        long = "lr-decay-iters",
        alias = "lr_decay_iters",
        default_value_t = 50
    )]
    pub lr_decay_iters: usize,
    /// The first epoch's number (upstream uses it to continue by hand).
    #[arg(long = "epoch-count", alias = "epoch_count", default_value_t = 1)]
    pub epoch_count: usize,

    // Outputs and run control.
    /// Save the latest_net_* checkpoints and the resume state every this many images.
    #[arg(
        long = "save-latest-freq",
        alias = "save_latest_freq",
        default_value_t = 5000
    )]
    pub save_latest_freq: u64,
    /// Keep <epoch>_net_* checkpoints at the end of every this many epochs.
    #[arg(
        long = "save-epoch-freq",
        alias = "save_epoch_freq",
        default_value_t = 5
    )]
    pub save_epoch_freq: usize,
    /// Log the losses (loss_log.csv and the terminal) every this many images (--recipe seed: 1,
    /// as the seed prints every batch).
    #[arg(long = "print-freq", alias = "print_freq", default_value_t = 100)]
    pub print_freq: u64,
    /// Save sample images for the web page every this many images.
    #[arg(long = "display-freq", alias = "display_freq", default_value_t = 400)]
    pub display_freq: u64,
    /// Score the test split every this many epochs with the generators that epoch saved, run
    /// as `cyclegan test` runs them: FID of each direction for cycle_gan (needs the Inception
    /// weights: `cyclegan download model inception`), mean L1, PSNR and SSIM of fake_B against
    /// real_B for pix2pix. Rows go to metrics.csv, the log and web/index.html. 0 (the default):
    /// never.
    #[arg(long = "eval-freq", alias = "eval_freq", default_value_t = 0)]
    pub eval_freq: usize,
    /// With --eval-freq: the folder holding the test split (default: --dataroot).
    #[arg(long = "eval-dataroot", alias = "eval_dataroot")]
    pub eval_dataroot: Option<PathBuf>,
    /// With --eval-freq: which split to score (<phase>A/ and <phase>B/; pix2pix <phase>/).
    #[arg(long = "eval-phase", alias = "eval_phase", default_value = "test")]
    pub eval_phase: String,
    /// With --eval-freq: at most this many test images per folder (`cyclegan test --num-test`).
    #[arg(long = "eval-num-test", alias = "eval_num_test", default_value_t = 50)]
    pub eval_num_test: usize,
    /// With --eval-freq: resize test images to N×N first (`cyclegan test --load-size`). Default:
    /// the crop size where training crops squares (upstream's test resizes to it), else each
    /// image's own size; 0: each image's own size.
    #[arg(long = "eval-load-size", alias = "eval_load_size")]
    pub eval_load_size: Option<usize>,
    /// With --eval-freq for cycle_gan: FID's Inception weights (default:
    /// pt_inception-2015-12-05-6726825d.pth in --checkpoints-dir, where `cyclegan download
    /// model inception` puts it).
    #[arg(long)]
    pub inception: Option<PathBuf>,
    /// Resume from <checkpoints-dir>/<name>/train_state.safetensors exactly where it stopped.
    #[arg(long = "continue-train", alias = "continue_train")]
    pub continue_train: bool,
    /// Start from the model's latest_net_<name>.{safetensors,pth} files in this folder
    /// (cycle_gan: G_A, G_B, D_A, D_B; pix2pix: G, D; generators required, discriminators
    /// optional); without it, from random weights.
    /// The seed's saved_models/<dataset>/ folder (G_AB_<N>.pth, G_BA_<N>.pth, D_A_<N>.pth,
    /// D_B_<N>.pth) works too, mapped onto ours: G_AB → G_A, G_BA → G_B, D_A → D_B, D_B → D_A.
    #[arg(long = "init-from", alias = "init_from")]
    pub init_from: Option<PathBuf>,
    /// With the seed's folder in --init-from: which epoch's files N to load (default: the
    /// highest).
    #[arg(long = "init-epoch", alias = "init_epoch", requires = "init_from")]
    pub init_epoch: Option<usize>,
    /// Stop (and save) when this many iterations are done in all, resumes included; without it,
    /// at the end of the last epoch.
    #[arg(long = "max-steps", alias = "max_steps")]
    pub max_steps: Option<u64>,
    /// Seed of the initial weights, the data order and crops, and the image pools.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// No progress bars or notes; errors still print.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub seed_recipe: SeedArgs,
    /// The ids of the flags the command line gave (filled by [`crate::cli::Cli::parse_args`]),
    /// so that a recipe tells a default from a choice.
    #[arg(skip)]
    pub given: BTreeSet<String>,
}

/// The plan engine the options ask for, checked against the model (CycleGAN's official
/// objective and networks only) before anything runs.
fn engine_config(a: &TrainArgs, spec: &ModelSpec) -> Result<Option<EngineKind>, UsageError> {
    let Some(kind) = a.engine.kind(&a.device)? else {
        return Ok(None);
    };
    let ModelSpec::CycleGan { model, loss } = spec else {
        return Err(UsageError(
            "--engine plan and --device cuda train CycleGAN only so far; pix2pix trains on the CPU (--engine burn) or --device wgpu".into(),
        ));
    };
    crate::train::engine::check(model, loss).map_err(|e| UsageError(e.to_string()))?;
    Ok(Some(kind))
}

/// `--crop-size`: one side (a square crop) or `H,W`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CropSize {
    pub height: usize,
    /// `None`: square.
    pub width: Option<usize>,
}

impl FromStr for CropSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let side = |v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| format!("`{s}`: give a side (256) or height,width (128,192)"))
        };
        match s.split_once(',') {
            Some((h, w)) => Ok(CropSize {
                height: side(h)?,
                width: Some(side(w)?),
            }),
            None => Ok(CropSize {
                height: side(s)?,
                width: None,
            }),
        }
    }
}

impl fmt::Display for CropSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.width {
            Some(w) => write!(f, "{},{w}", self.height),
            None => write!(f, "{}", self.height),
        }
    }
}

impl TrainArgs {
    /// The crop's height: --crop-height, else --crop-size's.
    pub fn crop_height(&self) -> usize {
        self.crop_height.unwrap_or(self.crop_size.height)
    }

    /// The crop's width: --crop-width, else --crop-size's (its side when square).
    pub fn crop_width(&self) -> usize {
        self.crop_width
            .or(self.crop_size.width)
            .unwrap_or(self.crop_size.height)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum UpsamplingArg {
    Transpose,
    Resize,
}

impl TryFrom<&TrainArgs> for TrainConfig {
    type Error = UsageError;

    fn try_from(a: &TrainArgs) -> Result<Self, UsageError> {
        let seed = super::seed_args::resolve(a)?;
        let a = seed.as_ref().map_or(a, |(resolved, _)| resolved);
        let fail = |m: String| Err(UsageError(m));
        let (crop_h, crop_w) = (a.crop_height(), a.crop_width());
        // The crop as the command line spells it: a side, or H,W.
        let crop = if crop_h == crop_w {
            crop_h.to_string()
        } else {
            format!("{crop_h},{crop_w}")
        };
        let resizes_then_crops = matches!(
            a.preprocess,
            Preprocess::ResizeAndCrop | Preprocess::ScaleWidthAndCrop
        );
        if resizes_then_crops && crop_h.max(crop_w) > a.load_size {
            return fail(format!(
                "--crop-size {crop} is larger than --load-size {}; use a crop no larger than the resized image",
                a.load_size
            ));
        }
        for (flag, v) in [
            ("--batch-size", a.batch_size as u64),
            ("--print-freq", a.print_freq),
            ("--display-freq", a.display_freq),
            ("--save-latest-freq", a.save_latest_freq),
            ("--ngf", a.ngf as u64),
            ("--ndf", a.ndf as u64),
        ] {
            if v == 0 {
                return fail(format!("{flag} must be at least 1"));
            }
        }
        if ![1, 3].contains(&a.input_nc) || ![1, 3].contains(&a.output_nc) {
            return fail("--input-nc and --output-nc must be 1 (grayscale) or 3 (RGB)".into());
        }
        let pix2pix = a.model == ModelKind::Pix2pix;
        let gan_mode = a.gan_mode.unwrap_or(if pix2pix {
            GanMode::Vanilla
        } else {
            GanMode::Lsgan
        });
        if pix2pix {
            for (flag, given) in [
                ("--lambda-A", a.lambda_a.is_some()),
                ("--lambda-B", a.lambda_b.is_some()),
                ("--lambda-identity", a.lambda_identity.is_some()),
            ] {
                if given {
                    return fail(format!(
                        "{flag} weighs a cycle_gan loss; pix2pix has G_GAN and G_L1 (weigh the latter with --lambda-L1)"
                    ));
                }
            }
            if a.pool_size.is_some_and(|p| p > 0) {
                return fail(
                    "--pool-size: pix2pix shows its discriminator only the current fake, as upstream's does; leave it out or use 0"
                        .into(),
                );
            }
        } else if a.lambda_l1.is_some() {
            return fail("--lambda-L1 weighs pix2pix's L1 loss; cycle_gan has --lambda-A, --lambda-B and --lambda-identity".into());
        }
        if gan_mode == GanMode::Wgangp {
            return fail(
                "--gan-mode wgangp needs the gradient penalty's second-order gradients, which burn's autodiff \
                 does not provide; use lsgan (CycleGAN's default) or vanilla"
                    .into(),
            );
        }
        if a.continue_train && a.init_from.is_some() {
            return fail("--continue-train and --init-from exclude each other: a resumed run already has its weights".into());
        }
        let norm_arg = a.norm.unwrap_or(if pix2pix {
            NormArg::Batch
        } else {
            NormArg::Instance
        });
        let norm = match (norm_arg, a.norm_affine) {
            (NormArg::Instance, false) => NormKind::Instance,
            (NormArg::Instance, true) => NormKind::InstanceAffine,
            (NormArg::Batch, _) => NormKind::Batch,
            (NormArg::None, _) => NormKind::None,
        };
        if a.norm_affine && norm_arg != NormArg::Instance {
            return fail(
                "--norm-affine applies to --norm instance only (batch norms are always affine)"
                    .into(),
            );
        }
        let default_netg = if pix2pix {
            "unet_256"
        } else {
            "resnet_9blocks"
        };
        let netg: NetG = a
            .net_g
            .as_deref()
            .unwrap_or(default_netg)
            .parse()
            .map_err(UsageError)?;
        // The two flags override each other, so at most one is set: the last given.
        let use_dropout = if pix2pix { !a.no_dropout } else { a.dropout };
        let generator = |input_nc, output_nc| match netg {
            NetG::Resnet { n_blocks } => GeneratorConfig::Resnet(ResnetGeneratorConfig {
                norm,
                use_bias: norm.conv_bias(),
                use_dropout,
                upsampling: match a.upsampling {
                    UpsamplingArg::Transpose => Upsampling::Transpose,
                    UpsamplingArg::Resize => Upsampling::Resize,
                },
                ..ResnetGeneratorConfig::official(input_nc, output_nc, a.ngf, n_blocks)
            }),
            NetG::Unet { num_downs } => GeneratorConfig::Unet(UnetGeneratorConfig {
                norm,
                use_bias: norm.conv_bias(),
                use_dropout,
                ..UnetGeneratorConfig::official(input_nc, output_nc, num_downs, a.ngf)
            }),
        };
        // A U-Net's crop multiple (2^num_downs) is checked with the other networks' sizes below.
        if let NetG::Unet { num_downs } = netg
            && num_downs < UnetGeneratorConfig::MIN_DOWNS
        {
            return fail(format!(
                "--netG {netg}: a U-Net needs at least 5 downsamplings (unet_32)"
            ));
        }
        let discriminator = |input_nc| {
            match a.net_d {
                NetD::Basic => DiscriminatorConfig::basic(input_nc, a.ndf),
                NetD::NLayers => DiscriminatorConfig::n_layers(input_nc, a.ndf, a.n_layers_d),
                NetD::Pixel => DiscriminatorConfig::pixel(input_nc, a.ndf),
                NetD::Seed => DiscriminatorConfig::Seed {
                    input_nc,
                    ndf: a.ndf,
                    norm: NormKind::Instance,
                },
            }
            .with_norm(norm)
        };
        // G_A maps real_A (input_nc) to B (output_nc) and D_A judges B, whatever the direction:
        // for BtoA the dataset swaps the folders, as upstream's does.
        let (nc_a, nc_b) = (a.input_nc, a.output_nc);
        let spec = if pix2pix {
            ModelSpec::Pix2Pix {
                pix2pix: Pix2PixConfig {
                    g: generator(nc_a, nc_b),
                    // The conditional discriminator sees the input beside the output.
                    d: discriminator(nc_a + nc_b),
                    init_type: a.init_type,
                    init_gain: a.init_gain,
                    gan_mode,
                    lambda_l1: a.lambda_l1.unwrap_or(100.0),
                },
            }
        } else {
            ModelSpec::CycleGan {
                model: ModelConfig {
                    g_a: generator(nc_a, nc_b),
                    g_b: generator(nc_b, nc_a),
                    d_a: discriminator(nc_b),
                    d_b: discriminator(nc_a),
                    init_type: a.init_type,
                    init_gain: a.init_gain,
                },
                loss: LossConfig {
                    gan_mode,
                    lambda_a: a.lambda_a.unwrap_or(10.0),
                    lambda_b: a.lambda_b.unwrap_or(10.0),
                    lambda_identity: a.lambda_identity.unwrap_or(0.5),
                    seed: None,
                },
            }
        };
        // Crops the networks cannot run on would panic inside a layer at the first step.
        if a.preprocess.crops() {
            let (multiple, min) = (spec.size_multiple(), spec.min_side());
            let fits = |side: usize| side >= min && side.is_multiple_of(multiple);
            if !fits(crop_h) || !fits(crop_w) {
                return fail(format!(
                    "--netG {netg} with --netD {} needs each --crop-size side a multiple of {multiple} and at least {min}, not {crop}",
                    a.net_d
                        .to_possible_value()
                        .map_or_else(String::new, |v| v.get_name().to_string()),
                ));
            }
        }
        let Some(dataroot) = a.dataroot.clone() else {
            return fail("--dataroot is required (or --dataset_name with --recipe seed)".into());
        };
        let mut config = TrainConfig {
            data: DatasetOptions {
                dataroot,
                phase: a.phase.clone(),
                direction: a.direction,
                input_nc: a.input_nc,
                output_nc: a.output_nc,
                preprocess: a.preprocess,
                load_size: a.load_size,
                crop_size: crop_h,
                crop_width: (crop_w != crop_h).then_some(crop_w),
                flip: !a.no_flip,
                serial_batches: a.serial_batches,
                max_dataset_size: a.max_dataset_size.unwrap_or(usize::MAX),
                recursive: true,
            },
            loader: LoaderConfig {
                batch_size: a.batch_size,
                shuffle: !a.serial_batches,
                num_threads: a.num_threads.max(1),
                seed: a.seed,
                max_pixels: a.max_pixels,
                prefetch: 0,
            },
            dataset_mode: a.dataset_mode.unwrap_or(if pix2pix {
                DatasetMode::Aligned
            } else {
                DatasetMode::Unaligned
            }),
            spec,
            adam: AdamConfig {
                beta1: a.beta1,
                beta2: a.beta2,
                ..AdamConfig::default()
            },
            schedule: ScheduleConfig {
                policy: a.lr_policy,
                lr: a.lr,
                n_epochs: a.n_epochs,
                n_epochs_decay: a.n_epochs_decay,
                lr_decay_iters: a.lr_decay_iters,
                epoch_count: a.epoch_count,
            },
            pool_size: if pix2pix {
                0
            } else {
                a.pool_size.unwrap_or(50)
            },
            output: OutputConfig {
                checkpoints_dir: a.checkpoints_dir.clone(),
                name: a.name.clone(),
                save_latest_freq: a.save_latest_freq,
                save_epoch_freq: a.save_epoch_freq,
                print_freq: a.print_freq,
                display_freq: a.display_freq,
                quiet: a.quiet,
                seed_sample_interval: None,
            },
            max_steps: a.max_steps,
            continue_train: a.continue_train,
            init_from: a.init_from.clone(),
            init_epoch: a.init_epoch,
            seed: a.seed,
            quality: None,
            engine: None,
        };
        if let Some((_, extras)) = &seed {
            extras.apply(&mut config);
        }
        config.quality = quality_config(a, &config)?;
        config.engine = engine_config(a, &config.spec)?;
        Ok(config)
    }
}

/// `--eval-*`: what to score every `--eval-freq` epochs; the other `--eval-*` flags without it
/// are refused rather than ignored.
fn quality_config(
    a: &TrainArgs,
    config: &TrainConfig,
) -> Result<Option<QualityConfig>, UsageError> {
    if a.eval_freq == 0 {
        let given = [
            ("--eval-dataroot", a.eval_dataroot.is_some()),
            ("--eval-load-size", a.eval_load_size.is_some()),
            ("--inception", a.inception.is_some()),
            ("--eval-phase", a.given.contains("eval_phase")),
            ("--eval-num-test", a.given.contains("eval_num_test")),
        ];
        if let Some((flag, _)) = given.iter().find(|(_, g)| *g) {
            return Err(UsageError(format!(
                "{flag} has no effect without --eval-freq N (score the test split every N epochs)"
            )));
        }
        return Ok(None);
    }
    if a.eval_num_test == 0 {
        return Err(UsageError("--eval-num-test must be at least 1".into()));
    }
    let data = &config.data;
    let square_crops = data.preprocess.crops() && data.crop_width.is_none();
    let load_size = match a.eval_load_size {
        Some(0) => None,
        Some(n) => Some(n),
        None => square_crops.then_some(data.crop_size),
    };
    Ok(Some(QualityConfig {
        eval_freq: a.eval_freq,
        dataroot: a
            .eval_dataroot
            .clone()
            .unwrap_or_else(|| data.dataroot.clone()),
        phase: a.eval_phase.clone(),
        num_test: a.eval_num_test,
        load_size,
        inception: a.inception.clone(),
        seed: a.seed,
    }))
}

pub fn run(args: &TrainArgs) -> anyhow::Result<ExitCode> {
    let config = TrainConfig::try_from(args)?;
    // With the CUDA engine the networks' record (checkpoints, samples) stays in host memory.
    let device = match config.engine {
        Some(_) => args.device.setup_host()?,
        None => args.device.setup()?,
    };
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        // Ctrl-C, SIGTERM (`kill`, `docker stop`, job schedulers) and SIGHUP (a closed
        // terminal) all ask to stop; a second one while saving still waits for the save, since
        // the flag only asks.
        let installed = ctrlc::set_handler(move || {
            if !stop.swap(true, Ordering::SeqCst) {
                eprintln!("\ninterrupted: saving and stopping after this iteration");
            }
        });
        match installed {
            // A process that calls this twice keeps its first handler (the binary calls it once).
            Ok(()) | Err(ctrlc::Error::MultipleHandlers) => {}
            Err(e) => anyhow::bail!("installing the handler for Ctrl-C, SIGTERM and SIGHUP: {e}"),
        }
    }
    let summary = train(&config, &device, &stop)?;
    let p = summary.position;
    if !args.quiet {
        eprintln!(
            "{} at epoch {} batch {} after {} iteration(s) ({:.3} s/iteration); checkpoints in {}",
            if summary.interrupted {
                "stopped"
            } else {
                "done"
            },
            p.epoch,
            p.next_batch,
            p.steps,
            summary.seconds_per_step,
            config.output.run_dir().display()
        );
    }
    if summary.skipped_files > 0 {
        eprintln!(
            "skipped {} unreadable image file(s); see the warnings above",
            summary.skipped_files
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The config `cyclegan train` builds from `args`.
    fn config_of(args: &[&str]) -> TrainConfig {
        let cli = crate::cli::Cli::parse_args(args).expect("valid arguments");
        let crate::cli::Command::Train(train) = cli.command else {
            panic!("not a train command");
        };
        TrainConfig::try_from(&*train).expect("a valid config")
    }

    /// The error `cyclegan train` gives for `args`.
    fn refusal_of(args: &[&str]) -> String {
        let cli = crate::cli::Cli::parse_args(args).expect("parses");
        let crate::cli::Command::Train(train) = cli.command else {
            panic!("not a train command");
        };
        TrainConfig::try_from(&*train).expect_err("refused").0
    }

    #[test]
    fn eval_flags_need_eval_freq_and_default_to_the_square_crop() {
        let base = ["cyclegan", "train", "--dataroot", "d"];
        for extra in [
            &["--eval-phase", "val"][..],
            &["--eval_num_test", "5"],
            &["--eval-dataroot", "t"],
            &["--inception", "w.pth"],
            &["--eval-load-size", "128"],
        ] {
            let err = refusal_of(&[&base[..], extra].concat());
            assert!(err.contains("without --eval-freq"), "{extra:?}: {err}");
        }
        assert!(config_of(&base).quality.is_none());
        let q = config_of(&[&base[..], &["--eval-freq", "5"]].concat())
            .quality
            .expect("scored");
        assert_eq!((q.eval_freq, q.load_size, q.num_test), (5, Some(256), 50));
        assert_eq!((q.dataroot.to_str(), q.phase.as_str()), (Some("d"), "test"));
        let own_size = ["--eval-freq", "1", "--eval-load-size", "0"];
        assert_eq!(
            config_of(&[&base[..], &own_size].concat())
                .quality
                .unwrap()
                .load_size,
            None
        );
        let rect = ["--eval-freq", "1", "--crop-size", "128,192"];
        assert_eq!(
            config_of(&[&base[..], &rect].concat())
                .quality
                .unwrap()
                .load_size,
            None
        );
    }

    /// Runs trained before `ModelConfig.g` became `g_a` keep a readable `opt.json`: the fixture
    /// is what the code of 37e4b2e wrote for the command below, and it loads as the same config
    /// today's code builds from that command.
    #[test]
    fn an_old_opt_json_still_loads() {
        let old = include_str!("../../tests/fixtures/opt_json/before_g_a.json");
        assert!(old.contains("\"g\": {") && !old.contains("\"g_a\""));
        let loaded: TrainConfig = serde_json::from_str(old).expect("the old opt.json loads");
        let today = config_of(&[
            "cyclegan",
            "train",
            "--dataroot",
            "datasets/horse2zebra",
            "--name",
            "horse2zebra_cyclegan",
        ]);
        assert_eq!(loaded, today);
        let written = serde_json::to_string_pretty(&loaded).expect("serialises");
        assert!(written.contains("\"g_a\": {") && !written.contains("\"g\": {"));
    }
}
