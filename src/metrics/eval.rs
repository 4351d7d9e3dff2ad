//! Scoring a folder of generated images against a folder of real ones: which files take part
//! (image sets from a folder or a glob, pairs matched by file stem), Inception features of a
//! set, and the report of every metric asked for.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::data::{Image8, is_image_file, load_image8};
use crate::ops::profile::timed;

use super::inception::{FEATURE_DIM, Inception};
use super::paired::score_pair;
use super::preprocess::{FidMode, network_input};
use super::stats::{
    Features, Gaussian, KidConfig, StatsError, fit_gaussian, frechet_distance, kid,
};

/// A file that took no part, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// The files of one set: a folder's regular files (not its sub-folders, nor hidden files), or
/// the files a glob pattern matches, sorted. Files without an image extension are skipped and
/// reported, as broken images are when read.
#[derive(Clone, Debug, Default)]
pub struct ImageSet {
    pub source: String,
    pub files: Vec<PathBuf>,
    pub skipped: Vec<Skipped>,
}

/// Why a set cannot be listed.
#[derive(Debug, thiserror::Error)]
pub enum SetError {
    #[error("{0} is neither a folder nor a glob pattern that matches files")]
    NoMatch(String),
    #[error("invalid glob pattern {pattern}: {reason}")]
    BadPattern { pattern: String, reason: String },
    #[error("cannot list {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ImageSet {
    /// Lists a folder or a glob pattern (`'out/*_fake_B.png'`).
    pub fn list(spec: &str) -> Result<Self, SetError> {
        let path = Path::new(spec);
        let mut candidates: Vec<PathBuf> = if path.is_dir() {
            std::fs::read_dir(path)
                .map_err(|source| SetError::Io {
                    path: path.into(),
                    source,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .filter(|p| {
                    !p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with('.'))
                })
                .collect()
        } else {
            // As a shell: `*` does not match a leading dot.
            let options = glob::MatchOptions {
                require_literal_leading_dot: true,
                ..glob::MatchOptions::new()
            };
            let paths = glob::glob_with(spec, options).map_err(|e| SetError::BadPattern {
                pattern: spec.into(),
                reason: e.to_string(),
            })?;
            let found: Vec<PathBuf> = paths
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect();
            if found.is_empty() {
                return Err(SetError::NoMatch(spec.into()));
            }
            found
        };
        candidates.sort();
        let (files, others): (Vec<_>, Vec<_>) =
            candidates.into_iter().partition(|p| is_image_file(p));
        Ok(Self {
            source: spec.into(),
            files,
            skipped: others
                .into_iter()
                .map(|path| Skipped {
                    path,
                    reason: "not an image file (by its extension)".into(),
                })
                .collect(),
        })
    }

    /// The files of `folder` whose stem ends in `suffix` (a `cyclegan test` images folder).
    pub fn with_suffix(folder: &Path, suffix: &str) -> Result<Self, SetError> {
        let mut set = Self::list(&folder.to_string_lossy())?;
        set.files.retain(|p| stem(p).ends_with(suffix));
        set.skipped.clear();
        set.source = format!("{}/*{suffix}.*", folder.display());
        Ok(set)
    }
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The key a file pairs by: its stem without a trailing `_fake_A`/`_fake_B`/`_real_A`/`_real_B`
/// (what `cyclegan test` appends), so `1_fake_B.png` and `1.png` pair with `1.jpg` or
/// `1_real_B.png`.
pub fn pair_key(p: &Path) -> String {
    let s = stem(p);
    for suffix in ["_fake_A", "_fake_B", "_real_A", "_real_B"] {
        if let Some(k) = s.strip_suffix(suffix) {
            return k.to_string();
        }
    }
    s
}

/// Fake files matched to real ones by [`pair_key`]; which files of either side had no partner.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pairs {
    pub pairs: Vec<(PathBuf, PathBuf)>,
    pub fake_without_real: Vec<PathBuf>,
    pub real_without_fake: Vec<PathBuf>,
}

pub fn match_pairs(real: &[PathBuf], fake: &[PathBuf]) -> Pairs {
    let mut by_key: BTreeMap<String, &PathBuf> = BTreeMap::new();
    for r in real {
        by_key.entry(pair_key(r)).or_insert(r);
    }
    let mut out = Pairs::default();
    let mut used = std::collections::BTreeSet::new();
    for f in fake {
        let key = pair_key(f);
        match by_key.get(&key) {
            Some(r) => {
                out.pairs.push(((*r).clone(), f.clone()));
                used.insert(key);
            }
            None => out.fake_without_real.push(f.clone()),
        }
    }
    out.real_without_fake = real
        .iter()
        .filter(|r| !used.contains(&pair_key(r)))
        .cloned()
        .collect();
    out
}

/// Inception features of `files`, read `batch` at a time (the reads in parallel, the network
/// on the batch); files that cannot be read are skipped and returned with the reason.
/// `progress` is called with the number of files done after each batch.
pub fn features(
    net: &Inception,
    files: &[PathBuf],
    mode: FidMode,
    batch: usize,
    max_pixels: u64,
    progress: &(dyn Fn(usize) + Sync),
) -> (Features, Vec<Skipped>) {
    let mut out = Features::new(FEATURE_DIM);
    let mut skipped = Vec::new();
    for chunk in files.chunks(batch.max(1)) {
        let images: Vec<Result<Image8, Skipped>> = timed(
            || "input decode".into(),
            || {
                chunk
                    .par_iter()
                    .map(|p| {
                        load_image8(p, 3, max_pixels).map_err(|e| Skipped {
                            path: p.clone(),
                            reason: e.to_string(),
                        })
                    })
                    .collect()
            },
        );
        let mut read = Vec::with_capacity(images.len());
        for r in images {
            match r {
                Ok(img) => read.push(img),
                Err(s) => skipped.push(s),
            }
        }
        out.data
            .extend(image_features(net, &read, mode, read.len()).data);
        progress(chunk.len());
    }
    (out, skipped)
}

/// `cyclegan eval`'s Inception batch, also where FID is computed in passing (test, train).
pub const DEFAULT_BATCH: usize = 16;

/// The Gaussian of RGB images' Inception features with pytorch-fid's preprocessing, as
/// `cyclegan eval` fits a folder's; `what` names the set in errors.
pub fn fit_images(net: &Inception, images: &[Image8], what: &str) -> Result<Gaussian, StatsError> {
    fit_gaussian(
        &image_features(net, images, FidMode::PytorchFid, DEFAULT_BATCH),
        what,
    )
}

/// Inception features of RGB images in memory, `batch` at a time (each batch's inputs prepared
/// in parallel).
pub fn image_features(net: &Inception, images: &[Image8], mode: FidMode, batch: usize) -> Features {
    let mut out = Features::new(FEATURE_DIM);
    for chunk in images.chunks(batch.max(1)) {
        let inputs: Vec<Vec<f32>> = timed(
            || "input resize".into(),
            || {
                chunk
                    .par_iter()
                    .map(|img| network_input(img, mode))
                    .collect()
            },
        );
        out.data.extend(net.features(inputs.concat(), chunk.len()));
    }
    out
}

/// Mean L1, PSNR and SSIM over pairs (real, fake); pairs whose files cannot be read or differ
/// in size are skipped with the reason.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PairedMeans {
    pub pairs: usize,
    pub l1: f64,
    pub psnr: f64,
    pub ssim: f64,
}

