//! `cyclegan info`: what a checkpoint holds, without building anything on a device.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

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
    println!("file:         {}", args.checkpoint.display());
    println!("format:       {}", loaded.format);
    println!("architecture: {}", loaded.config.describe());
    println!("parameters:   {params} ({:.3} M)", params as f64 / 1e6);
    println!("tensors:      {}", loaded.state_dict.len());
    if !loaded.dropped.is_empty() {
        println!(
            "dropped:      {} stale key(s) the network does not use, as upstream's loader does",
            loaded.dropped.len()
        );
    }
    if args.keys {
        for (key, t) in &loaded.state_dict {
            println!("  {key} {:?}", t.shape);
        }
    }
    Ok(ExitCode::SUCCESS)
}
