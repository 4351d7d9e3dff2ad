//! Runs a [`Plan`] on an NVIDIA GPU: every buffer allocated once, convolutions and their
//! gradients on cuDNN (algorithms chosen once per op), everything else on the NVRTC kernels
//! of `kernels.cu`, and each program captured as one CUDA graph after its first (eager) run
//! and replayed from then on. Adam's per-step scalars live in device memory, written before
//! each launch, so one graph serves every step.
//!
//! Not yet run on a GPU in this repository's CI (it has none): `scripts/device/run.sh` runs
//! `tests/engine.rs`'s trace on it; see BENCHMARKS.md for what has been measured.

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::Arc;

use cudarc::cudnn::{result as dnn, sys as dnn_sys};
use cudarc::driver::sys::{
    CUdevice_attribute, CUdeviceptr, CUgraphInstantiate_flags, CUstreamCaptureMode,
};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaGraph, CudaSlice, CudaStream, DevicePtr, DriverError,
    LaunchConfig, PushKernelArg,
};

use super::nvrtc;
use crate::engine::executor::{ExecError, Executor};
use crate::engine::kernels::{KERNELS, REDUCE_THREADS};
use crate::engine::plan::{Buf, Op, Plan};
use crate::ops::Activation;
use crate::ops::adam::AdamScalars;
use crate::ops::geom::ConvGeom;

/// The convolutions' arithmetic (`--precision`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// IEEE float32 multiply-adds only (cuDNN's FMA math), for parity checks.
    F32,
    /// TF32 tensor cores for convolutions, as PyTorch does by default
    /// (`torch.backends.cudnn.allow_tf32 = True`).
    Tf32,
}

#[derive(Debug, thiserror::Error)]
pub enum CudaError {
    #[error(transparent)]
    Nvrtc(#[from] nvrtc::NvrtcError),
    #[error("CUDA driver: {0:?} (is an NVIDIA driver installed and a GPU visible?)")]
    Driver(#[from] DriverError),
    #[error(
        "cuDNN: {0:?} (libcudnn.so.9 must be on LD_LIBRARY_PATH, e.g. from the `nvidia-cudnn-cu12` wheel a PyTorch install carries)"
    )]
    Cudnn(dnn::CudnnError),
    #[error(
        "{0} was not found: the CUDA engine needs the NVIDIA driver (libcuda) and cuDNN 9 (libcudnn.so.9, e.g. from the `nvidia-cudnn-cu12` wheel a PyTorch install carries) on LD_LIBRARY_PATH"
    )]
    Library(&'static str),
    #[error("GPU of compute capability {0}.{1}: the engine targets 8.0 (Ampere) and newer")]
    Arch(i32, i32),
    #[error("cuDNN offers no {0}")]
    NoAlgorithm(String),
    #[error("CUDA stream capture of program {0} made no graph")]
    NoGraph(String),
}

impl From<dnn::CudnnError> for CudaError {
    fn from(e: dnn::CudnnError) -> Self {
        CudaError::Cudnn(e)
    }
}

/// The NVRTC target of a device.
fn arch(major: i32, minor: i32) -> Result<&'static str, CudaError> {
    Ok(match (major, minor) {
        (8, 0) => "compute_80",
        (8, 6) => "compute_86",
        (8, 7) => "compute_87",
        (8, 9) => "compute_89",
        (9, _) => "compute_90",
        (10, _) => "compute_100",
        (12, _) => "compute_120",
        _ => return Err(CudaError::Arch(major, minor)),
    })
}

/// Which cuDNN routine a convolution op calls.
#[derive(Clone, Copy, Debug)]
enum ConvKind {
    Forward(dnn_sys::cudnnConvolutionFwdAlgo_t),
    Data(dnn_sys::cudnnConvolutionBwdDataAlgo_t),
    Filter(dnn_sys::cudnnConvolutionBwdFilterAlgo_t),
}

/// The descriptors of one convolution geometry: its input `x`, weight `w`, output `y`.
struct ConvDescs {
    x: dnn_sys::cudnnTensorDescriptor_t,
    w: dnn_sys::cudnnFilterDescriptor_t,
    y: dnn_sys::cudnnTensorDescriptor_t,
    conv: dnn_sys::cudnnConvolutionDescriptor_t,
    kind: ConvKind,
}

