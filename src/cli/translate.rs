//! `cyclegan translate`: images in, translated PNGs out, with any generator checkpoint. Outputs
//! are `round((y + 1) / 2 · 255)`; `cyclegan test` truncates instead, as upstream's `tensor2im`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::{DeviceArgs, InferenceArgs, UsageError};
use crate::checkpoint;
use crate::data::{self, ImageTensor};
use crate::inference::{Translator, group_by_size, load_input};
use crate::model::NetG;

#[derive(Debug, Args)]
pub struct TranslateArgs {
    /// Image files, folders (their images) or glob patterns.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// Generator checkpoint: an official or third-party PyTorch .pth, or a .safetensors.
    #[arg(long, short = 'w')]
    pub weights: PathBuf,
    /// Output folder; each input becomes `<out>/<input stem>.png`.
    #[arg(long, short = 'o', default_value = "translated")]
    pub out: PathBuf,
    /// Generator architecture; `auto` detects it from the checkpoint, anything else is checked
    /// against what the checkpoint holds.
    #[arg(long = "netG", alias = "netg", default_value = "auto")]
    pub net_g: String,
    /// Descend into sub-folders of folder inputs.
    #[arg(long)]
    pub recursive: bool,
    /// Resize each image to N×N (bicubic, as upstream's test-time preprocessing) before
    /// translating; without it images keep their size.
    #[arg(long = "load-size", alias = "load_size")]
    pub load_size: Option<usize>,
    /// Images of equal size translated together.
    #[arg(long = "batch-size", alias = "batch_size", default_value_t = 1)]
    pub batch_size: usize,
    /// Refuse images with more pixels than this (decompression bombs); the default is PIL's.
    #[arg(long = "max-pixels", alias = "max_pixels", default_value_t = data::DEFAULT_MAX_PIXELS)]
    pub max_pixels: u64,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub inference: InferenceArgs,
}

pub fn run(args: &TranslateArgs) -> anyhow::Result<ExitCode> {
    let expected: Option<NetG> = match args.net_g.as_str() {
        "auto" => None,
        name => Some(name.parse().map_err(UsageError)?),
    };
    let inputs = collect_inputs(&args.inputs, args.recursive)?;
    let device = args.device.setup()?;
    let (config, generator) =
        checkpoint::load_generator_with_dropout(&args.weights, &device, args.inference.dropout())?;
    if let Some(netg) = expected
        && netg != config.netg()
    {
        return Err(UsageError(format!(
            "{} holds {}, but --netG asked for {netg}; pass --netG auto to use what it holds",
            args.weights.display(),
            config.netg()
        ))
        .into());
    }
    let translator = Translator::new(config, generator, device).with_mode(args.inference.mode());
    args.inference.seed_dropout();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create output folder {}", args.out.display()))?;

    let progress = if inputs.len() > 1 {
        ProgressBar::new(inputs.len() as u64).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} eta {eta} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    } else {
        ProgressBar::hidden()
    };
    let (in_nc, out_nc) = (
        translator.config().input_nc(),
        translator.config().output_nc(),
    );
    let mut failed = 0usize;
    let stems = unique_stems(&inputs);
    // Decode a batch-worth of files at a time so memory stays flat on large folders.
    for chunk in (0..inputs.len())
        .collect::<Vec<_>>()
        .chunks(args.batch_size.max(1) * 8)
    {
        let mut loaded: Vec<(usize, ImageTensor)> = Vec::new();
        for &i in chunk {
            match load_input(&inputs[i], in_nc, args.max_pixels, args.load_size) {
                Ok(img) => loaded.push((i, img)),
                Err(e) => {
                    progress.suspend(|| eprintln!("warning: skipped {e}"));
                    failed += 1;
                    progress.inc(1);
                }
            }
        }
        let sizes: Vec<_> = loaded
            .iter()
            .map(|(_, t)| (t.channels, t.height, t.width))
            .collect();
        for group in group_by_size(&sizes, args.batch_size) {
            let batch: Vec<&ImageTensor> = group.iter().map(|&g| &loaded[g].1).collect();
            let outputs = translator.translate_batch(&batch);
            for (&g, output) in group.iter().zip(outputs) {
                let index = loaded[g].0;
                assert_eq!(output.channels, out_nc);
                let dest = args.out.join(format!("{}.png", stems[index]));
                if let Err(e) = data::save_png(&dest, &output) {
                    progress
                        .suspend(|| eprintln!("warning: could not write {}: {e}", dest.display()));
                    failed += 1;
                }
                progress.inc(1);
            }
        }
    }
    progress.finish_and_clear();
    let written = inputs.len() - failed;
    eprintln!(
        "translated {written} of {} images into {}",
        inputs.len(),
        args.out.display()
    );
    if failed > 0 {
        eprintln!("{failed} file(s) failed; see the warnings above");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Expands files, folders and globs into a sorted, de-duplicated list of image files.
fn collect_inputs(inputs: &[String], recursive: bool) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = BTreeSet::new();
    for input in inputs {
        let path = Path::new(input);
        if path.is_dir() {
            let images = data::dataset::make_dataset(path, usize::MAX, recursive)?;
            if images.is_empty() {
                return Err(UsageError(format!(
                    "no images in folder {} (supported: {}{})",
                    path.display(),
                    data::image_io::extension_list(),
                    if recursive {
                        ""
                    } else {
                        "; add --recursive to descend into sub-folders"
                    }
                ))
                .into());
            }
            found.extend(images);
        } else if path.exists() {
            found.insert(path.to_path_buf());
        } else if input.contains(['*', '?', '[']) {
            let matches =
                glob::glob(input).map_err(|e| UsageError(format!("bad glob `{input}`: {e}")))?;
            let before = found.len();
            found.extend(matches.filter_map(Result::ok).filter(|p| p.is_file()));
            if found.len() == before {
                return Err(UsageError(format!("glob `{input}` matches no files")).into());
            }
        } else {
            return Err(UsageError(format!("input {} does not exist", path.display())).into());
        }
    }
    Ok(found.into_iter().collect())
}

/// Output names: each input's file stem, with `_2`, `_3`… added where two inputs share a stem
/// (e.g. `a/1.jpg` and `b/1.png`), so no output overwrites another.
fn unique_stems(inputs: &[PathBuf]) -> Vec<String> {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    inputs
        .iter()
        .map(|p| {
            let stem = p
                .file_stem()
                .map_or_else(|| "image".into(), |s| s.to_string_lossy().into_owned());
            let n = seen.entry(stem.clone()).or_insert(0);
            *n += 1;
            if *n == 1 { stem } else { format!("{stem}_{n}") }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_unique() {
        let inputs = [
            PathBuf::from("a/1.jpg"),
            PathBuf::from("b/1.png"),
            PathBuf::from("c/2.png"),
        ];
        assert_eq!(unique_stems(&inputs), vec!["1", "1_2", "2"]);
    }
}
