//! `cyclegan info`: what a checkpoint holds, without building anything on a device.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::stdout;
use crate::checkpoint;

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// A .pth or .safetensors checkpoint of a generator or discriminator.
    pub checkpoint: PathBuf,
    /// Also list every key with its shape.
    #[arg(long)]
    pub keys: bool,
}

pub fn run(args: &InfoArgs) -> anyhow::Result<ExitCode> {
    let loaded = checkpoint::load(&args.checkpoint)?;
    let params: usize = loaded.state_dict.values().map(|t| t.data.len()).sum();
    let mut text = format!(
        "file:         {}\nformat:       {}\narchitecture: {}\nparameters:   {params} ({:.3} M)\ntensors:      {}\n",
        args.checkpoint.display(),
        loaded.format,
        loaded.config.describe(),
        params as f64 / 1e6,
        loaded.state_dict.len()
    );
    if !loaded.dropped.is_empty() {
        text += &format!(
            "dropped:      {} stale key(s) the network does not use, as upstream's loader does\n",
            loaded.dropped.len()
        );
    }
    if args.keys {
        for (key, t) in &loaded.state_dict {
            text += &format!("  {key} {:?}\n", t.shape);
        }
    }
    stdout::print(&text)?;
    Ok(ExitCode::SUCCESS)
}
