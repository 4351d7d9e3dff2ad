//! `cyclegan bench`: median generator-forward and training-iteration times on random data with
//! the default networks of `--model` (CycleGAN's ResNet, or pix2pix's U-Net with batch norm
//! and conditional PatchGAN), printed like `scripts/bench_pytorch.py` so the two compare line
//! for line (`scripts/bench-vs-pytorch.sh` runs both).

use std::process::ExitCode;
use std::time::Instant;

use burn::tensor::{Distribution, Tensor};
use clap::{Args, ValueEnum};

use super::train::ModelKind;
use super::{DeviceArgs, EngineArgs, UsageError, stdout};
use crate::data::{DatasetOptions, Loader, LoaderConfig, UnalignedDataset, measure_throughput};
use crate::engine::nets::{FORWARD, ResnetPlan};
use crate::model::Params;
use crate::model::loss::GanMode;
use crate::model::{
    DiscriminatorConfig, GeneratorConfig, InitType, Mode, NormKind, ResnetGeneratorConfig,
    UnetGeneratorConfig,
};
use crate::ops::profile;
use crate::train::ModelConfig;
use crate::train::adam::{Adam, AdamConfig};

use crate::train::model::{ModelSpec, Trainee};
use crate::train::pix2pix::Pix2PixConfig;

