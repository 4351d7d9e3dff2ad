//! The models the training loop runs (upstream `--model`): what each trains, named once. The
//! loop, the resume state, checkpoints and reports see a model through [`Trainee`] — its
//! networks by name, its iteration, its losses by name, its sample rows — so CycleGAN and
//! pix2pix share every line of them.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::ModelConfig;
use super::engine::{EngineError, EngineKind, EngineStep};
use super::networks::{NamedNetworks, NetMut, Networks};
use super::pix2pix::{Pix2PixConfig, Pix2PixLosses, Pix2PixNetworks, pix2pix_step};
use super::pool::ImagePool;
use super::seed::{self, SeedLoss};
use super::step::{LossConfig, Optimizers, Pools, StepLosses, train_step};
use crate::model::{GeneratorConfig, NetworkConfig};

/// Which model a run trains and with what networks and objective. In `opt.json` a CycleGAN run
/// keeps its `model` and `loss` keys (so files written before pix2pix read as before); a
/// pix2pix run has a `pix2pix` key instead.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ModelSpec {
    CycleGan {
        model: ModelConfig,
        loss: LossConfig,
    },
    Pix2Pix {
        pix2pix: Pix2PixConfig,
    },
}

impl ModelSpec {
    /// Upstream's `--model` value.
    pub fn name(&self) -> &'static str {
        match self {
            ModelSpec::CycleGan { .. } => "cycle_gan",
            ModelSpec::Pix2Pix { .. } => "pix2pix",
        }
    }

    /// Each network's config under its name, in the model's table order.
    pub fn named(&self) -> Vec<(&'static str, NetworkConfig)> {
        match self {
            ModelSpec::CycleGan { model, .. } => model.named().to_vec(),
            ModelSpec::Pix2Pix { pix2pix } => pix2pix.named(),
        }
    }

    /// The loss names of the log, in upstream's `loss_names` order (the seed's with
    /// `--recipe seed`).
    pub fn loss_names(&self) -> &'static [&'static str] {
        match self {
            ModelSpec::CycleGan { loss, .. } if loss.seed.is_some() => &seed::LOG_NAMES,
            ModelSpec::CycleGan { .. } => &StepLosses::NAMES,
            ModelSpec::Pix2Pix { .. } => &Pix2PixLosses::NAMES,
        }
    }

    /// `--recipe seed`'s objective, where the run has it.
    pub fn seed_loss(&self) -> Option<&SeedLoss> {
        match self {
            ModelSpec::CycleGan { loss, .. } => loss.seed.as_ref(),
            ModelSpec::Pix2Pix { .. } => None,
        }
    }

    /// What the sample grids show, row by row.
    pub fn sample_legend(&self) -> &'static str {
        match self {
            ModelSpec::CycleGan { .. } => {
                "Top row: real_A, fake_B, rec_A, idt_B. Bottom row: real_B, fake_A, rec_B, idt_A."
            }
            ModelSpec::Pix2Pix { .. } => "real_A, fake_B, real_B.",
        }
    }

    /// The A→B generator (whose size rules every input must meet).
    pub fn generator(&self) -> &GeneratorConfig {
        match self {
            ModelSpec::CycleGan { model, .. } => &model.g_a,
            ModelSpec::Pix2Pix { pix2pix } => &pix2pix.g,
        }
    }

    /// Image sides must be multiples of this and at least [`Self::min_side`].
    pub fn size_multiple(&self) -> usize {
        self.generator().size_multiple()
    }

    /// The smallest image side all networks run on.
    pub fn min_side(&self) -> usize {
        match self {
            ModelSpec::CycleGan { model, .. } => model.min_side(),
            ModelSpec::Pix2Pix { pix2pix } => pix2pix.g.min_side().max(pix2pix.d.min_side()),
        }
    }
}

/// A step's losses under their names, in the log's order.
#[derive(Clone, Debug, PartialEq)]
pub struct Losses {
    pub names: &'static [&'static str],
    pub values: Vec<f64>,
}

impl Losses {
    pub fn all_finite(&self) -> bool {
        self.values.iter().all(|v| v.is_finite())
    }
}

impl From<StepLosses> for Losses {
    fn from(l: StepLosses) -> Self {
        Losses {
            names: &StepLosses::NAMES,
            values: l.values().to_vec(),
        }
    }
}

impl From<Pix2PixLosses> for Losses {
    fn from(l: Pix2PixLosses) -> Self {
        Losses {
            names: &Pix2PixLosses::NAMES,
            values: l.values().to_vec(),
        }
    }
}

/// The images of a step for a sample grid, row by row (`None`: a tile left gray).
pub struct SampleRows(pub Vec<Vec<Option<Tensor<4>>>>);

/// The model being trained: its networks, and the state its iteration keeps besides them.
#[derive(Debug)]
pub enum Trainee {
    CycleGan {
        nets: Box<Networks>,
        pools: Box<Pools>,
        loss: LossConfig,
        /// The plan engine that runs the iteration in place of burn's autodiff, if any; its
        /// executor is made at the first step (after a resume or `--init-from` has loaded the
        /// networks), and again when the image shape changes.
        engine: Option<(EngineKind, Option<Box<EngineStep>>)>,
        model: ModelConfig,
    },
    Pix2Pix {
        nets: Box<Pix2PixNetworks>,
        config: Pix2PixConfig,
    },
}

