//! The `.tar.gz` side of [`super::extract_dataset`]. A gzip stream cannot be
//! seeked, so a tar's headers are only known by decompressing all of it: the
//! check pass reads the whole archive (headers and data) without writing,
//! counting every decompressed byte against the limit; the unpack pass reads
//! it again and writes the entries the check pass accepted.

use std::cell::Cell;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::rc::Rc;

use flate2::read::MultiGzDecoder;
use indicatif::ProgressBar;
use tar::EntryType;

use super::{
    Copied, CopyError, Entry, Limit, copy_capped, progress_bar, safe_relative_path, write_entry,
};
use crate::download::DownloadError;

/// Validates every entry, so a hostile archive is refused before a single
/// byte is written; returns what [`unpack`] extracts.
pub(super) fn check(limit: Limit, quiet: bool) -> Result<Vec<Entry>, DownloadError> {
    let file = limit.open()?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress_bar(quiet, len, "checking [{bar:30}] {bytes}/{total_bytes}");
    let mut entries = Vec::new();
    walk(limit, bar.wrap_read(file), |name, entry, data| {
        // Reading the data is what checks the stream (and counts it); the
        // tar reader yields exactly `size` bytes unless the archive ends first.
        if !entry.is_dir {
            match copy_capped(data, &mut io::sink(), entry.size) {
                Ok(Copied::All(n)) if n == entry.size => {}
                Ok(_) => return Err(limit.bad(format!("entry '{name}' is cut short"))),
                Err(CopyError::Read(e) | CopyError::Write(e)) => return Err(limit.bad(e)),
            }
        }
        entries.push(entry);
        Ok(())
    })?;
    bar.finish_and_clear();
    Ok(entries)
}

/// Writes the entries [`check`] returned below `staging`.
pub(super) fn unpack(
    limit: Limit,
    planned: &[Entry],
    staging: &Path,
    bar: &ProgressBar,
) -> Result<(), DownloadError> {
    let mut planned = planned.iter();
    walk(limit, limit.open()?, |name, entry, data| {
        // Whatever the check pass did not see is not extracted.
        if planned.next() != Some(&entry) {
            return Err(limit.bad("the archive changed since it was checked"));
        }
        write_entry(limit, staging, &entry, name, data)?;
        bar.inc(1);
        Ok(())
    })?;
    if planned.next().is_some() {
        return Err(limit.bad("the archive changed since it was checked"));
    }
    Ok(())
}

/// Calls `visit(name, entry, data)` for each file and folder of the archive
/// in `file`, in order, after refusing anything else; the whole decompressed
/// stream (headers included, so a flood of empty entries counts too) may not
/// pass `limit.max_bytes`.
fn walk(
    limit: Limit,
    file: impl Read,
    mut visit: impl FnMut(&str, Entry, &mut dyn Read) -> Result<(), DownloadError>,
) -> Result<(), DownloadError> {
    let counted = Rc::new(Cell::new(0u64));
    let stream = Counted {
        inner: MultiGzDecoder::new(BufReader::new(file)),
        counted: counted.clone(),
        max: limit.max_bytes,
    };
    let mut archive = tar::Archive::new(stream);
    // The error of a read the counter stopped is the limit's, whatever the
    // tar crate made of it.
    let past_limit = || counted.get() > limit.max_bytes;
    // Names the spot when the limit is reached between entries.
    let mut last = String::from("(before the first entry)");
    let iter = archive.entries().map_err(|e| limit.bad(e))?;
    for item in iter {
        let mut item = match item {
            Ok(item) => item,
            Err(_) if past_limit() => return Err(limit.too_large(&last)),
            Err(e) => return Err(limit.bad(e)),
        };
        let bytes = item.path_bytes().into_owned();
        let name = String::from_utf8(bytes).map_err(|e| {
            let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
            limit.unsafe_entry(&lossy, "has a name that is not UTF-8")
        })?;
        let Some(is_dir) = kind(&item, &name).map_err(|why| limit.unsafe_entry(&name, why))? else {
            continue;
        };
        let path = safe_relative_path(&name).map_err(|why| limit.unsafe_entry(&name, why))?;
        let size = if is_dir { 0 } else { item.size() };
        let entry = Entry { path, is_dir, size };
        match visit(&name, entry, &mut item) {
            Err(_) if past_limit() => return Err(limit.too_large(&name)),
            result => result?,
        }
        last = name;
    }
    Ok(())
}

/// `Some(is_dir)` for a file or folder, `None` for metadata to skip, or why
/// the entry is refused.
fn kind<R: Read>(entry: &tar::Entry<R>, name: &str) -> Result<Option<bool>, &'static str> {
    match entry.header().entry_type() {
        EntryType::Directory => Ok(Some(true)),
        // Pre-POSIX tars mark folders only by the trailing slash.
        EntryType::Regular | EntryType::Continuous => Ok(Some(name.ends_with('/'))),
        // A pax global header (`git archive` writes one) holds defaults for
        // the entries after it; the tar crate does not apply them, nor do we.
        EntryType::XGlobalHeader => Ok(None),
        // A link could point outside and be written through by a later entry.
        EntryType::Symlink => Err("is a symbolic link"),
        EntryType::Link => Err("is a hard link"),
        EntryType::Char | EntryType::Block => Err("is a device file"),
        EntryType::Fifo => Err("is a FIFO"),
        // Its holes are not in the stream: it expands past what its header
        // says it stores, unseen by the byte count.
        EntryType::GNUSparse => {
            Err("is a sparse file, which expands past the size its header declares")
        }
        _ => Err("has a tar entry type other than file or folder"),
    }
}

/// Counts the bytes read through it and fails once they pass `max`, so that
/// decompressing a bomb stops at the limit instead of running to its end.
struct Counted<R> {
    inner: R,
    counted: Rc<Cell<u64>>,
    max: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.counted.get().saturating_add(n as u64);
        self.counted.set(total);
        if total > self.max {
            return Err(io::Error::other("the archive expands past the size limit"));
        }
        Ok(n)
    }
}
