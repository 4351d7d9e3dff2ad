//! `cyclegan download dataset <name>` / `cyclegan download model <name>`:
//! fetch the official CycleGAN and pix2pix datasets and pretrained generators.
//!
//! Rust counterpart of upstream `datasets/download_cyclegan_dataset.sh`,
//! `scripts/download_cyclegan_model.sh` and their pix2pix twins, with the
//! same URLs and on-disk layout, plus what `wget`/`unzip`/`tar` left to
//! chance: resumable downloads, length checks, atomic renames, and archives
//! whose entries cannot escape, link or expand without bound.
//!
//! - [`catalog`]: the names, URLs and file names.
//! - [`http`]: one resumable HTTP(S) download to a file.
//! - [`extract`]: safe zip and tar.gz extraction into place.

pub mod catalog;
pub mod extract;
pub mod http;

use std::path::{Path, PathBuf};

pub use catalog::{
    AnyDataset, AnyModel, CatalogEntry, DEFAULT_BASE_URL, Dataset, Family, INCEPTION_BASE_URL,
    INCEPTION_FILE_NAME, INCEPTION_SHA256_PREFIX, MODEL_FILE_NAME, Model, PIX2PIX_BASE_URL, Pick,
    Pix2pixDataset, Pix2pixModel, UnknownName,
};
pub use extract::{ArchiveFormat, DEFAULT_MAX_UNPACKED_BYTES};

/// What the CLI passes down from `--base-url`, `--max-unpacked-gib` and `--quiet`.
#[derive(Debug, Clone, Default)]
pub struct DownloadOptions {
    /// Replaces the catalog's host prefix ([`DEFAULT_BASE_URL`] or
    /// [`PIX2PIX_BASE_URL`]): files are fetched from the same paths below it
    /// (`<base>/datasets/<name>.zip`, `<base>/pretrained_models/<name>.pth`;
    /// pix2pix: `<base>/datasets/<name>.tar.gz`, `<base>/models-pytorch/<name>.pth`).
    pub base_url: Option<String>,
    /// The most bytes a dataset archive may expand to; `None` means
    /// [`DEFAULT_MAX_UNPACKED_BYTES`].
    pub max_unpacked_bytes: Option<u64>,
    /// No progress bars or notes (warnings are still printed).
    pub quiet: bool,
}

impl DownloadOptions {
    /// The base URL to use, `default` unless `--base-url` was given, checked
    /// so a typo fails before any file is made.
    pub fn base<'a>(&'a self, default: &'a str) -> Result<&'a str, DownloadError> {
        let Some(base) = self.base_url.as_deref() else {
            return Ok(default);
        };
        let rest = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"));
        match rest {
            Some(host) if !host.trim_matches('/').is_empty() => Ok(base),
            _ => Err(DownloadError::BadBaseUrl {
                base: base.to_string(),
            }),
        }
    }

    /// Prints a progress note unless `quiet`.
    pub(crate) fn note(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", msg.as_ref());
        }
    }
}

