//! The paired dataset: upstream's `data/aligned_dataset.py`. Each file of `<dataroot>/<phase>/`
//! holds a pair side by side, A on the left half and B on the right, split at `w / 2` (Python's
//! `int(w / 2)`), and both halves get the **same** crop position and flip (upstream draws
//! `get_params` once per pair). Also accepted: `<phase>/A/` and `<phase>/B/` holding the halves as
//! separate files with matching names, which upstream makes users join with
//! `datasets/combine_A_and_B.py` first.
//!
//! Direction and channels as in [`super::dataset`]: the dataset swaps the halves for `BtoA`, so
//! an item's `real_a` is always the model's `real_A`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand_chacha::ChaCha8Rng;

use super::dataset::{DatasetOptions, Direction, Item, make_dataset};
use super::error::DataError;
use super::image_io::{Image8, check_channels, load_image8};
use super::transform::{TransformConfig, crop};

/// Where the pairs are.
#[derive(Debug, Clone)]
enum Pairs {
    /// One file per pair, A|B side by side.
    Combined { dir: PathBuf, paths: Vec<PathBuf> },
    /// `A/` and `B/` with one file each per pair, matched by file name.
    Split {
        dir_a: PathBuf,
        dir_b: PathBuf,
        paths_a: Vec<PathBuf>,
        paths_b: Vec<PathBuf>,
    },
}

#[derive(Debug, Clone)]
pub struct AlignedDataset {
    pairs: Pairs,
    /// Transforms of the file's A half and B half (channels already per side).
    transform_a: TransformConfig,
    transform_b: TransformConfig,
    direction: Direction,
}

impl AlignedDataset {
    pub fn new(opt: &DatasetOptions) -> Result<Self, DataError> {
        check_channels(opt.input_nc)?;
        check_channels(opt.output_nc)?;
        let dir = opt.dataroot.join(&opt.phase);
        if !dir.is_dir() {
            return Err(DataError::AlignedLayout {
                dataroot: opt.dataroot.clone(),
                phase: opt.phase.clone(),
            });
        }
        let listed = |d: &Path| -> Result<Vec<PathBuf>, DataError> {
            let paths = make_dataset(d, opt.max_dataset_size, opt.recursive)?;
            if paths.is_empty() {
                return Err(DataError::EmptyAligned {
                    dir: d.to_path_buf(),
                });
            }
            Ok(paths)
        };
        let (dir_a, dir_b) = (dir.join("A"), dir.join("B"));
        let pairs = if dir_a.is_dir() && dir_b.is_dir() {
            let (paths_a, paths_b) = match_pairs(&dir_a, &dir_b, opt)?;
            Pairs::Split {
                dir_a,
                dir_b,
                paths_a,
                paths_b,
            }
        } else {
            Pairs::Combined {
                paths: listed(&dir)?,
                dir,
            }
        };
        let btoa = opt.direction == Direction::BtoA;
        let transform = |channels| TransformConfig {
            preprocess: opt.preprocess,
            load_size: opt.load_size,
            crop_size: opt.crop_size,
            crop_width: opt.crop_width,
            flip: opt.flip,
            channels,
        };
        Ok(AlignedDataset {
            pairs,
            transform_a: transform(if btoa { opt.output_nc } else { opt.input_nc }),
            transform_b: transform(if btoa { opt.input_nc } else { opt.output_nc }),
            direction: opt.direction,
        })
    }

