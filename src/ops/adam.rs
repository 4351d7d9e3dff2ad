//! Adam's update of one parameter in a single pass over its values, gradient and moments, in
//! the same f32 operations and order as the tensor formulation in `train::adam` (so the same
//! values to the bit), instead of eleven tensors per parameter.

use rayon::prelude::*;

use super::simd;

/// Adam's per-step scalars, rounded to f32 as burn rounds a scalar operand.
#[derive(Clone, Copy, Debug)]
pub struct AdamScalars {
    /// 1 − β1, the weight of `lerp(m, g, ·)`.
    pub one_minus_beta1: f32,
    pub beta2: f32,
    pub one_minus_beta2: f32,
    /// √(1 − β2^t).
    pub bias_correction2_sqrt: f32,
    pub eps: f32,
    /// lr / (1 − β1^t).
    pub step_size: f32,
}

impl AdamScalars {
    /// The scalars of step `t` (from 1) at learning rate `lr`, computed in f64 and then each
    /// rounded to f32 as burn rounds a scalar operand, so that every path computes the same
    /// values.
    pub fn new(lr: f64, [beta1, beta2]: [f64; 2], eps: f64, t: i32) -> Self {
        let bias_correction1 = 1.0 - beta1.powi(t);
        let bias_correction2_sqrt = (1.0 - beta2.powi(t)).sqrt();
        Self {
            one_minus_beta1: (1.0 - beta1) as f32,
            beta2: beta2 as f32,
            one_minus_beta2: (1.0 - beta2) as f32,
            bias_correction2_sqrt: bias_correction2_sqrt as f32,
            eps: eps as f32,
            step_size: (lr / bias_correction1) as f32,
        }
    }
}

/// Elements per parallel job: large enough to amortise the job, small enough to spread a
/// 2.4 M-value weight over the threads.
const CHUNK: usize = 1 << 16;

/// Returns the updated parameter and moments.
pub fn step(
    param: &[f32],
    grad: &[f32],
    exp_avg: &[f32],
    exp_avg_sq: &[f32],
    s: AdamScalars,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let n = param.len();
    assert!(grad.len() == n && exp_avg.len() == n && exp_avg_sq.len() == n);
    let (mut p_out, mut m_out, mut v_out) = (vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]);
    p_out
        .par_chunks_mut(CHUNK)
        .zip(m_out.par_chunks_mut(CHUNK))
        .zip(v_out.par_chunks_mut(CHUNK))
        .enumerate()
        .for_each(|(c, ((p_out, m_out), v_out))| {
            simd::dispatch(
                #[inline(always)]
                || {
                    let r = c * CHUNK..c * CHUNK + p_out.len();
                    let (p, g) = (&param[r.clone()], &grad[r.clone()]);
                    let (m, v) = (&exp_avg[r.clone()], &exp_avg_sq[r]);
                    for i in 0..p_out.len() {
                        let m_new = m[i] + (g[i] - m[i]) * s.one_minus_beta1;
                        let v_new = v[i] * s.beta2 + (g[i] * g[i]) * s.one_minus_beta2;
                        let denom = v_new.sqrt() / s.bias_correction2_sqrt + s.eps;
                        p_out[i] = p[i] - m_new / denom * s.step_size;
                        m_out[i] = m_new;
                        v_out[i] = v_new;
                    }
                },
            )
        });
    (p_out, m_out, v_out)
}