/// Everything that can go wrong; each message names the URL or path and
/// says what to do about it. Messages are complete on their own (the
/// underlying I/O or zip error is part of the text, not a `source()`), so
/// printing the error chain does not repeat the cause.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error(
        "invalid --base-url '{base}': expected an http:// or https:// URL such as {DEFAULT_BASE_URL}"
    )]
    BadBaseUrl { base: String },

    #[error(
        "could not reach {url}: {reason} (are you offline? use --base-url to point at a mirror)"
    )]
    Unreachable { url: String, reason: String },

    #[error(
        "{url} not found (HTTP 404): check the name, or that the --base-url mirror has the upstream layout (the official paths below the base URL; see `cyclegan download dataset --help`)"
    )]
    NotFound { url: String },

    #[error(
        "{url} answered HTTP {status}: try again later, or use --base-url to point at a mirror"
    )]
    Status { url: String, status: u16 },

    #[error("{url}: {detail}; delete {} and try again", part.display())]
    BadResponse {
        url: String,
        detail: String,
        part: PathBuf,
    },

    #[error("download of {url} stopped at {got} of {} bytes ({reason}); run the same command again to resume from {}", expected.map_or("?".to_string(), |n| n.to_string()), part.display())]
    Interrupted {
        url: String,
        got: u64,
        expected: Option<u64>,
        reason: String,
        part: PathBuf,
    },

    #[error(
        "{url}: the file's SHA-256 starts {got}, not {want}: it is not the published file (a \
             mirror's copy or a corrupted download); it was deleted, run the command again or \
             use another --base-url"
    )]
    Checksum {
        url: String,
        got: String,
        want: &'static str,
    },

    #[error("could not {action} {}: {cause} (check permissions and free disk space)", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },

    #[error("{} is not a readable archive ({cause}); delete it and download again", archive.display())]
    BadArchive { archive: PathBuf, cause: String },

    #[error("refusing to extract {}: entry '{entry}' {reason}; nothing was extracted. The archive is corrupt or hostile: delete it and download from a trusted source", archive.display())]
    UnsafeEntry {
        archive: PathBuf,
        entry: String,
        reason: &'static str,
    },

    #[error("{} holds a CycleGAN dataset (trainA/, no train/), not the aligned pix2pix '{name}' asked for (the two catalogs share this name and folder); download pix2pix's elsewhere, e.g. with --root datasets/pix2pix", target.display())]
    OtherCatalogThere { target: PathBuf, name: &'static str },

    #[error("refusing to extract {}: it expands past the limit of {limit} bytes ({:.2} GiB), reached at entry '{entry}'; nothing was extracted. If you trust the archive, raise the limit with --max-unpacked-gib", archive.display(), *limit as f64 / (1u64 << 30) as f64)]
    TooLarge {
        archive: PathBuf,
        entry: String,
        limit: u64,
    },
}

impl DownloadError {
    /// Wraps an I/O error with what was being done to which path.
    pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |cause| DownloadError::Io {
            action,
            path,
            cause,
        }
    }
}

/// Downloads and unpacks a dataset as upstream does: `<root>/<name>.zip`
/// (CycleGAN: `trainA`, `trainB`, `testA`, `testB` inside) or
/// `<root>/<name>.tar.gz` (pix2pix: `train`, `val`, `test` of aligned A|B
/// images) is fetched, extracted to `<root>/<name>/`, then deleted. An
/// existing `<root>/<name>` is left alone. `root` is `datasets` in the CLI.
pub fn download_dataset(
    name: impl Into<AnyDataset>,
    root: &Path,
    opts: &DownloadOptions,
) -> Result<PathBuf, DownloadError> {
    let name = name.into();
    let target = root.join(name.dir_name());
    // Both catalogs unpack `maps` and `facades` to the same folder: one
    // already there must not pass for the other.
    if matches!(name, Pick::Pix2pix(_))
        && target.join("trainA").is_dir()
        && !target.join("train").exists()
    {
        return Err(DownloadError::OtherCatalogThere {
            target,
            name: name.name(),
        });
    }
    if target.exists() {
        opts.note(format!(
            "{} already exists; skipping (delete it to download again)",
            target.display()
        ));
        return Ok(target);
    }
    let url = name.url(opts.base(name.default_base_url())?);
    std::fs::create_dir_all(root).map_err(DownloadError::io("create", root))?;
    // An archive left by an earlier run whose extraction failed is complete
    // (downloads only appear under their final name once verified), so
    // `download_file` reuses it instead of fetching it again.
    let archive = root.join(name.archive_file_name());
    http::download_file(&url, &archive, opts.quiet)?;
    opts.note(format!("checking and extracting {} ...", archive.display()));
    let max_bytes = opts
        .max_unpacked_bytes
        .unwrap_or(DEFAULT_MAX_UNPACKED_BYTES);
    extract::extract_dataset(
        &archive,
        name.format(),
        root,
        name.dir_name(),
        max_bytes,
        opts.quiet,
    )?;
    if let Err(e) = std::fs::remove_file(&archive) {
        // The dataset is in place; a leftover zip is only wasted space.
        eprintln!("warning: could not delete {}: {e}", archive.display());
    }
    opts.note(format!("dataset ready in {}", target.display()));
    Ok(target)
}

