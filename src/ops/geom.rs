//! The shape of a convolution and the index arithmetic every CPU kernel shares: which input
//! row and columns an output reads, and the geometry of a stride-1 convolution's input
//! gradient as a forward convolution.

/// The shape of one convolution: input `[batch, c_in, in_h, in_w]`, weight
/// `[c_out, c_in, k_h, k_w]`, zero padding `pad` before and after, output `[batch, c_out, out_h,
/// out_w]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    pub batch: usize,
    pub c_in: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub c_out: usize,
    pub k_h: usize,
    pub k_w: usize,
    pub stride: [usize; 2],
    pub pad: [usize; 2],
    pub out_h: usize,
    pub out_w: usize,
}

impl ConvGeom {
    /// The geometry of this stride-1 convolution's input gradient as a forward convolution:
    /// from the output gradient (padded by k − 1 − p) back to the input's shape, channel axes
    /// swapped. The caller checks the padding is below the kernel size.
    pub(super) fn transposed(&self) -> Self {
        assert!(self.stride == [1, 1] && self.pad[0] < self.k_h && self.pad[1] < self.k_w);
        Self {
            batch: self.batch,
            c_in: self.c_out,
            in_h: self.out_h,
            in_w: self.out_w,
            c_out: self.c_in,
            k_h: self.k_h,
            k_w: self.k_w,
            stride: [1, 1],
            pad: [self.k_h - 1 - self.pad[0], self.k_w - 1 - self.pad[1]],
            out_h: self.in_h,
            out_w: self.in_w,
        }
    }

    /// The geometry of a convolution of `x` by `w`, or `None` when the kernel does not fit the
    /// padded input.
    pub fn new(x: [usize; 4], w: [usize; 4], stride: [usize; 2], pad: [usize; 2]) -> Option<Self> {
        let [batch, c_in, in_h, in_w] = x;
        let [c_out, w_c_in, k_h, k_w] = w;
        if w_c_in != c_in || stride.contains(&0) {
            return None;
        }
        let out = |size: usize, k: usize, s: usize, p: usize| {
            (size + 2 * p).checked_sub(k).map(|span| span / s + 1)
        };
        Some(Self {
            batch,
            c_in,
            in_h,
            in_w,
            c_out,
            k_h,
            k_w,
            stride,
            pad,
            out_h: out(in_h, k_h, stride[0], pad[0])?,
            out_w: out(in_w, k_w, stride[1], pad[1])?,
        })
    }

    /// Rows of the im2col matrix: one per (input channel, kernel row, kernel column).
    pub fn k(&self) -> usize {
        self.c_in * self.k_h * self.k_w
    }

    pub fn in_plane(&self) -> usize {
        self.in_h * self.in_w
    }

    pub fn out_plane(&self) -> usize {
        self.out_h * self.out_w
    }

    /// FLOPs of the forward pass (one multiply-add counted as two).
    pub fn flops(&self) -> f64 {
        2.0 * (self.batch * self.c_out * self.out_plane() * self.k()) as f64
    }

    /// 1×1, stride 1, no padding: the input already is its own im2col matrix.
    pub(super) fn is_pointwise(&self) -> bool {
        self.k_h == 1 && self.k_w == 1 && self.stride == [1, 1] && self.pad == [0, 0]
    }

    /// For kernel offset `kj`: the output columns `[lo, hi)` that read inside the input row
    /// (the rest read padding). Column `lo` reads input column `lo · stride + kj − pad`.
    pub(super) fn valid_cols(&self, kj: usize) -> (usize, usize) {
        let s = self.stride[1];
        let lo = self.pad[1].saturating_sub(kj).div_ceil(s).min(self.out_w);
        let hi = (self.in_w + self.pad[1])
            .saturating_sub(kj)
            .div_ceil(s)
            .clamp(lo, self.out_w);
        (lo, hi)
    }

    /// The input row a kernel row `ki` reads for output row `oy`, if inside the input.
    pub(super) fn in_row(&self, oy: usize, ki: usize) -> Option<usize> {
        (oy * self.stride[0] + ki)
            .checked_sub(self.pad[0])
            .filter(|&iy| iy < self.in_h)
    }

    /// The input column kernel column `kj` reads for output column `ox`, if inside the input
    /// (the tests' definition of a convolution; the kernels use [`ConvGeom::valid_cols`]).
    #[cfg(test)]
    pub(super) fn in_col(&self, ox: usize, kj: usize) -> Option<usize> {
        (ox * self.stride[1] + kj)
            .checked_sub(self.pad[1])
            .filter(|&ix| ix < self.in_w)
    }
}