pub fn paired_means(
    pairs: &[(PathBuf, PathBuf)],
    max_pixels: u64,
) -> (Option<PairedMeans>, Vec<Skipped>) {
    let results: Vec<Result<super::PairScores, Skipped>> = pairs
        .par_iter()
        .map(|(r, f)| {
            let load = |p: &PathBuf| -> Result<Image8, Skipped> {
                load_image8(p, 3, max_pixels).map_err(|e| Skipped {
                    path: p.clone(),
                    reason: e.to_string(),
                })
            };
            let (ri, fi) = (load(r)?, load(f)?);
            score_pair(&fi, &ri).map_err(|e| Skipped {
                path: f.clone(),
                reason: format!("against {}: {e}", r.display()),
            })
        })
        .collect();
    let mut skipped = Vec::new();
    let mut scores = Vec::with_capacity(results.len());
    for r in results {
        match r {
            Ok(s) => scores.push(s),
            Err(s) => skipped.push(s),
        }
    }
    let means = super::PairScores::mean(&scores).map(|m| PairedMeans {
        pairs: scores.len(),
        l1: m.l1,
        psnr: m.psnr,
        ssim: m.ssim,
    });
    (means, skipped)
}

/// The metrics `cyclegan eval` can compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Fréchet inception distance between the two sets (lower is better).
    Fid,
    /// Kernel inception distance between the two sets, mean ± std over subsets.
    Kid,
    /// Mean absolute difference of paired images, in 8-bit levels.
    L1,
    /// Peak signal-to-noise ratio of paired images, in dB.
    Psnr,
    /// Structural similarity of paired images.
    Ssim,
}

