//! Which kind of checkpoint a file is, decided by its content (extensions lie: `.pth`, `.pt`,
//! `.bin` and `.ckpt` are all used for every format), and the one entry point that reads any of
//! them. Formats: zip `torch.save` (PyTorch ≥ 1.6), legacy `torch.save`, and
//! [safetensors](https://github.com/huggingface/safetensors#format).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use super::error::CheckpointError;
use super::pth::read_pth_bytes;
use super::safetensors_io::read_safetensors_bytes;
use crate::model::StateDict;

/// safetensors refuses headers over 100 MB; a larger "length" means the file is something else.
const MAX_SAFETENSORS_HEADER: u64 = 100_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointFormat {
    /// `torch.save` zip archive (PyTorch ≥ 1.6 default).
    PthZip,
    /// `torch.save` pickle stream (before 1.6, or `_use_new_zipfile_serialization=False`).
    PthLegacy,
    Safetensors,
}

impl fmt::Display for CheckpointFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckpointFormat::PthZip => "PyTorch zip checkpoint",
            CheckpointFormat::PthLegacy => "PyTorch legacy checkpoint",
            CheckpointFormat::Safetensors => "safetensors",
        })
    }
}

/// Recognises a checkpoint by its first bytes; `None` if it is none of the three.
pub fn sniff(bytes: &[u8]) -> Option<CheckpointFormat> {
    if bytes.starts_with(b"PK\x03\x04") {
        return Some(CheckpointFormat::PthZip);
    }
    // safetensors: u64 little-endian header length, then the JSON header.
    if let Some(len) = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        && bytes.get(8) == Some(&b'{')
        && (2..=MAX_SAFETENSORS_HEADER).contains(&len)
    {
        return Some(CheckpointFormat::Safetensors);
    }
    // A pickle opens with PROTO and its protocol number; torch.save writes protocol 2.
    if bytes.first() == Some(&0x80) && bytes.get(1).is_some_and(|p| (2..=5).contains(p)) {
        return Some(CheckpointFormat::PthLegacy);
    }
    None
}

/// Reads any supported checkpoint: its tensors, its format, and its string metadata (the
/// safetensors `__metadata__`; always empty for `.pth`).
pub fn read_state_dict(
    path: &Path,
) -> Result<(StateDict, CheckpointFormat, BTreeMap<String, String>), CheckpointError> {
    let bytes = std::fs::read(path).map_err(|e| CheckpointError::io(path, e))?;
    let label = path.to_string_lossy();
    match sniff(&bytes) {
        Some(CheckpointFormat::Safetensors) => {
            let (sd, metadata) = read_safetensors_bytes(&bytes, &label)?;
            Ok((sd, CheckpointFormat::Safetensors, metadata))
        }
        Some(format) => Ok((read_pth_bytes(&bytes, &label)?, format, BTreeMap::new())),
        None if bytes.is_empty() => Err(CheckpointError::Empty { path: path.into() }),
        None => Err(CheckpointError::UnknownFormat { path: path.into() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testdata::pytorch_fixture as fixture;

    #[test]
    fn sniffs_the_fixtures_by_content() {
        let sniff_file = |name: &str| sniff(&std::fs::read(fixture(name)).unwrap());
        assert_eq!(
            sniff_file("resnet_official_tiny.pth"),
            Some(CheckpointFormat::PthZip)
        );
        assert_eq!(
            sniff_file("resnet_official_tiny_legacy.pth"),
            Some(CheckpointFormat::PthLegacy)
        );
        assert_eq!(
            sniff_file("resnet_official_tiny.io.safetensors"),
            Some(CheckpointFormat::Safetensors)
        );
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"\x80"), None);
        assert_eq!(sniff(b"PK\x05\x06"), None);
        assert_eq!(sniff(b"{\"not\": \"safetensors\"}"), None);
        assert_eq!(sniff(b"<html><body>404</body></html>"), None);
    }

    #[test]
    fn dispatches_on_content_not_extension() {
        let dir = tempfile::tempdir().unwrap();
        // A zip checkpoint under a safetensors name, and the reverse.
        let disguised = dir.path().join("weights.safetensors");
        std::fs::copy(fixture("resnet_official_tiny.pth"), &disguised).unwrap();
        let (sd, format, meta) = read_state_dict(&disguised).unwrap();
        assert_eq!(format, CheckpointFormat::PthZip);
        assert_eq!(sd["model.1.weight"].shape, [8, 3, 7, 7]);
        assert!(meta.is_empty());

        let disguised = dir.path().join("io.pth");
        std::fs::copy(fixture("resnet_official_tiny.io.safetensors"), &disguised).unwrap();
        let (sd, format, _) = read_state_dict(&disguised).unwrap();
        assert_eq!(format, CheckpointFormat::Safetensors);
        assert_eq!(sd.keys().collect::<Vec<_>>(), ["input", "output"]);
        assert_eq!(sd["input"].shape.len(), 4);
        assert_eq!(sd["input"].shape[..2], [1, 3]);

        let (sd, format, _) = read_state_dict(&fixture("resnet_official_tiny_legacy.pth")).unwrap();
        assert_eq!(format, CheckpointFormat::PthLegacy);
        assert!(sd.contains_key("model.2.running_mean"));
    }

    #[test]
    fn missing_empty_and_foreign_files_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pth");
        let e = read_state_dict(&missing).unwrap_err();
        assert!(matches!(e, CheckpointError::NotFound { .. }));
        assert!(e.to_string().contains("nope.pth"), "{e}");

        let empty = dir.path().join("empty.pth");
        std::fs::write(&empty, b"").unwrap();
        assert!(matches!(
            read_state_dict(&empty),
            Err(CheckpointError::Empty { .. })
        ));

        let text = dir.path().join("x.bin");
        std::fs::write(&text, "404 Not Found\n").unwrap();
        let e = read_state_dict(&text).unwrap_err();
        assert!(matches!(e, CheckpointError::UnknownFormat { .. }));
        assert!(e.to_string().ends_with(
            "x.bin`: not a PyTorch checkpoint (neither a zip-format nor a legacy pickle .pth) nor a safetensors file"
        ));
    }

    #[test]
    fn display_names_each_format() {
        assert_eq!(CheckpointFormat::Safetensors.to_string(), "safetensors");
        assert_eq!(
            CheckpointFormat::PthZip.to_string(),
            "PyTorch zip checkpoint"
        );
        assert_eq!(
            CheckpointFormat::PthLegacy.to_string(),
            "PyTorch legacy checkpoint"
        );
    }
}
