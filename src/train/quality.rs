//! Quality while training (`--eval-freq N`): after every N-th epoch the test split goes through
//! the generators that epoch saved, the way `cyclegan test` runs them (same files, resize,
//! mode, dropout seed and saved levels), and is scored: FID of each CycleGAN direction (fake_B
//! against the real B test images, fake_A against the real A ones, as `cyclegan eval --results`
//! scores `cyclegan test`'s folder), or pix2pix's mean L1, PSNR and SSIM of fake_B against its
//! real_B. [`super::report`] writes the rows to `metrics.csv`, prints them and plots them.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::model::ModelSpec;
use super::networks::{G_A, G_B};
use super::pix2pix::G;
use crate::checkpoint::{self, CheckpointError};
use crate::data::dataset::{find_domains, make_dataset};
use crate::data::{
    AlignedDataset, DataError, DatasetOptions, Direction, Image8, Quantize, to_levels,
};
use crate::inference::{Translator, load_input, test_input};
use crate::metrics::eval::fit_images;
use crate::metrics::inception::Inception;
use crate::metrics::stats::{Gaussian, StatsError, frechet_distance};
use crate::metrics::weights::{self, WeightsNotFound};
use crate::metrics::{PairError, PairScores, score_pair};
use crate::model::{Mode, seed_dropout};

/// What to measure and how often (`cyclegan train --eval-*`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QualityConfig {
    /// After every this many epochs.
    pub eval_freq: usize,
    /// Holds `<phase>A/` and `<phase>B/` (or `<phase>/A`, `<phase>/B`) for CycleGAN, the
    /// `<phase>/` pairs for pix2pix.
    pub dataroot: PathBuf,
    pub phase: String,
    /// At most this many images per folder (`cyclegan test --num-test`).
    pub num_test: usize,
    /// Each image resized to N×N first (`cyclegan test --load-size`); `None`: its own size.
    pub load_size: Option<usize>,
    /// FID's Inception weights; `None`: pytorch-fid's file in the checkpoints folder.
    pub inception: Option<PathBuf>,
    /// Dropout's seed at test time (`cyclegan test --seed`).
    pub seed: u64,
}

