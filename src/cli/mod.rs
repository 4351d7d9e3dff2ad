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
pub mod seed_args;
pub mod stdout;
pub mod test;
pub mod train;
pub mod translate;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::device::DeviceKind;
use crate::train::engine::EngineKind;

#[derive(Debug, Parser)]
#[command(name = "cyclegan", version, about = "CycleGAN / pix2pix image-to-image translation: train, translate, test", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a CycleGAN on unpaired folders (trainA/, trainB/) with the official recipe or the
    /// seed's (--recipe seed), or pix2pix on pairs (--model pix2pix).
    Train(Box<train::TrainArgs>),
    /// Translate images (files, folders or globs) with a generator checkpoint of any layout.
    Translate(translate::TranslateArgs),
    /// Translate a testA/testB split (pix2pix: test/ pairs) with a trained model into an HTML
    /// results page.
    Test(test::TestArgs),
    /// Show the architecture, parameter count and format of a checkpoint.
    Info(info::InfoArgs),
    /// Convert a checkpoint to safetensors with the official key names, or to a .pth (with
    /// --layout seed, under the seed's keys).
    Convert(convert::ConvertArgs),
    /// Time generator forwards or training iterations on random data.
    Bench(bench::BenchArgs),
    /// FID, KID and paired metrics (L1, PSNR, SSIM) of generated images against real ones.
    Eval(Box<eval::EvalArgs>),
    /// Download an official dataset or pretrained model.
    #[command(subcommand)]
    Download(download::DownloadCommand),
}

/// How a generator runs at test time: upstream's `test.py` flags `--eval`, `--no_dropout`.
#[derive(Debug, Clone, Args)]
pub struct InferenceArgs {
    /// Evaluate: batch norms use their running statistics and dropout is off. Without it, as
    /// upstream's test.py without --eval: batch norms normalise each image on its own
    /// statistics and dropout stays on (seeded by --seed); instance-norm networks without
    /// dropout (CycleGAN's) give the same output either way.
    #[arg(long)]
    pub eval: bool,
    /// Without --eval: no dropout (upstream's flag). Default: the checkpoint's own setting
    /// (files of this tool record it; for a .pth, a batch-norm U-Net — pix2pix's — has it).
    #[arg(long = "no-dropout", alias = "no_dropout", overrides_with = "dropout")]
    pub no_dropout: bool,
    /// Without --eval: dropout 0.5 in the generator's dropout places, whatever the file says.
    #[arg(long, overrides_with = "no_dropout")]
    pub dropout: bool,
    /// Seed of the dropout masks without --eval.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl InferenceArgs {
    pub fn mode(&self) -> crate::model::Mode {
        if self.eval {
            crate::model::Mode::Eval
        } else {
            crate::model::Mode::Train
        }
    }

    /// The dropout override for [`crate::checkpoint::load_generator_with_dropout`].
    pub fn dropout(&self) -> Option<bool> {
        match (self.dropout, self.no_dropout) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        }
    }

    /// Seeds this thread's dropout stream (the generators run on the calling thread).
    pub fn seed_dropout(&self) {
        crate::model::seed_dropout(self.seed);
    }
}

impl Cli {
    /// Parses a command line as `Cli::try_parse_from` does, and records which `train` flags it
    /// gave, which `--recipe` needs to tell a default from a choice.
    pub fn parse_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command().try_get_matches_from(args)?;
        let mut cli = Cli::from_arg_matches(&matches)?;
        if let (Command::Train(train), Some(m)) =
            (&mut cli.command, matches.subcommand_matches("train"))
        {
            train.given = seed_args::given_ids(m);
        }
        Ok(cli)
    }
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
        self.setup_host()?;
        Ok(self.device.device()?)
    }

    /// The CPU set up for the math (threads, memory), whatever `--device` says: where the
    /// plan engine runs on a GPU, the networks' record stays on the host.
    pub fn setup_host(&self) -> anyhow::Result<burn::tensor::Device> {
        crate::device::set_threads(self.threads)?;
        crate::device::keep_freed_memory();
        Ok(burn::tensor::Device::flex())
    }
}

/// Which implementation runs the CycleGAN iteration (`train`, `bench`).
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// What runs the CycleGAN iteration on the CPU: `burn` (autodiff over this project's
    /// kernels, the default: the faster on a CPU) or `plan` (the GPU engine's plan, run by its
    /// CPU executor: the GPU's wiring, checked on the CPU). `--device cuda` always runs the
    /// plan.
    #[arg(long, value_enum, default_value_t = EngineArg::Burn)]
    pub engine: EngineArg,
    /// With `--device cuda`: the convolutions' arithmetic, `tf32` (tensor cores, PyTorch's
    /// default on NVIDIA GPUs) or `f32` (IEEE float32, for exact comparisons). Default: tf32.
    #[arg(long, value_enum)]
    pub precision: Option<PrecisionArg>,
}

/// `--engine`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineArg {
    Burn,
    Plan,
}

/// `--precision`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PrecisionArg {
    Tf32,
    F32,
}

impl EngineArgs {
    /// The plan engine these options and `device` ask for (`None`: burn's autodiff).
    pub fn kind(&self, device: &DeviceArgs) -> Result<Option<EngineKind>, UsageError> {
        let cuda = device.device == DeviceKind::Cuda;
        if self.precision.is_some() && !cuda {
            return Err(UsageError(
                "--precision applies to --device cuda only (the CPU computes in float32)".into(),
            ));
        }
        if self.engine == EngineArg::Plan && device.device == DeviceKind::Wgpu {
            return Err(UsageError(
                "--engine plan runs on the CPU or with --device cuda; --device wgpu runs burn's autodiff".into(),
            ));
        }
        match (cuda, self.engine) {
            (false, EngineArg::Burn) => Ok(None),
            (false, EngineArg::Plan) => Ok(Some(EngineKind::Cpu)),
            (true, _) => cuda_engine(self.precision).map(Some),
        }
    }
}

#[cfg(feature = "cuda")]
fn cuda_engine(precision: Option<PrecisionArg>) -> Result<EngineKind, UsageError> {
    use crate::engine::cuda::exec::Precision;
    Ok(EngineKind::Cuda(match precision {
        Some(PrecisionArg::F32) => Precision::F32,
        Some(PrecisionArg::Tf32) | None => Precision::Tf32,
    }))
}

#[cfg(not(feature = "cuda"))]
fn cuda_engine(_: Option<PrecisionArg>) -> Result<EngineKind, UsageError> {
    Err(UsageError(
        crate::device::DeviceError::NotCompiled("cuda").to_string(),
    ))
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
