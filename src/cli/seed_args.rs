//! `cyclegan train --recipe seed`: the seed's flags (eriklindernoren PyTorch-GAN
//! `implementations/cyclegan/cyclegan.py`) and how the recipe turns them, with the official
//! flags it keeps, into the training configuration.
//!
//! The recipe switches every default to the seed's ([`crate::train::seed`] says what differs).
//! A value can come from an official flag or from its seed twin (`--crop-size` and
//! `--img_height`, `--beta1` and `--b1`, …): either works, both at once is an error. Official
//! flags whose meaning the seed's loop has no place for (`--lambda-A`, `--lr-policy`,
//! `--display-freq`, …) are refused under the recipe, naming the seed's flag to use, and the
//! seed's flags are refused without it: nothing is parsed and then ignored.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::UsageError;
use super::train::{CropSize, TrainArgs, UpsamplingArg};
use crate::data::Preprocess;
use crate::model::NetD;
use crate::train::TrainConfig;
use crate::train::schedule::LrPolicy;
use crate::train::seed::SeedLoss;

/// Which recipe's defaults a run takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Recipe {
    /// The official CycleGAN (junyanz/pytorch-CycleGAN-and-pix2pix `train.py`).
    #[default]
    Official,
    /// The seed's (eriklindernoren PyTorch-GAN `cyclegan.py`): its networks, averaged losses,
    /// LambdaLR schedule, shorter-side resize with rectangular crops, log line and samples.
    Seed,
}

/// The seed's own flags, accepted only with `--recipe seed`, in kebab-case or its snake_case.
#[derive(Clone, Debug, Default, Args)]
pub struct SeedArgs {
    /// (--recipe seed) The dataset's name: --dataroot defaults to data/<name> and --name to it.
    #[arg(long = "dataset-name", alias = "dataset_name")]
    pub dataset_name: Option<String>,
    /// (--recipe seed) The epoch (0-based, as the seed counts) from which the learning rate
    /// decays linearly, to 0 after --n-epochs; default 100.
    #[arg(long = "decay-epoch", alias = "decay_epoch")]
    pub decay_epoch: Option<usize>,
    /// (--recipe seed) Crop height (the shorter side is first resized to int(1.12·this));
    /// default 256. Same as --crop-height.
    #[arg(long = "img-height", alias = "img_height")]
    pub img_height: Option<usize>,
    /// (--recipe seed) Crop width; default 256. Same as --crop-width.
    #[arg(long = "img-width", alias = "img_width")]
    pub img_width: Option<usize>,
    /// (--recipe seed) Residual blocks of the generators; default 9. Same as --netG resnet_<N>blocks.
    #[arg(long = "n-residual-blocks", alias = "n_residual_blocks")]
    pub n_residual_blocks: Option<usize>,
    /// (--recipe seed) Weight of the averaged cycle loss; default 10.
    #[arg(long = "lambda-cyc", alias = "lambda_cyc")]
    pub lambda_cyc: Option<f64>,
    /// (--recipe seed) Weight of the averaged identity loss; default 5.
    #[arg(long = "lambda-id", alias = "lambda_id")]
    pub lambda_id: Option<f64>,
    /// (--recipe seed) Save the seed's sample grid (real_A, fake_B, real_B, fake_A of five test
    /// images) to <run>/images/<batches done>.png every this many batches; default 100.
    #[arg(long = "sample-interval", alias = "sample_interval")]
    pub sample_interval: Option<u64>,
    /// (--recipe seed) Keep <epoch>_net_* checkpoints every this many epochs; -1 (the default):
    /// none. Same as --save-epoch-freq: our epochs count from 1, so N saves after epochs N, 2N…
    /// (the seed's 0-based count saves after its epochs 0, N, 2N…).
    #[arg(
        long = "checkpoint-interval",
        alias = "checkpoint_interval",
        allow_negative_numbers = true
    )]
    pub checkpoint_interval: Option<i64>,
    /// (--recipe seed) Adam's β₁; default 0.5. Same as --beta1.
    #[arg(long)]
    pub b1: Option<f64>,
    /// (--recipe seed) Adam's β₂; default 0.999. Same as --beta2.
    #[arg(long)]
    pub b2: Option<f64>,
    /// (--recipe seed) Image-decoding threads; default 8. Same as --num-threads.
    #[arg(long = "n-cpu", alias = "n_cpu")]
    pub n_cpu: Option<usize>,
    /// (--recipe seed) Image channels of both domains; default 3. Same as --input-nc and
    /// --output-nc together.
    #[arg(long)]
    pub channels: Option<usize>,
    /// (--recipe seed) The seed's starting epoch (0-based; our epochs count from it + 1); default
    /// 0. To start from its saved models of that epoch, pass --init-from saved_models/<dataset>
    /// and --init-epoch.
    #[arg(long)]
    pub epoch: Option<usize>,
}