/// Downloads a pretrained generator to
/// `<root>/<name>_pretrained/latest_net_G.pth`, the path upstream's
/// `test.py --name <name>_pretrained --model test` reads. An existing file is
/// left alone. `root` is `checkpoints` in the CLI.
pub fn download_model(
    name: impl Into<AnyModel>,
    root: &Path,
    opts: &DownloadOptions,
) -> Result<PathBuf, DownloadError> {
    let name = name.into();
    let dir = root.join(name.dir_name());
    let dest = dir.join(name.file_name());
    if dest.exists() {
        opts.note(format!(
            "{} already exists; skipping (delete it to download again)",
            dest.display()
        ));
        return Ok(dest);
    }
    let url = name.url(opts.base(name.default_base_url())?);
    std::fs::create_dir_all(&dir).map_err(DownloadError::io("create", &dir))?;
    if let Err(e) = http::download_file(&url, &dest, opts.quiet) {
        // Drop the folder made just above, unless it holds a `.part` to
        // resume from (`remove_dir` only removes empty folders).
        let _ = std::fs::remove_dir(&dir);
        return Err(e);
    }
    if name == Pick::CycleGan(Model::Inception) {
        check_sha256_prefix(&url, &dest, INCEPTION_SHA256_PREFIX)?;
    }
    opts.note(format!("model saved to {}", dest.display()));
    Ok(dest)
}

/// Checks that `path`'s SHA-256 starts with `want` (hex); a file that fails is deleted.
fn check_sha256_prefix(url: &str, path: &Path, want: &'static str) -> Result<(), DownloadError> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).map_err(DownloadError::io("read", path))?;
    let got: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if got.starts_with(want) {
        return Ok(());
    }
    let _ = std::fs::remove_file(path);
    Err(DownloadError::Checksum {
        url: url.into(),
        got: got[..want.len()].into(),
        want,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(base: &str) -> DownloadOptions {
        DownloadOptions {
            base_url: Some(base.to_string()),
            quiet: true,
            ..Default::default()
        }
    }

    #[test]
    fn base_url_defaults_to_upstream_and_accepts_mirrors() {
        assert_eq!(
            DownloadOptions::default().base(DEFAULT_BASE_URL).ok(),
            Some(DEFAULT_BASE_URL)
        );
        assert_eq!(
            DownloadOptions::default().base(PIX2PIX_BASE_URL).ok(),
            Some(PIX2PIX_BASE_URL)
        );
        assert_eq!(
            opts("https://m.example/cg/").base(PIX2PIX_BASE_URL).ok(),
            Some("https://m.example/cg/")
        );
        assert_eq!(
            opts("http://127.0.0.1:8000").base(DEFAULT_BASE_URL).ok(),
            Some("http://127.0.0.1:8000")
        );
    }

    #[test]
    fn base_url_typos_are_rejected_with_the_fix() {
        for bad in [
            "efrosgans.eecs.berkeley.edu/cyclegan",
            "ftp://x/y",
            "http://",
            "https:///",
            "",
        ] {
            let msg = opts(bad).base(DEFAULT_BASE_URL).unwrap_err().to_string();
            assert!(msg.contains(&format!("'{bad}'")), "{msg}");
            assert!(msg.contains("http:// or https://"), "{msg}");
        }
    }

    #[test]
    fn bad_base_url_fails_before_creating_anything() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("datasets");
        assert!(download_dataset(Dataset::Maps, &root, &opts("nope")).is_err());
        assert!(!root.exists());
        let root = tmp.path().join("checkpoints");
        assert!(download_model(Model::Sat2map, &root, &opts("nope")).is_err());
        assert!(!root.exists());
        assert!(download_dataset(Pix2pixDataset::Facades, &root, &opts("nope")).is_err());
        assert!(download_model(Pix2pixModel::Day2night, &root, &opts("nope")).is_err());
        assert!(!root.exists());
    }
}