impl Drop for ConvDescs {
    fn drop(&mut self) {
        // SAFETY: each descriptor was created by `ConvDescs::new` and is destroyed once here.
        unsafe {
            let _ = dnn::destroy_tensor_descriptor(self.x);
            let _ = dnn::destroy_filter_descriptor(self.w);
            let _ = dnn::destroy_tensor_descriptor(self.y);
            let _ = dnn::destroy_convolution_descriptor(self.conv);
        }
    }
}

fn dims(v: [usize; 4]) -> [i32; 4] {
    v.map(|d| d as i32)
}

impl ConvDescs {
    fn new(g: &ConvGeom) -> Result<Self, CudaError> {
        let f32_type = dnn_sys::cudnnDataType_t::CUDNN_DATA_FLOAT;
        let nchw = dnn_sys::cudnnTensorFormat_t::CUDNN_TENSOR_NCHW;
        let x = dnn::create_tensor_descriptor()?;
        let w = dnn::create_filter_descriptor()?;
        let y = dnn::create_tensor_descriptor()?;
        let conv = dnn::create_convolution_descriptor()?;
        let descs = Self {
            x,
            w,
            y,
            conv,
            kind: ConvKind::Forward(
                dnn_sys::cudnnConvolutionFwdAlgo_t::CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
            ),
        };
        // SAFETY: the descriptors were just created and are owned by `descs`.
        unsafe {
            dnn::set_tensor4d_descriptor(
                x,
                nchw,
                f32_type,
                dims([g.batch, g.c_in, g.in_h, g.in_w]),
            )?;
            dnn::set_filter4d_descriptor(w, f32_type, nchw, dims([g.c_out, g.c_in, g.k_h, g.k_w]))?;
            dnn::set_tensor4d_descriptor(
                y,
                nchw,
                f32_type,
                dims([g.batch, g.c_out, g.out_h, g.out_w]),
            )?;
            dnn::set_convolution2d_descriptor(
                conv,
                g.pad[0] as i32,
                g.pad[1] as i32,
                g.stride[0] as i32,
                g.stride[1] as i32,
                1,
                1,
                dnn_sys::cudnnConvolutionMode_t::CUDNN_CROSS_CORRELATION,
                f32_type,
            )?;
        }
        Ok(descs)
    }
}

/// Whether cuDNN's candidate `math` may run at `precision`.
fn allowed(math: dnn_sys::cudnnMathType_t, precision: Precision) -> bool {
    precision == Precision::Tf32 || math == dnn_sys::cudnnMathType_t::CUDNN_FMA_MATH
}

/// Every buffer of a plan on one GPU.
pub struct CudaExecutor {
    plan: Plan,
    // Declared before the context so that they are freed while it lives.
    graphs: HashMap<String, CudaGraph>,
    convs: HashMap<(usize, usize), ConvDescs>,
    buffers: Vec<CudaSlice<f32>>,
    /// Raw device addresses of `buffers`, fixed for the executor's life (buffers are never
    /// reallocated), which kernels and cuDNN take and CUDA graphs record.
    ptrs: Vec<CUdeviceptr>,
    workspace: Option<CudaSlice<u8>>,
    adam_scalars: CudaSlice<f32>,
    kernels: HashMap<&'static str, CudaFunction>,
    cudnn: dnn_sys::cudnnHandle_t,
    /// Programs that ran once eagerly (cuDNN and module set-up), to be captured next time.
    warm: Vec<String>,
    blocks: u32,
    stream: Arc<CudaStream>,
    _ctx: Arc<CudaContext>,
}

impl Drop for CudaExecutor {
    fn drop(&mut self) {
        // SAFETY: the handle was created in `new` and is destroyed once, after the stream's work.
        unsafe {
            let _ = self.stream.synchronize();
            let _ = dnn::destroy_handle(self.cudnn);
        }
    }
}

fn device_ptr<T>(slice: &CudaSlice<T>, stream: &CudaStream) -> CUdeviceptr {
    slice.device_ptr(stream).0
}

