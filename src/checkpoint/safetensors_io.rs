//! Reads and writes [safetensors](https://github.com/huggingface/safetensors#format) files:
//! reading widens or narrows F32/F64/F16/BF16/I64/I32/U8 to `f32` and returns the
//! `__metadata__` strings; writing stores F32 under exactly the given names, atomically, in the
//! layout `safetensors.torch.load_file` reads.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;

use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, SafeTensorError, View};

use super::elem_type::ElemType;
use super::error::CheckpointError;
use crate::atomic_write::write_atomic;
use crate::model::{RawTensor, StateDict};

/// The header key safetensors reserves for metadata; no tensor may be called that.
const METADATA_KEY: &str = "__metadata__";

/// Reads a safetensors file: its tensors as `f32`, and its `__metadata__` (empty if absent).
pub fn read_safetensors(
    path: &Path,
) -> Result<(StateDict, BTreeMap<String, String>), CheckpointError> {
    let bytes = fs::read(path).map_err(|e| CheckpointError::io(path, e))?;
    read_safetensors_bytes(&bytes, &path.to_string_lossy())
}

/// Reads safetensors bytes; `label` names them in errors.
pub fn read_safetensors_bytes(
    bytes: &[u8],
    label: &str,
) -> Result<(StateDict, BTreeMap<String, String>), CheckpointError> {
    let path = Path::new(label);
    if bytes.is_empty() {
        return Err(CheckpointError::Empty { path: path.into() });
    }
    let (header_len, header) = SafeTensors::read_metadata(bytes).map_err(|e| match e {
        SafeTensorError::HeaderTooSmall
        | SafeTensorError::InvalidHeaderLength
        | SafeTensorError::MetadataIncompleteBuffer => CheckpointError::Truncated {
            path: path.into(),
            what: "safetensors file size does not match its header".into(),
        },
        e => CheckpointError::Corrupt {
            path: path.into(),
            what: format!("safetensors header ({e:?})"),
        },
    })?;
    // read_metadata has checked that the offsets tile this region exactly.
    let data = bytes.get(8 + header_len..).unwrap_or_default();
    let mut sd = StateDict::new();
    for (name, info) in header.tensors() {
        let elem = match info.dtype {
            Dtype::F32 => ElemType::F32,
            Dtype::F64 => ElemType::F64,
            Dtype::F16 => ElemType::F16,
            Dtype::BF16 => ElemType::BF16,
            Dtype::I64 => ElemType::I64,
            Dtype::I32 => ElemType::I32,
            Dtype::U8 => ElemType::U8,
            other => {
                return Err(CheckpointError::Unsupported {
                    path: path.into(),
                    what: format!(
                        "tensor `{name}` has dtype {other:?}; supported: F32, F64, F16, BF16, I64, I32, U8"
                    ),
                });
            }
        };
        let (start, end) = info.data_offsets;
        let values = data
            .get(start..end)
            .filter(|raw| raw.len().is_multiple_of(elem.size()))
            .and_then(|raw| {
                raw.chunks_exact(elem.size())
                    .map(|c| elem.decode(c))
                    .collect::<Option<Vec<f32>>>()
            })
            .ok_or_else(|| CheckpointError::Corrupt {
                path: path.into(),
                what: format!("safetensors offsets of tensor `{name}`"),
            })?;
        sd.insert(
            name,
            RawTensor {
                shape: info.shape.clone(),
                data: values,
            },
        );
    }
    let metadata = header
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    Ok((sd, metadata))
}

/// A tensor as safetensors' serializer sees it; bytes are produced one tensor at a time. Every
/// tensor is F32 but a batch norm's `num_batches_tracked`, which PyTorch keeps as a 0-d int64
/// and which is written so, so that `load_state_dict` gets the dtype it saved.
struct TensorOut<'a> {
    t: &'a RawTensor,
    count: bool,
}

impl<'a> TensorOut<'a> {
    fn new(name: &str, t: &'a RawTensor) -> Self {
        let count = name.ends_with(".num_batches_tracked") && t.shape.is_empty();
        Self { t, count }
    }
}

impl View for TensorOut<'_> {
    fn dtype(&self) -> Dtype {
        if self.count { Dtype::I64 } else { Dtype::F32 }
    }
    fn shape(&self) -> &[usize] {
        &self.t.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        let bytes = if self.count {
            self.t
                .data
                .iter()
                .flat_map(|&v| (v as i64).to_le_bytes())
                .collect()
        } else {
            self.t.data.iter().flat_map(|v| v.to_le_bytes()).collect()
        };
        Cow::Owned(bytes)
    }
    fn data_len(&self) -> usize {
        self.t.data.len() * if self.count { 8 } else { 4 }
    }
}

