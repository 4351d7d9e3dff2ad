//! `cyclegan download dataset|model <name>`: upstream's download scripts as a subcommand.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::download::{self, Dataset, DownloadOptions, Model};

#[derive(Debug, Subcommand)]
pub enum DownloadCommand {
    /// An official CycleGAN dataset, unpacked to <root>/<name>/ (trainA/, trainB/, ...).
    Dataset(DatasetArgs),
    /// An official pretrained generator, saved as <root>/<name>_pretrained/latest_net_G.pth, or
    /// the FID Inception (`inception`) for `cyclegan eval`.
    Model(ModelArgs),
}

#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Replace the official host (http://efrosgans.eecs.berkeley.edu/cyclegan; for inception,
    /// pytorch-fid's GitHub release folder), e.g. a mirror.
    #[arg(long = "base-url")]
    pub base_url: Option<String>,
    /// No progress bar.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct DatasetArgs {
    /// One of upstream's dataset names (e.g. horse2zebra, maps, facades).
    #[arg(value_enum)]
    pub name: Dataset,
    /// Folder to unpack into.
    #[arg(long, default_value = "datasets")]
    pub root: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct ModelArgs {
    /// One of upstream's pretrained model names (e.g. horse2zebra, style_monet), or inception:
    /// pytorch-fid's FID weights, saved as <root>/pt_inception-2015-12-05-6726825d.pth after a
    /// SHA-256 check.
    #[arg(value_enum)]
    pub name: Model,
    /// Folder to save into.
    #[arg(long, default_value = "checkpoints")]
    pub root: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
}

pub fn run(command: &DownloadCommand) -> anyhow::Result<ExitCode> {
    let (path, what) = match command {
        DownloadCommand::Dataset(a) => {
            let opts = DownloadOptions {
                base_url: a.common.base_url.clone(),
                quiet: a.common.quiet,
            };
            (
                download::download_dataset(a.name, &a.root, &opts)?,
                "dataset",
            )
        }
        DownloadCommand::Model(a) => {
            let opts = DownloadOptions {
                base_url: a.common.base_url.clone(),
                quiet: a.common.quiet,
            };
            (download::download_model(a.name, &a.root, &opts)?, "model")
        }
    };
    eprintln!("{what} ready at {}", path.display());
    Ok(ExitCode::SUCCESS)
}
