// The CUDA engine's own kernels: every op of a plan that is not a convolution (cuDNN runs
// those). Compiled at run time by NVRTC, so the binary needs no CUDA toolkit; `cargo test`
// compiles this file wherever libnvrtc is found, CI included. Each kernel computes what the
// CPU executor's `ops` kernel computes for the same op (src/engine/cpu.rs); reductions
// accumulate in double as the CPU ones do, so that the two agree to float rounding.
//
// Conventions: `acc != 0` adds to the output instead of writing it (a gradient's second and
// later contributions); `act` is 0 identity, 1 ReLU, 2 leaky ReLU with `slope`; element
// counts are 64-bit. Reductions run one block of REDUCE_THREADS threads per plane/channel.

#define REDUCE_THREADS 256

__device__ __forceinline__ float act_apply(int act, float slope, float v) {
    if (act == 1) return v > 0.0f ? v : 0.0f;
    if (act == 2) return v < 0.0f ? v * slope : v;
    return v;
}

// The gradient `dy` of the activation's output taken back through it at `v` (its input or
// output: their signs agree).
__device__ __forceinline__ float act_back(int act, float slope, float v, float dy) {
    if (act == 1) return v > 0.0f ? dy : 0.0f;
    if (act == 2) return v < 0.0f ? dy * slope : dy;
    return dy;
}

__device__ __forceinline__ void store(float* out, long long i, float v, int acc) {
    out[i] = acc ? out[i] + v : v;
}

// The sum of every thread's `v` in the block, returned to all threads. blockDim.x must be
// REDUCE_THREADS (a power of two).
__device__ double block_sum(double v) {
    __shared__ double partial[REDUCE_THREADS];
    __syncthreads();
    partial[threadIdx.x] = v;
    __syncthreads();
    for (int stride = REDUCE_THREADS / 2; stride > 0; stride >>= 1) {
        if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
        __syncthreads();
    }
    double total = partial[0];
    __syncthreads();
    return total;
}

// The input index that padded position `i` of an axis of `n` copies under reflection by `p`.
__device__ __forceinline__ int reflect_source(int i, int p, int n) {
    int j = i - p;
    if (j < 0) j = -j;
    if (j >= n) j = 2 * (n - 1) - j;
    return j;
}

// nn.ReflectionPad2d(p): `planes` planes of h × w into (h + 2p) × (w + 2p).
extern "C" __global__ void reflect_pad(const float* x, float* y, long long planes, int h, int w, int p) {
    int ph = h + 2 * p, pw = w + 2 * p;
    long long n = planes * ph * pw;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        long long plane = i / (ph * pw);
        int r = (int)(i % (ph * pw));
        int oy = r / pw, ox = r % pw;
        y[i] = x[plane * h * w + reflect_source(oy, p, h) * w + reflect_source(ox, p, w)];
    }
}

// The padded positions along an axis of `n` (padding `p`) that copy input position `j`:
// itself, and its mirror images near either edge. Returns how many (1 to 3).
__device__ __forceinline__ int reflect_targets(int j, int p, int n, int* out) {
    int k = 0;
    out[k++] = j + p;
    if (j >= 1 && j <= p) out[k++] = p - j;
    if (j >= n - 1 - p && j <= n - 2) out[k++] = p + 2 * (n - 1) - j;
    return k;
}

// The gradient of reflect_pad, gathered per input position (no atomics: deterministic).
extern "C" __global__ void reflect_pad_backward(const float* dy, float* dx, long long planes, int h, int w,
                                                int p, int acc) {
    int ph = h + 2 * p, pw = w + 2 * p;
    long long n = planes * h * w;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        long long plane = i / (h * w);
        int r = (int)(i % (h * w));
        int iy = r / w, ix = r % w;
        int ty[3], tx[3];
        int ny = reflect_targets(iy, p, h, ty), nx = reflect_targets(ix, p, w, tx);
        const float* src = dy + plane * ph * pw;
        float sum = 0.0f;
        for (int a = 0; a < ny; a++)
            for (int b = 0; b < nx; b++) sum += src[ty[a] * pw + tx[b]];
        store(dx, i, sum, acc);
    }
}

// InstanceNorm2d(affine=False) then `act`, one block per plane: mean and biased variance in
// double, `rstd = 1 / sqrt(var + eps)`; `normed` (may be null) keeps the values before `act`.
extern "C" __global__ void instance_norm(const float* x, float* y, float* normed, float* rstd, long long plane,
                                         double eps, int act, float slope) {
    const float* xp = x + blockIdx.x * plane;
    double s = 0.0;
    for (long long i = threadIdx.x; i < plane; i += blockDim.x) s += (double)xp[i];
    double mean = block_sum(s) / (double)plane;
    double q = 0.0;
    for (long long i = threadIdx.x; i < plane; i += blockDim.x) {
        double d = (double)xp[i] - mean;
        q += d * d;
    }
    double var = block_sum(q) / (double)plane;
    float r = (float)(1.0 / sqrt(var + eps));
    float m = (float)mean;
    if (threadIdx.x == 0) rstd[blockIdx.x] = r;
    for (long long i = threadIdx.x; i < plane; i += blockDim.x) {
        float v = (xp[i] - m) * r;
        long long o = blockIdx.x * plane + i;
        if (normed) normed[o] = v;
        y[o] = act_apply(act, slope, v);
    }
}