impl SeedArgs {
    /// The seed flags given, by their seed spelling.
    fn given(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut note = |set: bool, name| {
            if set {
                out.push(name);
            }
        };
        note(self.dataset_name.is_some(), "--dataset_name");
        note(self.decay_epoch.is_some(), "--decay_epoch");
        note(self.img_height.is_some(), "--img_height");
        note(self.img_width.is_some(), "--img_width");
        note(self.n_residual_blocks.is_some(), "--n_residual_blocks");
        note(self.lambda_cyc.is_some(), "--lambda_cyc");
        note(self.lambda_id.is_some(), "--lambda_id");
        note(self.sample_interval.is_some(), "--sample_interval");
        note(self.checkpoint_interval.is_some(), "--checkpoint_interval");
        note(self.b1.is_some(), "--b1");
        note(self.b2.is_some(), "--b2");
        note(self.n_cpu.is_some(), "--n_cpu");
        note(self.channels.is_some(), "--channels");
        note(self.epoch.is_some(), "--epoch");
        out
    }
}

/// What the seed's recipe sets beyond the official flags it fills in.
#[derive(Clone, Debug)]
pub struct SeedExtras {
    loss: SeedLoss,
    decay_epoch: usize,
    /// The seed's `--n_epochs`: its total.
    n_epochs: usize,
    /// The seed's `--epoch`.
    start_epoch: usize,
    sample_interval: u64,
}

/// The seed's defaults.
const N_EPOCHS: usize = 200;
const DECAY_EPOCH: usize = 100;
const IMG_SIDE: usize = 256;
const N_RESIDUAL_BLOCKS: usize = 9;
const SAMPLE_INTERVAL: u64 = 100;
const N_CPU: usize = 8;

/// Official flags the seed's loop has no place for, with what to use instead.
const REFUSED: [(&str, &str, &str); 7] = [
    ("lambda_a", "--lambda-A", "--lambda_cyc"),
    ("lambda_b", "--lambda-B", "--lambda_cyc"),
    ("lambda_identity", "--lambda-identity", "--lambda_id"),
    ("n_epochs_decay", "--n-epochs-decay", "--decay_epoch"),
    (
        "lr_policy",
        "--lr-policy",
        "--decay_epoch (the seed's LambdaLR)",
    ),
    ("epoch_count", "--epoch-count", "--epoch"),
    ("display_freq", "--display-freq", "--sample_interval"),
];

