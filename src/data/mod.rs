//! The data layer: image files → decoded, preprocessed CHW float images, batched, exactly as the
//! official PyTorch code (`data/` of junyanz/pytorch-CycleGAN-and-pix2pix, with PIL and
//! torchvision) prepares them. Plain `Vec<f32>`s; converting to tensors is the caller's job.
//!
//! - [`image_io`]: decoding (PIL's `convert('RGB')` / `convert('L')`), the decompression-bomb
//!   guard, floats in [-1, 1], PNG saving.
//! - [`resize`]: PIL-exact bicubic resampling.
//! - [`transform`]: `get_transform` — resize / scale-width, random crop, random flip.
//! - [`dataset`]: `UnalignedDataset` — the two domain folders.
//! - [`aligned`]: `AlignedDataset` — pairs (pix2pix); [`mode`]: either, by `--dataset-mode`.
//! - [`loader`]: reproducible multi-threaded batches, resumable mid-epoch.

pub mod aligned;
pub mod dataset;
pub mod error;
pub mod image_io;
pub mod loader;
pub mod mode;
pub mod resize;
pub mod transform;

pub use aligned::AlignedDataset;
pub use dataset::{DatasetOptions, Direction, Item, UnalignedDataset};
pub use error::DataError;
pub use image_io::{
    DEFAULT_MAX_PIXELS, Image8, ImageTensor, Quantize, is_image_file, load_image, load_image8,
    save_levels, save_png, save_png_as, to_levels,
};
pub use loader::{Batch, EpochIter, Loader, LoaderConfig, Throughput, measure_throughput};
pub use mode::{Dataset, DatasetMode};
pub use transform::{Preprocess, TransformConfig};