impl CudaExecutor {
    /// Allocates every buffer of `plan` (zeroed: Adam's moments start at zero) on GPU
    /// `ordinal`, compiles the kernels for it and picks every convolution's algorithm.
    pub fn new(plan: Plan, ordinal: usize, precision: Precision) -> Result<Self, CudaError> {
        // cudarc panics on the first call into a library it cannot open: look first.
        // SAFETY: these only try to open the libraries by their candidate names.
        let (driver, cudnn) = unsafe {
            (
                cudarc::driver::sys::is_culib_present(),
                cudarc::cudnn::sys::is_culib_present(),
            )
        };
        if !driver {
            return Err(CudaError::Library("libcuda (the NVIDIA driver)"));
        }
        if !cudnn {
            return Err(CudaError::Library("libcudnn"));
        }
        let ctx = CudaContext::new(ordinal)?;
        // One stream and no other: cudarc's cross-stream events would only get in the way of
        // graph capture.
        // SAFETY: this executor uses the context from this one stream.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.new_stream()?;
        let (major, minor) = ctx.compute_capability()?;
        let module = ctx.load_module(nvrtc::compile(arch(major, minor)?)?)?;
        let kernels = KERNELS
            .iter()
            .map(|&name| Ok((name, module.load_function(name)?)))
            .collect::<Result<HashMap<_, _>, DriverError>>()?;
        let sms = ctx.attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?;

        let buffers = plan
            .buffers
            .iter()
            .map(|b| stream.alloc_zeros::<f32>(b.len().max(1)))
            .collect::<Result<Vec<_>, _>>()?;
        let ptrs = buffers.iter().map(|b| device_ptr(b, &stream)).collect();
        let adam_scalars = stream.alloc_zeros::<f32>(6)?;

        let cudnn = dnn::create_handle()?;
        // SAFETY: the handle was just created; the stream outlives it (dropped after it).
        unsafe { dnn::set_stream(cudnn, stream.cu_stream() as _)? };
        let mut exec = Self {
            plan,
            graphs: HashMap::new(),
            convs: HashMap::new(),
            buffers,
            ptrs,
            workspace: None,
            adam_scalars,
            kernels,
            cudnn,
            warm: Vec::new(),
            blocks: (sms.max(1) as u32) * 8,
            stream,
            _ctx: ctx,
        };
        exec.plan_convolutions(precision)?;
        Ok(exec)
    }

