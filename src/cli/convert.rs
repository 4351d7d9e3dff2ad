//! `cyclegan convert`: a PyTorch checkpoint to safetensors under the official key names, so
//! `net.load_state_dict(safetensors.torch.load_file(out))` works in upstream's code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::checkpoint;

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The .pth (zip or legacy) or .safetensors checkpoint to read.
    pub input: PathBuf,
    /// The .safetensors file to write.
    pub output: PathBuf,
}

pub fn run(args: &ConvertArgs) -> anyhow::Result<ExitCode> {
    let loaded = checkpoint::load(&args.input)?;
    checkpoint::save_state_dict(&args.output, &loaded.state_dict, &loaded.config)?;
    eprintln!(
        "wrote {} ({}, {} tensors{})",
        args.output.display(),
        loaded.config.describe(),
        loaded.state_dict.len(),
        if loaded.dropped.is_empty() {
            String::new()
        } else {
            format!(", {} stale key(s) dropped", loaded.dropped.len())
        }
    );
    Ok(ExitCode::SUCCESS)
}
