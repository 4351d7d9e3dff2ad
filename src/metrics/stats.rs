//! Statistics of Inception features: the Fréchet distance between two Gaussians fitted to them
//! (FID, as pytorch-fid computes it) and the kernel inception distance (KID, as torch-fidelity
//! computes it). Everything in `f64`.

use faer::{Mat, Side};
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;

/// Why statistics cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatsError {
    #[error(
        "{what} has {n} image(s); a covariance needs at least 2 (FID and KID compare sets of \
         images: thousands give a stable score)"
    )]
    TooFew { what: String, n: usize },
    #[error("feature sizes differ: {a} against {b}")]
    DimMismatch { a: usize, b: usize },
    #[error("the eigendecomposition of a {n}×{n} covariance did not converge")]
    Eigen { n: usize },
}

/// Features of a set of images, row-major `[n, dim]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Features {
    pub dim: usize,
    pub data: Vec<f32>,
}

impl Features {
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            data: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.data.len() / self.dim.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// A Gaussian fitted to features: the mean and the unbiased (N − 1) covariance, as
/// `np.mean(axis=0)` and `np.cov(rowvar=False)` give them.
#[derive(Clone, Debug)]
pub struct Gaussian {
    pub n: usize,
    pub mean: Vec<f64>,
    pub cov: Mat<f64>,
}

/// Fits the Gaussian; `what` names the set in the error for fewer than 2 rows.
pub fn fit_gaussian(f: &Features, what: &str) -> Result<Gaussian, StatsError> {
    let (n, d) = (f.len(), f.dim);
    if n < 2 {
        return Err(StatsError::TooFew {
            what: what.into(),
            n,
        });
    }
    let mut mean = vec![0.0f64; d];
    for i in 0..n {
        for (m, &v) in mean.iter_mut().zip(f.row(i)) {
            *m += f64::from(v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    // Centred data as an n×d matrix; the covariance is its Gram matrix over N − 1.
    let centred = Mat::<f64>::from_fn(n, d, |i, j| f64::from(f.row(i)[j]) - mean[j]);
    let mut cov = centred.transpose() * &centred;
    let scale = 1.0 / (n - 1) as f64;
    map_in_place(&mut cov, |v| v * scale);
    Ok(Gaussian { n, mean, cov })
}

/// `|μ₁ − μ₂|² + tr Σ₁ + tr Σ₂ − 2 tr √(√Σ₁ Σ₂ √Σ₁)`.
///
/// pytorch-fid takes `tr sqrtm(Σ₁ Σ₂)` with SciPy's general (Schur) square root; the matrix
/// `√Σ₁ Σ₂ √Σ₁` is similar to `Σ₁ Σ₂` and symmetric positive semi-definite, so its trace root is
/// `Σ √λᵢ` from a symmetric eigendecomposition, which needs no complex arithmetic and stays real
/// where the covariances are singular (fewer images than feature dimensions). Eigenvalues that
/// rounding makes slightly negative count as 0, as do those of `Σ₁` inside `√Σ₁`.
pub fn frechet_distance(a: &Gaussian, b: &Gaussian) -> Result<f64, StatsError> {
    let d = a.mean.len();
    if b.mean.len() != d {
        return Err(StatsError::DimMismatch {
            a: d,
            b: b.mean.len(),
        });
    }
    let diff: f64 = a
        .mean
        .iter()
        .zip(&b.mean)
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    let trace = |m: &Mat<f64>| (0..d).map(|i| m[(i, i)]).sum::<f64>();
    let eig = a
        .cov
        .self_adjoint_eigen(Side::Lower)
        .map_err(|_| StatsError::Eigen { n: d })?;
    let (u, s) = (eig.U(), eig.S());
    // √Σ₁ = U diag(√λ) Uᵀ.
    let scaled = Mat::<f64>::from_fn(d, d, |i, j| u[(i, j)] * s[j].max(0.0).sqrt());
    let sqrt_a = &scaled * u.transpose();
    let mut m = &sqrt_a * (&b.cov * &sqrt_a);
    // Symmetric in exact arithmetic; make it so in floats before the symmetric solver.
    for i in 0..d {
        for j in 0..i {
            let v = 0.5 * (m[(i, j)] + m[(j, i)]);
            m[(i, j)] = v;
            m[(j, i)] = v;
        }
    }
    let lambdas = m
        .self_adjoint_eigenvalues(Side::Lower)
        .map_err(|_| StatsError::Eigen { n: d })?;
    let tr_covmean: f64 = lambdas.iter().map(|l| l.max(0.0).sqrt()).sum();
    Ok(diff + trace(&a.cov) + trace(&b.cov) - 2.0 * tr_covmean)
}

/// KID's settings, torch-fidelity's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KidConfig {
    pub subsets: usize,
    /// Each subset has `min(subset_size, n₁, n₂)` rows of each set.
    pub subset_size: usize,
    pub seed: u64,
}

impl Default for KidConfig {
    fn default() -> Self {
        Self {
            subsets: 100,
            subset_size: 1000,
            seed: 16,
        }
    }
}

/// KID's mean and standard deviation (NumPy's, over N) over the subsets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Kid {
    pub mean: f64,
    pub std: f64,
    pub subset_size: usize,
}

/// The unbiased MMD² with the polynomial kernel `k(x, y) = (x·y / d + 1)³`, averaged over random
/// subsets drawn without replacement (torch-fidelity's `kid_features_to_metric`). The subsets
/// are drawn with this crate's seeded generator, not NumPy's, so the mean agrees with
/// torch-fidelity's to within the spread over subsets, and exactly when each subset is a whole
/// set.
pub fn kid(a: &Features, b: &Features, config: KidConfig) -> Result<Kid, StatsError> {
    if a.dim != b.dim {
        return Err(StatsError::DimMismatch { a: a.dim, b: b.dim });
    }
    for (f, what) in [(a, "the real set"), (b, "the fake set")] {
        if f.len() < 2 {
            return Err(StatsError::TooFew {
                what: what.into(),
                n: f.len(),
            });
        }
    }
    let m = config.subset_size.min(a.len()).min(b.len());
    // The kernel of every pair once (three matrix products), then each subset sums entries.
    let (ka, kb, kab) = (
        kernel_matrix(a, a),
        kernel_matrix(b, b),
        kernel_matrix(a, b),
    );
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut values = Vec::with_capacity(config.subsets);
    for _ in 0..config.subsets {
        let ia = sample(&mut rng, a.len(), m).into_vec();
        let ib = sample(&mut rng, b.len(), m).into_vec();
        // Off-diagonal sums of K_xx and K_yy, and the whole of K_xy.
        let (mut kxx, mut kyy, mut kxy) = (0.0, 0.0, 0.0);
        for (i, (&xi, &yi)) in ia.iter().zip(&ib).enumerate() {
            for (j, (&xj, &yj)) in ia.iter().zip(&ib).enumerate() {
                if i != j {
                    kxx += ka[(xi, xj)];
                    kyy += kb[(yi, yj)];
                }
                kxy += kab[(xi, yj)];
            }
        }
        let mf = m as f64;
        values.push((kxx + kyy) / (mf * (mf - 1.0)) - 2.0 * kxy / (mf * mf));
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
    Ok(Kid {
        mean,
        std: var.sqrt(),
        subset_size: m,
    })
}

/// `(x·y / d + 1)³` for every row `x` of `a` and `y` of `b`.
fn kernel_matrix(a: &Features, b: &Features) -> Mat<f64> {
    let as_mat = |f: &Features| Mat::<f64>::from_fn(f.len(), f.dim, |i, j| f64::from(f.row(i)[j]));
    let mut k = as_mat(a) * as_mat(b).transpose();
    let d = a.dim as f64;
    map_in_place(&mut k, |v| (v / d + 1.0).powi(3));
    k
}

fn map_in_place(m: &mut Mat<f64>, f: impl Fn(f64) -> f64) {
    for j in 0..m.ncols() {
        for i in 0..m.nrows() {
            m[(i, j)] = f(m[(i, j)]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/metrics/stats")
    }

    /// The synthetic feature sets of scripts/fid_reference.py (`fixtures`).
    fn fixture_features(name: &str) -> Features {
        let (shape, data) =
            crate::testdata::st_tensor(&fixture_dir().join("features.safetensors"), name);
        Features {
            dim: shape[1],
            data,
        }
    }

    fn reference() -> serde_json::Value {
        let text = std::fs::read_to_string(fixture_dir().join("reference.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn fid(a: &Features, b: &Features) -> f64 {
        frechet_distance(
            &fit_gaussian(a, "a").unwrap(),
            &fit_gaussian(b, "b").unwrap(),
        )
        .unwrap()
    }

    /// pytorch-fid's `calculate_frechet_distance` (SciPy's `sqrtm`) on the same features.
    #[test]
    fn fid_matches_pytorch_fid() {
        let (a, b, c) = (
            fixture_features("a"),
            fixture_features("b"),
            fixture_features("c"),
        );
        let r = reference();
        for (got, key) in [(fid(&a, &b), "fid_ab"), (fid(&a, &c), "fid_ac")] {
            let want = r[key].as_f64().unwrap();
            assert!(
                ((got - want) / want).abs() < 1e-9,
                "{key}: {got} against pytorch-fid's {want}"
            );
        }
    }

    /// Stated math: the Fréchet distance of a set to itself is 0, and shifting every feature by
    /// a vector v leaves the covariance and adds |v|².
    #[test]
    fn fid_of_itself_is_zero_and_a_shift_adds_its_square() {
        let a = fixture_features("a");
        assert!(fid(&a, &a).abs() < 1e-9, "{}", fid(&a, &a));
        let mut shifted = a.clone();
        for (i, v) in shifted.data.iter_mut().enumerate() {
            *v += if i % a.dim == 3 { 2.0 } else { 0.0 };
        }
        assert!(
            (fid(&a, &shifted) - 4.0).abs() < 1e-4,
            "{}",
            fid(&a, &shifted)
        );
    }

    /// Equal sizes and subsets of the whole sets: every subset is the same set, so the mean is
    /// torch-fidelity's unbiased MMD² of the whole sets (its `kernel_mmd`, run in f64) and the
    /// std is 0.
    #[test]
    fn kid_of_whole_sets_is_torch_fidelitys_mmd() {
        let (a, c) = (fixture_features("a"), fixture_features("c"));
        let r = reference();
        let k = kid(&a, &c, KidConfig::default()).unwrap();
        assert_eq!(k.subset_size, 150);
        let want = r["kid_ac_whole_f64"].as_f64().unwrap();
        assert!(
            ((k.mean - want) / want).abs() < 1e-9,
            "{} vs {want}",
            k.mean
        );
        assert!(k.std < 1e-12, "{}", k.std);
    }

    /// Subsets of 50: torch-fidelity draws them with NumPy's generator, this crate with its own,
    /// so the means agree to within the spread over subsets.
    #[test]
    fn kid_on_subsets_is_within_torch_fidelitys_spread() {
        let (a, b) = (fixture_features("a"), fixture_features("b"));
        let r = reference();
        let config = KidConfig {
            subset_size: 50,
            ..KidConfig::default()
        };
        let k = kid(&a, &b, config).unwrap();
        let (mean, std) = (
            r["kid_ab_50"][0].as_f64().unwrap(),
            r["kid_ab_50"][1].as_f64().unwrap(),
        );
        assert!((k.mean - mean).abs() < std, "{} vs {mean} ± {std}", k.mean);
        // The spread itself is a property of the subset size, not of the draw.
        assert!((k.std / std - 1.0).abs() < 0.5, "{} vs {std}", k.std);
    }

    #[test]
    fn fewer_than_two_images_is_an_error() {
        let a = fixture_features("a");
        let one = Features {
            dim: a.dim,
            data: a.row(0).to_vec(),
        };
        assert!(matches!(
            fit_gaussian(&one, "the fake set"),
            Err(StatsError::TooFew { n: 1, .. })
        ));
        assert!(matches!(
            kid(&a, &Features::new(a.dim), KidConfig::default()),
            Err(StatsError::TooFew { n: 0, .. })
        ));
    }
}
