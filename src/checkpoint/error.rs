//! Everything that can go wrong reading or writing a checkpoint. Each message is one line that
//! names the file, says what is wrong with it and, where there is one, what would work instead.

use std::io;
use std::path::{Path, PathBuf};

use super::detect::DetectError;
use crate::model::KeyMismatch;

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

    /// The file's tensors do not fit the network under strict loading.
    #[error(
        "`{}`: {mismatch} (check --netG/--ngf/--norm/--input-nc/--output-nc, or let the architecture be detected)",
        path.display()
    )]
    LayoutMismatch {
        path: PathBuf,
        mismatch: KeyMismatch,
    },

    /// No network could be made of the file's keys and shapes (or of its metadata).
    #[error("`{}`: {cause}", path.display())]
    Detect { path: PathBuf, cause: DetectError },

    #[error("`{}` holds a {found}, but {wanted} is needed here", path.display())]
    WrongNetwork {
        path: PathBuf,
        found: String,
        wanted: &'static str,
    },
}

impl CheckpointError {
    /// Names the file whose tensors did not fit the network.
    pub fn layout(path: &Path, mismatch: KeyMismatch) -> Self {
        CheckpointError::LayoutMismatch {
            path: path.into(),
            mismatch,
        }
    }

    /// Names the file whose architecture could not be worked out.
    pub fn detect(path: &Path, cause: DetectError) -> Self {
        CheckpointError::Detect {
            path: path.into(),
            cause,
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
