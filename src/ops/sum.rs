//! Sums in f64 that vectorise: a single running f64 sum waits on each addition (four cycles
//! a term); sixteen running sums, one per lane, do not. The lanes' partial sums change the
//! order of the additions, which in f64 moves the f32 result by an ulp at most rarely.

const LANES: usize = 16;

/// `Σ_i f(a[i], b[i])` over the common length of `a` and `b`, in f64.
#[inline(always)]
pub fn sum_f64_zip(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f64) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (a[..n].chunks_exact(LANES), b[..n].chunks_exact(LANES));
    let tail: f64 = a
        .remainder()
        .iter()
        .zip(b.remainder())
        .map(|(&x, &y)| f(x, y))
        .sum();
    let mut lanes = [0.0f64; LANES];
    for (a, b) in a.zip(b) {
        for ((l, &x), &y) in lanes.iter_mut().zip(a).zip(b) {
            *l += f(x, y);
        }
    }
    lanes.iter().sum::<f64>() + tail
}

/// `Σ_i f(a[i])` in f64.
#[inline(always)]
pub fn sum_f64(a: &[f32], f: impl Fn(f32) -> f64) -> f64 {
    sum_f64_zip(a, a, |x, _| f(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length around whole groups of lanes, against one running sum of exact terms
    /// (small integers, so that any order gives the same value).
    #[test]
    fn lanes_and_tail_add_up() {
        for n in [0, 1, 15, 16, 17, 31, 32, 33, 100] {
            let a: Vec<f32> = (0..n).map(|i| (i % 7) as f32 - 3.0).collect();
            let b: Vec<f32> = (0..n).map(|i| (i % 5) as f32).collect();
            let want: f64 = a.iter().zip(&b).map(|(&x, &y)| x as f64 * y as f64).sum();
            assert_eq!(
                sum_f64_zip(&a, &b, |x, y| x as f64 * y as f64),
                want,
                "n {n}"
            );
            let want: f64 = a.iter().map(|&x| x as f64).sum();
            assert_eq!(sum_f64(&a, |x| x as f64), want, "n {n}");
        }
    }
}