    /// Descriptors and cuDNN's heuristic choice of algorithm for every convolution op, and
    /// one workspace as large as the largest needs.
    fn plan_convolutions(&mut self, precision: Precision) -> Result<(), CudaError> {
        let mut workspace = 0usize;
        for (p, program) in self.plan.programs.iter().enumerate() {
            for (k, op) in program.ops.iter().enumerate() {
                let (geom, role) = match op {
                    Op::Conv { geom, .. } => (geom, 0),
                    Op::ConvTranspose { geom, .. } | Op::ConvData { geom, .. } => (geom, 1),
                    Op::ConvWeight { geom, .. } => (geom, 2),
                    _ => continue,
                };
                let mut d = ConvDescs::new(geom)?;
                let h = self.cudnn;
                const N: usize = 8;
                let mut count = 0i32;
                // SAFETY: the descriptors are valid; the result arrays hold N entries.
                let (kind, math, size) = unsafe {
                    match role {
                        0 => {
                            let mut r =
                                [std::mem::zeroed::<dnn_sys::cudnnConvolutionFwdAlgoPerf_t>(); N];
                            dnn::get_convolution_forward_algorithm(
                                h,
                                d.x,
                                d.w,
                                d.conv,
                                d.y,
                                N as i32,
                                &mut count,
                                r.as_mut_ptr(),
                            )?;
                            let best = r[..count as usize]
                                .iter()
                                .find(|r| {
                                    r.status == dnn_sys::cudnnStatus_t::CUDNN_STATUS_SUCCESS
                                        && allowed(r.mathType, precision)
                                })
                                .ok_or(CudaError::NoAlgorithm(format!(
                                    " forward algorithm for {geom:?}"
                                )))?;
                            (ConvKind::Forward(best.algo), best.mathType, best.memory)
                        }
                        1 => {
                            let mut r = [std::mem::zeroed::<
                                dnn_sys::cudnnConvolutionBwdDataAlgoPerf_t,
                            >(); N];
                            dnn::get_convolution_backward_data_algorithm(
                                h,
                                d.w,
                                d.y,
                                d.conv,
                                d.x,
                                N as i32,
                                &mut count,
                                r.as_mut_ptr(),
                            )?;
                            let best = r[..count as usize]
                                .iter()
                                .find(|r| {
                                    r.status == dnn_sys::cudnnStatus_t::CUDNN_STATUS_SUCCESS
                                        && allowed(r.mathType, precision)
                                })
                                .ok_or(CudaError::NoAlgorithm(format!(
                                    " data-gradient algorithm for {geom:?}"
                                )))?;
                            (ConvKind::Data(best.algo), best.mathType, best.memory)
                        }
                        _ => {
                            let mut r = [std::mem::zeroed::<
                                dnn_sys::cudnnConvolutionBwdFilterAlgoPerf_t,
                            >(); N];
                            dnn::get_convolution_backward_filter_algorithm(
                                h,
                                d.x,
                                d.y,
                                d.conv,
                                d.w,
                                N as i32,
                                &mut count,
                                r.as_mut_ptr(),
                            )?;
                            let best = r[..count as usize]
                                .iter()
                                .find(|r| {
                                    r.status == dnn_sys::cudnnStatus_t::CUDNN_STATUS_SUCCESS
                                        && allowed(r.mathType, precision)
                                })
                                .ok_or(CudaError::NoAlgorithm(format!(
                                    " weight-gradient algorithm for {geom:?}"
                                )))?;
                            (ConvKind::Filter(best.algo), best.mathType, best.memory)
                        }
                    }
                };
                // SAFETY: the descriptor is valid.
                unsafe { dnn::set_convolution_math_type(d.conv, math)? };
                d.kind = kind;
                workspace = workspace.max(size);
                self.convs.insert((p, k), d);
            }
        }
        if workspace > 0 {
            self.workspace = Some(self.stream.alloc_zeros::<u8>(workspace)?);
        }
        Ok(())
    }

    pub fn synchronize(&self) -> Result<(), CudaError> {
        self.stream.synchronize()?;
        Ok(())
    }

