//! `cyclegan download dataset|model <name>`: upstream's download scripts as a subcommand.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::PossibleValuesParser;
use clap::{Args, Subcommand};

use crate::download::catalog::{dataset_names, model_names};
use crate::download::{self, AnyDataset, AnyModel, DownloadOptions, Family, Pick};

#[derive(Debug, Subcommand)]
pub enum DownloadCommand {
    /// An official dataset, unpacked to <root>/<name>/: CycleGAN's (trainA/, trainB/, testA/,
    /// testB/) or, with --model pix2pix or a pix2pix-only name, pix2pix's (train/, val/, test/ of
    /// aligned A|B images).
    Dataset(DatasetArgs),
    /// An official pretrained generator, saved as <root>/<name>_pretrained/latest_net_G.pth:
    /// CycleGAN's (ResNet) or, with --model pix2pix or a pix2pix-only name, pix2pix's (U-Net); or
    /// the FID Inception (`inception`) for `cyclegan eval`.
    Model(ModelArgs),
}

#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Which upstream catalog NAME is taken from: cycle_gan (download_cyclegan_*.sh) or pix2pix
    /// (download_pix2pix_*.sh). Default: the catalog that has NAME; for a name both have (datasets
    /// maps, facades; models sat2map, map2sat, facades_label2photo), cycle_gan.
    #[arg(long, value_enum)]
    pub model: Option<Family>,
    /// Replace the official host, http://efrosgans.eecs.berkeley.edu/cyclegan (CycleGAN) or
    /// http://efrosgans.eecs.berkeley.edu/pix2pix (pix2pix), or for inception pytorch-fid's
    /// GitHub release folder, e.g. with a mirror that keeps the paths below it
    /// (datasets/<name>.zip, pretrained_models/<name>.pth; pix2pix: datasets/<name>.tar.gz,
    /// models-pytorch/<name>.pth).
    #[arg(long = "base-url")]
    pub base_url: Option<String>,
    /// No progress bar.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct DatasetArgs {
    /// One of upstream's dataset names (e.g. horse2zebra, maps; pix2pix: facades, edges2shoes).
    #[arg(value_parser = PossibleValuesParser::new(dataset_names()))]
    pub name: String,
    /// Folder to unpack into.
    #[arg(long, default_value = "datasets")]
    pub root: PathBuf,
    /// Refuse an archive that would unpack to more than this many GiB (fractions allowed), checked
    /// before anything is written: a hostile archive can expand thousands of times past its
    /// download. Default 32, about four times edges2handbags, the largest official dataset.
    #[arg(long = "max-unpacked-gib", value_name = "GIB", value_parser = parse_gib)]
    pub max_unpacked_gib: Option<u64>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct ModelArgs {
    /// One of upstream's pretrained model names (e.g. horse2zebra, style_monet; pix2pix:
    /// edges2shoes, day2night), or inception: pytorch-fid's FID weights, saved as
    /// <root>/pt_inception-2015-12-05-6726825d.pth after a SHA-256 check.
    #[arg(value_parser = PossibleValuesParser::new(model_names()))]
    pub name: String,
    /// Folder to save into.
    #[arg(long, default_value = "checkpoints")]
    pub root: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `--max-unpacked-gib`: a positive number of GiB, as bytes.
fn parse_gib(s: &str) -> Result<u64, String> {
    let bad = || format!("expected a positive number of GiB such as 32 or 0.5, got '{s}'");
    let gib: f64 = s.trim().parse().map_err(|_| bad())?;
    let bytes = (gib * (1u64 << 30) as f64).round();
    // `as` saturates, so a huge value means "no practical limit", not a wrap.
    if gib.is_finite() && bytes >= 1.0 {
        Ok(bytes as u64)
    } else {
        Err(bad())
    }
}

impl CommonArgs {
    fn options(&self, max_unpacked_bytes: Option<u64>) -> DownloadOptions {
        DownloadOptions {
            base_url: self.base_url.clone(),
            max_unpacked_bytes,
            quiet: self.quiet,
        }
    }

    /// Says which catalog a name both have was taken from, and how to get the other.
    fn note_shared(&self, kind: &str, name: &str, shared: bool) {
        if shared && self.model.is_none() && !self.quiet {
            eprintln!(
                "note: '{name}' is a {kind} of both catalogs; taking the CycleGAN one \
                 (add --model pix2pix for pix2pix's)"
            );
        }
    }
}

pub fn run(command: &DownloadCommand) -> anyhow::Result<ExitCode> {
    let (path, what) = match command {
        DownloadCommand::Dataset(a) => {
            let name = AnyDataset::resolve(&a.name, a.common.model)?;
            a.common
                .note_shared("dataset", &a.name, AnyDataset::in_both(&a.name));
            let opts = a.common.options(a.max_unpacked_gib);
            let what = match name {
                Pick::CycleGan(_) => "CycleGAN dataset",
                Pick::Pix2pix(_) => "pix2pix dataset",
            };
            (download::download_dataset(name, &a.root, &opts)?, what)
        }
        DownloadCommand::Model(a) => {
            let name = AnyModel::resolve(&a.name, a.common.model)?;
            a.common
                .note_shared("model", &a.name, AnyModel::in_both(&a.name));
            let what = match name {
                Pick::CycleGan(_) => "CycleGAN model",
                Pick::Pix2pix(_) => "pix2pix model",
            };
            (
                download::download_model(name, &a.root, &a.common.options(None))?,
                what,
            )
        }
    };
    eprintln!("{what} ready at {}", path.display());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gib_flag_takes_positive_numbers_as_bytes() {
        assert_eq!(parse_gib("32"), Ok(32 << 30));
        assert_eq!(parse_gib("0.5"), Ok(1 << 29));
        for bad in ["0", "-1", "nan", "inf", "1e-12", "lots", ""] {
            let msg = parse_gib(bad).unwrap_err();
            assert!(msg.contains("positive number of GiB"), "{bad}: {msg}");
        }
    }

    #[test]
    fn default_limit_is_the_one_the_help_text_gives() {
        assert_eq!(download::DEFAULT_MAX_UNPACKED_BYTES, 32 << 30);
    }
}