impl QualityConfig {
    /// Whether the epoch just finished is measured.
    pub fn due(&self, epoch: usize) -> bool {
        self.eval_freq > 0 && epoch.is_multiple_of(self.eval_freq)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QualityError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Weights(#[from] WeightsNotFound),
    #[error("{0}")]
    Stats(#[from] StatsError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("{path}: {cause}", path = .path.display())]
    Pair { path: PathBuf, cause: PairError },
    #[error("{path}: no images (pass --eval-dataroot, or leave out --eval-freq)", path = .0.display())]
    NoImages(PathBuf),
    #[error("{0}")]
    Levels(String),
}

/// The columns of `metrics.csv` and how they are plotted.
#[derive(Clone, Debug, PartialEq)]
pub struct Columns {
    pub names: &'static [&'static str],
    /// One plot per entry: its y-axis label and the columns it draws.
    pub plots: &'static [(&'static str, &'static [usize])],
}

impl Columns {
    const CYCLE_GAN: Columns = Columns {
        names: &["FID_AtoB", "FID_BtoA"],
        plots: &[("FID", &[0, 1])],
    };
    const PIX2PIX: Columns = Columns {
        names: &["L1", "PSNR", "SSIM"],
        plots: &[("L1 (levels)", &[0]), ("PSNR (dB)", &[1]), ("SSIM", &[2])],
    };

    pub fn of(spec: &ModelSpec) -> Self {
        match spec {
            ModelSpec::CycleGan { .. } => Self::CYCLE_GAN,
            ModelSpec::Pix2Pix { .. } => Self::PIX2PIX,
        }
    }
}

/// One CycleGAN direction: a generator, the test images it translates, and the Gaussian of
/// the real images of the domain it translates into.
struct CycleDirection {
    generator: &'static str,
    files: Vec<PathBuf>,
    input_nc: usize,
    target: Gaussian,
}

enum Scorer {
    CycleGan {
        net: Box<Inception>,
        directions: [CycleDirection; 2],
    },
    Pix2Pix {
        pairs: AlignedDataset,
    },
}

/// The test split, read and (for FID) its real side's statistics computed once per run.
pub struct Quality {
    config: QualityConfig,
    max_pixels: u64,
    scorer: Scorer,
    /// Test images per measurement, for the log line.
    pub images: usize,
}

impl Quality {
    /// Reads the test split (and for CycleGAN the Inception weights and the real images'
    /// statistics) before training starts, so a missing folder or weights file stops the run
    /// at once, not after its first epochs.
    pub fn prepare(
        config: &QualityConfig,
        spec: &ModelSpec,
        data: &DatasetOptions,
        max_pixels: u64,
        checkpoints_dir: &Path,
    ) -> Result<Self, QualityError> {
        let scorer = match spec {
            ModelSpec::CycleGan { model, .. } => {
                let (mut dir_a, mut dir_b) = find_domains(&config.dataroot, &config.phase)?;
                // G_A reads what training fed it as A: the swapped folders for BtoA.
                if data.direction == Direction::BtoA {
                    std::mem::swap(&mut dir_a, &mut dir_b);
                }
                let net = Box::new(weights::load(config.inception.as_deref(), checkpoints_dir)?);
                let list = |dir: &Path| -> Result<Vec<PathBuf>, QualityError> {
                    let files = make_dataset(dir, config.num_test, false)?;
                    if files.is_empty() {
                        return Err(QualityError::NoImages(dir.to_path_buf()));
                    }
                    Ok(files)
                };
                let (files_a, files_b) = (list(&dir_a)?, list(&dir_b)?);
                let (nc_a, nc_b) = (model.g_a.input_nc(), model.g_b.input_nc());
                let real = |files: &[PathBuf], nc: usize, what: &str| {
                    let levels = files
                        .iter()
                        .map(|f| as_saved(&load_input(f, nc, max_pixels, config.load_size)?))
                        .collect::<Result<Vec<_>, QualityError>>()?;
                    Ok::<_, QualityError>(fit_images(&net, &levels, what)?)
                };
                let target_b = real(&files_b, nc_b, "the real B test set")?;
                let target_a = real(&files_a, nc_a, "the real A test set")?;
                Scorer::CycleGan {
                    directions: [
                        CycleDirection {
                            generator: G_A,
                            files: files_a,
                            input_nc: nc_a,
                            target: target_b,
                        },
                        CycleDirection {
                            generator: G_B,
                            files: files_b,
                            input_nc: nc_b,
                            target: target_a,
                        },
                    ],
                    net,
                }
            }
            ModelSpec::Pix2Pix { .. } => {
                let pairs = AlignedDataset::new(&DatasetOptions {
                    phase: config.phase.clone(),
                    direction: data.direction,
                    input_nc: data.input_nc,
                    output_nc: data.output_nc,
                    max_dataset_size: config.num_test,
                    recursive: false,
                    ..DatasetOptions::new(&config.dataroot)
                })?;
                if pairs.is_empty() {
                    return Err(QualityError::NoImages(config.dataroot.join(&config.phase)));
                }
                Scorer::Pix2Pix { pairs }
            }
        };
        let images = match &scorer {
            Scorer::CycleGan { directions, .. } => directions.iter().map(|d| d.files.len()).sum(),
            Scorer::Pix2Pix { pairs } => pairs.len(),
        };
        Ok(Self {
            config: config.clone(),
            max_pixels,
            scorer,
            images,
        })
    }

    pub fn config(&self) -> &QualityConfig {
        &self.config
    }

    /// The scores of the generators saved as `latest_net_*` in `run_dir`, in [`Columns`] order.
    pub fn measure(&self, run_dir: &Path, device: &Device) -> Result<Vec<f64>, QualityError> {
        let translator = |name: &str| -> Result<Translator, QualityError> {
            let path = run_dir.join(format!("latest_net_{name}.safetensors"));
            let (config, generator) = checkpoint::load_generator_with_dropout(&path, device, None)?;
            // Upstream's test without --eval, as `cyclegan test` runs by default.
            Ok(Translator::new(config, generator, device.clone()).with_mode(Mode::Train))
        };
        match &self.scorer {
            Scorer::CycleGan { net, directions } => directions
                .iter()
                .map(|d| {
                    let g = translator(d.generator)?;
                    seed_dropout(self.config.seed);
                    let fakes = d
                        .files
                        .iter()
                        .map(|f| {
                            let real =
                                load_input(f, d.input_nc, self.max_pixels, self.config.load_size)?;
                            as_saved(&g.translate(&real))
                        })
                        .collect::<Result<Vec<_>, QualityError>>()?;
                    let fake = fit_images(net, &fakes, "the translated test set")?;
                    Ok(frechet_distance(&d.target, &fake)?)
                })
                .collect(),
            Scorer::Pix2Pix { pairs } => {
                let g = translator(G)?;
                seed_dropout(self.config.seed);
                let mut scores = Vec::with_capacity(pairs.len());
                for index in 0..pairs.len() {
                    let (real_a, real_b, path, _) = pairs.load_pair(index, self.max_pixels)?;
                    let real_a = test_input(&real_a, self.config.load_size);
                    let real_b = test_input(&real_b, self.config.load_size);
                    let fake_b = g.translate(&real_a);
                    let score = score_pair(&as_saved(&fake_b)?, &as_saved(&real_b)?);
                    scores.push(score.map_err(|cause| QualityError::Pair {
                        path: path.to_path_buf(),
                        cause,
                    })?);
                }
                let mean = PairScores::mean(&scores).expect("prepare refuses an empty split");
                Ok(vec![mean.l1, mean.psnr, mean.ssim])
            }
        }
    }
}

/// The levels `cyclegan test` saves (upstream's truncation, one channel tiled to RGB).
fn as_saved(image: &crate::data::ImageTensor) -> Result<Image8, QualityError> {
    to_levels(image, Quantize::Upstream).map_err(QualityError::Levels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_every_eval_freq_epochs_and_never_at_zero() {
        let config = |eval_freq| QualityConfig {
            eval_freq,
            dataroot: PathBuf::new(),
            phase: "test".into(),
            num_test: 50,
            load_size: None,
            inception: None,
            seed: 0,
        };
        let due: Vec<usize> = (1..=7).filter(|&e| config(3).due(e)).collect();
        assert_eq!(due, [3, 6]);
        assert!((1..=7).all(|e| !config(0).due(e)));
    }

    #[test]
    fn every_column_is_plotted_once() {
        for c in [Columns::CYCLE_GAN, Columns::PIX2PIX] {
            let mut drawn: Vec<usize> = c.plots.iter().flat_map(|p| p.1.iter().copied()).collect();
            drawn.sort_unstable();
            assert_eq!(drawn, (0..c.names.len()).collect::<Vec<_>>());
        }
    }
}