    /// Runs program `name` with Adam's scalars `adam`: eagerly the first time, then captured
    /// as a CUDA graph, replayed from then on.
    fn launch_program(&mut self, p: usize, name: &str, adam: AdamScalars) -> Result<(), CudaError> {
        let s = [
            adam.one_minus_beta1,
            adam.beta2,
            adam.one_minus_beta2,
            adam.bias_correction2_sqrt,
            adam.eps,
            adam.step_size,
        ];
        self.stream.memcpy_htod(&s, &mut self.adam_scalars)?;
        if let Some(graph) = self.graphs.get(name) {
            graph.launch()?;
            return Ok(());
        }
        if !self.warm.iter().any(|w| w == name) {
            self.enqueue(p)?;
            self.warm.push(name.into());
            return Ok(());
        }
        self.stream
            .begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)?;
        let enqueued = self.enqueue(p);
        let graph = self.stream.end_capture(CUgraphInstantiate_flags(0))?;
        enqueued?;
        let graph = graph.ok_or_else(|| CudaError::NoGraph(name.into()))?;
        graph.launch()?;
        self.graphs.insert(name.into(), graph);
        Ok(())
    }

    fn elementwise(&self, n: usize) -> LaunchConfig {
        let blocks = n.div_ceil(256).clamp(1, self.blocks as usize) as u32;
        LaunchConfig {
            grid_dim: (blocks, 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        }
    }

    fn reduce(&self, blocks: usize) -> LaunchConfig {
        LaunchConfig {
            grid_dim: (blocks as u32, 1, 1),
            block_dim: (REDUCE_THREADS, 1, 1),
            shared_mem_bytes: 0,
        }
    }

    /// Enqueues every op of program `p` on the stream.
    fn enqueue(&self, p: usize) -> Result<(), CudaError> {
        let ops = self.plan.programs[p].ops.clone();
        for (k, op) in ops.iter().enumerate() {
            self.op(p, k, op)?;
        }
        Ok(())
    }

    fn op(&self, p: usize, k: usize, op: &Op) -> Result<(), CudaError> {
        use Arg::{F32, F64, I32, I64, P};
        let ptr = |b: Buf| P(self.ptrs[b.0]);
        let raw = |b: Buf| self.ptrs[b.0];
        let flag = |acc: bool| I32(i32::from(acc));
        let len = |b: Buf| self.plan.buffers[b.0].len();
        let each = |b: Buf| self.elementwise(len(b));
        match *op {
            Op::Conv {
                x,
                w,
                b,
                y,
                act,
                geom,
            } => {
                self.convolve(p, k, raw(x), raw(w), raw(y), false)?;
                let (a, s) = act_code(act);
                if b.is_some() || a != 0 {
                    let bias = P(b.map_or(0, raw));
                    let plane = I64(geom.out_plane() as i64);
                    let args = [
                        ptr(y),
                        bias,
                        I64(len(y) as i64),
                        I32(geom.c_out as i32),
                        plane,
                        I32(a),
                        F32(s),
                    ];
                    self.launch("bias_activate", each(y), &args)?;
                }
            }
            Op::ConvTranspose { x, w, b, y, geom } => {
                self.convolve(p, k, raw(y), raw(w), raw(x), false)?;
                if let Some(b) = b {
                    let plane = I64(geom.in_plane() as i64);
                    let args = [
                        ptr(y),
                        ptr(b),
                        I64(len(y) as i64),
                        I32(geom.c_in as i32),
                        plane,
                        I32(0),
                        F32(0.0),
                    ];
                    self.launch("bias_activate", each(y), &args)?;
                }
            }
            Op::ConvData { dy, w, dx, acc, .. } => {
                self.convolve(p, k, raw(dx), raw(w), raw(dy), acc)?
            }
            Op::ConvWeight { x, dy, dw, acc, .. } => {
                self.convolve(p, k, raw(x), raw(dw), raw(dy), acc)?
            }
            Op::BiasGrad {
                dy,
                db,
                batch,
                channels,
                acc,
            } => {
                let plane = I64((len(dy) / (batch * channels)) as i64);
                let args = [
                    ptr(dy),
                    ptr(db),
                    I32(batch as i32),
                    I32(channels as i32),
                    plane,
                    flag(acc),
                ];
                self.launch("bias_grad", self.reduce(channels), &args)?;
            }
            Op::ReflectPad {
                x,
                y,
                hw: [h, w],
                p: pad,
            } => {
                let planes = I64((len(x) / (h * w)) as i64);
                let args = [
                    ptr(x),
                    ptr(y),
                    planes,
                    I32(h as i32),
                    I32(w as i32),
                    I32(pad as i32),
                ];
                self.launch("reflect_pad", each(y), &args)?;
            }
            Op::ReflectPadBackward {
                dy,
                dx,
                hw: [h, w],
                p: pad,
                acc,
            } => {
                let planes = I64((len(dx) / (h * w)) as i64);
                let args = [
                    ptr(dy),
                    ptr(dx),
                    planes,
                    I32(h as i32),
                    I32(w as i32),
                    I32(pad as i32),
                    flag(acc),
                ];
                self.launch("reflect_pad_backward", each(dx), &args)?;
            }
            Op::InstanceNorm {
                x,
                y,
                normed,
                rstd,
                plane,
                eps,
                act,
            } => {
                let (a, s) = act_code(act);
                let normed = P(normed.map_or(0, raw));
                let args = [
                    ptr(x),
                    ptr(y),
                    normed,
                    ptr(rstd),
                    I64(plane as i64),
                    F64(eps),
                    I32(a),
                    F32(s),
                ];
                self.launch("instance_norm", self.reduce(len(x) / plane), &args)?;
            }
            Op::InstanceNormBackward {
                normed,
                rstd,
                dy,
                dx,
                plane,
                act,
                acc,
            } => {
                let (a, s) = act_code(act);
                let args = [
                    ptr(normed),
                    ptr(rstd),
                    ptr(dy),
                    ptr(dx),
                    I64(plane as i64),
                    I32(a),
                    F32(s),
                    flag(acc),
                ];
                self.launch(
                    "instance_norm_backward",
                    self.reduce(len(dx) / plane),
                    &args,
                )?;
            }
            Op::ActivationBackward {
                y,
                dy,
                dx,
                act,
                acc,
            } => {
                let (a, s) = act_code(act);
                let args = [
                    ptr(y),
                    ptr(dy),
                    ptr(dx),
                    I64(len(dx) as i64),
                    I32(a),
                    F32(s),
                    flag(acc),
                ];
                self.launch("activation_backward", each(dx), &args)?;
            }
            Op::Tanh { x, y } => {
                let args = [ptr(x), ptr(y), I64(len(y) as i64)];
                self.launch("tanh_forward", each(y), &args)?;
            }
            Op::TanhBackward { y, dy, dx, acc } => {
                let args = [ptr(y), ptr(dy), ptr(dx), I64(len(dx) as i64), flag(acc)];
                self.launch("tanh_backward", each(dx), &args)?;
            }
            Op::Add { a, b, y } => {
                let args = [ptr(a), ptr(b), ptr(y), I64(len(y) as i64)];
                self.launch("add", each(y), &args)?;
            }
            Op::Accumulate { src, dst, acc } => {
                let args = [ptr(src), ptr(dst), I64(len(dst) as i64), flag(acc)];
                self.launch("accumulate", each(dst), &args)?;
            }
            Op::MseLoss {
                x,
                target,
                weight,
                loss,
                acc,
            } => {
                let args = [
                    ptr(x),
                    I64(len(x) as i64),
                    F32(target),
                    F32(weight),
                    ptr(loss),
                    flag(acc),
                ];
                self.launch("mse_loss", self.reduce(1), &args)?;
            }
            Op::MseLossBackward {
                x,
                target,
                weight,
                dx,
                acc,
            } => {
                let args = [
                    ptr(x),
                    I64(len(x) as i64),
                    F32(target),
                    F32(weight),
                    ptr(dx),
                    flag(acc),
                ];
                self.launch("mse_loss_backward", each(dx), &args)?;
            }
            Op::L1Loss {
                a,
                b,
                weight,
                loss,
                acc,
            } => {
                let args = [
                    ptr(a),
                    ptr(b),
                    I64(len(a) as i64),
                    F32(weight),
                    ptr(loss),
                    flag(acc),
                ];
                self.launch("l1_loss", self.reduce(1), &args)?;
            }
            Op::L1LossBackward {
                a,
                b,
                weight,
                sign,
                dx,
                acc,
            } => {
                let args = [
                    ptr(a),
                    ptr(b),
                    I64(len(a) as i64),
                    F32(weight),
                    F32(sign),
                    ptr(dx),
                    flag(acc),
                ];
                self.launch("l1_loss_backward", each(dx), &args)?;
            }
            Op::Adam { param, grad, m, v } => {
                let scalars = P(device_ptr(&self.adam_scalars, &self.stream));
                let args = [
                    ptr(param),
                    ptr(grad),
                    ptr(m),
                    ptr(v),
                    I64(len(param) as i64),
                    scalars,
                ];
                self.launch("adam", each(param), &args)?;
            }
        }
        Ok(())
    }

    /// Launches kernel `name` with `args`, which must match its parameters in `kernels.cu`.
    fn launch(&self, name: &'static str, cfg: LaunchConfig, args: &[Arg]) -> Result<(), CudaError> {
        let mut l = self.stream.launch_builder(&self.kernels[name]);
        for a in args {
            match a {
                Arg::P(v) => l.arg(v),
                Arg::I32(v) => l.arg(v),
                Arg::I64(v) => l.arg(v),
                Arg::F32(v) => l.arg(v),
                Arg::F64(v) => l.arg(v),
            };
        }
        // SAFETY: every pointer argument is a live buffer of this executor (or null where the
        // kernel allows it) of the length the plan gives, and each op passes its kernel's
        // parameters in `kernels.cu`'s order and types (pointers as 64-bit addresses).
        unsafe { l.launch(cfg) }?;
        Ok(())
    }

    /// The cuDNN routine of op `k` of program `p`: forward `y = conv(x, w)`, data gradient
    /// `x = conv_transpose(y, w)`, or weight gradient `w = ∂/∂w (x, y)`, with β = 1 to add.
    fn convolve(
        &self,
        p: usize,
        k: usize,
        x: CUdeviceptr,
        w: CUdeviceptr,
        y: CUdeviceptr,
        acc: bool,
    ) -> Result<(), CudaError> {
        let d = &self.convs[&(p, k)];
        let (alpha, beta) = (1.0f32, if acc { 1.0f32 } else { 0.0 });
        let (ws, ws_size) = match &self.workspace {
            Some(ws) => (device_ptr(ws, &self.stream) as *mut c_void, ws.len()),
            None => (std::ptr::null_mut(), 0),
        };
        let (a, b) = (
            &alpha as *const f32 as *const c_void,
            &beta as *const f32 as *const c_void,
        );
        // SAFETY: the descriptors describe these buffers' shapes (built from the op's
        // geometry), the workspace is at least the size the chosen algorithm asked for, and
        // alpha/beta are host floats as cuDNN expects for float data.
        unsafe {
            match d.kind {
                ConvKind::Forward(algo) => dnn::convolution_forward(
                    self.cudnn,
                    a,
                    d.x,
                    x as *const c_void,
                    d.w,
                    w as *const c_void,
                    d.conv,
                    algo,
                    ws,
                    ws_size,
                    b,
                    d.y,
                    y as *mut c_void,
                )?,
                ConvKind::Data(algo) => dnn::convolution_backward_data(
                    self.cudnn,
                    a,
                    d.w,
                    w as *const c_void,
                    d.y,
                    y as *const c_void,
                    d.conv,
                    algo,
                    ws,
                    ws_size,
                    b,
                    d.x,
                    x as *mut c_void,
                )?,
                ConvKind::Filter(algo) => dnn::convolution_backward_filter(
                    self.cudnn,
                    a,
                    d.x,
                    x as *const c_void,
                    d.y,
                    y as *const c_void,
                    d.conv,
                    algo,
                    ws,
                    ws_size,
                    b,
                    d.w,
                    w as *mut c_void,
                )?,
            }
        }
        Ok(())
    }
}