impl Metric {
    pub const ALL: [Metric; 5] = [
        Metric::Fid,
        Metric::Kid,
        Metric::L1,
        Metric::Psnr,
        Metric::Ssim,
    ];

    pub fn is_paired(self) -> bool {
        matches!(self, Metric::L1 | Metric::Psnr | Metric::Ssim)
    }
}

/// How to evaluate.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    pub metrics: Vec<Metric>,
    pub mode: FidMode,
    pub batch: usize,
    pub max_pixels: u64,
    pub kid: KidConfig,
}

/// One set as it took part.
#[derive(Clone, Debug, Serialize)]
pub struct SetReport {
    pub source: String,
    /// Images read (files listed minus those skipped).
    pub images: usize,
    pub skipped: Vec<Skipped>,
}

/// Everything `cyclegan eval` reports for one real/fake comparison. Absent metrics were not
/// asked for (or, for paired ones, no pair was found).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub real: SetReport,
    pub fake: SetReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fid: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fid_mode: Option<FidMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid_mean: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid_std: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid_subset_size: Option<usize>,
    /// Pairs scored (present when a paired metric was asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pairs: Option<usize>,
    pub fakes_without_pair: Vec<PathBuf>,
    pub reals_without_pair: Vec<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l1: Option<f64>,
    /// Mean over pairs; JSON `null` when a pair is identical (infinite PSNR).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psnr: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssim: Option<f64>,
}

impl Report {
    /// Files that could not be used, on either side.
    pub fn skipped(&self) -> usize {
        self.real.skipped.len() + self.fake.skipped.len()
    }
}

