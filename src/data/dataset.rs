//! The unpaired two-domain dataset: upstream's `data/unaligned_dataset.py` (with
//! `make_dataset` of `data/image_folder.py`). Item `index` pairs A file `index % len_a` with a
//! random B file (or `index % len_b` under `serial_batches`); `len = max(len_a, len_b)`.
//!
//! Folders: `<dataroot>/<phase>A` + `<phase>B` (official), or `<dataroot>/<phase>/A` + `/B`.
//! Files are sorted by their path's bytes — Python's `sorted()` of path strings — after the walk,
//! then cut to `max_dataset_size` (upstream cuts in `os.walk` order, which is the filesystem's,
//! then sorts; sorting first makes the cut reproducible).
//!
//! Direction: upstream's dataset reads folder A with the channels of the side it feeds
//! (`output_nc` under `BtoA`) and the model swaps the pair. Here the dataset does the swap, so an
//! [`Item`]'s `real_a` is always the model's `real_A`: under `BtoA` it comes from folder B with
//! `input_nc` channels. Folder A stays the one walked in order, folder B the randomly drawn one.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rand::Rng;

use super::error::DataError;
use super::image_io::{ImageTensor, check_channels, is_image_file, load_image8};
use super::transform::{Preprocess, TransformConfig};

/// `--direction`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
pub enum Direction {
    #[default]
    #[value(name = "AtoB")]
    AtoB,
    #[value(name = "BtoA")]
    BtoA,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::AtoB => "AtoB",
            Direction::BtoA => "BtoA",
        })
    }
}

impl FromStr for Direction {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "AtoB" => Ok(Direction::AtoB),
            "BtoA" => Ok(Direction::BtoA),
            _ => Err(DataError::Parse {
                what: "--direction",
                value: s.to_string(),
                expected: "AtoB, BtoA",
            }),
        }
    }
}

/// The options `UnalignedDataset` reads (upstream names).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DatasetOptions {
    pub dataroot: PathBuf,
    /// `train`, `test`, …: picks `<phase>A` / `<phase>B`.
    pub phase: String,
    pub direction: Direction,
    pub input_nc: usize,
    pub output_nc: usize,
    pub preprocess: Preprocess,
    pub load_size: usize,
    pub crop_size: usize,
    /// A rectangular crop's width (`--crop-size H,W`); `None`: square, as upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop_width: Option<usize>,
    /// `!no_flip`.
    pub flip: bool,
    /// Take B files in order (`index % len_b`) instead of at random.
    pub serial_batches: bool,
    /// At most this many files per domain (`usize::MAX`: all, upstream's `inf`).
    pub max_dataset_size: usize,
    /// Walk subfolders too, as upstream's `os.walk` does.
    pub recursive: bool,
}

impl DatasetOptions {
    /// The official training defaults for `dataroot`.
    pub fn new(dataroot: impl Into<PathBuf>) -> Self {
        DatasetOptions {
            dataroot: dataroot.into(),
            phase: "train".into(),
            direction: Direction::AtoB,
            input_nc: 3,
            output_nc: 3,
            preprocess: Preprocess::ResizeAndCrop,
            load_size: 286,
            crop_size: 256,
            crop_width: None,
            flip: true,
            serial_batches: false,
            max_dataset_size: usize::MAX,
            recursive: true,
        }
    }
}

/// One training pair, preprocessed. `real_a` / `path_a` are the model's A side (see the module
/// notes on direction).
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub real_a: ImageTensor,
    pub real_b: ImageTensor,
    pub path_a: PathBuf,
    pub path_b: PathBuf,
}

#[derive(Debug, Clone)]
pub struct UnalignedDataset {
    dir_a: PathBuf,
    dir_b: PathBuf,
    paths_a: Vec<PathBuf>,
    paths_b: Vec<PathBuf>,
    /// Transforms of folder A's and folder B's images (channels already per side).
    transform_a: TransformConfig,
    transform_b: TransformConfig,
    serial_batches: bool,
    direction: Direction,
}