/// For `--recipe seed`, the arguments with the seed's defaults filled in where the command line
/// left them, and what the recipe adds; for the official recipe, `None` (after refusing the
/// seed's flags).
pub fn resolve(a: &TrainArgs) -> Result<Option<(TrainArgs, SeedExtras)>, UsageError> {
    let s = &a.seed_recipe;
    if a.recipe == Recipe::Seed && a.model != super::train::ModelKind::CycleGan {
        return Err(UsageError(
            "--recipe seed is the seed's CycleGAN; it has no pix2pix (leave out --model, or --recipe)".into(),
        ));
    }
    if a.recipe == Recipe::Official {
        let given = s.given();
        if !given.is_empty() {
            return Err(UsageError(format!(
                "{} {} the seed's flag{}: add --recipe seed, or use the official flags (cyclegan train --help)",
                given.join(", "),
                if given.len() == 1 { "is" } else { "are" },
                if given.len() == 1 { "" } else { "s" },
            )));
        }
        return Ok(None);
    }
    let given = |id: &str| a.given.contains(id);
    for (id, flag, instead) in REFUSED {
        if given(id) {
            return Err(UsageError(format!(
                "{flag} has no place in the seed's recipe; use {instead} with --recipe seed"
            )));
        }
    }
    let mut b = a.clone();
    let height = pick(
        (
            given("crop_size") || given("crop_height"),
            "--crop-size/--crop-height",
            a.crop_height(),
        ),
        ("--img_height", s.img_height),
        IMG_SIDE,
    )?;
    let width_given = given("crop_width") || (given("crop_size") && a.crop_size.width.is_some());
    let width = pick(
        (width_given, "--crop-size H,W/--crop-width", a.crop_width()),
        ("--img_width", s.img_width),
        IMG_SIDE,
    )?;
    b.crop_size = CropSize {
        height,
        width: Some(width),
    };
    b.crop_height = None;
    b.crop_width = None;
    if !given("preprocess") {
        b.preprocess = Preprocess::ResizeShorterAndCrop;
    }
    if !given("load_size") {
        // The seed's `Resize(int(opt.img_height * 1.12))`, Python's float product truncated.
        b.load_size = (1.12 * height as f64) as usize;
    }
    if !given("net_d") {
        b.net_d = NetD::Seed;
    }
    if !given("upsampling") {
        b.upsampling = UpsamplingArg::Resize;
    }
    let blocks = pick(
        (given("net_g"), "--netG", None),
        ("--n_residual_blocks", s.n_residual_blocks.map(Some)),
        Some(N_RESIDUAL_BLOCKS),
    )?;
    if let Some(n) = blocks {
        b.net_g = Some(format!("resnet_{n}blocks"));
    }
    let channels = pick(
        (
            given("input_nc") || given("output_nc"),
            "--input-nc/--output-nc",
            None,
        ),
        ("--channels", s.channels.map(Some)),
        None,
    )?;
    if let Some(c) = channels {
        b.input_nc = c;
        b.output_nc = c;
    }
    b.beta1 = pick((given("beta1"), "--beta1", a.beta1), ("--b1", s.b1), 0.5)?;
    b.beta2 = pick((given("beta2"), "--beta2", a.beta2), ("--b2", s.b2), 0.999)?;
    b.num_threads = pick(
        (given("num_threads"), "--num-threads", a.num_threads),
        ("--n_cpu", s.n_cpu),
        N_CPU,
    )?;
    let interval = pick(
        (
            given("save_epoch_freq"),
            "--save-epoch-freq",
            a.save_epoch_freq as i64,
        ),
        ("--checkpoint_interval", s.checkpoint_interval),
        -1,
    )?;
    b.save_epoch_freq = match interval {
        // The seed's -1: no epoch checkpoints; an epoch count never divisible by usize::MAX.
        -1 => usize::MAX,
        n if n >= 1 => n as usize,
        n => {
            return Err(UsageError(format!(
                "--checkpoint_interval {n}: give a number of epochs (at least 1), or -1 for none"
            )));
        }
    };
    if !given("print_freq") {
        // The seed prints every batch.
        b.print_freq = 1;
    }
    let n_epochs = if given("n_epochs") {
        a.n_epochs
    } else {
        N_EPOCHS
    };
    let decay_epoch = s.decay_epoch.unwrap_or(DECAY_EPOCH);
    if decay_epoch >= n_epochs {
        return Err(UsageError(format!(
            "--decay_epoch {decay_epoch} must be below --n_epochs {n_epochs} (the seed's total): the decay must start before the run ends"
        )));
    }
    let start_epoch = s.epoch.unwrap_or(0);
    if start_epoch >= n_epochs {
        return Err(UsageError(format!(
            "--epoch {start_epoch} is the seed's starting epoch and must be below --n_epochs {n_epochs}"
        )));
    }
    if let Some(name) = &s.dataset_name {
        if given("name") {
            return Err(UsageError(
                "--name and --dataset_name both name the run; give one of them".into(),
            ));
        }
        b.name = name.clone();
        if a.dataroot.is_none() {
            b.dataroot = Some(PathBuf::from("data").join(name));
        }
    }
    let sample_interval = s.sample_interval.unwrap_or(SAMPLE_INTERVAL);
    if sample_interval == 0 {
        return Err(UsageError("--sample_interval must be at least 1".into()));
    }
    let loss = SeedLoss {
        lambda_cyc: s.lambda_cyc.unwrap_or(SeedLoss::default().lambda_cyc),
        lambda_id: s.lambda_id.unwrap_or(SeedLoss::default().lambda_id),
    };
    Ok(Some((
        b,
        SeedExtras {
            loss,
            decay_epoch,
            n_epochs,
            start_epoch,
            sample_interval,
        },
    )))
}

