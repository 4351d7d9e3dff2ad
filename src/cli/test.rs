//! `cyclegan test`: upstream's `test.py` — translate the test split with a trained model's
//! generators and write an HTML page: real / fake / reconstruction rows for CycleGAN, real_A /
//! fake_B / real_B for pix2pix. Images are saved as upstream's `tensor2im` makes them
//! (truncated levels), so they equal its files; the generators run as upstream's test does
//! (see `--eval`). Where a ground truth exists (pix2pix's real_B) each row and the page's head
//! carry fake_B's L1, PSNR and SSIM against it, scored on the saved levels; for CycleGAN the
//! page gives each direction's FID (fake_B against the real B test images, fake_A against the
//! real A ones) where the Inception weights are found, as `cyclegan eval --results` would.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use super::train::ModelKind;
use super::{DeviceArgs, InferenceArgs, UsageError};
use crate::atomic_write::write_atomic;
use crate::checkpoint;
use crate::data::{self, AlignedDataset, DatasetOptions, Direction, Image8, ImageTensor, Quantize};
use crate::inference::{Translator, load_input, test_input};
use crate::metrics::eval::fit_images;
use crate::metrics::inception::Inception;
use crate::metrics::paired::{PairScores, score_pair};
use crate::metrics::stats::{StatsError, frechet_distance};
use crate::metrics::weights::{self, WeightsNotFound};
use crate::train::networks::{G_A, G_B};

/// Which test folders to translate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TestDirection {
    /// testA through G_A (and back through G_B).
    #[value(name = "AtoB")]
    AtoB,
    /// testB through G_B (and back through G_A).
    #[value(name = "BtoA")]
    BtoA,
    /// Both folders that exist.
    Both,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Folder with testA/ (and/or testB/; or test/A, test/B); for pix2pix, test/ holding A|B
    /// pairs (or test/A and test/B with matching file names).
    #[arg(long)]
    pub dataroot: PathBuf,
    /// The model that was trained: cycle_gan or pix2pix.
    #[arg(long, value_enum, default_value_t = ModelKind::CycleGan)]
    pub model: ModelKind,
    /// The experiment name used for training.
    #[arg(long)]
    pub name: String,
    /// Folder the training run saved into (its <name>/ sub-folder holds the checkpoints).
    #[arg(
        long = "checkpoints-dir",
        alias = "checkpoints_dir",
        default_value = "checkpoints"
    )]
    pub checkpoints_dir: PathBuf,
    /// Which checkpoint: `latest` or an epoch number.
    #[arg(long, default_value = "latest")]
    pub epoch: String,
    /// cycle_gan: which test folders to translate, and with which generator (default both).
    /// pix2pix: AtoB (default) translates each pair's left half into its right, BtoA the
    /// reverse.
    #[arg(long, value_enum)]
    pub direction: Option<TestDirection>,
    /// Translate at most this many images per folder.
    #[arg(long = "num-test", alias = "num_test", default_value_t = 50)]
    pub num_test: usize,
    /// Where the pages go: <results-dir>/<name>/<phase>_<epoch>/index.html and images/.
    #[arg(long = "results-dir", alias = "results_dir", default_value = "results")]
    pub results_dir: PathBuf,
    /// Which split of --dataroot to translate: <phase>A/ and <phase>B/.
    #[arg(long, default_value = "test")]
    pub phase: String,
    /// Resize images to N×N first (upstream's test default is 256); without it, native size.
    #[arg(long = "load-size", alias = "load_size")]
    pub load_size: Option<usize>,
    /// Refuse images with more pixels than this (decompression bombs); the default is PIL's.
    #[arg(long = "max-pixels", alias = "max_pixels", default_value_t = data::DEFAULT_MAX_PIXELS)]
    pub max_pixels: u64,
    /// cycle_gan: no FID on the page. Without it each direction's FID is computed when both
    /// test folders are translated and the Inception weights are found (--inception, or
    /// `cyclegan download model inception`); otherwise the page says why it has none.
    #[arg(long = "no-fid", alias = "no_fid")]
    pub no_fid: bool,
    /// FID's Inception weights (default: pt_inception-2015-12-05-6726825d.pth in
    /// --checkpoints-dir).
    #[arg(long)]
    pub inception: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub inference: InferenceArgs,
}

/// One translated test image and where its three pictures went.
struct Row {
    stem: String,
    files: [String; 3],
    /// fake_B scored against real_B, where there is a ground truth (pix2pix).
    scores: Option<PairScores>,
}

