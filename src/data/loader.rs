//! Batches on background threads: the role of upstream's `CustomDatasetDataLoader`
//! (`data/__init__.py`, a torch `DataLoader` with `shuffle = not serial_batches`, no
//! `drop_last`), made reproducible.
//!
//! Determinism: epoch `e`'s order is a permutation of `0..len` drawn from `(seed, e)` only, and
//! every random choice for the item at position `p` of that order (B draw, crop, flip) comes
//! from an RNG seeded by `(seed, e, p)` only. So the batches depend on neither the thread count
//! nor timing, and resuming at `(epoch, batch)` sees exactly what an uninterrupted run saw,
//! without saving any RNG state.
//!
//! Threads: the consumer hands out batch numbers, at most `prefetch` ahead of the one it is
//! waiting for (that bounds memory), workers build whole batches, and the consumer puts them
//! back in order. A file that fails to load is skipped with one warning, counted, and replaced
//! by the next index (mod len), deterministically. Errors and worker panics end the iterator
//! with an error; dropping the iterator stops and joins the workers.

use std::collections::{BTreeMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::dataset::Item;
use super::error::DataError;
use super::image_io::{DEFAULT_MAX_PIXELS, ImageTensor, panic_message};
use super::mode::Dataset;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoaderConfig {
    pub batch_size: usize,
    /// `!serial_batches`: a new order every epoch.
    pub shuffle: bool,
    /// Worker threads; 0 loads on the calling thread.
    pub num_threads: usize,
    pub seed: u64,
    /// Images over this many pixels are refused (skipped) unread.
    pub max_pixels: u64,
    /// Batches built ahead of the consumer; 0 means `2 · num_threads`.
    pub prefetch: usize,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            batch_size: 1,
            shuffle: true,
            num_threads: 4,
            seed: 0,
            max_pixels: DEFAULT_MAX_PIXELS,
            prefetch: 0,
        }
    }
}

/// Same-size images; `real_a[i]` pairs with `real_b[i]`. The last batch of an epoch may be
/// smaller.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub real_a: Vec<ImageTensor>,
    pub real_b: Vec<ImageTensor>,
    pub paths_a: Vec<PathBuf>,
    pub paths_b: Vec<PathBuf>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.real_a.len()
    }

    pub fn is_empty(&self) -> bool {
        self.real_a.is_empty()
    }

    fn push(&mut self, it: Item) -> Result<(), DataError> {
        let size = |t: &ImageTensor| (t.channels, t.height, t.width);
        let describe = |t: &ImageTensor| format!("{}×{}×{}", t.channels, t.height, t.width);
        for (imgs, paths, new, path) in [
            (&self.real_a, &self.paths_a, &it.real_a, &it.path_a),
            (&self.real_b, &self.paths_b, &it.real_b, &it.path_b),
        ] {
            if let (Some(first), Some(first_path)) = (imgs.first(), paths.first())
                && size(first) != size(new)
            {
                return Err(DataError::MixedSizes {
                    first: first_path.clone(),
                    first_size: describe(first),
                    other: path.clone(),
                    other_size: describe(new),
                });
            }
        }
        self.real_a.push(it.real_a);
        self.real_b.push(it.real_b);
        self.paths_a.push(it.path_a);
        self.paths_b.push(it.path_b);
        Ok(())
    }
}

/// SplitMix64's finaliser: a bijective, well-mixed hash of a u64.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A ChaCha8 RNG keyed by a tag and four words; each key word hashes all words before it.
fn keyed_rng(tag: u64, words: [u64; 4]) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    let mut h = tag;
    for (chunk, w) in key.chunks_exact_mut(8).zip(words) {
        h = mix(h ^ mix(w));
        chunk.copy_from_slice(&h.to_le_bytes());
    }
    ChaCha8Rng::from_seed(key)
}

const ORDER_TAG: u64 = 0x6f72_6465_7221; // "order!"
const ITEM_TAG: u64 = 0x6974_656d_2121; // "item!!"

