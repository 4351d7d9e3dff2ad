//! Safe zip extraction: the `unzip $ZIP_FILE -d ./datasets/` step of
//! upstream's `datasets/download_cyclegan_dataset.sh`.
//!
//! Unlike a bare `unzip`, every entry name is checked before anything is
//! written (no `..`, no absolute or drive paths, no symlinks), and the files
//! go to a staging folder beside the target that is renamed into place only
//! when complete, so a crash never leaves a half-filled dataset folder that a
//! later run would mistake for a finished one.

use std::fs::{self, File};
use std::io::{self, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use zip::ZipArchive;
use zip::result::ZipError;

use super::DownloadError;

const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;

/// Extracts `archive` so that the dataset ends up in `<root>/<name>/`.
///
/// Official archives hold one top folder `<name>/`; that folder is moved into
/// place and anything beside it (e.g. `__MACOSX/`) is dropped. An archive
/// without it (some mirrors zip the folder's contents) becomes `<name>/` as a
/// whole. `<root>/<name>` must not exist yet.
pub fn extract_dataset(
    archive: &Path,
    root: &Path,
    name: &str,
    quiet: bool,
) -> Result<PathBuf, DownloadError> {
    let target = root.join(name);
    let staging = root.join(format!(".{name}.extracting"));
    // Left by a run killed mid-extraction: ours, and incomplete.
    remove_dir_if_present(&staging)?;

    let bad = |cause| DownloadError::BadArchive {
        archive: archive.to_path_buf(),
        cause,
    };
    let file = File::open(archive).map_err(DownloadError::io("open", archive))?;
    let mut zip = ZipArchive::new(BufReader::new(file)).map_err(bad)?;
    let entries = checked_entries(&mut zip, archive)?;

    fs::create_dir(&staging).map_err(DownloadError::io("create", &staging))?;
    let result = unpack(&mut zip, &entries, &staging, archive, quiet).and_then(|()| {
        let top = staging.join(name);
        let from = if top.is_dir() { top } else { staging.clone() };
        fs::rename(&from, &target).map_err(DownloadError::io("move into place", &from))
    });
    // On success this only removes what sat beside the top folder; on
    // failure it removes the partial extraction.
    let cleanup = remove_dir_if_present(&staging);
    result.and(cleanup).map(|()| target)
}

/// One entry that passed the checks: its index and where it goes.
struct Entry {
    index: usize,
    path: PathBuf,
    is_dir: bool,
}

/// Validates every entry up front, so a hostile archive is refused before a
/// single byte is written.
fn checked_entries<R: Read + io::Seek>(
    zip: &mut ZipArchive<R>,
    archive: &Path,
) -> Result<Vec<Entry>, DownloadError> {
    let mut entries = Vec::with_capacity(zip.len());
    for index in 0..zip.len() {
        let entry = zip
            .by_index_raw(index)
            .map_err(|cause| DownloadError::BadArchive {
                archive: archive.to_path_buf(),
                cause,
            })?;
        let name = entry.name();
        let unsafe_entry = |reason| DownloadError::UnsafeEntry {
            archive: archive.to_path_buf(),
            entry: name.to_string(),
            reason,
        };
        let path = safe_relative_path(name).map_err(unsafe_entry)?;
        check_mode(entry.unix_mode()).map_err(unsafe_entry)?;
        // Second opinion from the zip crate; its rules are looser than ours,
        // so this only fires if ours ever miss something.
        if entry.enclosed_name().is_none() {
            return Err(unsafe_entry("escapes the target folder"));
        }
        let is_dir = name.ends_with('/') || name.ends_with('\\');
        entries.push(Entry {
            index,
            path,
            is_dir,
        });
    }
    Ok(entries)
}

/// The relative path an entry name may be written to, or why it may not.
///
/// Stricter than needed for containment (`a/../b` is refused too): official
/// archives never contain such names, so any that do are not to be trusted.
pub fn safe_relative_path(name: &str) -> Result<PathBuf, &'static str> {
    if name.contains('\0') {
        return Err("contains a NUL byte");
    }
    // Archives made on Windows may use `\`; treating it as a separator also
    // catches `..\x` on Unix, where it would otherwise be a plain name.
    let name = name.replace('\\', "/");
    if name.starts_with('/') {
        return Err("is an absolute path");
    }
    if name.contains(':') {
        return Err("has a drive letter or ':' (an absolute path on Windows)");
    }
    let mut path = PathBuf::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("climbs out of the target folder with '..'"),
            part => path.push(part),
        }
    }
    if path.as_os_str().is_empty() {
        return Err("has an empty name");
    }
    Ok(path)
}

/// Only plain files and folders: a symlink entry could point outside and be
/// written through by a later entry.
fn check_mode(mode: Option<u32>) -> Result<(), &'static str> {
    match mode.map(|m| m & S_IFMT) {
        None | Some(0 | S_IFREG | S_IFDIR) => Ok(()),
        Some(S_IFLNK) => Err("is a symbolic link"),
        Some(_) => Err("is a special file (device, FIFO or socket)"),
    }
}

