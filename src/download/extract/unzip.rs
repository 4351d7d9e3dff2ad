//! The `.zip` side of [`super::extract_dataset`]: its central directory lists
//! every entry up front, so names, types and declared sizes are checked before
//! any data is read; then every entry is decompressed once without being
//! written, which catches a size that lies (and bad CRCs) while nothing is on
//! disk yet.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::path::Path;

use indicatif::ProgressBar;
use zip::ZipArchive;

use super::{
    Copied, CopyError, Entry, Limit, copy_capped, progress_bar, safe_relative_path, write_entry,
};
use crate::download::DownloadError;

const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;

/// Validates every entry, so a hostile archive is refused before a single
/// byte is written; returns what [`unpack`] extracts.
pub(super) fn check(limit: Limit, quiet: bool) -> Result<Vec<Entry>, DownloadError> {
    let mut zip = open(limit)?;
    let mut entries = Vec::with_capacity(zip.len());
    let mut declared = 0u64;
    for index in 0..zip.len() {
        let entry = zip.by_index_raw(index).map_err(|e| limit.bad(e))?;
        let name = entry.name();
        let path = safe_relative_path(name).map_err(|why| limit.unsafe_entry(name, why))?;
        check_mode(entry.unix_mode()).map_err(|why| limit.unsafe_entry(name, why))?;
        // Second opinion from the zip crate; its rules are looser than ours,
        // so this only fires if ours ever miss something.
        if entry.enclosed_name().is_none() {
            return Err(limit.unsafe_entry(name, "escapes the target folder"));
        }
        let is_dir = name.ends_with('/') || name.ends_with('\\');
        // The cheap test first: what the headers admit to already says no.
        declared = declared.saturating_add(entry.size());
        if declared > limit.max_bytes {
            return Err(limit.too_large(name));
        }
        entries.push(Entry {
            path,
            is_dir,
            size: if is_dir { 0 } else { entry.size() },
        });
    }
    // Then the real test: a header may understate what its data inflates to.
    let bar = progress_bar(
        quiet,
        entries.len() as u64,
        "checking [{bar:30}] {pos}/{len} files",
    );
    for (index, entry) in entries.iter().enumerate() {
        if !entry.is_dir {
            let data = zip.by_index(index).map_err(|e| limit.bad(e))?;
            let name = data.name().to_string();
            match copy_capped(data, &mut io::sink(), entry.size) {
                Ok(Copied::All(_)) => {}
                Ok(Copied::PastCap) => {
                    return Err(
                        limit.unsafe_entry(&name, "holds more data than its header declares")
                    );
                }
                Err(CopyError::Read(e) | CopyError::Write(e)) => return Err(limit.bad(e)),
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(entries)
}

/// Writes the entries [`check`] returned below `staging`.
pub(super) fn unpack(
    limit: Limit,
    entries: &[Entry],
    staging: &Path,
    bar: &ProgressBar,
) -> Result<(), DownloadError> {
    let mut zip = open(limit)?;
    if zip.len() != entries.len() {
        return Err(limit.bad("the archive changed since it was checked"));
    }
    for (index, entry) in entries.iter().enumerate() {
        if entry.is_dir {
            write_entry(limit, staging, entry, "", io::empty())?;
        } else {
            let data = zip.by_index(index).map_err(|e| limit.bad(e))?;
            let name = data.name().to_string();
            write_entry(limit, staging, entry, &name, data)?;
        }
        bar.inc(1);
    }
    Ok(())
}

fn open(limit: Limit) -> Result<ZipArchive<impl Read + Seek>, DownloadError> {
    let file: File = limit.open()?;
    ZipArchive::new(BufReader::new(file)).map_err(|e| limit.bad(e))
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
