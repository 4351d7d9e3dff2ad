//! Safe archive extraction: the `unzip $ZIP_FILE -d ./datasets/` step of
//! upstream's `datasets/download_cyclegan_dataset.sh` and the
//! `tar -zxvf $TAR_FILE -C ./datasets/` step of `download_pix2pix_dataset.sh`.
//!
//! Unlike a bare `unzip` or `tar`, the whole archive is checked before
//! anything is written: every entry name (no `..`, no absolute or drive
//! paths), every entry type (plain files and folders only: no symlinks, hard
//! links or device files), and the bytes it expands to, counted as they are
//! decompressed rather than taken from headers that may lie, against a limit
//! (see [`DEFAULT_MAX_UNPACKED_BYTES`]). Only then do the files go to a
//! staging folder beside the target that is renamed into place when complete,
//! so a crash never leaves a half-filled dataset folder that a later run would
//! mistake for a finished one.
//!
//! - `unzip`: `.zip` archives (CycleGAN).
//! - `untar`: `.tar.gz` archives (pix2pix).

mod untar;
mod unzip;

use std::fs::{self, File};
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::DownloadError;

/// How much an archive may expand to unless the caller says otherwise:
/// 32 GiB, about four times edges2handbags (≈ 8.6 GB), the largest official
/// dataset. Decompression bombs expand thousands of times past their size,
/// so a download's own length says nothing about what it unpacks to.
pub const DEFAULT_MAX_UNPACKED_BYTES: u64 = 32 << 30;

/// How a dataset archive is packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArchiveFormat {
    /// The CycleGAN catalog's `.zip` files.
    Zip,
    /// The pix2pix catalog's gzip-compressed tarballs.
    TarGz,
}

/// Extracts `archive` so that the dataset ends up in `<root>/<name>/`,
/// refusing it, before anything is written, if it would expand past
/// `max_bytes` or holds anything but plain files and folders inside itself.
///
/// Official archives hold one top folder `<name>/`; that folder is moved into
/// place and anything beside it (e.g. `__MACOSX/`) is dropped. An archive
/// without it (some mirrors pack the folder's contents) becomes `<name>/` as a
/// whole. `<root>/<name>` must not exist yet.
pub fn extract_dataset(
    archive: &Path,
    format: ArchiveFormat,
    root: &Path,
    name: &str,
    max_bytes: u64,
    quiet: bool,
) -> Result<PathBuf, DownloadError> {
    let target = root.join(name);
    let staging = root.join(format!(".{name}.extracting"));
    // Left by a run killed mid-extraction: ours, and incomplete.
    remove_dir_if_present(&staging)?;

    let limit = Limit { archive, max_bytes };
    let plan = match format {
        ArchiveFormat::Zip => unzip::check(limit, quiet)?,
        ArchiveFormat::TarGz => untar::check(limit, quiet)?,
    };

    fs::create_dir(&staging).map_err(DownloadError::io("create", &staging))?;
    let bar = progress_bar(
        quiet,
        plan.len() as u64,
        "extracting [{bar:30}] {pos}/{len} files",
    );
    let unpacked = match format {
        ArchiveFormat::Zip => unzip::unpack(limit, &plan, &staging, &bar),
        ArchiveFormat::TarGz => untar::unpack(limit, &plan, &staging, &bar),
    };
    bar.finish_and_clear();
    let result = unpacked.and_then(|()| {
        let top = staging.join(name);
        let from = if top.is_dir() { top } else { staging.clone() };
        fs::rename(&from, &target).map_err(DownloadError::io("move into place", &from))
    });
    // On success this only removes what sat beside the top folder; on
    // failure it removes the partial extraction.
    let cleanup = remove_dir_if_present(&staging);
    result.and(cleanup).map(|()| target)
}

/// The archive being extracted and what it may expand to: what the errors of
/// both passes name.
#[derive(Debug, Clone, Copy)]
struct Limit<'a> {
    archive: &'a Path,
    max_bytes: u64,
}

impl Limit<'_> {
    fn too_large(&self, entry: &str) -> DownloadError {
        DownloadError::TooLarge {
            archive: self.archive.to_path_buf(),
            entry: entry.to_string(),
            limit: self.max_bytes,
        }
    }

    fn unsafe_entry(&self, entry: &str, reason: &'static str) -> DownloadError {
        DownloadError::UnsafeEntry {
            archive: self.archive.to_path_buf(),
            entry: entry.to_string(),
            reason,
        }
    }

    fn bad(&self, cause: impl ToString) -> DownloadError {
        DownloadError::BadArchive {
            archive: self.archive.to_path_buf(),
            cause: cause.to_string(),
        }
    }

    fn open(&self) -> Result<File, DownloadError> {
        File::open(self.archive).map_err(DownloadError::io("open", self.archive))
    }
}

/// One entry that passed the checks: where it goes, and (for files) the bytes
/// it holds. The unpack pass extracts exactly these, in this order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    path: PathBuf,
    is_dir: bool,
    size: u64,
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

/// How copying one entry's bytes ended, short of an I/O error.
#[derive(Debug, PartialEq, Eq)]
enum Copied {
    /// All of it: this many bytes, no more than the cap.
    All(u64),
    /// The entry holds more than the cap; copying stopped just past it.
    PastCap,
}

/// Read and write errors differ in cause and fix: a bad CRC or a truncated
/// stream means a corrupt archive, a failed write a full disk.
enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

