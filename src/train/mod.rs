//! Training a CycleGAN or a pix2pix model (upstream `train.py`): epochs of the model's
//! iteration with the learning-rate schedule, loss log, sample grids and checkpoints, resumable
//! exactly.
//!
//! The loop only sequences; each concern has its module: [`model`] (which model, seen the same
//! way whichever it is), [`step`] (CycleGAN's iteration), [`pix2pix`] (pix2pix's),
//! [`networks`] (the named networks), [`adam`], [`pool`], [`schedule`], [`state`] (resume),
//! [`quality`] (test-split metrics every few epochs), [`report`] (log, samples, web page).

pub mod adam;
pub mod engine;
pub mod model;
pub mod networks;
pub mod pix2pix;
mod plot;
pub mod pool;
pub mod quality;
pub mod report;
pub mod schedule;
pub mod seed;
pub mod state;
pub mod step;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::atomic_write::TEMP_MARKER;
use crate::checkpoint::{self, CheckpointError};
use crate::data::{Dataset, DatasetMode, DatasetOptions, Loader, LoaderConfig};
use crate::model::{
    DiscriminatorConfig, GeneratorConfig, InitType, NetworkConfig, Params, seed_dropout,
};
use crate::tensors::stack;
use adam::{Adam, AdamConfig};
use model::{Losses, ModelSpec, Trainee};
use networks::{D_A, D_B, G_A, G_B, Kind, NamedNetworks, Networks};
use quality::{Quality, QualityConfig, QualityError};
use schedule::ScheduleConfig;
use state::Position;
use step::Optimizers;

/// The networks to build (upstream `--netG --netD --ngf --ndf --norm --init_type ...`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// `g_a` (A→B); `g_b` is the same with input and output channels swapped. Runs trained
    /// before the rename wrote it as `g` in their `opt.json`.
    #[serde(alias = "g")]
    pub g_a: GeneratorConfig,
    /// `d_a` (judges B); `d_b` the same on A's channels.
    pub d_a: DiscriminatorConfig,
    pub d_b: DiscriminatorConfig,
    pub g_b: GeneratorConfig,
    pub init_type: InitType,
    pub init_gain: f64,
}

/// Where outputs go and how often (upstream `--checkpoints_dir --name --*_freq`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputConfig {
    pub checkpoints_dir: PathBuf,
    pub name: String,
    pub save_latest_freq: u64,
    pub save_epoch_freq: usize,
    pub print_freq: u64,
    pub display_freq: u64,
    pub quiet: bool,
    /// `--recipe seed`: the seed's sample grids every this many batches, in place of
    /// `display_freq`'s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed_sample_interval: Option<u64>,
}

impl ModelConfig {
    /// Both generators `g` and both discriminators `d` (one architecture for the two domains),
    /// with upstream's `normal` initialisation (gain 0.02).
    pub fn pair(g: GeneratorConfig, d: DiscriminatorConfig) -> Self {
        ModelConfig {
            g_a: g.clone(),
            g_b: g,
            d_a: d.clone(),
            d_b: d,
            init_type: InitType::Normal,
            init_gain: 0.02,
        }
    }

    /// Each network's config under its name, in the order of [`Networks`]' table.
    pub fn named(&self) -> [(&'static str, NetworkConfig); 4] {
        [
            (G_A, NetworkConfig::Generator(self.g_a.clone())),
            (G_B, NetworkConfig::Generator(self.g_b.clone())),
            (D_A, NetworkConfig::Discriminator(self.d_a.clone())),
            (D_B, NetworkConfig::Discriminator(self.d_b.clone())),
        ]
    }

    /// The smallest image side all four networks run on.
    pub fn min_side(&self) -> usize {
        [
            self.g_a.min_side(),
            self.g_b.min_side(),
            self.d_a.min_side(),
            self.d_b.min_side(),
        ]
        .into_iter()
        .max()
        .unwrap_or(1)
    }
}

impl OutputConfig {
    pub fn run_dir(&self) -> PathBuf {
        self.checkpoints_dir.join(&self.name)
    }
}

/// Everything a training run is made of, validated before any work starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub data: DatasetOptions,
    /// Unpaired folders (CycleGAN) or pairs (pix2pix); runs from before pix2pix have none.
    #[serde(default)]
    pub dataset_mode: DatasetMode,
    pub loader: LoaderConfig,
    /// The model, its networks and objective (`model` + `loss` keys for CycleGAN, `pix2pix`
    /// for pix2pix).
    #[serde(flatten)]
    pub spec: ModelSpec,
    pub adam: AdamConfig,
    pub schedule: ScheduleConfig,
    pub pool_size: usize,
    pub output: OutputConfig,
    /// Stop once this many iterations are done in all, counting those before a resume.
    pub max_steps: Option<u64>,
    pub continue_train: bool,
    /// A folder with the model's `latest_net_<name>.{safetensors,pth}` to start from, or the
    /// seed's `saved_models/<dataset>/` folder.
    pub init_from: Option<PathBuf>,
    /// With a seed folder in `init_from`: the epoch N of its `*_<N>.pth` (default: the highest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_epoch: Option<usize>,
    pub seed: u64,
    /// `--eval-freq`: the test split scored every few epochs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<QualityConfig>,
    /// The plan engine that runs the CycleGAN iteration (`--engine plan`, `--device cuda`);
    /// `None`: burn's autodiff over the CPU kernels. Where the math runs, not what the run
    /// is: not kept in `opt.json`, and a run may resume on another.
    #[serde(skip)]
    pub engine: Option<engine::EngineKind>,
}