pub fn run(args: &TestArgs) -> anyhow::Result<ExitCode> {
    if args.model == ModelKind::Pix2pix {
        return run_pix2pix(args);
    }
    let run_dir = args.checkpoints_dir.join(&args.name);
    let folder = |domain: &str| -> Option<PathBuf> {
        [
            args.dataroot.join(format!("{}{domain}", args.phase)),
            args.dataroot.join(&args.phase).join(domain),
        ]
        .into_iter()
        .find(|p| p.is_dir())
    };
    let wanted: &[(&str, &str, &str)] = match args.direction.unwrap_or(TestDirection::Both) {
        TestDirection::AtoB => &[("A", G_A, G_B)],
        TestDirection::BtoA => &[("B", G_B, G_A)],
        TestDirection::Both => &[("A", G_A, G_B), ("B", G_B, G_A)],
    };
    let jobs: Vec<_> = wanted
        .iter()
        .filter_map(|&(d, fwd, back)| folder(d).map(|f| (d, f, fwd, back)))
        .collect();
    if jobs.is_empty() {
        return Err(UsageError(format!(
            "no {p}A/ or {p}B/ (nor {p}/A, {p}/B) under {}",
            args.dataroot.display(),
            p = args.phase
        ))
        .into());
    }
    let device = args.device.setup()?;
    let out_dir = output_dir(args);
    let images_dir = out_dir.join("images");
    std::fs::create_dir_all(&images_dir)
        .with_context(|| format!("cannot create {}", images_dir.display()))?;

    // FID needs both directions: fake_B is compared with testB's real images.
    let mut fid_note = None;
    let fid_net = if args.no_fid {
        None
    } else if jobs.len() < 2 {
        fid_note = Some("no FID: it needs both test folders translated (--direction both)".into());
        None
    } else {
        match weights::load(args.inception.as_deref(), &args.checkpoints_dir) {
            Ok(net) => Some(net),
            Err(e @ WeightsNotFound::Missing { .. }) => {
                fid_note = Some(format!("no FID: {e}"));
                None
            }
            Err(WeightsNotFound::Load(e)) => return Err(e.into()),
        }
    };
    // Each section's (real, fake) levels as saved, kept for FID.
    let mut saved: Vec<(Vec<Image8>, Vec<Image8>)> = Vec::new();
    let mut sections = Vec::new();
    let mut failed = 0;
    for (domain, folder, fwd, back) in jobs {
        let other = if domain == "A" { "B" } else { "A" };
        let load = |net: &str| load_translator(&run_dir, args, net, &device);
        let (forward, backward) = (load(fwd)?, load(back)?);
        let files = data::dataset::make_dataset(&folder, args.num_test, false)?;
        let bar = progress(files.len(), &format!("{}{domain}", args.phase));
        let mut rows = Vec::new();
        let (mut reals, mut fakes) = (Vec::new(), Vec::new());
        args.inference.seed_dropout();
        for file in &files {
            bar.inc(1);
            let real = match load_input(
                file,
                forward.config().input_nc(),
                args.max_pixels,
                args.load_size,
            ) {
                Ok(img) => img,
                Err(e) => {
                    bar.suspend(|| eprintln!("warning: skipped {e}"));
                    failed += 1;
                    continue;
                }
            };
            let fake = forward.translate(&real);
            let rec = backward.translate(&fake);
            let stem = file
                .file_stem()
                .map_or_else(|| "image".into(), |s| s.to_string_lossy().into_owned());
            let names = [
                format!("{stem}_real_{domain}.png"),
                format!("{stem}_fake_{other}.png"),
                format!("{stem}_rec_{domain}.png"),
            ];
            let levels = [levels(&real)?, levels(&fake)?, levels(&rec)?];
            for (name, image) in names.iter().zip(&levels) {
                save(&images_dir.join(name), image)?;
            }
            if fid_net.is_some() {
                let [real, fake, _] = levels;
                reals.push(real);
                fakes.push(fake);
            }
            rows.push(Row {
                stem,
                files: names,
                scores: None,
            });
        }
        bar.finish_and_clear();
        saved.push((reals, fakes));
        sections.push(Section {
            title: format!("{}{domain}", args.phase),
            headers: match domain {
                "A" => ["real_A", "fake_B", "rec_A"],
                _ => ["real_B", "fake_A", "rec_B"],
            },
            rows,
            note: fid_note.clone(),
        });
    }
    if let Some(net) = &fid_net {
        // Section 0 translated A into B: its fakes against section 1's reals, and back.
        let titles: Vec<String> = sections.iter().map(|s| s.title.clone()).collect();
        for (i, section) in sections.iter_mut().enumerate() {
            let other = 1 - i;
            let fake_name = section.headers[1];
            let (reals, fakes) = (&saved[other].0, &saved[i].1);
            section.note = Some(match fid(net, reals, fakes) {
                Ok(v) => format!(
                    "FID of {fake_name} against the real images of {} ({} against {} images, \
                     pytorch-fid preprocessing): {v:.4}",
                    titles[other],
                    fakes.len(),
                    reals.len()
                ),
                Err(e) => format!("no FID for {fake_name}: {e}"),
            });
        }
    }
    finish(args, &out_dir, &sections, failed)
}

