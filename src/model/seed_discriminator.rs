//! The seed's discriminator (eriklindernoren PyTorch-GAN, `implementations/cyclegan/models.py`,
//! `Discriminator`): four `Conv(4, stride 2, pad 1)` blocks of ndf, 2·ndf, 4·ndf, 8·ndf
//! channels (64-128-256-512 at the seed's width), a norm after all but the first, LeakyReLU
//! 0.2, then `ZeroPad2d((1, 0, 1, 0))` and `Conv(8·ndf → 1, 4, pad 1)`: one logit per
//! (h/16, w/16) patch. Every convolution keeps its bias, as the seed's `nn.Conv2d` defaults.
//!
//! It is one `nn.Sequential` named `model`, so its keys are positions in it: blocks at 0 (conv,
//! LeakyReLU), 2, 5, 8 (conv, norm, LeakyReLU each), the pad at 11 and the last conv at 12.

use burn::tensor::Device;

use super::discriminator::DLayer;
use super::layers::{Norm2d, NormKind};

/// The smallest side it runs on: the fourth block's instance norm needs more than one value
/// per channel (PyTorch refuses a 1×1 map in training), so its map must be at least 2×2.
pub const MIN_SIDE: usize = 32;

/// The `Sequential` index of the last convolution (after the pad at 11).
pub const HEAD: usize = 12;

/// The layers in order, under their `Sequential` indices.
pub(super) fn layers(input_nc: usize, ndf: usize, norm: NormKind, device: &Device) -> Vec<DLayer> {
    let mut layers = vec![DLayer::input(input_nc, ndf, device)];
    for (i, index) in [2, 5, 8].into_iter().enumerate() {
        let channels = [ndf << i, ndf << (i + 1)];
        let norm = Some(Norm2d::new(norm, channels[1], device));
        layers.push(DLayer::new(
            index,
            channels,
            (4, 2, 1),
            true,
            norm,
            true,
            device,
        ));
    }
    layers.push(
        DLayer::new(HEAD, [ndf * 8, 1], (4, 1, 1), true, None, false, device).after_top_left_pad(),
    );
    layers
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor};

    use crate::model::{DiscriminatorConfig, Mode, NormKind, Params};

    fn seed(ndf: usize) -> DiscriminatorConfig {
        DiscriminatorConfig::Seed {
            input_nc: 3,
            ndf,
            norm: NormKind::Instance,
        }
    }

    /// The seed's keys and the output of (h/16, w/16), rectangular inputs included.
    #[test]
    fn keys_and_patch_grid_are_the_seeds() {
        let device = Device::flex();
        let mut d = seed(4).init(&device);
        let keys: Vec<String> = d.state_dict().into_keys().collect();
        let expected: Vec<String> = [0, 2, 5, 8, 12]
            .iter()
            .flat_map(|i| [format!("model.{i}.bias"), format!("model.{i}.weight")])
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        let mut expected_sorted = expected;
        expected_sorted.sort();
        assert_eq!(sorted, expected_sorted);
        let x = Tensor::<4>::random([1, 3, 64, 96], Distribution::Default, &device);
        assert_eq!(d.forward(x, Mode::Train).dims(), [1, 1, 4, 6]);
    }

    /// At the seed's width (ndf 64) it has the seed's 2 764 737 parameters: 3·64·16 + 64,
    /// 64·128·16 + 128, 128·256·16 + 256, 256·512·16 + 512, 512·16 + 1.
    #[test]
    fn parameter_count_is_the_seeds() {
        let device = Device::flex();
        let mut d = seed(64).init(&device);
        let expected = (3 * 64 * 16 + 64)
            + (64 * 128 * 16 + 128)
            + (128 * 256 * 16 + 256)
            + (256 * 512 * 16 + 512)
            + (512 * 16 + 1);
        assert_eq!(d.num_params(), expected);
    }
}