/// One value from an official flag (`(given, spelling, value)`) or its seed twin, else the
/// seed's default; both given is an error.
fn pick<T>(
    (official_given, official, value): (bool, &str, T),
    (seed, seed_value): (&str, Option<T>),
    default: T,
) -> Result<T, UsageError> {
    match (official_given, seed_value) {
        (true, Some(_)) => Err(UsageError(format!(
            "{official} and {seed} set the same thing; give one of them"
        ))),
        (_, Some(v)) => Ok(v),
        (true, None) => Ok(value),
        (false, None) => Ok(default),
    }
}

impl SeedExtras {
    /// Sets what only the seed's recipe has on a configuration the official path built from the
    /// resolved arguments.
    pub fn apply(&self, config: &mut TrainConfig) {
        if let Some((model, loss)) = config.cycle_gan_mut() {
            for g in [&mut model.g_a, &mut model.g_b] {
                if let crate::model::GeneratorConfig::Resnet(c) = g {
                    c.block_naming = crate::model::BlockNaming::Block;
                }
            }
            loss.seed = Some(self.loss);
        }
        let s = &mut config.schedule;
        s.policy = LrPolicy::Seed;
        s.n_epochs = self.decay_epoch;
        s.n_epochs_decay = self.n_epochs - self.decay_epoch;
        s.epoch_count = self.start_epoch + 1;
        config.output.seed_sample_interval = Some(self.sample_interval);
    }
}

