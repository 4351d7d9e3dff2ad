//! `--dataset_mode`: which dataset a run reads, and the one type the loader holds for either.

use std::path::{Path, PathBuf};

use rand_chacha::ChaCha8Rng;

use super::aligned::AlignedDataset;
use super::dataset::{DatasetOptions, Direction, Item, UnalignedDataset};
use super::error::DataError;

/// Upstream's `--dataset_mode` (its `single` is what `translate` does with a folder).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum DatasetMode {
    /// Two folders of unpaired images, `<phase>A/` and `<phase>B/` (CycleGAN's).
    #[default]
    Unaligned,
    /// Pairs, A|B side by side in `<phase>/` or as `<phase>/A/` + `<phase>/B/` (pix2pix's).
    Aligned,
}

/// The dataset of either mode, with the methods the loader needs.
#[derive(Debug, Clone)]
pub enum Dataset {
    Unaligned(UnalignedDataset),
    Aligned(AlignedDataset),
}

impl Dataset {
    pub fn new(mode: DatasetMode, opt: &DatasetOptions) -> Result<Self, DataError> {
        Ok(match mode {
            DatasetMode::Unaligned => Dataset::Unaligned(UnalignedDataset::new(opt)?),
            DatasetMode::Aligned => Dataset::Aligned(AlignedDataset::new(opt)?),
        })
    }

    pub fn len(&self) -> usize {
        match self {
            Dataset::Unaligned(d) => d.len(),
            Dataset::Aligned(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn paths_a(&self) -> &[PathBuf] {
        match self {
            Dataset::Unaligned(d) => d.paths_a(),
            Dataset::Aligned(d) => d.paths_a(),
        }
    }

    pub fn paths_b(&self) -> &[PathBuf] {
        match self {
            Dataset::Unaligned(d) => d.paths_b(),
            Dataset::Aligned(d) => d.paths_b(),
        }
    }

    pub fn dir_a(&self) -> &Path {
        match self {
            Dataset::Unaligned(d) => d.dir_a(),
            Dataset::Aligned(d) => d.dir_a(),
        }
    }

    pub fn dir_b(&self) -> &Path {
        match self {
            Dataset::Unaligned(d) => d.dir_b(),
            Dataset::Aligned(d) => d.dir_b(),
        }
    }

    pub fn direction(&self) -> Direction {
        match self {
            Dataset::Unaligned(d) => d.direction(),
            Dataset::Aligned(d) => d.direction(),
        }
    }

    /// Which folder a listed file belongs to: `Some(true)` for folder A (the only folder of a
    /// combined aligned set), `Some(false)` for B.
    pub fn in_folder_a(&self, path: &Path) -> Option<bool> {
        match self {
            Dataset::Unaligned(d) => d.in_folder_a(path),
            Dataset::Aligned(d) => {
                if d.paths_a().iter().any(|p| p == path) {
                    Some(true)
                } else if d.paths_b().iter().any(|p| p == path) {
                    Some(false)
                } else {
                    None
                }
            }
        }
    }

    pub fn get(
        &self,
        index: usize,
        max_pixels: u64,
        rng: &mut ChaCha8Rng,
    ) -> Result<Item, DataError> {
        match self {
            Dataset::Unaligned(d) => d.get(index, max_pixels, rng),
            Dataset::Aligned(d) => d.get(index, max_pixels, rng),
        }
    }
}

impl From<UnalignedDataset> for Dataset {
    fn from(d: UnalignedDataset) -> Self {
        Dataset::Unaligned(d)
    }
}