/// Copies at most `cap` bytes of `reader` to `out`, reading one byte past the
/// cap to tell "exactly cap" from "more", so that a header understating an
/// entry's size cannot make it write more than the header said.
fn copy_capped(reader: impl Read, out: &mut impl Write, cap: u64) -> Result<Copied, CopyError> {
    let mut reader = reader.take(cap.saturating_add(1));
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(CopyError::Read)?;
        if n == 0 {
            return Ok(Copied::All(total));
        }
        total += n as u64;
        if total > cap {
            return Ok(Copied::PastCap);
        }
        out.write_all(&buf[..n]).map_err(CopyError::Write)?;
    }
}

/// Writes one checked entry below `staging`: a folder, or a file of at most
/// `entry.size` bytes from `data`. `name` is the entry's name in the archive.
fn write_entry(
    limit: Limit,
    staging: &Path,
    entry: &Entry,
    name: &str,
    data: impl Read,
) -> Result<(), DownloadError> {
    let out = staging.join(&entry.path);
    let dir = if entry.is_dir {
        Some(out.as_path())
    } else {
        out.parent()
    };
    if let Some(dir) = dir {
        fs::create_dir_all(dir).map_err(DownloadError::io("create", dir))?;
    }
    if entry.is_dir {
        return Ok(());
    }
    // Files are not synced one by one (datasets hold thousands); the staging
    // rename is what keeps a crash from looking complete.
    let mut file = File::create(&out).map_err(DownloadError::io("create", &out))?;
    match copy_capped(data, &mut file, entry.size) {
        Ok(Copied::All(n)) if n == entry.size => Ok(()),
        // The check pass read this entry at its declared size, so the file
        // changed since: not the archive that was checked.
        Ok(_) => Err(limit.bad(format!(
            "entry '{name}' changed size since the archive was checked"
        ))),
        Err(CopyError::Read(e)) => Err(limit.bad(e)),
        Err(CopyError::Write(e)) => Err(DownloadError::io("write", &out)(e)),
    }
}

fn remove_dir_if_present(dir: &Path) -> Result<(), DownloadError> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(DownloadError::io("delete", dir)(e)),
        _ => Ok(()),
    }
}

/// A bar on stderr, or a hidden one when quiet or not on a terminal.
fn progress_bar(quiet: bool, len: u64, template: &str) -> ProgressBar {
    if quiet || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    // The templates are constants; a parse failure would only lose styling.
    let style =
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
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

    fn extract_zip(archive: &Path, root: &Path, name: &str) -> Result<PathBuf, DownloadError> {
        let limit = DEFAULT_MAX_UNPACKED_BYTES;
        extract_dataset(archive, ArchiveFormat::Zip, root, name, limit, true)
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
        let out = extract_zip(&archive, tmp.path(), "maps").unwrap();
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
        let out = extract_zip(&archive, tmp.path(), "facades").unwrap();
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
        let out = extract_zip(&archive, tmp.path(), "maps").unwrap();
        assert!(!out.join("trainA/stale.jpg").exists());
        assert!(out.join("trainA/1.jpg").exists());
    }

    #[test]
    fn corrupt_archive_names_the_file_and_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("maps.zip");
        fs::write(&archive, b"<html>not a zip</html>").unwrap();
        let msg = extract_zip(&archive, tmp.path(), "maps")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("maps.zip") && msg.contains("download again"),
            "{msg}"
        );
        assert!(!tmp.path().join("maps").exists());
        assert!(!tmp.path().join(".maps.extracting").exists());
    }

    /// A `.tar.gz` of `(name, type, data)` entries, made with the tar crate.
    fn write_tar_gz(path: &Path, entries: &[(&str, tar::EntryType, &[u8])]) {
        let gz = flate2::write::GzEncoder::new(File::create(path).unwrap(), Default::default());
        let mut b = tar::Builder::new(gz);
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            if *kind == tar::EntryType::Symlink {
                b.append_link(&mut h, name, "elsewhere").unwrap();
            } else {
                b.append_data(&mut h, name, *data).unwrap();
            }
        }
        b.into_inner().unwrap().finish().unwrap();
    }

    // The check passes take no output folder, so refusals from them alone
    // are refusals before anything is written.
    #[test]
    fn check_passes_alone_refuse_hostile_archives() {
        let tmp = tempfile::tempdir().unwrap();
        let limit = |archive, max_bytes| Limit { archive, max_bytes };
        let zeros = vec![0u8; 1 << 20];
        let tgz = tmp.path().join("bomb.tar.gz");
        write_tar_gz(
            &tgz,
            &[("f/train/bomb.jpg", tar::EntryType::Regular, &zeros)],
        );
        let err = untar::check(limit(&tgz, 256 << 10), true).unwrap_err();
        assert!(matches!(err, DownloadError::TooLarge { .. }), "{err}");
        // The same archive passes with room for its 1 MiB and headers.
        let plan = untar::check(limit(&tgz, 2 << 20), true).unwrap();
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].size, 1 << 20);

        let link = tmp.path().join("link.tar.gz");
        write_tar_gz(
            &link,
            &[
                ("f/train/1.jpg", tar::EntryType::Regular, b"ok"),
                ("f/val", tar::EntryType::Symlink, b""),
            ],
        );
        let err = untar::check(limit(&link, 1 << 20), true).unwrap_err();
        assert!(
            err.to_string().contains("entry 'f/val' is a symbolic link"),
            "{err}"
        );

        let zip = tmp.path().join("bomb.zip");
        write_zip(&zip, &[("f/trainA/bomb.png", &zeros)]);
        let err = unzip::check(limit(&zip, 256 << 10), true).unwrap_err();
        assert!(matches!(err, DownloadError::TooLarge { .. }), "{err}");
        assert_eq!(unzip::check(limit(&zip, 1 << 20), true).unwrap().len(), 1);
    }
}
