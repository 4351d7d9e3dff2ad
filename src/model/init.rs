//! Weight initialisation with upstream's semantics (`init_weights` in `models/networks.py`):
//! convolution weights drawn by the chosen scheme, biases zero, batch-norm scales N(1, gain).
//! Instance-norm affine parameters keep PyTorch's defaults (1 and 0), because upstream's
//! `classname.find('BatchNorm2d')` test does not match `InstanceNorm2d`.
//!
//! Draws come from a seeded ChaCha stream on the host, so a seed gives the same network on every
//! backend.

use burn::tensor::Device;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::params::{ParamRole, Params};

/// Upstream `--init_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum InitType {
    /// N(0, gain).
    Normal,
    /// Xavier/Glorot normal with `gain`.
    Xavier,
    /// Kaiming/He normal, fan-in, a = 0 (gain is not used, as upstream).
    Kaiming,
    /// Orthogonal with `gain`.
    Orthogonal,
}

/// Initialises every tensor of `net` in visiting order from `seed`.
pub fn init_weights(net: &mut impl Params, init: InitType, gain: f64, seed: u64, device: &Device) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    net.visit("", &mut |key, mut p, role| {
        let shape = p.shape();
        let n: usize = shape.iter().product();
        let values: Vec<f32> = match role {
            ParamRole::Bias => vec![0.0; n],
            ParamRole::BatchNormWeight => (0..n)
                .map(|_| (1.0 + gain * normal(&mut rng)) as f32)
                .collect(),
            ParamRole::NormWeight => vec![1.0; n],
            // running_mean 0, running_var 1, as a fresh BatchNorm2d.
            ParamRole::Buffer if key.ends_with("running_var") => vec![1.0; n],
            ParamRole::Buffer => vec![0.0; n],
            ParamRole::Conv => conv_weight(&shape, init, gain, &mut rng),
        };
        p.set_host(values, device);
    });
}

fn conv_weight(shape: &[usize], init: InitType, gain: f64, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let receptive: usize = shape[2..].iter().product();
    // PyTorch's fan computation uses dim 1 as fan-in and dim 0 as fan-out, also for transposed
    // convolutions (whose dim 0 is the input channels).
    let fan_in = (shape[1] * receptive) as f64;
    let fan_out = (shape[0] * receptive) as f64;
    let std = match init {
        InitType::Normal => gain,
        InitType::Xavier => gain * (2.0 / (fan_in + fan_out)).sqrt(),
        InitType::Kaiming => (2.0 / fan_in).sqrt(),
        InitType::Orthogonal => return orthogonal(shape[0], n / shape[0], gain, rng),
    };
    (0..n).map(|_| (std * normal(rng)) as f32).collect()
}

/// `nn.init.orthogonal_`: a `rows × cols` matrix with orthonormal rows (or columns, whichever
/// is fewer), from the QR decomposition of a Gaussian matrix with R's diagonal made positive.
fn orthogonal(rows: usize, cols: usize, gain: f64, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let (r, c) = if rows < cols {
        (cols, rows)
    } else {
        (rows, cols)
    };
    // Columns of an r × c Gaussian matrix, orthonormalised by modified Gram-Schmidt: this is the
    // Q of the QR decomposition whose R has a positive diagonal.
    let mut q: Vec<Vec<f64>> = (0..c)
        .map(|_| (0..r).map(|_| normal(rng)).collect())
        .collect();
    for j in 0..c {
        for k in 0..j {
            let (done, rest) = q.split_at_mut(j);
            let dot: f64 = done[k].iter().zip(&rest[0]).map(|(a, b)| a * b).sum();
            for (x, y) in rest[0].iter_mut().zip(&done[k]) {
                *x -= dot * y;
            }
        }
        let norm = q[j]
            .iter()
            .map(|x| x * x)
            .sum::<f64>()
            .sqrt()
            .max(f64::MIN_POSITIVE);
        q[j].iter_mut().for_each(|x| *x /= norm);
    }
    let mut out = vec![0f32; rows * cols];
    for i in 0..rows {
        for j in 0..cols {
            // q is stored column-major as (r × c); transpose back when rows < cols.
            let v = if rows < cols { q[i][j] } else { q[j][i] };
            out[i * cols + j] = (gain * v) as f32;
        }
    }
    out
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.r#gen::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.r#gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;
    use crate::model::{DiscriminatorConfig, ParamMut};

    /// Every convolution weight of a discriminator (ndf 32) with its shape.
    fn conv_weights(init: InitType, gain: f64) -> Vec<(Vec<usize>, Vec<f32>)> {
        let device = Device::flex();
        let mut d = DiscriminatorConfig::basic(3, 32).init(&device);
        init_weights(&mut d, init, gain, 7, &device);
        let mut out = Vec::new();
        d.visit("", &mut |_, p, role| {
            if role == ParamRole::Conv {
                out.push((p.shape(), p.host()));
            }
            if role == ParamRole::Bias
                && let ParamMut::D1(b) = p
            {
                let v = b
                    .clone()
                    .into_data()
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .expect("f32");
                assert!(v.iter().all(|x| *x == 0.0), "biases start at zero");
            }
        });
        out
    }

    fn std(v: &[f32]) -> f64 {
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        (v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n).sqrt()
    }

    #[test]
    fn normal_xavier_kaiming_have_their_standard_deviations() {
        // The 128→256 4×4 convolution: fan_in 2048, fan_out 4096, 524 288 draws.
        let pick = |w: &[(Vec<usize>, Vec<f32>)]| {
            w.iter()
                .find(|(s, _)| s[..2] == [256, 128])
                .expect("conv")
                .1
                .clone()
        };
        let close = |got: f64, want: f64| (got / want - 1.0).abs() < 0.01;
        assert!(close(
            std(&pick(&conv_weights(InitType::Normal, 0.02))),
            0.02
        ));
        let xavier = 0.02 * (2.0f64 / (2048.0 + 4096.0)).sqrt();
        assert!(close(
            std(&pick(&conv_weights(InitType::Xavier, 0.02))),
            xavier
        ));
        let kaiming = (2.0f64 / 2048.0).sqrt();
        assert!(close(
            std(&pick(&conv_weights(InitType::Kaiming, 0.02))),
            kaiming
        ));
    }

    #[test]
    fn orthogonal_rows_are_orthonormal_times_gain() {
        for (shape, w) in conv_weights(InitType::Orthogonal, 0.5) {
            let rows = shape[0];
            let cols = w.len() / rows;
            // With fewer rows than columns the rows are orthogonal, each of norm `gain`.
            if rows > cols {
                continue;
            }
            for i in 0..rows.min(8) {
                for j in 0..rows.min(8) {
                    let dot: f64 = (0..cols)
                        .map(|k| w[i * cols + k] as f64 * w[j * cols + k] as f64)
                        .sum();
                    let want = if i == j { 0.25 } else { 0.0 };
                    assert!(
                        (dot - want).abs() < 1e-4,
                        "{shape:?}: row {i}·row {j} = {dot}"
                    );
                }
            }
        }
    }
}