impl Trainee {
    /// Builds the networks with upstream's initialisation, each from its own seed (the seed
    /// plus its place in the table), and empty pools of `pool_size`; a CycleGAN iteration runs
    /// on the plan engine `engine` where one is given.
    pub fn new(
        spec: &ModelSpec,
        seed: u64,
        pool_size: usize,
        engine: Option<EngineKind>,
        device: &Device,
    ) -> Self {
        match spec {
            ModelSpec::CycleGan { model, loss } => Trainee::CycleGan {
                nets: Box::new(super::build_networks(model, seed, device)),
                pools: Box::new(Pools {
                    fake_a: ImagePool::new(pool_size, seed.wrapping_add(10)),
                    fake_b: ImagePool::new(pool_size, seed.wrapping_add(11)),
                }),
                loss: *loss,
                engine: engine.map(|kind| (kind, None)),
                model: model.clone(),
            },
            ModelSpec::Pix2Pix { pix2pix } => {
                let mut nets = Pix2PixNetworks {
                    g: pix2pix.g.init(device),
                    d: pix2pix.d.init(device),
                };
                nets.init_weights(pix2pix.init_type, pix2pix.init_gain, seed, device);
                Trainee::Pix2Pix {
                    nets: Box::new(nets),
                    config: pix2pix.clone(),
                }
            }
        }
    }

    /// One iteration at learning rate `lr`.
    pub fn step(
        &mut self,
        optim: &mut Optimizers,
        real_a: Tensor<4>,
        real_b: Tensor<4>,
        lr: f64,
    ) -> Result<(Losses, SampleRows), EngineError> {
        Ok(match self {
            Trainee::CycleGan {
                nets,
                pools,
                loss,
                engine,
                model,
            } => {
                let (step, v) = match engine {
                    None => train_step(nets, optim, pools, real_a, real_b, loss, lr),
                    Some((kind, current)) => {
                        let [b, _, h, w] = real_a.dims();
                        let shape = [b, h, w];
                        if current.as_ref().is_some_and(|e| e.shape() != shape) {
                            // A batch of another shape (the epoch's last): the executor's
                            // state goes back to the networks and a plan for it is made.
                            let device = real_a.device();
                            let mut old = current.take().expect("checked above");
                            old.sync(nets, optim, &device)?;
                        }
                        if current.is_none() {
                            let e = EngineStep::new(*kind, model, loss, shape, nets, optim)?;
                            *current = Some(Box::new(e));
                        }
                        let e = current.as_mut().expect("made above");
                        e.step(optim, pools, &real_a, &real_b, lr)?
                    }
                };
                // The seed logs its own figures of the same iteration.
                let losses = match &loss.seed {
                    Some(s) => Losses {
                        names: &seed::LOG_NAMES,
                        values: seed::log_values(&step, s).to_vec(),
                    },
                    None => step.into(),
                };
                let rows = vec![
                    vec![Some(v.real_a), Some(v.fake_b), Some(v.rec_a), v.idt_b],
                    vec![Some(v.real_b), Some(v.fake_a), Some(v.rec_b), v.idt_a],
                ];
                (losses, SampleRows(rows))
            }
            Trainee::Pix2Pix { nets, config } => {
                let (losses, images) = pix2pix_step(nets, optim, real_a, real_b, config, lr);
                let row = images.into_iter().map(Some).collect();
                (losses.into(), SampleRows(vec![row]))
            }
        })
    }

    /// Brings the networks and `optim` up to the engine's state, where an engine runs the
    /// iteration: call before anything reads them (saves, samples).
    pub fn sync(&mut self, optim: &mut Optimizers, device: &Device) -> Result<(), EngineError> {
        if let Trainee::CycleGan {
            nets,
            engine: Some((_, Some(e))),
            ..
        } = self
        {
            e.sync(nets, optim, device)?;
        }
        Ok(())
    }

    /// The image pools the resume state keeps, under their names there.
    pub fn pools(&self) -> Vec<(&'static str, &ImagePool)> {
        match self {
            Trainee::CycleGan { pools, .. } => {
                vec![
                    ("pool_fake_A", &pools.fake_a),
                    ("pool_fake_B", &pools.fake_b),
                ]
            }
            Trainee::Pix2Pix { .. } => Vec::new(),
        }
    }

    pub fn pools_mut(&mut self) -> Vec<(&'static str, &mut ImagePool)> {
        match self {
            Trainee::CycleGan { pools, .. } => vec![
                ("pool_fake_A", &mut pools.fake_a),
                ("pool_fake_B", &mut pools.fake_b),
            ],
            Trainee::Pix2Pix { .. } => Vec::new(),
        }
    }
}

impl NamedNetworks for Trainee {
    fn named_mut(&mut self) -> Vec<(&'static str, NetMut<'_>)> {
        match self {
            Trainee::CycleGan { nets, .. } => nets.named_mut(),
            Trainee::Pix2Pix { nets, .. } => nets.named_mut(),
        }
    }
}
