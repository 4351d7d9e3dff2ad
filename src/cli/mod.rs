//! The command line: argument types for every subcommand (one `*Args` struct each, sharing
//! flattened groups) and the dispatch. Each subcommand lives in its own file with one
//! `run(&Args)`; none holds math, they turn arguments into typed configs and call the library.
//!
//! Flags use upstream's names in kebab-case (`--lambda-identity`); upstream's snake_case
//! spellings (`--lambda_identity`) are accepted as aliases so its command lines paste as they are.

pub mod bench;
pub mod convert;
pub mod download;
pub mod eval;
pub mod info;
pub mod stdout;
pub mod test;
pub mod train;
pub mod translate;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::device::DeviceKind;

#[derive(Debug, Parser)]
#[command(name = "cyclegan", version, about = "CycleGAN / pix2pix image-to-image translation: train, translate, test", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a CycleGAN on unpaired folders (trainA/, trainB/) with the official recipe.
    Train(Box<train::TrainArgs>),
    /// Translate images (files, folders or globs) with a generator checkpoint of any layout.
    Translate(translate::TranslateArgs),
    /// Translate a testA/testB split with a trained model into an HTML results page.
    Test(test::TestArgs),
    /// Show the architecture, parameter count and format of a checkpoint.
    Info(info::InfoArgs),
    /// Convert a PyTorch .pth checkpoint to safetensors with the official key names.
    Convert(convert::ConvertArgs),
    /// Time generator forwards or training iterations on random data.
    Bench(bench::BenchArgs),
    /// FID, KID and paired metrics (L1, PSNR, SSIM) of generated images against real ones.
    Eval(Box<eval::EvalArgs>),
    /// Download an official dataset or pretrained model.
    #[command(subcommand)]
    Download(download::DownloadCommand),
}

/// Where the math runs.
#[derive(Debug, Clone, Args)]
pub struct DeviceArgs {
    /// Compute device: cpu (always available), cuda or wgpu (when compiled in).
    #[arg(long, value_enum, default_value_t = DeviceKind::Cpu)]
    pub device: DeviceKind,
    /// CPU threads for the math (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

impl DeviceArgs {
    pub fn setup(&self) -> anyhow::Result<burn::tensor::Device> {
        crate::device::set_threads(self.threads)?;
        crate::device::keep_freed_memory();
        Ok(self.device.device()?)
    }
}

/// Errors a user can fix by changing the command line: exit code 2, as clap's own.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Runs the parsed command; the binary's `main` only parses and calls this.
pub fn run(cli: Cli) -> ExitCode {
    let result = match &cli.command {
        Command::Train(args) => train::run(args),
        Command::Translate(args) => translate::run(args),
        Command::Test(args) => test::run(args),
        Command::Info(args) => info::run(args),
        Command::Convert(args) => convert::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Download(args) => download::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) if e.is::<stdout::StdoutClosed>() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every subcommand, nested ones included, with its path (`download dataset`).
    fn subcommands(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Command)>) {
        for sub in cmd.get_subcommands() {
            let path = format!("{path} {}", sub.get_name()).trim().to_string();
            subcommands(sub, &path, out);
            out.push((path, sub.clone()));
        }
    }

    /// Every argument of every subcommand says what it means: `cyclegan <sub> --help` has no
    /// bare flag line. (Defaults are clap's own `[default: …]` beside the text.)
    #[test]
    fn every_flag_has_help() {
        let mut subs = Vec::new();
        subcommands(&Cli::command(), "", &mut subs);
        let names: Vec<&str> = subs.iter().map(|(p, _)| p.as_str()).collect();
        for wanted in [
            "train",
            "test",
            "translate",
            "info",
            "convert",
            "bench",
            "download",
            "eval",
        ] {
            assert!(
                names.contains(&wanted),
                "no subcommand {wanted} in {names:?}"
            );
        }
        let mut undocumented = Vec::new();
        for (path, cmd) in &subs {
            for arg in cmd.get_arguments() {
                let help = arg.get_help().or(arg.get_long_help());
                if help.is_none_or(|h| h.to_string().trim().is_empty()) {
                    undocumented.push(format!("cyclegan {path} {}", arg.get_id()));
                }
            }
        }
        assert!(
            undocumented.is_empty(),
            "arguments without help: {undocumented:?}"
        );
    }

    /// The same seen as a user sees it: in each subcommand's rendered `--help`, every line that
    /// starts a flag has a description, after it on the line or indented on the next.
    #[test]
    fn every_flag_line_of_the_help_has_a_description() {
        let mut subs = Vec::new();
        subcommands(&Cli::command(), "", &mut subs);
        let mut checked = 0;
        for (path, mut cmd) in subs {
            let help = cmd.render_help().to_string();
            let lines: Vec<&str> = help.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                let flag = line.trim_start();
                let indent = line.len() - flag.len();
                if !flag.starts_with('-') {
                    continue;
                }
                // clap's own `[default: …]` and `[possible values: …]` are no description.
                let is_text = |t: &str| !t.is_empty() && !t.starts_with('[') && !t.starts_with('-');
                let same_line = flag
                    .split_once("  ")
                    .is_some_and(|(_, d)| is_text(d.trim()));
                let next_line = lines.get(i + 1).is_some_and(|next| {
                    let text = next.trim_start();
                    is_text(text) && next.len() - text.len() > indent
                });
                assert!(
                    same_line || next_line,
                    "cyclegan {path} --help: no description on `{line}`:\n{help}"
                );
                checked += 1;
            }
        }
        assert!(checked > 80, "only {checked} flag lines found");
    }
}