/// The order of dataset indices in epoch `epoch`: a permutation of `0..len` drawn from
/// `(seed, epoch)` only, or `0..len` in order when not shuffling.
pub fn epoch_order(seed: u64, epoch: usize, len: usize, shuffle: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    if shuffle {
        order.shuffle(&mut keyed_rng(ORDER_TAG, [seed, epoch as u64, 0, 0]));
    }
    order
}

/// The RNG of the item at `position` of epoch `epoch`, for its `attempt`-th try (0 unless files
/// before it failed to load).
pub fn item_rng(seed: u64, epoch: usize, position: usize, attempt: usize) -> ChaCha8Rng {
    keyed_rng(
        ITEM_TAG,
        [seed, epoch as u64, position as u64, attempt as u64],
    )
}

#[derive(Default)]
struct BadFiles {
    paths: HashSet<PathBuf>,
    in_a: usize,
    in_b: usize,
}

struct Shared {
    dataset: Dataset,
    config: LoaderConfig,
    bad: Mutex<BadFiles>,
}

impl Shared {
    /// Note a file that failed to load: warn the first time, count it, and fail once a whole
    /// folder is unreadable.
    fn record_bad(&self, err: &DataError) -> Result<(), DataError> {
        let Some(path) = err.path() else {
            return Ok(());
        };
        let ds = &self.dataset;
        let mut bad = self.bad.lock().unwrap_or_else(|p| p.into_inner());
        if bad.paths.insert(path.to_path_buf()) {
            tracing::warn!("skipping an image that cannot be used: {err}");
            match ds.in_folder_a(path) {
                Some(true) => bad.in_a += 1,
                Some(false) => bad.in_b += 1,
                None => {}
            }
        }
        let all_bad = if bad.in_a >= ds.paths_a().len() {
            Some(ds.dir_a())
        } else if bad.in_b >= ds.paths_b().len() {
            Some(ds.dir_b())
        } else {
            None
        };
        match all_bad {
            Some(dir) => Err(DataError::AllFailed {
                dir: dir.to_path_buf(),
                example: err.to_string(),
            }),
            None => Ok(()),
        }
    }