    pub fn len(&self) -> usize {
        self.paths_a().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pair files, or the A halves' files of a split layout, sorted.
    pub fn paths_a(&self) -> &[PathBuf] {
        match &self.pairs {
            Pairs::Combined { paths, .. } => paths,
            Pairs::Split { paths_a, .. } => paths_a,
        }
    }

    /// The pair files, or the B halves' files of a split layout, in the A files' order.
    pub fn paths_b(&self) -> &[PathBuf] {
        match &self.pairs {
            Pairs::Combined { paths, .. } => paths,
            Pairs::Split { paths_b, .. } => paths_b,
        }
    }

    pub fn dir_a(&self) -> &Path {
        match &self.pairs {
            Pairs::Combined { dir, .. } => dir,
            Pairs::Split { dir_a, .. } => dir_a,
        }
    }

    pub fn dir_b(&self) -> &Path {
        match &self.pairs {
            Pairs::Combined { dir, .. } => dir,
            Pairs::Split { dir_b, .. } => dir_b,
        }
    }

    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The pair at `index` as 8-bit images, before any transform: `(real_A, real_B)` with
    /// each side's channels and the files they came from, halves swapped for `BtoA`.
    pub fn load_pair(
        &self,
        index: usize,
        max_pixels: u64,
    ) -> Result<(Image8, Image8, &Path, &Path), DataError> {
        let (a, b, pa, pb) = self.load_halves(index, max_pixels)?;
        Ok(match self.direction {
            Direction::AtoB => (a, b, pa, pb),
            Direction::BtoA => (b, a, pb, pa),
        })
    }

    /// The file's A half and B half (whatever the direction), each in its side's channels.
    fn load_halves(
        &self,
        index: usize,
        max_pixels: u64,
    ) -> Result<(Image8, Image8, &Path, &Path), DataError> {
        let (ca, cb) = (self.transform_a.channels, self.transform_b.channels);
        match &self.pairs {
            Pairs::Combined { paths, .. } => {
                let path = &paths[index];
                // Upstream opens the pair as RGB and converts each half on its own.
                let ab = load_image8(path, 3, max_pixels)?;
                let (a, b) = split_halves(&ab, path)?;
                Ok((channels(a, ca), channels(b, cb), path, path))
            }
            Pairs::Split {
                paths_a, paths_b, ..
            } => {
                let (pa, pb) = (&paths_a[index], &paths_b[index]);
                let a = load_image8(pa, ca, max_pixels)?;
                let b = load_image8(pb, cb, max_pixels)?;
                Ok((a, b, pa, pb))
            }
        }
    }

    /// Upstream's `__getitem__`: the pair at `index`, both halves through the same random
    /// crop and flip.
    pub fn get(
        &self,
        index: usize,
        max_pixels: u64,
        rng: &mut ChaCha8Rng,
    ) -> Result<Item, DataError> {
        let (img_a, img_b, path_a, path_b) = self.load_halves(index, max_pixels)?;
        // One draw of crop and flip for both: the B half replays the A half's random stream.
        let mut rng_b = rng.clone();
        let a = self.transform_a.apply(&img_a, path_a, rng)?;
        let b = self.transform_b.apply(&img_b, path_b, &mut rng_b)?;
        let (a, b, pa, pb) = match self.direction {
            Direction::AtoB => (a, b, path_a, path_b),
            Direction::BtoA => (b, a, path_b, path_a),
        };
        Ok(Item {
            real_a: a,
            real_b: b,
            path_a: pa.to_path_buf(),
            path_b: pb.to_path_buf(),
        })
    }
}

/// The left and right halves of a pair image, split at `w / 2` as upstream's `int(w / 2)`.
pub fn split_halves(ab: &Image8, path: &Path) -> Result<(Image8, Image8), DataError> {
    let w2 = ab.width / 2;
    if w2 == 0 || ab.height == 0 {
        return Err(DataError::Degenerate {
            path: path.to_path_buf(),
            preprocess: "the A|B split".into(),
            width: w2,
            height: ab.height,
        });
    }
    Ok((
        crop(ab, 0, 0, w2, ab.height),
        crop(ab, w2, 0, ab.width - w2, ab.height),
    ))
}

fn channels(img: Image8, channels: usize) -> Image8 {
    if channels == 1 { img.to_luma() } else { img }
}

/// The files of `A/` and `B/` paired by their path below each folder; a file without its
/// partner is an error naming it.
fn match_pairs(
    dir_a: &Path,
    dir_b: &Path,
    opt: &DatasetOptions,
) -> Result<(Vec<PathBuf>, Vec<PathBuf>), DataError> {
    let by_name = |dir: &Path| -> Result<BTreeMap<PathBuf, PathBuf>, DataError> {
        Ok(make_dataset(dir, usize::MAX, opt.recursive)?
            .into_iter()
            .filter_map(|p| Some((p.strip_prefix(dir).ok()?.to_path_buf(), p)))
            .collect())
    };
    let (a, b) = (by_name(dir_a)?, by_name(dir_b)?);
    let alone: Vec<String> = a
        .iter()
        .filter(|(name, _)| !b.contains_key(*name))
        .chain(b.iter().filter(|(name, _)| !a.contains_key(*name)))
        .map(|(_, p)| format!("`{}`", p.display()))
        .collect();
    if !alone.is_empty() {
        let shown = alone.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
        let more = alone.len().saturating_sub(5);
        return Err(DataError::Unpaired {
            dir_a: dir_a.to_path_buf(),
            dir_b: dir_b.to_path_buf(),
            count: alone.len(),
            files: if more > 0 {
                format!("{shown} and {more} more")
            } else {
                shown
            },
        });
    }
    if a.is_empty() {
        return Err(DataError::EmptyAligned {
            dir: dir_a.to_path_buf(),
        });
    }
    // Sorted by name (the maps are ordered), cut as upstream cuts its one folder.
    let (paths_a, paths_b) = a
        .into_iter()
        .zip(b)
        .map(|((_, pa), (_, pb))| (pa, pb))
        .take(opt.max_dataset_size)
        .unzip();
    Ok((paths_a, paths_b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Preprocess;
    use rand::SeedableRng;

    /// A w×h RGB pair image whose left half is red (value `a`) and right half green (`b`).
    fn write_pair(path: &Path, w: u32, h: u32, a: u8, b: u8) {
        let img = image::RgbImage::from_fn(w, h, |x, _| {
            if x < w / 2 {
                image::Rgb([a, 0, 0])
            } else {
                image::Rgb([0, b, 0])
            }
        });
        img.save(path).unwrap();
    }

    fn opts(root: &Path) -> DatasetOptions {
        DatasetOptions {
            preprocess: Preprocess::None,
            flip: false,
            ..DatasetOptions::new(root)
        }
    }

    fn value(t: &crate::data::ImageTensor, c: usize) -> f32 {
        t.data[c * t.height * t.width]
    }

    #[test]
    fn combined_pairs_split_at_half_width_and_swap_for_btoa() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("train")).unwrap();
        write_pair(&dir.path().join("train/1.png"), 16, 8, 255, 255);
        let ds = AlignedDataset::new(&opts(dir.path())).unwrap();
        assert_eq!(ds.len(), 1);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let item = ds.get(0, u64::MAX, &mut rng).unwrap();
        assert_eq!((item.real_a.width, item.real_a.height), (8, 8));
        assert_eq!(
            (value(&item.real_a, 0), value(&item.real_a, 1)),
            (1.0, -1.0)
        );
        assert_eq!(
            (value(&item.real_b, 0), value(&item.real_b, 1)),
            (-1.0, 1.0)
        );

        let btoa = AlignedDataset::new(&DatasetOptions {
            direction: Direction::BtoA,
            input_nc: 1,
            ..opts(dir.path())
        })
        .unwrap();
        let item = btoa.get(0, u64::MAX, &mut rng).unwrap();
        // real_A is the green right half, in one channel: PIL's luma of (0, 255, 0) is 150.
        assert_eq!(item.real_a.channels, 1);
        let luma = ((150.0f32 / 255.0) - 0.5) / 0.5;
        assert_eq!(value(&item.real_a, 0), luma);
        assert_eq!((value(&item.real_b, 0), item.real_b.channels), (1.0, 3));
    }

    /// Whatever crop and flip are drawn, the two halves get the same ones: a pair whose halves
    /// are the same picture gives two equal tensors.
    #[test]
    fn both_halves_share_crop_and_flip() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("train")).unwrap();
        let half =
            image::RgbImage::from_fn(40, 40, |x, y| image::Rgb([(x * 6) as u8, (y * 6) as u8, 7]));
        let mut pair = image::RgbImage::new(80, 40);
        image::imageops::replace(&mut pair, &half, 0, 0);
        image::imageops::replace(&mut pair, &half, 40, 0);
        pair.save(dir.path().join("train/p.png")).unwrap();
        let ds = AlignedDataset::new(&DatasetOptions {
            preprocess: Preprocess::ResizeAndCrop,
            load_size: 36,
            crop_size: 24,
            flip: true,
            ..DatasetOptions::new(dir.path())
        })
        .unwrap();
        let mut crops = std::collections::HashSet::new();
        for seed in 0..16 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let item = ds.get(0, u64::MAX, &mut rng).unwrap();
            assert_eq!(item.real_a, item.real_b, "seed {seed}");
            crops.insert(
                item.real_a
                    .data
                    .iter()
                    .map(|v| v.to_bits())
                    .collect::<Vec<_>>(),
            );
        }
        assert!(crops.len() > 4, "the crops and flips vary between draws");
    }

    #[test]
    fn split_folders_pair_by_name_and_name_the_lonely_file() {
        let dir = tempfile::tempdir().unwrap();
        for side in ["A", "B"] {
            std::fs::create_dir_all(dir.path().join("train").join(side)).unwrap();
        }
        let one = |p: &str, v: u8| {
            image::RgbImage::from_pixel(8, 8, image::Rgb([v, v, v]))
                .save(dir.path().join(p))
                .unwrap()
        };
        one("train/A/x.png", 255);
        one("train/B/x.png", 0);
        one("train/A/y.png", 255);
        one("train/B/y.png", 0);
        let ds = AlignedDataset::new(&opts(dir.path())).unwrap();
        assert_eq!(ds.len(), 2);
        let item = ds
            .get(1, u64::MAX, &mut ChaCha8Rng::seed_from_u64(0))
            .unwrap();
        assert!(item.path_a.ends_with("A/y.png") && item.path_b.ends_with("B/y.png"));
        assert_eq!(
            (value(&item.real_a, 0), value(&item.real_b, 0)),
            (1.0, -1.0)
        );

        one("train/A/z.png", 255);
        let e = AlignedDataset::new(&opts(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("z.png") && e.contains("1 file"), "{e}");
    }

    #[test]
    fn missing_split_folder_names_the_layout() {
        let dir = tempfile::tempdir().unwrap();
        let e = AlignedDataset::new(&opts(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("train/") && e.contains("A|B"), "{e}");
    }
}