/// One kernel argument, owned until the launch reads it.
enum Arg {
    /// A device address (a `float*`/`const float*` parameter; 0 for null).
    P(CUdeviceptr),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
}

/// The kernels' activation code and slope.
fn act_code(act: Activation) -> (i32, f32) {
    match act {
        Activation::Identity => (0, 0.0),
        Activation::Relu => (1, 0.0),
        Activation::LeakyRelu(s) => (2, s),
    }
}

impl Executor for CudaExecutor {
    fn plan(&self) -> &Plan {
        &self.plan
    }

    fn set(&mut self, b: Buf, data: &[f32]) -> Result<(), ExecError> {
        self.check_size(b, data)?;
        let dst = &mut self.buffers[b.0];
        self.stream
            .memcpy_htod(data, dst)
            .map_err(CudaError::from)?;
        Ok(())
    }

    /// Waits for the GPU.
    fn values(&self, b: Buf) -> Result<Vec<f32>, ExecError> {
        let mut v = self
            .stream
            .clone_dtoh(&self.buffers[b.0])
            .map_err(CudaError::from)?;
        v.truncate(self.plan.buffers[b.0].len());
        Ok(v)
    }

    fn copy(&mut self, src: Buf, dst: Buf) -> Result<(), ExecError> {
        let n = self.plan.buffers[src.0].len();
        if n != self.plan.buffers[dst.0].len() {
            return Err(ExecError::Size {
                what: format!("copy into {:?}", self.plan.buffers[dst.0].role),
                got: n,
                expected: self.plan.buffers[dst.0].len(),
            });
        }
        let (lo, hi) = (src.0.min(dst.0), src.0.max(dst.0));
        let (head, tail) = self.buffers.split_at_mut(hi);
        let (low, high) = (&mut head[lo], &mut tail[0]);
        let (s, d) = if src.0 < dst.0 {
            (low, high)
        } else {
            (high, low)
        };
        self.stream.memcpy_dtod(&*s, d).map_err(CudaError::from)?;
        Ok(())
    }

    /// Eagerly the first time, then captured as a CUDA graph, replayed from then on.
    fn run(&mut self, name: &str, adam: AdamScalars) -> Result<(), ExecError> {
        let p = self.program_index(name)?;
        Ok(self.launch_program(p, name, adam)?)
    }
}