/// FID of `fakes` against `reals` as `cyclegan eval` computes it.
fn fid(net: &Inception, reals: &[Image8], fakes: &[Image8]) -> Result<f64, StatsError> {
    frechet_distance(
        &fit_images(net, reals, "the real set")?,
        &fit_images(net, fakes, "the fake set")?,
    )
}

/// A generator of the run, in the mode `--eval` / `--no-dropout` ask for.
fn load_translator(
    run_dir: &Path,
    args: &TestArgs,
    net: &str,
    device: &burn::tensor::Device,
) -> anyhow::Result<Translator> {
    let path = find_checkpoint(run_dir, &args.epoch, net)?;
    let (config, generator) =
        checkpoint::load_generator_with_dropout(&path, device, args.inference.dropout())?;
    Ok(Translator::new(config, generator, device.clone()).with_mode(args.inference.mode()))
}

/// pix2pix's test: each pair's real_A through G, beside its real_B.
fn run_pix2pix(args: &TestArgs) -> anyhow::Result<ExitCode> {
    let direction = match args.direction.unwrap_or(TestDirection::AtoB) {
        TestDirection::AtoB => Direction::AtoB,
        TestDirection::BtoA => Direction::BtoA,
        TestDirection::Both => {
            return Err(UsageError(
                "--direction both is for cycle_gan's two generators; pix2pix has one: use AtoB or BtoA (the direction it was trained in)".into(),
            )
            .into());
        }
    };
    let run_dir = args.checkpoints_dir.join(&args.name);
    let device = args.device.setup()?;
    let g = load_translator(&run_dir, args, "G", &device)?;
    let pairs = AlignedDataset::new(&DatasetOptions {
        phase: args.phase.clone(),
        direction,
        input_nc: g.config().input_nc(),
        output_nc: g.config().output_nc(),
        max_dataset_size: args.num_test,
        recursive: false,
        ..DatasetOptions::new(&args.dataroot)
    })?;
    let out_dir = output_dir(args);
    let images_dir = out_dir.join("images");
    std::fs::create_dir_all(&images_dir)
        .with_context(|| format!("cannot create {}", images_dir.display()))?;
    let bar = progress(pairs.len(), &args.phase);
    let mut rows = Vec::new();
    let mut failed = 0;
    args.inference.seed_dropout();
    for index in 0..pairs.len() {
        bar.inc(1);
        let (real_a, real_b, path, _) = match pairs.load_pair(index, args.max_pixels) {
            Ok(pair) => pair,
            Err(e) => {
                bar.suspend(|| eprintln!("warning: skipped {e}"));
                failed += 1;
                continue;
            }
        };
        // Upstream's test resizes each half to load_size² (its default 256) and crops nothing.
        let real_a = test_input(&real_a, args.load_size);
        let real_b = test_input(&real_b, args.load_size);
        let fake_b = g.translate(&real_a);
        let stem = path
            .file_stem()
            .map_or_else(|| "image".into(), |s| s.to_string_lossy().into_owned());
        let names = [
            format!("{stem}_real_A.png"),
            format!("{stem}_fake_B.png"),
            format!("{stem}_real_B.png"),
        ];
        let [real_a, fake_b, real_b] = [levels(&real_a)?, levels(&fake_b)?, levels(&real_b)?];
        for (name, image) in names.iter().zip([&real_a, &fake_b, &real_b]) {
            save(&images_dir.join(name), image)?;
        }
        // Scored as saved, so `cyclegan eval --results` on this folder gives the same numbers.
        let scores =
            score_pair(&fake_b, &real_b).with_context(|| format!("scoring {}", path.display()))?;
        rows.push(Row {
            stem,
            files: names,
            scores: Some(scores),
        });
    }
    bar.finish_and_clear();
    let sections = vec![Section {
        title: args.phase.clone(),
        headers: ["real_A", "fake_B", "real_B"],
        rows,
        note: None,
    }];
    finish(args, &out_dir, &sections, failed)
}

fn output_dir(args: &TestArgs) -> PathBuf {
    args.results_dir
        .join(&args.name)
        .join(format!("{}_{}", args.phase, args.epoch))
}

fn progress(len: usize, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64).with_style(
        ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(message.to_string());
    bar
}