impl UnalignedDataset {
    pub fn new(opt: &DatasetOptions) -> Result<Self, DataError> {
        check_channels(opt.input_nc)?;
        check_channels(opt.output_nc)?;
        let (dir_a, dir_b) = find_domains(&opt.dataroot, &opt.phase)?;
        let domain = |dir: &Path| -> Result<Vec<PathBuf>, DataError> {
            let paths = make_dataset(dir, opt.max_dataset_size, opt.recursive)?;
            if paths.is_empty() {
                return Err(DataError::EmptyDomain {
                    dir: dir.to_path_buf(),
                    phase: opt.phase.clone(),
                });
            }
            Ok(paths)
        };
        let paths_a = domain(&dir_a)?;
        let paths_b = domain(&dir_b)?;
        let btoa = opt.direction == Direction::BtoA;
        let transform = |channels| TransformConfig {
            preprocess: opt.preprocess,
            load_size: opt.load_size,
            crop_size: opt.crop_size,
            crop_width: opt.crop_width,
            flip: opt.flip,
            channels,
        };
        Ok(UnalignedDataset {
            dir_a,
            dir_b,
            paths_a,
            paths_b,
            transform_a: transform(if btoa { opt.output_nc } else { opt.input_nc }),
            transform_b: transform(if btoa { opt.input_nc } else { opt.output_nc }),
            serial_batches: opt.serial_batches,
            direction: opt.direction,
        })
    }

    /// `max(len_a, len_b)`.
    pub fn len(&self) -> usize {
        self.paths_a.len().max(self.paths_b.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Folder `<phase>A`'s files, sorted (whatever the direction).
    pub fn paths_a(&self) -> &[PathBuf] {
        &self.paths_a
    }

    /// Folder `<phase>B`'s files, sorted (whatever the direction).
    pub fn paths_b(&self) -> &[PathBuf] {
        &self.paths_b
    }

    pub fn dir_a(&self) -> &Path {
        &self.dir_a
    }

    pub fn dir_b(&self) -> &Path {
        &self.dir_b
    }

    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// Which folder a listed file belongs to: `Some(true)` for folder A, `Some(false)` for B.
    pub fn in_folder_a(&self, path: &Path) -> Option<bool> {
        let find = |v: &[PathBuf]| {
            v.binary_search_by(|p| path_bytes(p).cmp(path_bytes(path)))
                .is_ok()
        };
        if find(&self.paths_a) {
            Some(true)
        } else if find(&self.paths_b) {
            Some(false)
        } else {
            None
        }
    }

    /// Upstream's `__getitem__`: the B draw, then load A and B, then transform A and B, all
    /// randomness from `rng`.
    pub fn get<R: Rng + ?Sized>(
        &self,
        index: usize,
        max_pixels: u64,
        rng: &mut R,
    ) -> Result<Item, DataError> {
        let path_a = &self.paths_a[index % self.paths_a.len()];
        let index_b = if self.serial_batches {
            index % self.paths_b.len()
        } else {
            rng.gen_range(0..self.paths_b.len())
        };
        let path_b = &self.paths_b[index_b];
        let img_a = load_image8(path_a, self.transform_a.channels, max_pixels)?;
        let img_b = load_image8(path_b, self.transform_b.channels, max_pixels)?;
        let a = self.transform_a.apply(&img_a, path_a, rng)?;
        let b = self.transform_b.apply(&img_b, path_b, rng)?;
        let (a, b, pa, pb) = match self.direction {
            Direction::AtoB => (a, b, path_a, path_b),
            Direction::BtoA => (b, a, path_b, path_a),
        };
        Ok(Item {
            real_a: a,
            real_b: b,
            path_a: pa.clone(),
            path_b: pb.clone(),
        })
    }
}

/// The two domain folders of `dataroot` for `phase`, official layout first.
pub fn find_domains(dataroot: &Path, phase: &str) -> Result<(PathBuf, PathBuf), DataError> {
    let official = [
        dataroot.join(format!("{phase}A")),
        dataroot.join(format!("{phase}B")),
    ];
    let seed = [
        dataroot.join(phase).join("A"),
        dataroot.join(phase).join("B"),
    ];
    for [a, b] in [&official, &seed] {
        if a.is_dir() && b.is_dir() {
            return Ok((a.clone(), b.clone()));
        }
    }
    let present: Vec<String> = official
        .iter()
        .chain(&seed)
        .filter(|p| p.is_dir())
        .map(|p| format!("`{}`", p.display()))
        .collect();
    let found = if !dataroot.is_dir() {
        format!("; `{}` is not a folder", dataroot.display())
    } else if present.is_empty() {
        String::new()
    } else {
        format!("; found only {}", present.join(", "))
    };
    Err(DataError::Layout {
        dataroot: dataroot.to_path_buf(),
        phase: phase.to_string(),
        found,
    })
}

fn path_bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_encoded_bytes()
}

/// Upstream's `make_dataset`: every image file under `dir` (subfolders too when `recursive`,
/// not following links to folders, as `os.walk`), sorted, at most `max_dataset_size`.
pub fn make_dataset(
    dir: &Path,
    max_dataset_size: usize,
    recursive: bool,
) -> Result<Vec<PathBuf>, DataError> {
    let mut out = Vec::new();
    walk(dir, recursive, &mut out)?;
    out.sort_by(|a, b| path_bytes(a).cmp(path_bytes(b)));
    out.truncate(max_dataset_size);
    Ok(out)
}

fn walk(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DataError::Io { path, source }
    };
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let ty = entry.file_type().map_err(io(&path))?;
        // A link to a folder is listed but not entered (os.walk's followlinks=False).
        let is_dir = ty.is_dir() || (ty.is_symlink() && path.is_dir());
        if is_dir {
            if recursive && ty.is_dir() {
                walk(&path, recursive, out)?;
            }
        } else if is_image_file(&path) {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn write_png(path: &Path, w: u32, h: u32, v: u8) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image::RgbImage::from_fn(w, h, |x, _| image::Rgb([v, x as u8, 255 - v]))
            .save(path)
            .unwrap();
    }