// Its input gradient, one block per plane: with g = dy taken back through `act` at the
// normalised values, dx = rstd · (g − mean(g) − normed · mean(g · normed)).
extern "C" __global__ void instance_norm_backward(const float* normed, const float* rstd, const float* dy,
                                                  float* dx, long long plane, int act, float slope, int acc) {
    long long base = blockIdx.x * plane;
    double sg = 0.0, sgy = 0.0;
    for (long long i = threadIdx.x; i < plane; i += blockDim.x) {
        float v = normed[base + i];
        double g = (double)act_back(act, slope, v, dy[base + i]);
        sg += g;
        sgy += g * (double)v;
    }
    float mean_g = (float)(block_sum(sg) / (double)plane);
    float mean_gy = (float)(block_sum(sgy) / (double)plane);
    float r = rstd[blockIdx.x];
    for (long long i = threadIdx.x; i < plane; i += blockDim.x) {
        float v = normed[base + i];
        float g = act_back(act, slope, v, dy[base + i]);
        store(dx, base + i, r * (g - mean_g - v * mean_gy), acc);
    }
}

// `y = act(y + bias[channel])` in place after a cuDNN convolution (bias may be null).
extern "C" __global__ void bias_activate(float* y, const float* bias, long long n, int channels, long long plane,
                                         int act, float slope) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        float v = y[i];
        if (bias) v += bias[(i / plane) % channels];
        y[i] = act_apply(act, slope, v);
    }
}

extern "C" __global__ void activation_backward(const float* y, const float* dy, float* dx, long long n, int act,
                                               float slope, int acc) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x)
        store(dx, i, act_back(act, slope, y[i], dy[i]), acc);
}

// The bias gradient: dy summed over batch and pixels, one block per channel.
extern "C" __global__ void bias_grad(const float* dy, float* db, int batch, int channels, long long plane,
                                     int acc) {
    int c = blockIdx.x;
    double s = 0.0;
    for (int b = 0; b < batch; b++) {
        const float* p = dy + ((long long)b * channels + c) * plane;
        for (long long i = threadIdx.x; i < plane; i += blockDim.x) s += (double)p[i];
    }
    double total = block_sum(s);
    if (threadIdx.x == 0) store(db, c, (float)total, acc);
}

extern "C" __global__ void tanh_forward(const float* x, float* y, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x)
        y[i] = tanhf(x[i]);
}

extern "C" __global__ void tanh_backward(const float* y, const float* dy, float* dx, long long n, int acc) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x)
        store(dx, i, dy[i] * (1.0f - y[i] * y[i]), acc);
}

extern "C" __global__ void add(const float* a, const float* b, float* y, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x)
        y[i] = a[i] + b[i];
}

extern "C" __global__ void accumulate(const float* src, float* dst, long long n, int acc) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x)
        store(dst, i, src[i], acc);
}

// loss (+)= weight · mean((x − target)²), one block.
extern "C" __global__ void mse_loss(const float* x, long long n, float target, float weight, float* loss, int acc) {
    double s = 0.0;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) {
        double d = (double)(x[i] - target);
        s += d * d;
    }
    double total = block_sum(s);
    if (threadIdx.x == 0) store(loss, 0, (float)(total / (double)n) * weight, acc);
}

extern "C" __global__ void mse_loss_backward(const float* x, long long n, float target, float weight, float* dx,
                                             int acc) {
    float scale = 2.0f * weight / (float)n;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x)
        store(dx, i, (x[i] - target) * scale, acc);
}

// loss (+)= weight · mean(|a − b|), one block.
extern "C" __global__ void l1_loss(const float* a, const float* b, long long n, float weight, float* loss, int acc) {
    double s = 0.0;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) s += (double)fabsf(a[i] - b[i]);
    double total = block_sum(s);
    if (threadIdx.x == 0) store(loss, 0, (float)(total / (double)n) * weight, acc);
}

// dx (+)= sign · weight · sign(a − b) / n, with PyTorch's sign(0) = 0.
extern "C" __global__ void l1_loss_backward(const float* a, const float* b, long long n, float weight, float sign,
                                            float* dx, int acc) {
    float scale = sign * weight / (float)n;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        float d = a[i] - b[i];
        store(dx, i, d > 0.0f ? scale : (d < 0.0f ? -scale : 0.0f), acc);
    }
}

// Adam over `n` values (a whole optimiser's parameters when they lie in one arena), in the
// CPU kernel's f32 operations and order. The step's scalars are read from device memory,
// so that one captured graph serves every step: s = [1 − β1, β2, 1 − β2,
// √(1 − β2^t), eps, lr / (1 − β1^t)].
extern "C" __global__ void adam(float* param, const float* grad, float* m, float* v, long long n, const float* s) {
    float one_minus_beta1 = s[0], beta2 = s[1], one_minus_beta2 = s[2];
    float bias_correction2_sqrt = s[3], eps = s[4], step_size = s[5];
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        float g = grad[i];
        float m_new = m[i] + (g - m[i]) * one_minus_beta1;
        float v_new = v[i] * beta2 + (g * g) * one_minus_beta2;
        float denom = sqrtf(v_new) / bias_correction2_sqrt + eps;
        param[i] = param[i] - m_new / denom * step_size;
        m[i] = m_new;
        v[i] = v_new;
    }
}

// dst[i] = value: moments to zero at the start, losses before a program that adds to them.
extern "C" __global__ void fill(float* dst, long long n, float value) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x)
        dst[i] = value;
}