/// Writes `sd` as F32 safetensors (batch-norm counters as I64, see [`TensorOut`]) with `metadata` as `__metadata__` (omitted when empty).
/// The file appears whole or not at all ([`write_atomic`]).
pub fn write_safetensors(
    path: &Path,
    sd: &StateDict,
    metadata: &BTreeMap<String, String>,
) -> Result<(), CheckpointError> {
    for (name, t) in sd {
        let what = if name == METADATA_KEY {
            format!("`{METADATA_KEY}` is reserved by safetensors; rename the tensor")
        } else if t.data.len() != t.numel() {
            format!(
                "holds {} values but its shape {:?} needs {}",
                t.data.len(),
                t.shape,
                t.numel()
            )
        } else {
            continue;
        };
        return Err(CheckpointError::BadTensor {
            path: path.into(),
            tensor: name.clone(),
            what,
        });
    }
    let metadata: Option<HashMap<String, String>> = (!metadata.is_empty()).then(|| {
        metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    });
    let bytes = safetensors::serialize(
        sd.iter().map(|(k, t)| (k.as_str(), TensorOut::new(k, t))),
        &metadata,
    )
    .map_err(|e| CheckpointError::Corrupt {
        path: path.into(),
        what: format!("safetensors serialization ({e:?})"),
    })?;
    write_atomic(path, &bytes).map_err(|e| CheckpointError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::TensorView;

    use crate::testdata::pytorch_fixture;

    fn read_fixture(name: &str) -> (StateDict, BTreeMap<String, String>) {
        read_safetensors(&pytorch_fixture(name)).unwrap()
    }

    #[test]
    fn step_fixture_init_weights_equal_the_per_net_files() {
        let (all, _) = read_fixture("cyclegan_step_tiny.safetensors");
        for net in ["G_A", "G_B", "D_A", "D_B"] {
            let (single, _) = read_fixture(&format!(
                "cyclegan_step_tiny.init/latest_net_{net}.safetensors"
            ));
            let prefix = format!("init.{net}.");
            let from_all: StateDict = all
                .iter()
                .filter_map(|(k, t)| Some((k.strip_prefix(&prefix)?.to_owned(), t.clone())))
                .collect();
            assert!(!single.is_empty());
            assert_eq!(from_all, single, "{net}");
        }
        assert_eq!(all["real_A"].shape, [1, 3, 32, 32]);
        assert!(all["real_A"].data.iter().all(|v| (-1.0..=1.0).contains(v)));
    }

    #[test]
    fn official_generator_keys_read_from_safetensors() {
        let (g, _) = read_fixture("cyclegan_step_tiny.init/latest_net_G_A.safetensors");
        let w = &g["model.1.weight"];
        assert_eq!(w.shape[1..], [3, 7, 7]);
        assert_eq!(w.data.len(), w.numel());
    }

    fn sample() -> StateDict {
        let mut sd = StateDict::new();
        let t = |shape: Vec<usize>, data: Vec<f32>| RawTensor { shape, data };
        sd.insert(
            "model.1.weight".into(),
            t(vec![2, 3], vec![0.1, -0.2, 1e-30, f32::MAX, -0.0, 3.5]),
        );
        sd.insert(
            "module.model.10.conv_block.5.bias".into(),
            t(vec![1], vec![f32::MIN_POSITIVE]),
        );
        sd.insert("num_batches_tracked".into(), t(vec![], vec![7.0]));
        sd.insert("empty".into(), t(vec![0, 4], vec![]));
        sd.insert("ünïcode key".into(), t(vec![3], vec![1.0, 2.0, 3.0]));
        sd
    }

    #[test]
    fn write_then_read_round_trips_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("net.safetensors");
        let meta: BTreeMap<String, String> = [
            ("format".to_string(), "pt".to_string()),
            ("epoch".into(), "200".into()),
        ]
        .into();
        write_safetensors(&path, &sample(), &meta).unwrap();
        let (sd, back) = read_safetensors(&path).unwrap();
        assert_eq!(sd, sample());
        assert_eq!(back, meta);
        // Bit-exact, including the sign of zero.
        assert!(sd["model.1.weight"].data[4].is_sign_negative());
        // Nothing left behind but the file itself.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["net.safetensors"]);

        // Overwriting replaces the file; empty metadata writes no `__metadata__`.
        let mut one = StateDict::new();
        one.insert(
            "w".into(),
            RawTensor {
                shape: vec![1],
                data: vec![2.0],
            },
        );
        write_safetensors(&path, &one, &BTreeMap::new()).unwrap();
        let (sd, back) = read_safetensors(&path).unwrap();
        assert_eq!((sd, back), (one, BTreeMap::new()));
        assert!(!String::from_utf8_lossy(&fs::read(&path).unwrap()).contains(METADATA_KEY));
    }

    #[test]
    fn written_bytes_follow_the_safetensors_layout() {
        let mut sd = StateDict::new();
        sd.insert(
            "b".into(),
            RawTensor {
                shape: vec![2],
                data: vec![1.0, -2.0],
            },
        );
        sd.insert(
            "a".into(),
            RawTensor {
                shape: vec![],
                data: vec![0.5],
            },
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.safetensors");
        write_safetensors(&path, &sd, &BTreeMap::new()).unwrap();
        let bytes = fs::read(&path).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        assert_eq!(header["a"]["dtype"], "F32");
        assert_eq!(header["a"]["shape"], serde_json::json!([]));
        assert_eq!(header["b"]["shape"], serde_json::json!([2]));
        let (s, e) = (
            header["b"]["data_offsets"][0].as_u64().unwrap() as usize,
            header["b"]["data_offsets"][1].as_u64().unwrap() as usize,
        );
        let payload = &bytes[8 + n..];
        assert_eq!(payload.len(), 12);
        assert_eq!(
            &payload[s..e],
            [1.0f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat()
        );
        assert_eq!((8 + n) % 8, 0, "data starts 8-byte aligned");
    }

    #[test]
    fn reads_other_dtypes_as_f32() {
        let f16 = [0x3c00u16, 0xc000]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<_>>();
        let bf16 = [0x3f80u16, 0xc049]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<_>>();
        let f64s = [0.25f64, -1.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<_>>();
        let i64s = [3i64, -4]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<_>>();
        let views = [
            ("h", TensorView::new(Dtype::F16, vec![2], &f16).unwrap()),
            ("bf", TensorView::new(Dtype::BF16, vec![2], &bf16).unwrap()),
            ("d", TensorView::new(Dtype::F64, vec![2, 1], &f64s).unwrap()),
            ("l", TensorView::new(Dtype::I64, vec![2], &i64s).unwrap()),
        ];
        let bytes = safetensors::serialize(views, &None).unwrap();
        let (sd, meta) = read_safetensors_bytes(&bytes, "mixed.safetensors").unwrap();
        assert!(meta.is_empty());
        assert_eq!(sd["h"].data, [1.0, -2.0]);
        assert_eq!(sd["bf"].data, [1.0, -3.140625]);
        assert_eq!(
            (sd["d"].shape.clone(), sd["d"].data.clone()),
            (vec![2, 1], vec![0.25, -1.5])
        );
        assert_eq!(sd["l"].data, [3.0, -4.0]);

        let u16s = [1u8, 0, 2, 0];
        let bytes = safetensors::serialize(
            [("u", TensorView::new(Dtype::U16, vec![2], &u16s).unwrap())],
            &None,
        )
        .unwrap();
        let e = read_safetensors_bytes(&bytes, "u16.safetensors").unwrap_err();
        assert!(matches!(e, CheckpointError::Unsupported { .. }), "{e}");
    }

    #[test]
    fn damaged_files_are_errors() {
        let bytes = fs::read(pytorch_fixture("resnet_official_tiny.io.safetensors")).unwrap();
        for cut in [0, 4, 8, 9, 50, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                read_safetensors_bytes(&bytes[..cut], "cut.safetensors").is_err(),
                "cut at {cut}"
            );
        }
        let e = read_safetensors_bytes(&bytes[..bytes.len() - 1], "cut.safetensors").unwrap_err();
        assert!(matches!(e, CheckpointError::Truncated { .. }), "{e}");
        let mut garbled = bytes.clone();
        garbled[20] = b'#';
        assert!(read_safetensors_bytes(&garbled, "x").is_err());
        let missing = read_safetensors(&pytorch_fixture("no-such.safetensors")).unwrap_err();
        assert!(matches!(missing, CheckpointError::NotFound { .. }));
    }

    #[test]
    fn refuses_inconsistent_tensors_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.safetensors");
        let mut sd = StateDict::new();
        sd.insert(
            "w".into(),
            RawTensor {
                shape: vec![2, 2],
                data: vec![1.0; 3],
            },
        );
        let e = write_safetensors(&path, &sd, &BTreeMap::new()).unwrap_err();
        assert!(matches!(e, CheckpointError::BadTensor { .. }), "{e}");
        let mut sd = StateDict::new();
        sd.insert(
            METADATA_KEY.into(),
            RawTensor {
                shape: vec![1],
                data: vec![1.0],
            },
        );
        assert!(write_safetensors(&path, &sd, &BTreeMap::new()).is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        // A folder that does not exist: an I/O error naming the path, not a panic.
        let e = write_safetensors(
            &dir.path().join("no/such/dir/x.safetensors"),
            &sample(),
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("x.safetensors"), "{e}");
    }
}
