//! Times the engine's CycleGAN iteration (`engine::CycleGanPlan`, upstream's default networks:
//! resnet_9blocks, basic PatchGAN, ngf = ndf = 64, pool size 0) on the CPU executor or, with
//! the `cuda` feature, on a GPU. Prints one JSON line like `scripts/bench_pytorch.py`'s, so the
//! two can be run side by side (`scripts/device/run.sh` does on the GPU machine).
//!
//! cargo run --release --example engine_bench -- --size 128 --iters 5
//! cargo run --release --features cuda --example engine_bench -- --device cuda --size 256

use std::time::Instant;

use clap::Parser;
use cyclegan::engine::cyclegan::{DISCRIMINATORS, GENERATORS};
use cyclegan::engine::{CpuExecutor, CycleGanLoss, CycleGanPlan, Executor, Role};
use cyclegan::model::{DiscriminatorConfig, GeneratorConfig, ResnetGeneratorConfig};
use cyclegan::ops::AdamScalars;

#[derive(Parser)]
struct Args {
    /// cpu or cuda.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Image side in pixels.
    #[arg(long, default_value_t = 128)]
    size: usize,
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Timed iterations (after two untimed ones: eager, then graph capture on the GPU).
    #[arg(long, default_value_t = 5)]
    iters: usize,
    /// f32 or tf32 convolutions (GPU only).
    #[arg(long, default_value = "tf32")]
    precision: String,
}

/// Deterministic pseudo-random values of N(0, 0.02)-like spread (upstream's init scale):
/// speed does not depend on them.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.07
        })
        .collect()
}

fn time(exec: &mut impl Executor, plan: &CycleGanPlan, iters: usize) -> Vec<f64> {
    let b = &plan.buffers;
    let mut step = |t: i32| {
        let adam = AdamScalars::new(2e-4, [0.5, 0.999], 1e-8, t);
        exec.run(GENERATORS, adam).expect("generators");
        exec.copy(b.fake_a, b.fake_a_pool).expect("pool");
        exec.copy(b.fake_b, b.fake_b_pool).expect("pool");
        exec.run(DISCRIMINATORS, adam).expect("discriminators");
        // Reading a loss waits for the device: each timed iteration is complete.
        exec.loss("D_A").expect("loss")
    };
    step(1);
    step(2);
    (0..iters)
        .map(|i| {
            let start = Instant::now();
            step(3 + i as i32);
            start.elapsed().as_secs_f64()
        })
        .collect()
}

fn main() {
    let args = Args::parse();
    let g = GeneratorConfig::Resnet(ResnetGeneratorConfig::resnet_9blocks());
    let loss = CycleGanLoss {
        lambda_a: 10.0,
        lambda_b: 10.0,
        lambda_identity: 0.5,
    };
    let d = DiscriminatorConfig::basic(3, 64);
    let plan = CycleGanPlan::new(&g, &d, loss, [args.batch, args.size, args.size]).expect("plan");
    let fill = |exec: &mut dyn FnMut(cyclegan::engine::Buf, Vec<f32>)| {
        for (i, b) in plan.plan.buffers.iter().enumerate() {
            if matches!(b.role, Role::Param { .. } | Role::Input(_)) {
                exec(cyclegan::engine::Buf(i), values(b.len(), i as u64));
            }
        }
    };
    let mut times = match args.device.as_str() {
        "cpu" => {
            cyclegan::device::keep_freed_memory();
            let mut exec = CpuExecutor::new(plan.plan.clone());
            fill(&mut |b, v| exec.set(b, &v).expect("set"));
            time(&mut exec, &plan, args.iters)
        }
        #[cfg(feature = "cuda")]
        "cuda" => {
            use cyclegan::engine::cuda::exec::{CudaExecutor, Precision};
            let precision = match args.precision.as_str() {
                "f32" => Precision::F32,
                "tf32" => Precision::Tf32,
                other => panic!("--precision {other}: f32 or tf32"),
            };
            let mut exec = CudaExecutor::new(plan.plan.clone(), 0, precision).expect("a GPU");
            fill(&mut |b, v| exec.set(b, &v).expect("set"));
            time(&mut exec, &plan, args.iters)
        }
        other => panic!("--device {other}: cpu, or cuda in a build with the `cuda` feature"),
    };
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "{{\"engine\": \"cyclegan\", \"device\": \"{}\", \"precision\": \"{}\", \"size\": {}, \"batch\": {}, \"train_iter_s\": {median:.6}}}",
        args.device, args.precision, args.size, args.batch
    );
}