/// The ids of the flags the command line gave (clap's `ValueSource::CommandLine`), which the
/// recipe needs to tell a default from a choice.
pub fn given_ids(matches: &clap::ArgMatches) -> BTreeSet<String> {
    matches
        .ids()
        .filter(|id| {
            matches.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine)
        })
        .map(|id| id.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DiscriminatorConfig, GeneratorConfig, NetG};

    fn parse(args: &[&str]) -> Result<TrainConfig, String> {
        let mut all = vec!["cyclegan", "train", "--dataroot", "d"];
        all.extend(args);
        let cli = crate::cli::Cli::parse_args(all).map_err(|e| e.to_string())?;
        let crate::cli::Command::Train(train) = cli.command else {
            panic!("not train");
        };
        TrainConfig::try_from(&*train).map_err(|e| e.0)
    }

    /// `--recipe seed` alone: the seed's networks, losses, schedule, data and outputs.
    #[test]
    fn the_recipe_switches_every_default_to_the_seeds() {
        let c = parse(&["--recipe", "seed"]).unwrap();
        let GeneratorConfig::Resnet(g) = &c.cycle_gan().expect("cycle_gan").0.g_a else {
            panic!("a ResNet");
        };
        assert_eq!(g.n_blocks, 9);
        assert_eq!(g.upsampling, crate::model::Upsampling::Resize);
        assert_eq!(g.block_naming, crate::model::BlockNaming::Block);
        assert!(matches!(
            c.cycle_gan().expect("cycle_gan").0.d_a,
            DiscriminatorConfig::Seed { ndf: 64, .. }
        ));
        assert_eq!(
            c.cycle_gan().expect("cycle_gan").1.seed,
            Some(SeedLoss::default())
        );
        assert_eq!(c.schedule.policy, LrPolicy::Seed);
        // Epochs 1..=200 (the seed's 0..200), decaying after the seed's epoch 100.
        assert_eq!((c.schedule.epoch_count, c.schedule.last_epoch()), (1, 200));
        assert_eq!(c.schedule.lr_at(101), 2e-4);
        assert!((c.schedule.lr_at(151) - 1e-4).abs() < 1e-12);
        assert_eq!(c.data.preprocess, Preprocess::ResizeShorterAndCrop);
        assert_eq!(
            (c.data.load_size, c.data.crop_size, c.data.crop_width),
            (286, 256, None)
        );
        assert_eq!(c.loader.num_threads, 8);
        assert_eq!(c.output.print_freq, 1);
        assert_eq!(c.output.save_epoch_freq, usize::MAX);
        assert_eq!(c.output.seed_sample_interval, Some(100));
        // The official recipe is untouched.
        let o = parse(&[]).unwrap();
        assert_eq!(o.cycle_gan().expect("cycle_gan").1.seed, None);
        assert_eq!(o.output.seed_sample_interval, None);
        assert!(matches!(
            o.cycle_gan().expect("cycle_gan").0.d_a,
            DiscriminatorConfig::NLayers { .. }
        ));
        // The seed's discriminator is also a --netD of its own, in the official recipe.
        let o = parse(&["--netD", "seed", "--ndf", "16"]).unwrap();
        assert!(matches!(
            o.cycle_gan().expect("cycle_gan").0.d_b,
            DiscriminatorConfig::Seed { ndf: 16, .. }
        ));
        assert_eq!(o.cycle_gan().expect("cycle_gan").1.seed, None);
    }

    /// The seed's flags in either spelling, with its meanings.
    #[test]
    fn seed_flags_carry_the_seeds_meanings() {
        let c = parse(&[
            "--recipe",
            "seed",
            "--img_height",
            "128",
            "--img-width",
            "192",
            "--n_residual_blocks",
            "6",
            "--lambda_cyc",
            "8",
            "--lambda-id",
            "2",
            "--n_epochs",
            "20",
            "--decay_epoch",
            "10",
            "--epoch",
            "3",
            "--b1",
            "0.4",
            "--b2",
            "0.99",
            "--n_cpu",
            "2",
            "--channels",
            "1",
            "--checkpoint_interval",
            "5",
            "--sample_interval",
            "7",
            "--dataset_name",
            "maps",
        ])
        .unwrap();
        assert_eq!(
            c.cycle_gan().expect("cycle_gan").0.g_a.netg(),
            NetG::Resnet { n_blocks: 6 }
        );
        assert_eq!(
            (c.data.load_size, c.data.crop_size, c.data.crop_width),
            (143, 128, Some(192))
        );
        assert_eq!(
            c.cycle_gan().expect("cycle_gan").1.seed,
            Some(SeedLoss {
                lambda_cyc: 8.0,
                lambda_id: 2.0
            })
        );
        assert_eq!((c.schedule.epoch_count, c.schedule.last_epoch()), (4, 20));
        // The seed's epoch 15 (ours 16): 1 − (15 − 10)/(20 − 10).
        assert!((c.schedule.lr_at(16) - 1e-4).abs() < 1e-12);
        assert_eq!((c.adam.beta1, c.adam.beta2), (0.4, 0.99));
        assert_eq!(c.loader.num_threads, 2);
        assert_eq!((c.data.input_nc, c.data.output_nc), (1, 1));
        assert_eq!(c.output.save_epoch_freq, 5);
        assert_eq!(c.output.seed_sample_interval, Some(7));
        assert_eq!(c.output.name, "maps");
        assert_eq!(c.data.dataroot, PathBuf::from("d"));
    }

    /// Official flags the recipe does not override keep working under it.
    #[test]
    fn official_flags_still_apply_under_the_recipe() {
        let c = parse(&[
            "--recipe",
            "seed",
            "--netG",
            "resnet_3blocks",
            "--ngf",
            "16",
            "--ndf",
            "16",
            "--netD",
            "basic",
            "--preprocess",
            "none",
            "--no-flip",
            "--pool-size",
            "0",
            "--crop-size",
            "64,96",
            "--beta1",
            "0.3",
        ])
        .unwrap();
        assert_eq!(
            c.cycle_gan().expect("cycle_gan").0.g_a.netg(),
            NetG::Resnet { n_blocks: 3 }
        );
        assert!(matches!(
            c.cycle_gan().expect("cycle_gan").0.d_a,
            DiscriminatorConfig::NLayers { ndf: 16, .. }
        ));
        assert_eq!(c.data.preprocess, Preprocess::None);
        assert!(!c.data.flip);
        assert_eq!(c.pool_size, 0);
        assert_eq!((c.data.crop_size, c.data.crop_width), (64, Some(96)));
        assert_eq!(c.adam.beta1, 0.3);
    }

    #[test]
    fn clashes_and_misplaced_flags_are_errors() {
        let e = parse(&["--img_height", "128"]).unwrap_err();
        assert!(
            e.contains("--img_height is the seed's flag: add --recipe seed"),
            "{e}"
        );
        let e = parse(&[
            "--recipe",
            "seed",
            "--netG",
            "resnet_6blocks",
            "--n_residual_blocks",
            "3",
        ])
        .unwrap_err();
        assert!(
            e.contains("--netG and --n_residual_blocks set the same thing"),
            "{e}"
        );
        let e = parse(&["--recipe", "seed", "--beta1", "0.4", "--b1", "0.4"]).unwrap_err();
        assert!(e.contains("--beta1 and --b1"), "{e}");
        let e = parse(&["--recipe", "seed", "--lambda-A", "5"]).unwrap_err();
        assert!(e.contains("use --lambda_cyc"), "{e}");
        let e = parse(&["--recipe", "seed", "--display-freq", "5"]).unwrap_err();
        assert!(e.contains("use --sample_interval"), "{e}");
        let e = parse(&["--recipe", "seed", "--decay_epoch", "200"]).unwrap_err();
        assert!(e.contains("must be below --n_epochs 200"), "{e}");
        let e = parse(&["--recipe", "seed", "--checkpoint_interval", "0"]).unwrap_err();
        assert!(e.contains("-1 for none"), "{e}");
        let e = parse(&["--recipe", "seed", "--img_height", "130"]).unwrap_err();
        assert!(
            e.contains("a multiple of 4 and at least 32, not 130,256"),
            "{e}"
        );
    }

    /// The tutorial's command line needs no --dataroot: `--dataset_name X` reads data/X.
    #[test]
    fn dataset_name_stands_for_dataroot_and_name() {
        let cli = crate::cli::Cli::parse_args([
            "cyclegan",
            "train",
            "--recipe",
            "seed",
            "--dataset_name",
            "monet2photo",
        ])
        .unwrap();
        let crate::cli::Command::Train(train) = cli.command else {
            panic!("not train");
        };
        let c = TrainConfig::try_from(&*train).unwrap();
        assert_eq!(c.data.dataroot, PathBuf::from("data/monet2photo"));
        assert_eq!(c.output.name, "monet2photo");
        assert!(crate::cli::Cli::parse_args(["cyclegan", "train"]).is_err());
    }

    /// `--crop-size H,W` and `--crop-height/--crop-width` give rectangular crops in the official
    /// recipe too.
    #[test]
    fn rectangular_crops_for_the_official_recipe() {
        let c = parse(&["--crop-size", "128,192", "--load-size", "200"]).unwrap();
        assert_eq!((c.data.crop_size, c.data.crop_width), (128, Some(192)));
        let c = parse(&["--crop-width", "192", "--load-size", "300"]).unwrap();
        assert_eq!((c.data.crop_size, c.data.crop_width), (256, Some(192)));
        let e = parse(&["--crop-size", "128,x"]).unwrap_err();
        assert!(e.contains("height,width"), "{e}");
    }
}