/// Computes `options.metrics` of `fake` against `real`. `net` is needed for FID and KID.
/// `progress(n)` is told of each `n` images done (2 × the sets' files for FID/KID).
pub fn evaluate(
    real: &ImageSet,
    fake: &ImageSet,
    net: Option<&Inception>,
    options: &EvalOptions,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Report, StatsError> {
    let wants = |m: Metric| options.metrics.contains(&m);
    let mut report = Report {
        real: SetReport {
            source: real.source.clone(),
            images: real.files.len(),
            skipped: real.skipped.clone(),
        },
        fake: SetReport {
            source: fake.source.clone(),
            images: fake.files.len(),
            skipped: fake.skipped.clone(),
        },
        fid: None,
        fid_mode: None,
        kid_mean: None,
        kid_std: None,
        kid_subset_size: None,
        pairs: None,
        fakes_without_pair: Vec::new(),
        reals_without_pair: Vec::new(),
        l1: None,
        psnr: None,
        ssim: None,
    };
    if wants(Metric::Fid) || wants(Metric::Kid) {
        let net = net.expect("the caller loads the network for FID and KID");
        let run = |files: &[PathBuf]| {
            features(
                net,
                files,
                options.mode,
                options.batch,
                options.max_pixels,
                progress,
            )
        };
        let (fr, skipped_r) = run(&real.files);
        let (ff, skipped_f) = run(&fake.files);
        report.real.skipped.extend(skipped_r);
        report.fake.skipped.extend(skipped_f);
        if wants(Metric::Fid) {
            let g_real = fit_gaussian(&fr, "the real set")?;
            let g_fake = fit_gaussian(&ff, "the fake set")?;
            report.fid = Some(frechet_distance(&g_real, &g_fake)?);
            report.fid_mode = Some(options.mode);
        }
        if wants(Metric::Kid) {
            let k = kid(&fr, &ff, options.kid)?;
            report.kid_mean = Some(k.mean);
            report.kid_std = Some(k.std);
            report.kid_subset_size = Some(k.subset_size);
        }
    } else {
        for (set, what) in [(real, "the real set"), (fake, "the fake set")] {
            if set.files.is_empty() {
                return Err(StatsError::TooFew {
                    what: what.into(),
                    n: 0,
                });
            }
        }
    }
    if options.metrics.iter().any(|m| m.is_paired()) {
        let m = match_pairs(&real.files, &fake.files);
        let (means, skipped) = paired_means(&m.pairs, options.max_pixels);
        report.pairs = Some(means.as_ref().map_or(0, |p| p.pairs));
        report.fakes_without_pair = m.fake_without_real;
        report.reals_without_pair = m.real_without_fake;
        for s in skipped {
            // A file FID already skipped is reported once.
            let side = if m.pairs.iter().any(|(r, _)| *r == s.path) {
                &mut report.real
            } else {
                &mut report.fake
            };
            if !side.skipped.iter().any(|k| k.path == s.path) {
                side.skipped.push(s);
            }
        }
        if let Some(p) = means {
            report.l1 = wants(Metric::L1).then_some(p.l1);
            report.psnr = wants(Metric::Psnr).then_some(p.psnr);
            report.ssim = wants(Metric::Ssim).then_some(p.ssim);
        }
    }
    let read = |set: &ImageSet, side: &SetReport| {
        set.files.len()
            - side
                .skipped
                .iter()
                .filter(|s| set.files.contains(&s.path))
                .count()
    };
    report.real.images = read(real, &report.real);
    report.fake.images = read(fake, &report.fake);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_keys_strip_what_cyclegan_test_appends() {
        let k = |s: &str| pair_key(Path::new(s));
        assert_eq!(k("out/12_fake_B.png"), "12");
        assert_eq!(k("out/12.png"), "12");
        assert_eq!(k("real/12_real_B.png"), "12");
        assert_eq!(k("real/12.jpg"), "12");
        // Only a trailing suffix, once.
        assert_eq!(k("a_fake_B_x.png"), "a_fake_B_x");
    }

    #[test]
    fn pairs_report_both_sides_unmatched() {
        let p = |v: &[&str]| v.iter().map(PathBuf::from).collect::<Vec<_>>();
        let real = p(&["r/1.jpg", "r/2.jpg", "r/3.jpg"]);
        let fake = p(&["f/1_fake_B.png", "f/3.png", "f/9_fake_B.png"]);
        let m = match_pairs(&real, &fake);
        assert_eq!(
            m.pairs,
            vec![
                (PathBuf::from("r/1.jpg"), PathBuf::from("f/1_fake_B.png")),
                (PathBuf::from("r/3.jpg"), PathBuf::from("f/3.png")),
            ]
        );
        assert_eq!(m.fake_without_real, p(&["f/9_fake_B.png"]));
        assert_eq!(m.real_without_fake, p(&["r/2.jpg"]));
    }

    #[test]
    fn a_folder_lists_images_and_reports_other_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.png", "a.jpg", "notes.txt", ".hidden.png"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub.png")).unwrap();
        let set = ImageSet::list(&dir.path().to_string_lossy()).unwrap();
        let names: Vec<String> = set.files.iter().map(|p| stem(p)).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(set.skipped.len(), 1);
        assert!(set.skipped[0].path.ends_with("notes.txt"));
        let glob = format!("{}/*.png", dir.path().display());
        assert_eq!(ImageSet::list(&glob).unwrap().files.len(), 1);
        assert!(matches!(
            ImageSet::list(&format!("{}/*.gif", dir.path().display())),
            Err(SetError::NoMatch(_))
        ));
    }
}