use crate::train::step::{LossConfig, Optimizers};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum What {
    /// One generator forward (no gradients).
    Forward,
    /// One full CycleGAN iteration (pool size 0, as bench_pytorch.py).
    Train,
    /// Forward and train.
    Both,
    /// The data loader alone on --dataroot: decode, resize to --load-size, crop, flip.
    Loader,
    /// The CPU convolution kernels alone on one residual-block convolution (3×3, 4·ngf channels,
    /// --size feature map): forward and both gradients, im2col + GEMM against Winograd.
    Conv,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to time.
    #[arg(long, value_enum, default_value_t = What::Both)]
    pub what: What,
    /// Whose networks and iteration: cycle_gan (ResNet generators) or pix2pix (unet_<size>
    /// with batch norm and dropout, conditional basic PatchGAN); --n-blocks is CycleGAN's.
    #[arg(long, value_enum, default_value_t = ModelKind::CycleGan)]
    pub model: ModelKind,
    /// Side of the random square images (with --what loader: the crop side).
    #[arg(long, default_value_t = 128)]
    pub size: usize,
    /// Images per generator forward or training iteration (with --what loader: per batch).
    #[arg(long = "batch-size", alias = "batch", default_value_t = 1)]
    pub batch_size: usize,
    /// Timed repetitions (after one warm-up); the median is reported.
    #[arg(long, default_value_t = 5)]
    pub iters: usize,
    /// Filters in the ResNet generator's last convolution (its width).
    #[arg(long, default_value_t = 64)]
    pub ngf: usize,
    /// Residual blocks of the generator (9: resnet_9blocks).
    #[arg(long = "n-blocks", default_value_t = 9)]
    pub n_blocks: usize,
    /// Filters in the basic discriminator's first convolution (its width).
    #[arg(long, default_value_t = 64)]
    pub ndf: usize,
    /// One JSON line with the keys of bench_pytorch.py.
    #[arg(long)]
    pub json: bool,
    /// With `--what forward|train|both`: also print, on stderr, the time per iteration of
    /// each CPU kernel (convolutions by algorithm and shape, their Winograd stages, norms,
    /// padding, Adam) and of the training step's phases, and how busy they kept the cores.
    #[arg(long)]
    pub profile: bool,
    /// With `--what loader`: the dataset folder (trainA/, trainB/).
    #[arg(long)]
    pub dataroot: Option<std::path::PathBuf>,
    /// With `--what loader`: resize side before cropping to --size.
    #[arg(long = "load-size", default_value_t = 286)]
    pub load_size: usize,
    /// With `--what loader`: decoding threads.
    #[arg(long = "num-threads", default_value_t = 4)]
    pub num_threads: usize,
    /// With `--what loader`: refuse images with more pixels than this (decompression bombs);
    /// the default is PIL's.
    #[arg(long = "max-pixels", default_value_t = crate::data::DEFAULT_MAX_PIXELS)]
    pub max_pixels: u64,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

fn median_time(iters: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up: allocations, kernel selection
    let mut times: Vec<f64> = (0..iters.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// [`median_time`], with `--profile` the kernels' times over the timed iterations printed
/// (on stderr) under `what`.
fn median_time_profiled(args: &BenchArgs, what: &str, mut f: impl FnMut()) -> f64 {
    let mut warm = false;
    let t = median_time(args.iters, || {
        f();
        if !warm {
            warm = true;
            profile::take();
            profile::enable(args.profile);
        }
    });
    profile::enable(false);
    if args.profile {
        let iters = args.iters.max(1);
        eprintln!(
            "profile of {what} over {iters} iterations (median {:.1} ms), per iteration; \
             nested names overlap the ones they run in",
            1e3 * t
        );
        eprint!(
            "{}",
            profile::table(&profile::take(), iters, rayon::current_num_threads())
        );
    }
    t
}

/// Throughput of the CPU convolution kernels, in direct-convolution GFLOP/s (so that the
/// algorithms compare on the same work).
fn conv_kernels(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    use crate::ops::gemm_conv;
    use crate::ops::geom::ConvGeom;
    use crate::ops::winograd;
    crate::device::set_threads(args.device.threads)?;
    crate::device::keep_freed_memory();
    let (b, c, s) = (args.batch_size, 4 * args.ngf, args.size);
    // Reflect-padded input, as in the residual blocks: the output is s×s.
    let g = ConvGeom::new([b, c, s + 2, s + 2], [c, c, 3, 3], [1, 1], [0, 0])
        .ok_or_else(|| UsageError("--size must be at least 1".into()))?;
    let fill = |n: usize, k: usize| -> Vec<f32> {
        (0..n)
            .map(|i| ((i * k) % 1000) as f32 / 1000.0 - 0.5)
            .collect()
    };
    let x = fill(b * c * g.in_plane(), 7919);
    let w = fill(c * c * 9, 104729);
    let dy = fill(b * c * g.out_plane(), 31);
    let gflops = g.flops() / 1e9;
    let mut out = serde_json::Map::new();
    out.insert("threads".into(), rayon::current_num_threads().into());
    out.insert("map".into(), s.into());
    out.insert("channels".into(), c.into());
    type Run<'a> = (&'static str, Box<dyn Fn() + 'a>);
    let runs: [Run; 6] = [
        (
            "im2col_forward",
            Box::new(|| drop(gemm_conv::forward(&x, &w, None, &g))),
        ),
        (
            "im2col_backward_data",
            Box::new(|| drop(gemm_conv::backward_data(&dy, &w, &g))),
        ),
        (
            "im2col_backward_weight",
            Box::new(|| drop(gemm_conv::backward_weight(&x, &dy, &g))),
        ),
        (
            "winograd_forward",
            Box::new(|| drop(winograd::forward(&x, &w, None, &g))),
        ),
        (
            "winograd_backward_data",
            Box::new(|| drop(winograd::backward_data(&dy, &w, &g))),
        ),
        (
            "winograd_backward_weight",
            Box::new(|| drop(winograd::backward_weight(&x, &dy, &g))),
        ),
    ];
    for (name, run) in runs {
        let t = median_time(args.iters, &run);
        out.insert(format!("{name}_gflops"), (gflops / t).into());
    }
    print_json(serde_json::Value::Object(out), args.json)?;
    Ok(ExitCode::SUCCESS)
}

/// Images per second of the loader alone, one epoch of up to 200 batches.
fn loader(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let Some(dataroot) = &args.dataroot else {
        return Err(UsageError(
            "--what loader needs --dataroot (a folder with trainA/ and trainB/)".into(),
        )
        .into());
    };
    let options = DatasetOptions {
        load_size: args.load_size,
        crop_size: args.size,
        crop_width: None,
        ..DatasetOptions::new(dataroot)
    };
    let dataset = UnalignedDataset::new(&options)?;
    let config = LoaderConfig {
        batch_size: args.batch_size,
        num_threads: args.num_threads,
        max_pixels: args.max_pixels,
        ..LoaderConfig::default()
    };
    let loader = Loader::new(dataset, config)?;
    let t = measure_throughput(&loader, 1, 200)?;
    let json = serde_json::json!({
        "what": "loader",
        "load_size": args.load_size,
        "crop_size": args.size,
        "num_threads": args.num_threads,
        "images": t.images,
        "images_per_s": t.images_per_second(),
    });
    stdout::print(&format!("{json}\n"))?;
    Ok(ExitCode::SUCCESS)
}

/// Peak resident memory of this process, from the kernel's high-water mark.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

pub fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    if args.model == ModelKind::Pix2pix && matches!(args.what, What::Loader | What::Conv) {
        return Err(UsageError(
            "--model pix2pix times the forward and the training iteration; --what loader and conv time no model (leave --model out)".into(),
        )
        .into());
    }
    if args.what == What::Loader {
        return loader(args);
    }
    if args.what == What::Conv {
        return conv_kernels(args);
    }
    let engine = args.engine.kind(&args.device)?;
    let device = match engine {
        Some(_) => args.device.setup_host()?,
        None => args.device.setup()?,
    };
    if args.model == ModelKind::Pix2pix {
        if engine.is_some() {
            return Err(UsageError(
                "--model pix2pix runs on burn's autodiff (--engine burn, --device cpu or wgpu); the plan engine has CycleGAN's networks only".into(),
            )
            .into());
        }
        return pix2pix(args, &device);
    }
    let g = GeneratorConfig::Resnet(ResnetGeneratorConfig::official(
        3,
        3,
        args.ngf,
        args.n_blocks,
    ));
    let d = DiscriminatorConfig::basic(3, args.ndf);
    let spec = ModelSpec::CycleGan {
        model: ModelConfig::pair(g.clone(), d),
        loss: LossConfig::official(),
    };
    // Pool size 0, as bench_pytorch.py.
    let mut trainee = Trainee::new(&spec, 0, 0, engine, &device);
    let shape = [args.batch_size, 3, args.size, args.size];
    let x = Tensor::<4>::random(shape, Distribution::Uniform(-1.0, 1.0), &device);
    let y = Tensor::<4>::random(shape, Distribution::Uniform(-1.0, 1.0), &device);
    let mut out = header(args);
    if let Some(kind) = engine {
        out.insert("engine".into(), kind.to_string().into());
    }
    if matches!(args.what, What::Forward | What::Both) {
        let Trainee::CycleGan { nets, .. } = &mut trainee else {
            unreachable!("built from a CycleGAN spec")
        };
        let t = match engine {
            None => median_time_profiled(args, "the generator forward", || {
                let out = nets.g_a.forward(x.clone(), Mode::Eval);
                // Reading one value waits for the whole forward on asynchronous backends.
                let _ = out.slice([0..1, 0..1, 0..1, 0..1]).into_scalar::<f32>();
            }),
            Some(kind) => {
                let plan = ResnetPlan::new(&g)?;
                let (plan, input, output) =
                    plan.forward_plan([args.batch_size, args.size, args.size]);
                let mut exec = crate::train::engine::executor(kind, plan)?;
                exec.load("G", &nets.g_a.state_dict())?;
                exec.set(input, &crate::tensors::values(x.clone()))?;
                let scalars = crate::ops::AdamScalars::new(0.0, [0.5, 0.999], 1e-8, 1);
                let mut failed = None;
                let t = median_time_profiled(args, "the generator forward", || {
                    // Reading the output waits for the device.
                    let ran = exec
                        .run(FORWARD, scalars)
                        .and_then(|()| exec.values(output));
                    failed = failed.take().or(ran.err());
                });
                if let Some(e) = failed {
                    return Err(e.into());
                }
                t
            }
        };
        out.insert("g_forward_s".into(), t.into());
    }
    if matches!(args.what, What::Train | What::Both) {
        let mut optim = Optimizers {
            g: Adam::new(AdamConfig::default()),
            d: Adam::new(AdamConfig::default()),
        };
        let mut failed = None;
        let t = median_time_profiled(args, "the training iteration", || {
            let stepped = trainee.step(&mut optim, x.clone(), y.clone(), 2e-4);
            failed = failed.take().or(stepped.err());
        });
        if let Some(e) = failed {
            return Err(e.into());
        }
        out.insert("train_iter_s".into(), t.into());
    }
    if let Some(rss) = peak_rss_mib() {
        out.insert("peak_rss_mib".into(), rss.into());
    }
    print_json(serde_json::Value::Object(out), args.json)?;
    Ok(ExitCode::SUCCESS)
}

/// The keys every report starts with, as bench_pytorch.py writes them.
fn header(args: &BenchArgs) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    out.insert(
        "framework".into(),
        format!("cyclegan {} (burn 0.22.1)", env!("CARGO_PKG_VERSION")).into(),
    );
    out.insert(
        "device".into(),
        format!("{:?}", args.device.device).to_lowercase().into(),
    );
    if args.model == ModelKind::Pix2pix {
        out.insert("model".into(), "pix2pix".into());
    }
    out.insert("size".into(), args.size.into());
    out.insert("batch".into(), args.batch_size.into());
    out.insert("threads".into(), rayon::current_num_threads().into());
    out
}

/// pix2pix's forward (the U-Net in eval mode) and iteration, as bench_pytorch.py --model
/// pix2pix times them.
fn pix2pix(args: &BenchArgs, device: &burn::tensor::Device) -> anyhow::Result<ExitCode> {
    if !args.size.is_power_of_two() || args.size < 32 {
        return Err(UsageError(format!(
            "--model pix2pix benches unet_<size>: --size must be a power of two ≥ 32, not {}",
            args.size
        ))
        .into());
    }
    let norm = NormKind::Batch;
    let g = GeneratorConfig::Unet(UnetGeneratorConfig {
        norm,
        use_bias: norm.conv_bias(),
        use_dropout: true,
        ..UnetGeneratorConfig::official(3, 3, args.size.trailing_zeros() as usize, args.ngf)
    });
    let spec = ModelSpec::Pix2Pix {
        pix2pix: Pix2PixConfig {
            g,
            d: DiscriminatorConfig::basic(6, args.ndf).with_norm(norm),
            init_type: InitType::Normal,
            init_gain: 0.02,
            gan_mode: GanMode::Vanilla,
            lambda_l1: 100.0,
        },
    };
    let mut trainee = Trainee::new(&spec, 0, 0, None, device);
    let shape = [args.batch_size, 3, args.size, args.size];
    let x = Tensor::<4>::random(shape, Distribution::Uniform(-1.0, 1.0), device);
    let y = Tensor::<4>::random(shape, Distribution::Uniform(-1.0, 1.0), device);
    let mut out = header(args);
    if matches!(args.what, What::Forward | What::Both) {
        let Trainee::Pix2Pix { nets, .. } = &trainee else {
            unreachable!("built from a pix2pix spec")
        };
        let t = median_time_profiled(args, "the generator forward", || {
            let out = nets.g.forward(x.clone(), Mode::Eval);
            let _ = out.slice([0..1, 0..1, 0..1, 0..1]).into_scalar::<f32>();
        });
        out.insert("g_forward_s".into(), t.into());
    }
    if matches!(args.what, What::Train | What::Both) {
        let mut optim = Optimizers {
            g: Adam::new(AdamConfig::default()),
            d: Adam::new(AdamConfig::default()),
        };
        let mut failed = None;
        let t = median_time_profiled(args, "the training iteration", || {
            let stepped = trainee.step(&mut optim, x.clone(), y.clone(), 2e-4);
            failed = failed.take().or(stepped.err());
        });
        if let Some(e) = failed {
            return Err(e.into());
        }
        out.insert("train_iter_s".into(), t.into());
    }
    if let Some(rss) = peak_rss_mib() {
        out.insert("peak_rss_mib".into(), rss.into());
    }
    print_json(serde_json::Value::Object(out), args.json)?;
    Ok(ExitCode::SUCCESS)
}

fn print_json(json: serde_json::Value, as_json: bool) -> anyhow::Result<()> {
    let text = if as_json {
        format!("{json}\n")
    } else {
        json.as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k:>14}  {v}\n"))
            .collect()
    };
    stdout::print(&text)
}