    /// The item at `position` of `epoch`, replacing unreadable files by the next index.
    fn load_item(&self, epoch: usize, position: usize, index: usize) -> Result<Item, DataError> {
        let len = self.dataset.len();
        let mut last = None;
        for attempt in 0..len {
            let mut rng = item_rng(self.config.seed, epoch, position, attempt);
            match self
                .dataset
                .get((index + attempt) % len, self.config.max_pixels, &mut rng)
            {
                Ok(item) => return Ok(item),
                Err(e) if e.is_file_error() => {
                    self.record_bad(&e)?;
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(DataError::TooManyFailures {
            tries: len,
            example: last.map_or_else(String::new, |e| e.to_string()),
        })
    }

    fn build_batch(
        &self,
        order: &[usize],
        epoch: usize,
        batch: usize,
        stop: &AtomicBool,
    ) -> Result<Batch, DataError> {
        let start = batch * self.config.batch_size;
        let end = (start + self.config.batch_size).min(order.len());
        let mut out = Batch {
            real_a: Vec::with_capacity(end - start),
            real_b: Vec::with_capacity(end - start),
            paths_a: Vec::with_capacity(end - start),
            paths_b: Vec::with_capacity(end - start),
        };
        for (position, &index) in order.iter().enumerate().take(end).skip(start) {
            if stop.load(Ordering::Relaxed) {
                return Err(DataError::Worker("stopped".into()));
            }
            out.push(self.load_item(epoch, position, index)?)?;
        }
        Ok(out)
    }
}

/// Loads epochs of batches from a [`Dataset`].
pub struct Loader {
    shared: Arc<Shared>,
}

impl Loader {
    pub fn new(dataset: impl Into<Dataset>, config: LoaderConfig) -> Result<Self, DataError> {
        let dataset = dataset.into();
        if config.batch_size == 0 {
            return Err(DataError::Config("--batch-size must be at least 1".into()));
        }
        Ok(Loader {
            shared: Arc::new(Shared {
                dataset,
                config,
                bad: Mutex::new(BadFiles::default()),
            }),
        })
    }

    pub fn dataset(&self) -> &Dataset {
        &self.shared.dataset
    }

    pub fn config(&self) -> &LoaderConfig {
        &self.shared.config
    }

    /// Items per epoch (`len(dataset)`).
    pub fn len(&self) -> usize {
        self.shared.dataset.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Batches per epoch, the last one possibly partial.
    pub fn num_batches(&self) -> usize {
        self.len().div_ceil(self.shared.config.batch_size)
    }

    /// How many distinct files were skipped so far (for "skipped N files").
    pub fn skipped_files(&self) -> usize {
        self.bad_lock().paths.len()
    }

    /// The skipped files, sorted.
    pub fn skipped_paths(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.bad_lock().paths.iter().cloned().collect();
        v.sort();
        v
    }

    fn bad_lock(&self) -> std::sync::MutexGuard<'_, BadFiles> {
        self.shared.bad.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The batches of epoch `epoch` from batch `start_batch` on (0 for a whole epoch).
    pub fn epoch(&self, epoch: usize, start_batch: usize) -> EpochIter {
        let cfg = self.shared.config;
        let order = Arc::new(epoch_order(cfg.seed, epoch, self.len(), cfg.shuffle));
        let end = self.num_batches();
        let stop = Arc::new(AtomicBool::new(false));
        let (job_tx, job_rx) = channel::<usize>();
        let (result_tx, result_rx) = channel();
        let job_rx = Arc::new(Mutex::new(job_rx));
        // A thread the OS refuses is simply not there; with none, batches load inline.
        let workers = (0..cfg.num_threads)
            .filter_map(|i| {
                let (shared, order, stop) = (self.shared.clone(), order.clone(), stop.clone());
                let (job_rx, result_tx) = (job_rx.clone(), result_tx.clone());
                std::thread::Builder::new()
                    .name(format!("data-loader-{i}"))
                    .spawn(move || worker(&shared, &order, epoch, &job_rx, &result_tx, &stop))
                    .ok()
            })
            .collect();
        let prefetch = if cfg.prefetch == 0 {
            2 * cfg.num_threads.max(1)
        } else {
            cfg.prefetch
        };
        let mut it = EpochIter {
            shared: self.shared.clone(),
            order,
            epoch,
            next: start_batch.min(end),
            issued: start_batch.min(end),
            end,
            prefetch,
            pending: BTreeMap::new(),
            job_tx: Some(job_tx),
            result_rx,
            workers,
            stop,
            done: false,
        };
        it.issue();
        it
    }
}

type BatchResult = (usize, Result<Batch, DataError>);

fn worker(
    shared: &Shared,
    order: &[usize],
    epoch: usize,
    jobs: &Mutex<Receiver<usize>>,
    results: &Sender<BatchResult>,
    stop: &AtomicBool,
) {
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(batch) = job else { return };
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let result = catch_unwind(AssertUnwindSafe(|| {
            shared.build_batch(order, epoch, batch, stop)
        }))
        .unwrap_or_else(|p| Err(DataError::Worker(format!("panic: {}", panic_message(&*p)))));
        if results.send((batch, result)).is_err() {
            return;
        }
    }
}

/// One epoch's batches, in order. Ends after the first error.
pub struct EpochIter {
    shared: Arc<Shared>,
    order: Arc<Vec<usize>>,
    epoch: usize,
    next: usize,
    issued: usize,
    end: usize,
    prefetch: usize,
    pending: BTreeMap<usize, Result<Batch, DataError>>,
    job_tx: Option<Sender<usize>>,
    result_rx: Receiver<BatchResult>,
    workers: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    done: bool,
}

impl EpochIter {
    /// Hand out batch numbers up to `prefetch` ahead of the one awaited.
    fn issue(&mut self) {
        let Some(tx) = &self.job_tx else { return };
        if self.workers.is_empty() {
            return;
        }
        while self.issued < self.end && self.issued < self.next + self.prefetch {
            if tx.send(self.issued).is_err() {
                return;
            }
            self.issued += 1;
        }
    }

    fn finish(&mut self) {
        self.done = true;
        self.stop.store(true, Ordering::Relaxed);
        self.job_tx = None;
    }

    /// Index of the next batch this iterator will yield.
    pub fn next_batch(&self) -> usize {
        self.next
    }
}

impl Iterator for EpochIter {
    type Item = Result<Batch, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.next >= self.end {
            return None;
        }
        let result = if self.workers.is_empty() {
            let never = AtomicBool::new(false);
            self.shared
                .build_batch(&self.order, self.epoch, self.next, &never)
        } else {
            loop {
                if let Some(r) = self.pending.remove(&self.next) {
                    break r;
                }
                match self.result_rx.recv() {
                    Ok((b, r)) => {
                        self.pending.insert(b, r);
                    }
                    Err(_) => {
                        break Err(DataError::Worker(
                            "every loader thread exited before the epoch ended".into(),
                        ));
                    }
                }
            }
        };
        self.next += 1;
        if result.is_err() {
            self.finish();
        } else {
            self.issue();
        }
        Some(result)
    }
}

impl Drop for EpochIter {
    fn drop(&mut self) {
        self.finish();
        for w in self.workers.drain(..) {
            // A worker that panicked outside `catch_unwind` has nothing left to report.
            let _ = w.join();
        }
    }
}

/// Loader throughput over up to `max_batches` batches of `epoch`.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    /// Images decoded and preprocessed (A and B both count).
    pub images: usize,
    pub seconds: f64,
}

impl Throughput {
    pub fn images_per_second(&self) -> f64 {
        self.images as f64 / self.seconds.max(1e-9)
    }
}

/// Time the loader alone (no model): for `cyclegan bench-loader` and the like.
pub fn measure_throughput(
    loader: &Loader,
    epoch: usize,
    max_batches: usize,
) -> Result<Throughput, DataError> {
    let t = Instant::now();
    let mut images = 0;
    for batch in loader.epoch(epoch, 0).take(max_batches) {
        let b = batch?;
        images += b.real_a.len() + b.real_b.len();
    }
    Ok(Throughput {
        images,
        seconds: t.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::dataset::{DatasetOptions, UnalignedDataset};
    use crate::data::transform::Preprocess;
    use std::path::Path;

    fn write_png(path: &Path, w: u32, h: u32, seed: u32) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image::RgbImage::from_fn(w, h, |x, y| {
            let v = x.wrapping_mul(31) ^ y.wrapping_mul(17) ^ seed.wrapping_mul(101);
            image::Rgb([v as u8, (v >> 3) as u8, seed as u8])
        })
        .save(path)
        .unwrap();
    }

    /// 7 A files, 4 B files, 20×16 each; crops 8 from resize 12.
    fn tiny_dataset(root: &Path) -> DatasetOptions {
        for i in 0..7 {
            write_png(&root.join(format!("trainA/{i:02}.png")), 20, 16, i);
        }
        for i in 0..4 {
            write_png(&root.join(format!("trainB/{i:02}.png")), 20, 16, 100 + i);
        }
        DatasetOptions {
            load_size: 12,
            crop_size: 8,
            crop_width: None,
            ..DatasetOptions::new(root)
        }
    }

    fn loader(opts: &DatasetOptions, batch_size: usize, num_threads: usize) -> Loader {
        let cfg = LoaderConfig {
            batch_size,
            num_threads,
            seed: 42,
            ..LoaderConfig::default()
        };
        Loader::new(UnalignedDataset::new(opts).unwrap(), cfg).unwrap()
    }

    fn collect(it: EpochIter) -> Vec<Batch> {
        it.map(|b| b.unwrap()).collect()
    }

    #[test]
    fn order_is_a_permutation_fixed_by_seed_and_epoch() {
        let a = epoch_order(1, 0, 100, true);
        let mut s = a.clone();
        s.sort();
        assert_eq!(s, (0..100).collect::<Vec<_>>());
        assert_eq!(a, epoch_order(1, 0, 100, true));
        assert_ne!(a, epoch_order(1, 1, 100, true));
        assert_ne!(a, epoch_order(2, 0, 100, true));
        assert_eq!(epoch_order(1, 3, 5, false), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn epoch_covers_every_a_file_once_with_a_partial_last_batch() {
        let t = tempfile::tempdir().unwrap();
        let opts = tiny_dataset(t.path());
        let l = loader(&opts, 3, 2);
        assert_eq!((l.len(), l.num_batches()), (7, 3));
        let batches = collect(l.epoch(0, 0));
        assert_eq!(
            batches.iter().map(Batch::len).collect::<Vec<_>>(),
            vec![3, 3, 1]
        );
        let mut a: Vec<_> = batches.iter().flat_map(|b| b.paths_a.clone()).collect();
        a.sort();
        assert_eq!(a, l.dataset().paths_a());
        let t = measure_throughput(&l, 0, 2).unwrap();
        assert_eq!(t.images, 2 * 3 * 2, "two batches of three pairs");
        for b in &batches {
            assert!(
                b.real_a
                    .iter()
                    .all(|t| (t.channels, t.height, t.width) == (3, 8, 8))
            );
        }
        // A different epoch is a different order.
        let other: Vec<_> = collect(l.epoch(1, 0))
            .iter()
            .flat_map(|b| b.paths_a.clone())
            .collect();
        let first: Vec<_> = batches.iter().flat_map(|b| b.paths_a.clone()).collect();
        assert_ne!(first, other);
    }

    #[test]
    fn same_batches_for_any_thread_count() {
        let t = tempfile::tempdir().unwrap();
        let opts = tiny_dataset(t.path());
        let reference = collect(loader(&opts, 2, 0).epoch(3, 0));
        for threads in [1, 4] {
            assert_eq!(
                collect(loader(&opts, 2, threads).epoch(3, 0)),
                reference,
                "{threads} threads"
            );
        }
    }

    #[test]
    fn resume_mid_epoch_matches_uninterrupted() {
        let t = tempfile::tempdir().unwrap();
        let opts = tiny_dataset(t.path());
        let full = collect(loader(&opts, 2, 2).epoch(5, 0));
        // A fresh loader (as after a restart), started at batch 2.
        let resumed = collect(loader(&opts, 2, 3).epoch(5, 2));
        assert_eq!(resumed, full[2..]);
        assert_eq!(collect(loader(&opts, 2, 1).epoch(5, 99)).len(), 0);
    }

    #[test]
    fn unreadable_files_are_skipped_counted_and_replaced() {
        let t = tempfile::tempdir().unwrap();
        let opts = tiny_dataset(t.path());
        std::fs::write(t.path().join("trainA/03.png"), b"").unwrap();
        std::fs::write(
            t.path().join("trainB/01.png"),
            b"\x89PNG\r\n\x1a\ntruncated",
        )
        .unwrap();
        let l = loader(&opts, 2, 2);
        let batches = collect(l.epoch(0, 0));
        // The batches stay full: 7 items in 2+2+2+1.
        assert_eq!(batches.iter().map(Batch::len).sum::<usize>(), 7);
        let used: Vec<_> = batches
            .iter()
            .flat_map(|b| b.paths_a.iter().chain(&b.paths_b))
            .collect();
        assert!(!used.contains(&&t.path().join("trainA/03.png")));
        assert!(!used.contains(&&t.path().join("trainB/01.png")));
        // B 01 is drawn at random: over a few epochs both bad files are met.
        for e in 1..6 {
            collect(l.epoch(e, 0));
        }
        assert_eq!(l.skipped_files(), 2);
        // Deterministic despite the skips.
        assert_eq!(collect(loader(&opts, 2, 3).epoch(0, 0)), batches);
    }

    #[test]
    fn all_files_failing_is_an_error_not_a_hang() {
        let t = tempfile::tempdir().unwrap();
        let opts = tiny_dataset(t.path());
        for i in 0..4 {
            std::fs::write(t.path().join(format!("trainB/{i:02}.png")), b"junk").unwrap();
        }
        for threads in [0, 2] {
            let l = loader(&opts, 2, threads);
            let results: Vec<_> = l.epoch(0, 0).collect();
            assert_eq!(results.len(), 1, "the iterator ends at the first error");
            let e = results.into_iter().next().unwrap().unwrap_err();
            assert!(
                matches!(&e, DataError::AllFailed { dir, .. } if dir.ends_with("trainB")),
                "{e}"
            );
        }
    }

    #[test]
    fn config_errors_stop_the_epoch() {
        let t = tempfile::tempdir().unwrap();
        let opts = DatasetOptions {
            crop_size: 64,
            crop_width: None,
            ..tiny_dataset(t.path())
        };
        let l = loader(&opts, 1, 2);
        let mut it = l.epoch(0, 0);
        assert!(matches!(
            it.next(),
            Some(Err(DataError::CropTooLarge { .. }))
        ));
        assert!(it.next().is_none());
        assert_eq!(l.skipped_files(), 0);
    }

    #[test]
    fn mixed_sizes_in_a_batch_are_an_error() {
        let t = tempfile::tempdir().unwrap();
        let opts = DatasetOptions {
            preprocess: Preprocess::None,
            ..tiny_dataset(t.path())
        };
        write_png(&t.path().join("trainA/99.png"), 24, 16, 5);
        let l = loader(&opts, 8, 1);
        let e = l.epoch(0, 0).next().unwrap().unwrap_err();
        assert!(matches!(e, DataError::MixedSizes { .. }), "{e}");
        // One image a batch is fine.
        assert!(loader(&opts, 1, 1).epoch(0, 0).all(|b| b.is_ok()));
    }

    #[test]
    fn dropping_mid_epoch_stops_the_workers() {
        let t = tempfile::tempdir().unwrap();
        let opts = tiny_dataset(t.path());
        let l = loader(&opts, 1, 4);
        let mut it = l.epoch(0, 0);
        assert!(it.next().unwrap().is_ok());
        let start = Instant::now();
        drop(it); // joins the workers
        assert!(start.elapsed().as_secs() < 10);
        // The shared state is released by every worker.
        assert_eq!(Arc::strong_count(&l.shared), 1);
    }

    #[test]
    fn zero_batch_size_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let ds = UnalignedDataset::new(&tiny_dataset(t.path())).unwrap();
        let cfg = LoaderConfig {
            batch_size: 0,
            ..LoaderConfig::default()
        };
        assert!(matches!(Loader::new(ds, cfg), Err(DataError::Config(_))));
    }

    /// `cargo test --release -- --ignored --nocapture loader_throughput`: 600×600 JPEG maps →
    /// resize 286 → crop 256 → flip, batch 1, as official CycleGAN training.
    #[test]
    #[ignore]
    fn loader_throughput() {
        let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/maps"));
        let ds = UnalignedDataset::new(&DatasetOptions::new(&root)).unwrap();
        let file = &ds.paths_a()[0];
        let t = Instant::now();
        let img = crate::data::load_image8(file, 3, DEFAULT_MAX_PIXELS).unwrap();
        for _ in 0..19 {
            crate::data::load_image8(file, 3, DEFAULT_MAX_PIXELS).unwrap();
        }
        let decode = t.elapsed().as_secs_f64() / 20.0;
        let t = Instant::now();
        for _ in 0..20 {
            crate::data::resize::resize_bicubic(&img, 286, 286);
        }
        let resize = t.elapsed().as_secs_f64() / 20.0;
        println!(
            "per image: decode {:.2} ms, resize 600→286 {:.2} ms",
            decode * 1e3,
            resize * 1e3
        );
        for threads in [1, 2] {
            let ds = UnalignedDataset::new(&DatasetOptions::new(&root)).unwrap();
            let cfg = LoaderConfig {
                num_threads: threads,
                ..LoaderConfig::default()
            };
            let l = Loader::new(ds, cfg).unwrap();
            let t = measure_throughput(&l, 0, 100).unwrap();
            println!(
                "{threads} thread(s): {} images in {:.2} s = {:.1} images/s",
                t.images,
                t.seconds,
                t.images_per_second()
            );
        }
    }
}
