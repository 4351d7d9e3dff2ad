//! Writes a state dict as `torch.save(state_dict, path)` does (the zip format of PyTorch ≥ 1.6,
//! pickle protocol 2), so that PyTorch code that `torch.load`s a state dict — the seed's
//! `load_state_dict(torch.load(...))` — reads our networks. Every tensor is float32, contiguous,
//! with its own storage; the top level is an `OrderedDict`, as `state_dict()` returns.
//!
//! The archive holds `archive/data.pkl`, `archive/byteorder` (`little`), one
//! `archive/data/<i>` per tensor with its raw little-endian bytes, and `archive/version` (`3`),
//! stored uncompressed as `torch.save` stores them. Format source:
//! <https://github.com/pytorch/pytorch/blob/main/torch/serialization.py> (`_save`).

use std::io::{Cursor, Write};
use std::path::Path;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::error::CheckpointError;
use crate::atomic_write::write_atomic;
use crate::model::StateDict;

/// The pickle of a state dict whose tensor `i` (in key order) lives in storage `"i"`.
fn pickle(sd: &StateDict) -> Vec<u8> {
    let mut p = Pickle(vec![0x80, 2]);
    p.global("collections", "OrderedDict");
    p.op(b")R("); // OrderedDict(), then MARK for SETITEMS
    for (i, (key, t)) in sd.iter().enumerate() {
        p.str(key);
        p.global("torch._utils", "_rebuild_tensor_v2");
        p.op(b"(");
        // The persistent id ('storage', torch.FloatStorage, '<i>', 'cpu', numel), BINPERSID.
        p.op(b"(");
        p.str("storage");
        p.global("torch", "FloatStorage");
        p.str(&i.to_string());
        p.str("cpu");
        p.int(t.data.len() as i64);
        p.op(b"tQ");
        p.int(0); // storage offset
        let strides = contiguous_strides(&t.shape);
        p.ints(t.shape.iter().map(|&d| d as i64));
        p.ints(strides.into_iter());
        p.op(&[0x89]); // requires_grad False
        p.global("collections", "OrderedDict");
        p.op(b")R"); // backward hooks
        p.op(b"tR");
    }
    p.op(b"u.");
    p.0
}

fn contiguous_strides(shape: &[usize]) -> Vec<i64> {
    let mut strides = vec![1i64; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1] as i64;
    }
    strides
}

/// Pickle opcodes, protocol 2.
struct Pickle(Vec<u8>);

impl Pickle {
    fn op(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    fn str(&mut self, s: &str) {
        self.op(b"X");
        self.op(&(s.len() as u32).to_le_bytes());
        self.op(s.as_bytes());
    }
    fn int(&mut self, i: i64) {
        match i32::try_from(i) {
            Ok(v) => {
                self.op(b"J");
                self.op(&v.to_le_bytes());
            }
            Err(_) => {
                self.op(&[0x8a, 8]);
                self.op(&i.to_le_bytes());
            }
        }
    }
    fn ints(&mut self, v: impl Iterator<Item = i64>) {
        self.op(b"(");
        for i in v {
            self.int(i);
        }
        self.op(b"t");
    }
    fn global(&mut self, module: &str, name: &str) {
        self.op(b"c");
        self.op(module.as_bytes());
        self.op(b"\n");
        self.op(name.as_bytes());
        self.op(b"\n");
    }
}

/// The bytes of `sd` as `torch.save` writes a state dict.
pub fn pth_bytes(sd: &StateDict) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    let mut put = |name: &str, data: &[u8]| {
        // Writing to memory cannot fail.
        w.start_file(format!("archive/{name}"), opts)
            .expect("in-memory zip");
        w.write_all(data).expect("in-memory zip");
    };
    put("data.pkl", &pickle(sd));
    put("byteorder", b"little");
    for (i, t) in sd.values().enumerate() {
        let bytes: Vec<u8> = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
        put(&format!("data/{i}"), &bytes);
    }
    put("version", b"3\n");
    w.finish().expect("in-memory zip").into_inner()
}

/// Writes `sd` to `path` as a PyTorch `.pth`, atomically.
pub fn write_pth(path: &Path, sd: &StateDict) -> Result<(), CheckpointError> {
    write_atomic(path, &pth_bytes(sd)).map_err(|e| CheckpointError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::pth::read_pth_bytes;
    use crate::testdata::pytorch_fixture;

    /// What we write reads back as the same state dict, through the reader that reads
    /// PyTorch's own files (the seed's `G_AB_0.pth` here).
    #[test]
    fn a_written_state_dict_reads_back() {
        let original = crate::checkpoint::pth::read_pth(
            &pytorch_fixture("seed_step_tiny.init").join("G_AB_0.pth"),
        )
        .unwrap();
        let bytes = pth_bytes(&original);
        let back = read_pth_bytes(&bytes, "written.pth").unwrap();
        assert_eq!(back, original);
    }

    #[test]
    fn strides_are_row_major() {
        assert_eq!(contiguous_strides(&[8, 3, 4, 4]), vec![48, 16, 4, 1]);
        assert_eq!(contiguous_strides(&[5]), vec![1]);
        assert!(contiguous_strides(&[]).is_empty());
    }
}
