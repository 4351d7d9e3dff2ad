//! The one way files are written in place: through a temporary beside the target, synced, then
//! renamed over it, so a reader (or a run killed at any moment) sees the old file or the new one,
//! never half of either. Checkpoints, the training state, the run's logs and pages and the test
//! report all go through [`write_atomic`]; it sits below `checkpoint`, `train` and `cli` so that
//! each may use it.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Every temporary's name holds this, so that a later run can recognise and remove the ones a
/// killed run left (`train`'s write probe does).
pub const TEMP_MARKER: &str = ".tmp-";

/// Writes `bytes` to `path` atomically: to `.<name>.tmp-<pid>-<n>` in the same folder (so the
/// rename cannot cross file systems), synced to disk, renamed over `path`, and the rename itself
/// synced where the platform allows. On error the temporary is removed and `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temporary_for(path)?;
    let written = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    // Persist the rename itself; best effort, as not every platform can open a directory.
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A temporary name beside `path`, hidden, unique to this process and call (two threads writing
/// the same file must not share a temporary).
fn temporary_for(path: &Path) -> io::Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(
        "{TEMP_MARKER}{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    Ok(path.with_file_name(tmp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_whole_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new contents").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new contents");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.json"]);
    }

    #[test]
    fn a_failed_write_leaves_the_target_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        // A folder in the way: the rename fails after the temporary was written.
        let path = dir.path().join("taken");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("inside"), b"x").unwrap();
        assert!(write_atomic(&path, b"bytes").is_err());
        assert!(path.join("inside").exists());
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["taken"]);
        assert!(write_atomic(Path::new("/"), b"x").is_err());
    }

    #[test]
    fn temporaries_are_hidden_marked_and_distinct() {
        let a = temporary_for(Path::new("dir/x.safetensors")).unwrap();
        let b = temporary_for(Path::new("dir/x.safetensors")).unwrap();
        assert_ne!(a, b);
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(".x.safetensors.tmp-"), "{name}");
        assert!(name.contains(TEMP_MARKER));
        assert_eq!(a.parent(), Some(Path::new("dir")));
    }
}
