//! Images → the Inception network's 299×299 input, as each FID implementation prepares them.
//!
//! * pytorch-fid (`FidMode::PytorchFid`, the default): PIL RGB → `to_tensor` ([0, 1], f32,
//!   `v / 255`) → `F.interpolate(size=(299, 299), mode='bilinear', align_corners=False)` (no
//!   antialiasing, so downscaling skips pixels) → `2x − 1`.
//! * clean-fid (`FidMode::Clean`): each channel of the 8-bit image as a PIL float (`'F'`) image,
//!   bicubic-resized by PIL (antialiased), clipped to [0, 255] → `(x − 128) / 128`.

use crate::data::Image8;
use crate::data::resize::resize_bicubic_f32;

use super::inception::INPUT_SIZE;

/// Which implementation's preprocessing to follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FidMode {
    /// pytorch-fid: bilinear resize without antialiasing, `2x − 1`; the scores most papers quote.
    #[value(name = "pytorch-fid")]
    PytorchFid,
    /// clean-fid (Parmar et al. 2022): PIL's antialiased bicubic on float channels,
    /// `(x − 128) / 128`; its scores differ from pytorch-fid's.
    Clean,
}

impl FidMode {
    pub fn as_str(self) -> &'static str {
        match self {
            FidMode::PytorchFid => "pytorch-fid",
            FidMode::Clean => "clean",
        }
    }
}

/// The network input of one RGB image: `[3, 299, 299]`.
pub fn network_input(img: &Image8, mode: FidMode) -> Vec<f32> {
    assert_eq!(img.channels, 3, "FID reads RGB images");
    let (h, w) = (img.height, img.width);
    let plane = |c: usize| img.data.iter().skip(c).step_by(3).copied();
    match mode {
        FidMode::PytorchFid => {
            let mut chw = Vec::with_capacity(3 * h * w);
            for c in 0..3 {
                chw.extend(plane(c).map(|v| f32::from(v) / 255.0));
            }
            let mut x = bilinear(&chw, 3, [h, w], [INPUT_SIZE, INPUT_SIZE]);
            x.iter_mut().for_each(|v| *v = 2.0 * *v - 1.0);
            x
        }
        FidMode::Clean => {
            let mut out = Vec::with_capacity(3 * INPUT_SIZE * INPUT_SIZE);
            for c in 0..3 {
                let p: Vec<f32> = plane(c).map(f32::from).collect();
                let r = resize_bicubic_f32(&p, w, h, INPUT_SIZE, INPUT_SIZE);
                out.extend(r.into_iter().map(|v| (v.clamp(0.0, 255.0) - 128.0) / 128.0));
            }
            out
        }
    }
}

/// One axis of PyTorch's `upsample_bilinear2d` (align_corners=False): for each output index the
/// two input indices and their weights, computed in f32 as ATen's `compute_indices_weights_linear`
/// does (`scale = in / out`, source `scale (i + ½) − ½` clamped at 0).
fn axis(in_size: usize, out_size: usize) -> Vec<(usize, usize, f32, f32)> {
    let scale = in_size as f32 / out_size as f32;
    (0..out_size)
        .map(|i| {
            let src = (scale * (i as f32 + 0.5) - 0.5).max(0.0);
            let i0 = (src.floor() as usize).min(in_size - 1);
            let l1 = (src - i0 as f32).clamp(0.0, 1.0);
            let i1 = if i0 < in_size - 1 { i0 + 1 } else { i0 };
            (i0, i1, 1.0 - l1, l1)
        })
        .collect()
}

/// `F.interpolate(x, size=out, mode='bilinear', align_corners=False)` on `[c, h, w]`, with
/// the arithmetic of ATen's generic CPU kernel (the one 299×299 outputs take): along the width
/// in each of the two input rows, then the rows mixed.
pub fn bilinear(x: &[f32], c: usize, [h, w]: [usize; 2], [oh, ow]: [usize; 2]) -> Vec<f32> {
    let (rows, cols) = (axis(h, oh), axis(w, ow));
    let mut out = Vec::with_capacity(c * oh * ow);
    for plane in x.chunks_exact(h * w).take(c) {
        for &(y0, y1, wy0, wy1) in &rows {
            let (r0, r1) = (&plane[y0 * w..][..w], &plane[y1 * w..][..w]);
            // ATen's compiled kernel fuses these into multiply-adds; this order matches its
            // outputs bit for bit (a plain `a·w₀ + b·w₁` is 1 ulp off on a third of pixels).
            for &(x0, x1, wx0, wx1) in &cols {
                let t0 = r0[x0].mul_add(wx0, r0[x1] * wx1);
                let t1 = r1[x0].mul_add(wx0, r1[x1] * wx1);
                out.push(t0.mul_add(wy0, t1 * wy1));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PyTorch's own outputs (scripts/fid_reference.py `fixtures`): up, down and same size.
    #[test]
    fn bilinear_matches_pytorch() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/metrics/inception/bilinear.safetensors");
        let read = |name: &str| crate::testdata::st_tensor(&path, name);
        let (_, small) = read("input");
        let (_, big) = read("input_big");
        // ATen's generic kernel, the one 299×299 outputs take (see scripts/fid_reference.py).
        for (input, size, key, out) in [
            (&small, [13, 10], "up", [100, 40]),
            (&big, [131, 37], "down", [97, 33]),
            (&small, [13, 10], "same", [13, 10]),
        ] {
            let (shape, want) = read(key);
            assert_eq!(shape, [3, out[0], out[1]]);
            let got = bilinear(input, 3, size, out);
            let worst = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst == 0.0, "{key}: max |Δ| {worst}");
        }
    }
}