impl TrainConfig {
    /// CycleGAN's networks and objective; `None` for pix2pix.
    pub fn cycle_gan(&self) -> Option<(&ModelConfig, &step::LossConfig)> {
        match &self.spec {
            ModelSpec::CycleGan { model, loss } => Some((model, loss)),
            ModelSpec::Pix2Pix { .. } => None,
        }
    }

    pub fn cycle_gan_mut(&mut self) -> Option<(&mut ModelConfig, &mut step::LossConfig)> {
        match &mut self.spec {
            ModelSpec::CycleGan { model, loss } => Some((model, loss)),
            ModelSpec::Pix2Pix { .. } => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error("{path}: {cause} (check that the folder exists, is writable and has free space)")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(
        "loss became {value} at iteration {steps} (epoch {epoch}); stopped without saving, the last good checkpoint in {dir} is kept (try a lower --lr)"
    )]
    NonFinite {
        value: String,
        steps: u64,
        epoch: usize,
        dir: PathBuf,
    },
    #[error(
        "{path}: preprocessed to {height}×{width}, but the networks need sides that are multiples of {multiple} and at least {min} (use a larger --load-size/--crop-size or --preprocess resize_and_crop)"
    )]
    ImageTooSmall {
        path: PathBuf,
        height: usize,
        width: usize,
        multiple: usize,
        min: usize,
    },
    #[error("--continue-train: no {} in {}; start without --continue-train", state::STATE_FILE, .0.display())]
    NothingToResume(PathBuf),
    #[error(
        "{cause}; {kept} in {dir}: free some space and resume with --continue-train",
        dir = .dir.display()
    )]
    EpochSave {
        cause: Box<CheckpointError>,
        kept: String,
        dir: PathBuf,
    },
    #[error(
        "--init-from {dir}: no {file}.safetensors or {file}.pth (nor the seed's saved models, G_AB_<N>.pth …)"
    )]
    InitMissing { dir: PathBuf, file: String },
    #[error("--init-from {0}")]
    SeedFolder(#[from] checkpoint::seed::SeedFolderError),
    #[error("--eval-freq: {0}")]
    Quality(#[from] QualityError),
    #[error(transparent)]
    Engine(#[from] engine::EngineError),
}

/// How a run ended.
#[derive(Debug)]
pub struct TrainSummary {
    pub position: Position,
    pub interrupted: bool,
    pub skipped_files: usize,
    pub seconds_per_step: f64,
}

/// Trains as `config` says on `device`, until the last epoch, `max_steps` or `stop`.
pub fn train(
    config: &TrainConfig,
    device: &Device,
    stop: &AtomicBool,
) -> Result<TrainSummary, TrainError> {
    let dir = config.output.run_dir();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |cause| TrainError::Io { path, cause }
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    write_probe(&dir)?;

    let dataset = Dataset::new(config.dataset_mode, &config.data)?;
    let loader = Loader::new(dataset, config.loader)?;
    let batches_per_epoch = loader.num_batches();

    // Before anything is written: a missing test split or Inception file is said at once.
    let quality = match &config.quality {
        Some(q) => Some(Quality::prepare(
            q,
            &config.spec,
            &config.data,
            config.loader.max_pixels,
            &config.output.checkpoints_dir,
        )?),
        None => None,
    };
    let mut nets = Trainee::new(
        &config.spec,
        config.seed,
        config.pool_size,
        config.engine,
        device,
    );
    let mut optim = Optimizers {
        g: Adam::new(config.adam),
        d: Adam::new(config.adam),
    };
    let mut position = Position {
        epoch: config.schedule.epoch_count,
        ..Position::default()
    };
    if config.continue_train {
        if !dir.join(state::STATE_FILE).exists() {
            return Err(TrainError::NothingToResume(dir));
        }
        position = state::load(&dir, &mut nets, &mut optim, device)?;
    } else {
        if let Some(init) = &config.init_from {
            load_init(init, config.init_epoch, &mut nets, device)?;
        }
        // A checkpoint exists from the first moment, so a run killed at any point can be
        // resumed with --continue-train and always leaves a loadable latest_net_*.
        save_latest(&dir, config, &mut nets, &optim, position)?;
    }
    let mut seed_samples = match config.output.seed_sample_interval {
        Some(interval) => Some(seed::Samples::new(config, interval, config.output.quiet)?),
        None => None,
    };
    let mut report = report::Report::open(
        &dir,
        config,
        position,
        !config.continue_train,
        batches_per_epoch,
    )
    .map_err(io(&dir))?;
    report.print_start(config, &loader, &mut nets, device, position);
    if let Some(q) = &quality {
        report.note(&format!(
            "  scores   {} test image(s) from {} every {} epoch(s), into metrics.csv",
            q.images,
            q.config().dataroot.join(&q.config().phase).display(),
            q.config().eval_freq
        ));
    }
    // A run stopped between an epoch's save and its scores measures them now.
    if let Some(q) = &quality
        && position.next_batch == 0
        && position.epoch > config.schedule.epoch_count
    {
        let done = position.epoch - 1;
        if q.config().due(done) && !report.has_quality(done) {
            measure_quality(q, &mut report, &dir, device, done, position)?;
        }
    }

    let mut interrupted = false;
    // A run resumed at --max-steps has nothing left to do (a run killed after its last save):
    // without this it would train one step more than the run it continues.
    let mut finished = config.max_steps.is_some_and(|m| position.steps >= m);
    let mut saved_at = None;
    let started = Instant::now();
    let first_step = position.steps;
    'epochs: while !finished && position.epoch <= config.schedule.last_epoch() {
        let epoch = position.epoch;
        let lr = config.schedule.lr_at(epoch);
        let progress = report.epoch_bar(
            epoch,
            config.schedule.last_epoch(),
            batches_per_epoch,
            position.next_batch,
        );
        for batch in loader.epoch(epoch, position.next_batch) {
            let batch = batch?;
            check_sizes(&batch, &config.spec)?;
            let real_a = stack(&batch.real_a, device);
            let real_b = stack(&batch.real_b, device);
            let step_start = Instant::now();
            // Dropout's masks from (seed, iteration): a resumed run draws the same ones.
            seed_dropout(dropout_seed(config.seed, position.steps));
            let (losses, visuals) = nets.step(&mut optim, real_a, real_b, lr)?;
            check_finite(&losses, position, epoch, &dir)?;
            position.steps += 1;
            position.next_batch += 1;
            position.total_iters += config.loader.batch_size as u64;
            let t = position.total_iters;
            progress.inc(1);
            progress.set_message(report.short_losses(&losses));
            if t.is_multiple_of(config.output.print_freq) {
                report
                    .log(position, lr, step_start.elapsed().as_secs_f64(), &losses)
                    .map_err(io(&dir))?;
            }
            if let (Some(samples), Trainee::CycleGan { nets, .. }) = (&mut seed_samples, &nets) {
                samples.after_step(nets, position, batches_per_epoch, device)?;
            } else if t.is_multiple_of(config.output.display_freq) {
                report.samples(position, visuals).map_err(io(&dir))?;
            }
            let at_max = config.max_steps.is_some_and(|m| position.steps >= m);
            if stop.load(Ordering::SeqCst) || at_max {
                interrupted = !at_max;
                finished = true;
                break;
            }
            if t.is_multiple_of(config.output.save_latest_freq) {
                progress.suspend(|| {
                    report.note(&format!(
                        "saving the latest model (epoch {epoch}, total_iters {t})"
                    ))
                });
                nets.sync(&mut optim, device)?;
                save_latest(&dir, config, &mut nets, &optim, position)?;
                saved_at = Some(position);
            }
        }
        progress.finish_and_clear();
        nets.sync(&mut optim, device)?;
        if position.next_batch >= batches_per_epoch {
            if epoch.is_multiple_of(config.output.save_epoch_freq.max(1)) {
                report.note(&format!(
                    "saving the model at the end of epoch {epoch}, iters {}",
                    position.total_iters
                ));
                if let Err(cause) = save_epoch(&dir, config, &mut nets, epoch) {
                    // A full disk most often: the small resume file may still fit, and with it
                    // nothing is lost (a resume at this position retries the epoch's save).
                    let kept = match save_latest(&dir, config, &mut nets, &optim, position) {
                        Ok(()) => format!(
                            "the latest model and training state (epoch {epoch} done, iteration {}) were saved",
                            position.steps
                        ),
                        Err(e) => format!(
                            "saving the latest model failed too ({e}); the last complete save is kept"
                        ),
                    };
                    return Err(TrainError::EpochSave {
                        cause: Box::new(cause),
                        kept,
                        dir: dir.clone(),
                    });
                }
            }
            position.epoch += 1;
            position.next_batch = 0;
            save_latest(&dir, config, &mut nets, &optim, position)?;
            saved_at = Some(position);
            // Scored from the files just saved; a stop asked for meanwhile comes first (the
            // resumed run measures this epoch before it goes on).
            if let Some(q) = &quality
                && q.config().due(epoch)
                && !stop.load(Ordering::SeqCst)
            {
                measure_quality(q, &mut report, &dir, device, epoch, position)?;
            }
        }
        if finished {
            break 'epochs;
        }
    }
    if saved_at != Some(position) {
        nets.sync(&mut optim, device)?;
        save_latest(&dir, config, &mut nets, &optim, position)?;
    }
    report.finish().map_err(io(&dir))?;
    let steps_run = position.steps - first_step;
    Ok(TrainSummary {
        position,
        interrupted,
        skipped_files: loader.skipped_files(),
        seconds_per_step: started.elapsed().as_secs_f64() / steps_run.max(1) as f64,
    })
}

/// Scores the test split with the generators saved at the end of `epoch` and records the
/// row. A failure is reported and training goes on: the scores are an aid, the run the work.
fn measure_quality(
    quality: &Quality,
    report: &mut report::Report,
    dir: &Path,
    device: &Device,
    epoch: usize,
    position: Position,
) -> Result<(), TrainError> {
    let started = Instant::now();
    match quality.measure(dir, device) {
        Ok(values) => report
            .quality(
                epoch,
                position,
                &values,
                quality.images,
                started.elapsed().as_secs_f64(),
            )
            .map_err(|cause| TrainError::Io {
                path: dir.to_path_buf(),
                cause,
            }),
        Err(e) => {
            eprintln!(
                "warning: --eval-freq: the scores of epoch {epoch} could not be measured: {e}"
            );
            Ok(())
        }
    }
}

/// Builds the networks with upstream's initialisation, each from its own seed (the seed plus
/// its place in the table).
pub fn build_networks(model: &ModelConfig, seed: u64, device: &Device) -> Networks {
    let mut nets = Networks {
        g_a: model.g_a.init(device),
        g_b: model.g_b.init(device),
        d_a: model.d_a.init(device),
        d_b: model.d_b.init(device),
    };
    nets.init_weights(model.init_type, model.init_gain, seed, device);
    nets
}

/// The dropout stream's seed for iteration `steps` of a run seeded `seed` (SplitMix64's
/// finaliser, so neighbouring iterations get unrelated streams).
fn dropout_seed(seed: u64, steps: u64) -> u64 {
    let mut z = seed ^ steps.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `--init-from`: generators are required, discriminators optional (official pretrained
/// models ship only a generator), and whatever is missing is said. A folder of the seed's
/// saved models (`G_AB_<N>.pth` …) loads its epoch `init_epoch` (or its highest) under our names
/// ([`checkpoint::seed::SEED_NAMES`]).
fn load_init(
    dir: &Path,
    init_epoch: Option<usize>,
    nets: &mut Trainee,
    device: &Device,
) -> Result<(), TrainError> {
    let seed = checkpoint::seed::find(dir, init_epoch)?;
    if seed.is_none()
        && let Some(epoch) = init_epoch
    {
        return Err(checkpoint::seed::SeedFolderError::NoSuchEpoch {
            dir: dir.to_path_buf(),
            epoch,
            available: "none".into(),
        }
        .into());
    }
    let find = |name: &str| match &seed {
        Some(files) => files
            .files
            .iter()
            .find(|(ours, _)| *ours == name)
            .and_then(|(_, p)| p.clone()),
        None => ["safetensors", "pth"]
            .iter()
            .map(|ext| dir.join(format!("latest_net_{name}.{ext}")))
            .find(|p| p.exists()),
    };
    for (name, mut net) in nets.named_mut() {
        let Some(path) = find(name) else {
            if net.kind() == Kind::Generator {
                return Err(TrainError::InitMissing {
                    dir: dir.to_path_buf(),
                    file: format!("latest_net_{name}"),
                });
            }
            eprintln!(
                "note: --init-from {}: no latest_net_{name}; {name} starts from random weights",
                dir.display()
            );
            continue;
        };
        let dropped = checkpoint::load_into(&path, &mut net, device)?;
        if !dropped.is_empty() {
            eprintln!(
                "note: --init-from {}: dropped {} stale norm statistic(s) {name} does not use, as upstream's loader does",
                path.display(),
                dropped.len()
            );
        }
    }
    Ok(())
}

fn check_finite(
    losses: &Losses,
    position: Position,
    epoch: usize,
    dir: &Path,
) -> Result<(), TrainError> {
    if losses.all_finite() {
        return Ok(());
    }
    let value = losses
        .names
        .iter()
        .zip(&losses.values)
        .filter(|(_, v)| !v.is_finite())
        .map(|(n, v)| format!("{v} in loss_{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(TrainError::NonFinite {
        value,
        steps: position.steps + 1,
        epoch,
        dir: dir.to_path_buf(),
    })
}

/// Image sizes come from the files with `--preprocess none`/`scale_width`: one the networks
/// cannot run on is an error naming it, not a panic inside a layer.
fn check_sizes(batch: &crate::data::Batch, model: &ModelSpec) -> Result<(), TrainError> {
    let (multiple, min) = (model.size_multiple(), model.min_side());
    let images = batch
        .real_a
        .iter()
        .zip(&batch.paths_a)
        .chain(batch.real_b.iter().zip(&batch.paths_b));
    for (image, path) in images {
        let fits = |side: usize| side >= min && side.is_multiple_of(multiple);
        if !fits(image.height) || !fits(image.width) {
            return Err(TrainError::ImageTooSmall {
                path: path.clone(),
                height: image.height,
                width: image.width,
                multiple,
                min,
            });
        }
    }
    Ok(())
}

/// Fails early, before any training, when checkpoints could not be written, and clears the
/// temporary files of writes a killed run left unfinished (never read: every write renames a
/// complete temporary into place).
fn write_probe(dir: &Path) -> Result<(), TrainError> {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().contains(TEMP_MARKER) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    let probe = dir.join(format!(".write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"probe")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|cause| TrainError::Io {
            path: dir.to_path_buf(),
            cause,
        })
}

fn save_nets(
    dir: &Path,
    prefix: &str,
    config: &TrainConfig,
    nets: &mut Trainee,
) -> Result<(), CheckpointError> {
    let configs = config.spec.named();
    for (name, mut net) in nets.named_mut() {
        let (_, net_config) = configs
            .iter()
            .find(|(n, _)| *n == name)
            .expect("the model config names every network");
        let path = dir.join(format!("{prefix}_net_{name}.safetensors"));
        checkpoint::save_network(&path, &mut net, net_config)?;
    }
    Ok(())
}

/// The resume state first (what `--continue-train` reads), then the `latest_net_*` exports.
fn save_latest(
    dir: &Path,
    config: &TrainConfig,
    nets: &mut Trainee,
    optim: &Optimizers,
    position: Position,
) -> Result<(), CheckpointError> {
    state::save(dir, nets, optim, position)?;
    save_nets(dir, "latest", config, nets)
}

fn save_epoch(
    dir: &Path,
    config: &TrainConfig,
    nets: &mut Trainee,
    epoch: usize,
) -> Result<(), CheckpointError> {
    save_nets(dir, &epoch.to_string(), config, nets)
}

/// Sum of the trainable parameters of a network, for the start summary.
pub fn count_params(net: &mut impl Params) -> usize {
    net.num_params()
}
