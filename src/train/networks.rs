//! The networks a model trains, each under upstream's name for it (`model_names`). The name is
//! the network's identity everywhere outside the step: its checkpoint files
//! (`latest_net_G_A.safetensors`), its prefix in the resume state and in Adam's keys, what
//! `--init-from` looks for. A model declares its networks once, as a [`NamedNetworks`] table,
//! and all of those go through it; CycleGAN's is [`Networks`] and pix2pix's is
//! [`super::pix2pix::Pix2PixNetworks`] (G and D).

use burn::tensor::Device;

use crate::model::{Discriminator, Generator, InitType, Params, Visitor, init_weights};

/// CycleGAN's network names, as upstream spells them: `G_A` maps A to B, `D_A` judges B.
pub const G_A: &str = "G_A";
pub const G_B: &str = "G_B";
pub const D_A: &str = "D_A";
pub const D_B: &str = "D_B";

/// Which optimiser a network belongs to: upstream steps all generators with one Adam
/// (`optimizer_G`) and all discriminators with another (`optimizer_D`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Generator,
    Discriminator,
}

/// One network of a model, borrowed for a pass over its parameters.
pub enum NetMut<'a> {
    Generator(&'a mut Generator),
    Discriminator(&'a mut Discriminator),
}

impl NetMut<'_> {
    pub fn kind(&self) -> Kind {
        match self {
            NetMut::Generator(_) => Kind::Generator,
            NetMut::Discriminator(_) => Kind::Discriminator,
        }
    }
}

impl Params for NetMut<'_> {
    fn visit(&mut self, prefix: &str, v: &mut Visitor<'_>) {
        match self {
            NetMut::Generator(g) => g.visit(prefix, v),
            NetMut::Discriminator(d) => d.visit(prefix, v),
        }
    }
}

/// A model's table of networks.
pub trait NamedNetworks {
    /// Every network with its name, in upstream's `model_names` order (which is also the
    /// order of their initialisation seeds and checkpoint files).
    fn named_mut(&mut self) -> Vec<(&'static str, NetMut<'_>)>;

    /// Upstream's initialisation of every network, each from its own seed: `seed` plus its
    /// place in the table.
    fn init_weights(&mut self, init: InitType, gain: f64, seed: u64, device: &Device) {
        for (i, (_, mut net)) in self.named_mut().into_iter().enumerate() {
            init_weights(&mut net, init, gain, seed.wrapping_add(i as u64), device);
        }
    }

    /// The networks one optimiser steps, in table order.
    fn of_kind(&mut self, kind: Kind) -> Vec<(&'static str, NetMut<'_>)> {
        self.named_mut()
            .into_iter()
            .filter(|(_, net)| net.kind() == kind)
            .collect()
    }
}

/// The four networks of a CycleGAN; `g_a`: A→B, `d_a` judges B (upstream's naming).
#[derive(Debug)]
pub struct Networks {
    pub g_a: Generator,
    pub g_b: Generator,
    pub d_a: Discriminator,
    pub d_b: Discriminator,
}

impl NamedNetworks for Networks {
    fn named_mut(&mut self) -> Vec<(&'static str, NetMut<'_>)> {
        vec![
            (G_A, NetMut::Generator(&mut self.g_a)),
            (G_B, NetMut::Generator(&mut self.g_b)),
            (D_A, NetMut::Discriminator(&mut self.d_a)),
            (D_B, NetMut::Discriminator(&mut self.d_b)),
        ]
    }
}