/// Writes the page and says what was done.
fn finish(
    args: &TestArgs,
    out_dir: &Path,
    sections: &[Section],
    failed: usize,
) -> anyhow::Result<ExitCode> {
    let html = page(&args.name, &args.epoch, sections);
    // A note every section shares (why there is no FID) is said once.
    let notes: Vec<(&str, &str)> = sections
        .iter()
        .filter_map(|s| s.note.as_deref().map(|n| (s.title.as_str(), n)))
        .collect();
    if notes.len() > 1 && notes.windows(2).all(|w| w[0].1 == w[1].1) {
        eprintln!("{}", notes[0].1);
    } else {
        for (title, note) in notes {
            eprintln!("{title}: {note}");
        }
    }
    for section in sections {
        if let Some(mean) = mean_scores(&section.rows) {
            eprintln!(
                "{}: fake_B against real_B over {} pair(s): L1 {:.2} levels, PSNR {:.2} dB, SSIM {:.4}",
                section.title,
                section.rows.len(),
                mean.l1,
                mean.psnr,
                mean.ssim
            );
        }
    }
    write_atomic(&out_dir.join("index.html"), html.as_bytes())
        .with_context(|| format!("cannot write {}", out_dir.join("index.html").display()))?;
    let n: usize = sections.iter().map(|s| s.rows.len()).sum();
    eprintln!(
        "wrote {n} result row(s) to {}",
        out_dir.join("index.html").display()
    );
    if failed > 0 {
        eprintln!("{failed} file(s) could not be read; see the warnings above");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The rows' mean scores, where every row has them.
fn mean_scores(rows: &[Row]) -> Option<PairScores> {
    let scores: Vec<PairScores> = rows.iter().map(|r| r.scores).collect::<Option<_>>()?;
    PairScores::mean(&scores)
}

/// The levels upstream's `tensor2im` saves (truncated; one channel tiled to RGB).
fn levels(image: &ImageTensor) -> anyhow::Result<Image8> {
    data::to_levels(image, Quantize::Upstream).map_err(anyhow::Error::msg)
}

fn save(path: &Path, levels: &Image8) -> anyhow::Result<()> {
    data::save_levels(path, levels).with_context(|| format!("cannot write {}", path.display()))
}

/// One table of the page: a folder's rows under their column names.
struct Section {
    title: String,
    headers: [&'static str; 3],
    rows: Vec<Row>,
    /// A line above the table (the section's FID, or why there is none).
    note: Option<String>,
}

/// `<epoch>_net_<NET>.safetensors`, or upstream's `.pth`.
fn find_checkpoint(run_dir: &Path, epoch: &str, net: &str) -> anyhow::Result<PathBuf> {
    ["safetensors", "pth"]
        .iter()
        .map(|ext| run_dir.join(format!("{epoch}_net_{net}.{ext}")))
        .find(|p| p.exists())
        .ok_or_else(|| {
            UsageError(format!(
                "no {epoch}_net_{net}.safetensors or .pth in {} (train first, or check --name/--epoch/--checkpoints-dir)",
                run_dir.display()
            ))
            .into()
        })
}

fn page(name: &str, epoch: &str, sections: &[Section]) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{0} test {1}</title>\n\
         <style>body{{font-family:sans-serif;margin:2em}} td{{text-align:center;padding:4px}} img{{width:256px}}</style>\n\
         </head><body>\n<h1>Experiment {0}, epoch {1}</h1>\n",
        esc(name),
        esc(epoch)
    );
    for section in sections {
        let [h0, h1, h2] = section.headers;
        let mean = mean_scores(&section.rows);
        let metrics_header = if mean.is_some() {
            "<th>L1 (levels)</th><th>PSNR (dB)</th><th>SSIM</th>"
        } else {
            ""
        };
        let _ = writeln!(
            html,
            "<h2>{}</h2>\n<table>\n<tr><th>image</th><th>{h0}</th><th>{h1}</th><th>{h2}</th>{metrics_header}</tr>",
            esc(&section.title)
        );
        if let Some(note) = &section.note {
            let _ = writeln!(
                html,
                "<tr><td colspan=\"4\" class=\"note\">{}</td></tr>",
                esc(note)
            );
        }
        let cells = |s: &PairScores| {
            format!(
                "<td>{:.2}</td><td>{:.2}</td><td>{:.4}</td>",
                s.l1, s.psnr, s.ssim
            )
        };
        if let Some(mean) = &mean {
            let _ = writeln!(
                html,
                "<tr class=\"mean\"><td>mean of {}</td><td colspan=\"3\">fake_B against real_B</td>{}</tr>",
                section.rows.len(),
                cells(mean)
            );
        }
        for row in &section.rows {
            let _ = write!(html, "<tr><td>{}</td>", esc(&row.stem));
            for f in &row.files {
                let _ = write!(
                    html,
                    "<td><img src=\"images/{0}\" alt=\"{0}\"><br>{0}</td>",
                    esc(f)
                );
            }
            if let Some(s) = &row.scores {
                html.push_str(&cells(s));
            }
            html.push_str("</tr>\n");
        }
        html.push_str("</table>\n");
    }
    html.push_str("</body></html>\n");
    html
}
