//! `cyclegan convert`: a PyTorch checkpoint to safetensors under the official key names, so
//! `net.load_state_dict(safetensors.torch.load_file(out))` works in upstream's code; or, with
//! `--layout seed` and a `.pth` output, a network back to the seed's keys and `torch.save`
//! format, so the seed's `load_state_dict(torch.load(...))` reads it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::UsageError;
use crate::checkpoint;

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The .pth (zip or legacy) or .safetensors checkpoint to read.
    pub input: PathBuf,
    /// The file to write: .safetensors, or .pth (PyTorch's `torch.save` zip format).
    pub output: PathBuf,
    /// Key layout to write: as read (official keys for official networks), or seed (the seed's
    /// GeneratorResNet `block` keys and its Discriminator's; name the output as the seed's
    /// saved_models does: G_A → G_AB_<N>.pth, G_B → G_BA_<N>.pth, D_A → D_B_<N>.pth,
    /// D_B → D_A_<N>.pth).
    #[arg(long, value_enum, default_value_t = Layout::AsRead)]
    pub layout: Layout,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Layout {
    AsRead,
    Seed,
}

pub fn run(args: &ConvertArgs) -> anyhow::Result<ExitCode> {
    let loaded = checkpoint::load(&args.input)?;
    let sd = match args.layout {
        Layout::AsRead => loaded.state_dict.clone(),
        Layout::Seed => checkpoint::seed::to_seed_layout(&loaded.config, &loaded.state_dict)
            .map_err(|e| UsageError(format!("--layout seed: {}: {e}", args.input.display())))?,
    };
    let pth = args
        .output
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("pth") || e.eq_ignore_ascii_case("pt"));
    if pth {
        checkpoint::pth_write::write_pth(&args.output, &sd)?;
    } else {
        if args.layout == Layout::Seed {
            return Err(UsageError(format!(
                "--layout seed writes the seed's .pth files; name the output {}",
                args.output.with_extension("pth").display()
            ))
            .into());
        }
        checkpoint::save_state_dict(&args.output, &sd, &loaded.config)?;
    }
    eprintln!(
        "wrote {} ({}, {} tensors{})",
        args.output.display(),
        loaded.config.describe(),
        sd.len(),
        if loaded.dropped.is_empty() {
            String::new()
        } else {
            format!(", {} stale key(s) dropped", loaded.dropped.len())
        }
    );
    Ok(ExitCode::SUCCESS)
}
