//! Everything that can go wrong reading or writing a checkpoint. Each message is one line that
//! names the file, says what is wrong with it and, where there is one, what would work instead.

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("`{}`: no such file", path.display())]
    NotFound { path: PathBuf },

    #[error("`{}`: {cause}", path.display())]
    Io { path: PathBuf, cause: io::Error },

    #[error("`{}`: file is empty (is the download complete?)", path.display())]
    Empty { path: PathBuf },

    #[error(
        "`{}`: not a PyTorch checkpoint (neither a zip-format nor a legacy pickle .pth) nor a safetensors file",
        path.display()
    )]
    UnknownFormat { path: PathBuf },

    #[error("`{}`: {what} (is the download complete?)", path.display())]
    Truncated { path: PathBuf, what: String },

    #[error("`{}`: corrupt {what}", path.display())]
    Corrupt { path: PathBuf, what: String },

    #[error(
        "`{}`: pickle refers to global `{global}`; only torch tensor/storage rebuild functions and OrderedDict are allowed",
        path.display()
    )]
    ForbiddenGlobal { path: PathBuf, global: String },

    #[error("`{}`: unsupported: {what}", path.display())]
    Unsupported { path: PathBuf, what: String },

    #[error("`{}`: storage `{key}` named by the pickle is missing from the archive", path.display())]
    MissingStorage { path: PathBuf, key: String },

    #[error("`{}`: tensor `{tensor}`: {what}", path.display())]
    BadTensor {
        path: PathBuf,
        tensor: String,
        what: String,
    },

    #[error("`{}`: not a plain state dict (name → tensor): {what}", path.display())]
    NotAStateDict { path: PathBuf, what: String },

    #[error(
        "{}the checkpoint does not fit the network: missing [{missing}]; unexpected [{unexpected}]; wrong shape [{mismatched}] (check --netG/--ngf/--norm/--input-nc/--output-nc, or let the architecture be detected)",
        at(path)
    )]
    LayoutMismatch {
        path: PathBuf,
        missing: String,
        unexpected: String,
        mismatched: String,
    },

    #[error(
        "{}no known network layout (ResNet or U-Net generator, n-layer or pixel PatchGAN) fits these keys: {first_keys}",
        at(path)
    )]
    UnknownLayout { path: PathBuf, first_keys: String },

    #[error("`{}` holds a {found}, but {wanted} is needed here", path.display())]
    WrongNetwork {
        path: PathBuf,
        found: String,
        wanted: &'static str,
    },
}

/// "`path`: " where the path is known, nothing where the error came from memory.
fn at(path: &Path) -> String {
    if path.as_os_str().is_empty() {
        String::new()
    } else {
        format!("`{}`: ", path.display())
    }
}

impl CheckpointError {
    /// Names `path` in an error raised where only the tensors were known.
    pub fn with_path(self, path: &Path) -> Self {
        match self {
            CheckpointError::LayoutMismatch {
                missing,
                unexpected,
                mismatched,
                ..
            } => CheckpointError::LayoutMismatch {
                path: path.into(),
                missing,
                unexpected,
                mismatched,
            },
            CheckpointError::UnknownLayout { first_keys, .. } => CheckpointError::UnknownLayout {
                path: path.into(),
                first_keys,
            },
            other => other,
        }
    }

    /// Wraps an I/O error on `path`, giving a missing file its own variant.
    pub fn io(path: &Path, cause: io::Error) -> Self {
        if cause.kind() == io::ErrorKind::NotFound {
            CheckpointError::NotFound { path: path.into() }
        } else {
            CheckpointError::Io {
                path: path.into(),
                cause,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_file_and_the_problem() {
        let p = Path::new("x.pth");
        let e = CheckpointError::io(p, io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(e.to_string(), "`x.pth`: no such file");
        let e = CheckpointError::ForbiddenGlobal {
            path: p.into(),
            global: "os.system".into(),
        };
        assert_eq!(
            e.to_string(),
            "`x.pth`: pickle refers to global `os.system`; only torch tensor/storage rebuild \
             functions and OrderedDict are allowed"
        );
        let e = CheckpointError::Truncated {
            path: p.into(),
            what: "truncated zip archive".into(),
        };
        assert_eq!(
            e.to_string(),
            "`x.pth`: truncated zip archive (is the download complete?)"
        );
        let e = CheckpointError::io(p, io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(matches!(e, CheckpointError::Io { .. }));
        assert!(e.to_string().starts_with("`x.pth`: "));
        assert!(!e.to_string().contains('\n'));
    }
}
