//! `cyclegan download dataset <name>` / `cyclegan download model <name>`:
//! fetch the official CycleGAN datasets and pretrained generators.
//!
//! Rust counterpart of upstream `datasets/download_cyclegan_dataset.sh` and
//! `scripts/download_cyclegan_model.sh`, with the same URLs and on-disk
//! layout, plus what `wget`/`unzip` left to chance: resumable downloads,
//! length checks, atomic renames and zip entries that cannot escape.
//!
//! - [`catalog`]: the names, URLs and file names.
//! - [`http`]: one resumable HTTP(S) download to a file.
//! - [`extract`]: safe zip extraction into place.

pub mod catalog;
pub mod extract;
pub mod http;

use std::path::{Path, PathBuf};

pub use catalog::{
    DEFAULT_BASE_URL, Dataset, INCEPTION_BASE_URL, INCEPTION_FILE_NAME, INCEPTION_SHA256_PREFIX,
    MODEL_FILE_NAME, Model, UnknownName,
};

/// What the CLI passes down from `--base-url` and `--quiet`.
#[derive(Debug, Clone, Default)]
pub struct DownloadOptions {
    /// Replaces [`DEFAULT_BASE_URL`]: files are fetched from
    /// `<base>/datasets/<name>.zip` and `<base>/pretrained_models/<name>.pth`.
    pub base_url: Option<String>,
    /// No progress bars or notes (warnings are still printed).
    pub quiet: bool,
}

impl DownloadOptions {
    /// The base URL to use, checked so a typo fails before any file is made.
    pub fn base(&self) -> Result<&str, DownloadError> {
        self.base_or(DEFAULT_BASE_URL)
    }

    /// [`DownloadOptions::base`] with another default host.
    pub fn base_or<'a>(&'a self, default: &'a str) -> Result<&'a str, DownloadError> {
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
        "{url} not found (HTTP 404): check the name, or that the --base-url mirror has the upstream layout (<base>/datasets/<name>.zip, <base>/pretrained_models/<name>.pth)"
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

    #[error("{} is not a readable zip archive ({cause}); delete it and download again", archive.display())]
    BadArchive {
        archive: PathBuf,
        cause: zip::result::ZipError,
    },

    #[error("refusing to extract {}: entry '{entry}' {reason}; nothing was extracted. The archive is corrupt or hostile: delete it and download from a trusted source", archive.display())]
    UnsafeEntry {
        archive: PathBuf,
        entry: String,
        reason: &'static str,
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

/// Downloads and unpacks a dataset as upstream does: `<root>/<name>.zip` is
/// fetched, extracted to `<root>/<name>/` (`trainA`, `trainB`, `testA`,
/// `testB`), then deleted. An existing `<root>/<name>` is left alone.
/// `root` is `datasets` in the CLI.
pub fn download_dataset(
    name: Dataset,
    root: &Path,
    opts: &DownloadOptions,
) -> Result<PathBuf, DownloadError> {
    let target = root.join(name.dir_name());
    if target.exists() {
        opts.note(format!(
            "{} already exists; skipping (delete it to download again)",
            target.display()
        ));
        return Ok(target);
    }
    let url = name.url(opts.base()?);
    std::fs::create_dir_all(root).map_err(DownloadError::io("create", root))?;
    // An archive left by an earlier run whose extraction failed is complete
    // (downloads only appear under their final name once verified), so
    // `download_file` reuses it instead of fetching it again.
    let archive = root.join(name.zip_file_name());
    http::download_file(&url, &archive, opts.quiet)?;
    opts.note(format!("extracting {} ...", archive.display()));
    extract::extract_dataset(&archive, root, name.dir_name(), opts.quiet)?;
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
    name: Model,
    root: &Path,
    opts: &DownloadOptions,
) -> Result<PathBuf, DownloadError> {
    let dir = root.join(name.dir_name());
    let dest = dir.join(name.file_name());
    if dest.exists() {
        opts.note(format!(
            "{} already exists; skipping (delete it to download again)",
            dest.display()
        ));
        return Ok(dest);
    }
    let url = name.url(opts.base_or(name.default_base_url())?);
    std::fs::create_dir_all(&dir).map_err(DownloadError::io("create", &dir))?;
    if let Err(e) = http::download_file(&url, &dest, opts.quiet) {
        // Drop the folder made just above, unless it holds a `.part` to
        // resume from (`remove_dir` only removes empty folders).
        let _ = std::fs::remove_dir(&dir);
        return Err(e);
    }
    if name == Model::Inception {
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
        }
    }

    #[test]
    fn base_url_defaults_to_upstream_and_accepts_mirrors() {
        assert_eq!(
            DownloadOptions::default().base().ok(),
            Some(DEFAULT_BASE_URL)
        );
        assert_eq!(
            opts("https://m.example/cg/").base().ok(),
            Some("https://m.example/cg/")
        );
        assert_eq!(
            opts("http://127.0.0.1:8000").base().ok(),
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
            let msg = opts(bad).base().unwrap_err().to_string();
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
    }
}