    fn small_opts(root: &Path) -> DatasetOptions {
        DatasetOptions {
            load_size: 12,
            crop_size: 8,
            crop_width: None,
            ..DatasetOptions::new(root)
        }
    }

    #[test]
    fn official_layout() {
        let t = tempfile::tempdir().unwrap();
        for (i, n) in ["b.png", "a.png", "c.png"].iter().enumerate() {
            write_png(&t.path().join("trainA").join(n), 10, 10, i as u8);
        }
        write_png(&t.path().join("trainB/x.png"), 10, 10, 9);
        std::fs::write(t.path().join("trainA/notes.txt"), "not an image").unwrap();
        let ds = UnalignedDataset::new(&small_opts(t.path())).unwrap();
        let names: Vec<_> = ds
            .paths_a()
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["a.png", "b.png", "c.png"]);
        assert_eq!(ds.len(), 3);
        assert_eq!(ds.dir_b(), t.path().join("trainB"));
    }

    #[test]
    fn seed_layout_and_phase() {
        let t = tempfile::tempdir().unwrap();
        write_png(&t.path().join("test/A/1.png"), 10, 10, 1);
        write_png(&t.path().join("test/B/1.png"), 10, 10, 2);
        write_png(&t.path().join("test/B/2.png"), 10, 10, 3);
        let opts = DatasetOptions {
            phase: "test".into(),
            ..small_opts(t.path())
        };
        let ds = UnalignedDataset::new(&opts).unwrap();
        assert_eq!(ds.dir_a(), t.path().join("test/A"));
        assert_eq!(
            (ds.paths_a().len(), ds.paths_b().len(), ds.len()),
            (1, 2, 2)
        );
        // No `train` data there: the error lists both layouts and what was found.
        let e = UnalignedDataset::new(&small_opts(t.path()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`trainA/` and `trainB/`, or `train/A` and `train/B`"),
            "{e}"
        );
        std::fs::create_dir(t.path().join("trainA")).unwrap();
        let e = UnalignedDataset::new(&small_opts(t.path()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("found only") && e.contains("trainA"), "{e}");
    }

    #[test]
    fn empty_domain_names_the_folder() {
        let t = tempfile::tempdir().unwrap();
        write_png(&t.path().join("trainA/1.png"), 10, 10, 1);
        std::fs::create_dir_all(t.path().join("trainB")).unwrap();
        std::fs::write(t.path().join("trainB/readme.md"), "x").unwrap();
        let e = UnalignedDataset::new(&small_opts(t.path())).unwrap_err();
        assert!(
            matches!(&e, DataError::EmptyDomain { dir, .. } if dir.ends_with("trainB")),
            "{e}"
        );
        assert!(e.to_string().contains("no images in `"), "{e}");
    }

    #[test]
    fn recursive_walk_sort_order_and_max_dataset_size() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("trainA");
        for p in ["z.png", "sub/b.png", "sub-x/a.png", "A.PNG"] {
            write_png(&a.join(p), 4, 4, 0);
        }
        let rel = |v: Vec<PathBuf>| -> Vec<String> {
            v.iter()
                .map(|p| p.strip_prefix(&a).unwrap().to_string_lossy().into_owned())
                .collect()
        };
        // Byte order of the whole path, like Python's sorted(): '-' (0x2d) < '/' (0x2f).
        assert_eq!(
            rel(make_dataset(&a, usize::MAX, true).unwrap()),
            ["A.PNG", "sub-x/a.png", "sub/b.png", "z.png"]
        );
        assert_eq!(
            rel(make_dataset(&a, usize::MAX, false).unwrap()),
            ["A.PNG", "z.png"]
        );
        assert_eq!(
            rel(make_dataset(&a, 2, true).unwrap()),
            ["A.PNG", "sub-x/a.png"]
        );
    }

    #[test]
    fn indexing_follows_upstream() {
        let t = tempfile::tempdir().unwrap();
        for i in 0..3 {
            write_png(&t.path().join(format!("trainA/{i}.png")), 12, 12, i);
        }
        for i in 0..5 {
            write_png(&t.path().join(format!("trainB/{i}.png")), 12, 12, 100 + i);
        }
        let serial = DatasetOptions {
            serial_batches: true,
            ..small_opts(t.path())
        };
        let ds = UnalignedDataset::new(&serial).unwrap();
        assert_eq!(ds.len(), 5);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for index in 0..5 {
            let it = ds.get(index, u64::MAX, &mut rng).unwrap();
            assert_eq!(it.path_a, ds.paths_a()[index % 3]);
            assert_eq!(it.path_b, ds.paths_b()[index % 5]);
            assert_eq!(
                (it.real_a.channels, it.real_a.height, it.real_a.width),
                (3, 8, 8)
            );
        }
        // Random B: every B file shows up, A still `index % len_a`.
        let ds = UnalignedDataset::new(&small_opts(t.path())).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for k in 0..200 {
            let it = ds.get(k % 5, u64::MAX, &mut rng).unwrap();
            assert_eq!(it.path_a, ds.paths_a()[(k % 5) % 3]);
            seen.insert(it.path_b);
        }
        assert_eq!(seen.len(), 5);
    }

    #[test]
    fn btoa_swaps_domains_and_channels() {
        let t = tempfile::tempdir().unwrap();
        write_png(&t.path().join("trainA/a.png"), 12, 12, 10);
        write_png(&t.path().join("trainB/b.png"), 12, 12, 200);
        let opts = DatasetOptions {
            direction: Direction::BtoA,
            input_nc: 1,
            output_nc: 3,
            ..small_opts(t.path())
        };
        let ds = UnalignedDataset::new(&opts).unwrap();
        let it = ds
            .get(0, u64::MAX, &mut ChaCha8Rng::seed_from_u64(0))
            .unwrap();
        // The model's A side is folder B, with input_nc = 1 channel.
        assert!(it.path_a.ends_with("trainB/b.png"));
        assert!(it.path_b.ends_with("trainA/a.png"));
        assert_eq!((it.real_a.channels, it.real_b.channels), (1, 3));
        // Folder A's red channel is 10 everywhere: (10/255 - 0.5)/0.5.
        assert!(
            it.real_b.data[..64]
                .iter()
                .all(|&v| v == (10.0f32 / 255.0 - 0.5) / 0.5)
        );
        assert_eq!("BtoA".parse::<Direction>().unwrap(), Direction::BtoA);
        assert!("btoa".parse::<Direction>().is_err());
        let bad = DatasetOptions {
            input_nc: 2,
            ..opts
        };
        assert!(matches!(
            UnalignedDataset::new(&bad),
            Err(DataError::Channels { channels: 2 })
        ));
    }

    #[test]
    fn real_maps_data() {
        let root = crate::testdata::repo("samples/maps");
        let ds = UnalignedDataset::new(&DatasetOptions::new(&root)).unwrap();
        assert!(ds.paths_a().windows(2).all(|w| w[0] < w[1]));
        let it = ds
            .get(
                0,
                super::super::image_io::DEFAULT_MAX_PIXELS,
                &mut ChaCha8Rng::seed_from_u64(1),
            )
            .unwrap();
        assert_eq!(
            (it.real_a.channels, it.real_a.height, it.real_a.width),
            (3, 256, 256)
        );
        assert!(it.real_a.data.iter().all(|v| (-1.0..=1.0).contains(v)));
    }
}
