//! `cyclegan test`: upstream's `test.py` for CycleGAN — translate the test split with a trained
//! model's generators and write an HTML page of real / fake / reconstruction rows.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use super::{DeviceArgs, UsageError};
use crate::atomic_write::write_atomic;
use crate::checkpoint;
use crate::data::{self, ImageTensor};
use crate::inference::{Translator, load_input};
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
    /// Folder with testA/ (and/or testB/; or test/A, test/B).
    #[arg(long)]
    pub dataroot: PathBuf,
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
    /// Which test folders to translate, and with which generator.
    #[arg(long, value_enum, default_value_t = TestDirection::Both)]
    pub direction: TestDirection,
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
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// One translated test image and where its three pictures went.
struct Row {
    stem: String,
    files: [String; 3],
}

pub fn run(args: &TestArgs) -> anyhow::Result<ExitCode> {
    let run_dir = args.checkpoints_dir.join(&args.name);
    let folder = |domain: &str| -> Option<PathBuf> {
        [
            args.dataroot.join(format!("{}{domain}", args.phase)),
            args.dataroot.join(&args.phase).join(domain),
        ]
        .into_iter()
        .find(|p| p.is_dir())
    };
    let wanted: &[(&str, &str, &str)] = match args.direction {
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
    let out_dir = args
        .results_dir
        .join(&args.name)
        .join(format!("{}_{}", args.phase, args.epoch));
    let images_dir = out_dir.join("images");
    std::fs::create_dir_all(&images_dir)
        .with_context(|| format!("cannot create {}", images_dir.display()))?;

    let mut sections = Vec::new();
    let mut failed = 0;
    for (domain, folder, fwd, back) in jobs {
        let other = if domain == "A" { "B" } else { "A" };
        let load = |net: &str| -> anyhow::Result<Translator> {
            let path = find_checkpoint(&run_dir, &args.epoch, net)?;
            let (config, generator) = checkpoint::load_generator(&path, &device)?;
            Ok(Translator::new(config, generator, device.clone()))
        };
        let (forward, backward) = (load(fwd)?, load(back)?);
        let files = data::dataset::make_dataset(&folder, args.num_test, false)?;
        let bar = ProgressBar::new(files.len() as u64).with_style(
            ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(format!("test{domain}"));
        let mut rows = Vec::new();
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
            for (name, image) in names.iter().zip([&real, &fake, &rec]) {
                save(&images_dir.join(name), image)?;
            }
            rows.push(Row { stem, files: names });
        }
        bar.finish_and_clear();
        sections.push((domain, other, rows));
    }
    let html = page(&args.name, &args.epoch, &sections);
    write_atomic(&out_dir.join("index.html"), html.as_bytes())
        .with_context(|| format!("cannot write {}", out_dir.join("index.html").display()))?;
    let n: usize = sections.iter().map(|s| s.2.len()).sum();
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

fn save(path: &Path, image: &ImageTensor) -> anyhow::Result<()> {
    data::save_png(path, image).with_context(|| format!("cannot write {}", path.display()))
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

fn page(name: &str, epoch: &str, sections: &[(&str, &str, Vec<Row>)]) -> String {
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
    for (domain, other, rows) in sections {
        let _ = writeln!(
            html,
            "<h2>test{domain}</h2>\n<table>\n<tr><th>image</th><th>real_{domain}</th><th>fake_{other}</th><th>rec_{domain}</th></tr>"
        );
        for row in rows {
            let _ = write!(html, "<tr><td>{}</td>", esc(&row.stem));
            for f in &row.files {
                let _ = write!(
                    html,
                    "<td><img src=\"images/{0}\" alt=\"{0}\"><br>{0}</td>",
                    esc(f)
                );
            }
            html.push_str("</tr>\n");
        }
        html.push_str("</table>\n");
    }
    html.push_str("</body></html>\n");
    html
}