fn unpack<R: Read + io::Seek>(
    zip: &mut ZipArchive<R>,
    entries: &[Entry],
    staging: &Path,
    archive: &Path,
    quiet: bool,
) -> Result<(), DownloadError> {
    let bar = progress_bar(quiet, entries.len() as u64);
    let mut buf = vec![0u8; 64 * 1024];
    for entry in entries {
        let out = staging.join(&entry.path);
        let dir = if entry.is_dir {
            Some(out.as_path())
        } else {
            out.parent()
        };
        if let Some(dir) = dir {
            fs::create_dir_all(dir).map_err(DownloadError::io("create", dir))?;
        }
        if !entry.is_dir {
            let mut reader =
                zip.by_index(entry.index)
                    .map_err(|cause| DownloadError::BadArchive {
                        archive: archive.to_path_buf(),
                        cause,
                    })?;
            // Files are not synced one by one (datasets hold thousands); the
            // staging rename is what keeps a crash from looking complete.
            let mut file = File::create(&out).map_err(DownloadError::io("create", &out))?;
            loop {
                // Read and write errors differ in cause and fix: a bad CRC
                // means a corrupt archive, a failed write a full disk.
                let n = reader
                    .read(&mut buf)
                    .map_err(|e| DownloadError::BadArchive {
                        archive: archive.to_path_buf(),
                        cause: ZipError::Io(e),
                    })?;
                if n == 0 {
                    break;
                }
                file.write_all(&buf[..n])
                    .map_err(DownloadError::io("write", &out))?;
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

fn remove_dir_if_present(dir: &Path) -> Result<(), DownloadError> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(DownloadError::io("delete", dir)(e)),
        _ => Ok(()),
    }
}

fn progress_bar(quiet: bool, len: u64) -> ProgressBar {
    if quiet || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    // The template is a constant; a parse failure would only lose styling.
    let style = ProgressStyle::with_template("extracting [{bar:30}] {pos}/{len} files")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use zip::write::SimpleFileOptions;

    #[test]
    fn ordinary_names_pass() {
        assert_eq!(
            safe_relative_path("maps/trainA/1.jpg"),
            Ok(PathBuf::from("maps/trainA/1.jpg"))
        );
        assert_eq!(safe_relative_path("maps/"), Ok(PathBuf::from("maps")));
        assert_eq!(
            safe_relative_path("./maps//testB/x.png"),
            Ok(PathBuf::from("maps/testB/x.png"))
        );
        assert_eq!(
            safe_relative_path("maps\\trainB\\2.jpg"),
            Ok(PathBuf::from("maps/trainB/2.jpg"))
        );
    }

    #[test]
    fn escaping_names_are_refused() {
        for (name, why) in [
            ("../evil.txt", "'..'"),
            ("maps/../../evil.txt", "'..'"),
            ("maps/../evil.txt", "'..'"),
            ("..\\evil.txt", "'..'"),
            ("/etc/passwd", "absolute"),
            ("\\Windows\\evil.dll", "absolute"),
            ("C:\\evil.txt", "drive letter"),
            ("C:evil.txt", "drive letter"),
            ("maps/a\0b", "NUL"),
            ("", "empty"),
            ("./", "empty"),
        ] {
            let err = safe_relative_path(name).unwrap_err();
            assert!(err.contains(why), "{name:?}: {err}");
        }
    }

    #[test]
    fn only_files_and_folders_pass_the_mode_check() {
        assert_eq!(check_mode(None), Ok(()));
        assert_eq!(check_mode(Some(0o100_644)), Ok(()));
        assert_eq!(check_mode(Some(0o040_755)), Ok(()));
        assert_eq!(check_mode(Some(0o644)), Ok(()));
        assert_eq!(check_mode(Some(0o120_777)), Err("is a symbolic link"));
        assert!(check_mode(Some(0o140_755)).is_err(), "socket");
        assert!(check_mode(Some(0o020_644)).is_err(), "char device");
    }

    fn write_zip(path: &Path, files: &[(&str, &[u8])]) {
        let mut w = zip::ZipWriter::new(File::create(path).unwrap());
        for (name, data) in files {
            w.start_file(*name, SimpleFileOptions::default()).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap();
    }

    #[test]
    fn official_layout_keeps_top_folder_and_drops_siblings() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("maps.zip");
        write_zip(
            &archive,
            &[("maps/trainA/1.jpg", b"a1"), ("__MACOSX/maps/._x", b"junk")],
        );
        let out = extract_dataset(&archive, tmp.path(), "maps", true).unwrap();
        assert_eq!(out, tmp.path().join("maps"));
        assert_eq!(fs::read(out.join("trainA/1.jpg")).unwrap(), b"a1");
        let mut left: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        left.sort();
        assert_eq!(left, ["maps", "maps.zip"]);
    }

    #[test]
    fn flat_archive_becomes_the_dataset_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("a.zip");
        write_zip(&archive, &[("trainA/1.jpg", b"x"), ("testB/2.jpg", b"y")]);
        let out = extract_dataset(&archive, tmp.path(), "facades", true).unwrap();
        assert_eq!(fs::read(out.join("testB/2.jpg")).unwrap(), b"y");
        assert!(!tmp.path().join(".facades.extracting").exists());
    }

    #[test]
    fn stale_staging_folder_is_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let stale = tmp.path().join(".maps.extracting/maps/trainA");
        fs::create_dir_all(&stale).unwrap();
        fs::write(stale.join("stale.jpg"), b"old").unwrap();
        let archive = tmp.path().join("maps.zip");
        write_zip(&archive, &[("maps/trainA/1.jpg", b"new")]);
        let out = extract_dataset(&archive, tmp.path(), "maps", true).unwrap();
        assert!(!out.join("trainA/stale.jpg").exists());
        assert!(out.join("trainA/1.jpg").exists());
    }

    #[test]
    fn corrupt_archive_names_the_file_and_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("maps.zip");
        fs::write(&archive, b"<html>not a zip</html>").unwrap();
        let msg = extract_dataset(&archive, tmp.path(), "maps", true)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("maps.zip") && msg.contains("download again"),
            "{msg}"
        );
        assert!(!tmp.path().join("maps").exists());
        assert!(!tmp.path().join(".maps.extracting").exists());
    }
}
