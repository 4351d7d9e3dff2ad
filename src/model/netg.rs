//! Upstream's `--netG` / `--netD` spellings, parsed once into types.

use std::fmt;
use std::str::FromStr;

/// A generator architecture by upstream's name: `resnet_<N>blocks`, `unet_<2^N>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetG {
    Resnet { n_blocks: usize },
    Unet { num_downs: usize },
}

impl FromStr for NetG {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "unknown generator `{s}`; supported: resnet_9blocks, resnet_6blocks, resnet_<N>blocks, \
                 unet_256, unet_128, unet_<2^N> (N ≥ 5)"
            )
        };
        if let Some(n) = s
            .strip_prefix("resnet_")
            .and_then(|r| r.strip_suffix("blocks"))
        {
            return n
                .parse()
                .map(|n_blocks| NetG::Resnet { n_blocks })
                .map_err(|_| bad());
        }
        if let Some(side) = s.strip_prefix("unet_") {
            let side: usize = side.parse().map_err(|_| bad())?;
            if side.is_power_of_two() && side >= 32 {
                return Ok(NetG::Unet {
                    num_downs: side.trailing_zeros() as usize,
                });
            }
        }
        Err(bad())
    }
}

impl fmt::Display for NetG {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetG::Resnet { n_blocks } => write!(f, "resnet_{n_blocks}blocks"),
            NetG::Unet { num_downs } => write!(f, "unet_{}", 1usize << num_downs),
        }
    }
}

/// A discriminator architecture by upstream's name: `basic`, `n_layers`, `pixel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum NetD {
    /// The 70×70 PatchGAN (n_layers = 3).
    Basic,
    /// A PatchGAN with `--n-layers-D` layers.
    NLayers,
    /// A 1×1 PatchGAN.
    Pixel,
    /// The seed's (eriklindernoren PyTorch-GAN): four stride-2 blocks, an (h/16, w/16) output.
    Seed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstream_names() {
        assert_eq!("resnet_9blocks".parse(), Ok(NetG::Resnet { n_blocks: 9 }));
        assert_eq!("resnet_3blocks".parse(), Ok(NetG::Resnet { n_blocks: 3 }));
        assert_eq!("unet_256".parse(), Ok(NetG::Unet { num_downs: 8 }));
        assert_eq!("unet_128".parse(), Ok(NetG::Unet { num_downs: 7 }));
        assert!("unet_100".parse::<NetG>().is_err());
        assert!("resnet_blocks".parse::<NetG>().is_err());
        assert!(
            "vgg"
                .parse::<NetG>()
                .unwrap_err()
                .contains("resnet_9blocks")
        );
        assert_eq!(NetG::Unet { num_downs: 8 }.to_string(), "unet_256");
    }
}
