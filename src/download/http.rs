//! One resumable HTTP(S) download to a file: the `wget -N $URL -O $FILE` step
//! of upstream's `download_cyclegan_dataset.sh` / `download_cyclegan_model.sh`.
//!
//! Bytes stream into `<dest>.part`; an existing `.part` is resumed with a
//! `Range` request; the length is checked against what the server announced;
//! only then is the file synced and renamed to `dest`. So `dest` existing
//! always means "complete", and an interrupted run costs only the bytes
//! still missing.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::DownloadError;

/// An unreachable host must fail in seconds, not hang.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// A server that stops sending (headers or body) counts as a cut connection.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Cut connections are resumed this many times in one call before giving up.
const ATTEMPTS: usize = 3;

/// What [`download_file`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// The file was fetched (or completed from a `.part`); `bytes` is its size.
    Downloaded { bytes: u64 },
    /// `dest` already existed; nothing was sent.
    AlreadyPresent,
}

/// Where the bytes of `dest` accumulate until they are complete.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().map(OsString::from).unwrap_or_default();
    name.push(".part");
    dest.with_file_name(name)
}

/// Downloads `url` to `dest` (whose folder must exist), resuming a
/// `<dest>.part` left by an earlier run. Skips the request if `dest` exists.
pub fn download_file(url: &str, dest: &Path, quiet: bool) -> Result<Fetched, DownloadError> {
    if dest.exists() {
        if !quiet {
            eprintln!(
                "{} already exists; not downloading it again",
                dest.display()
            );
        }
        return Ok(Fetched::AlreadyPresent);
    }
    let part = part_path(dest);
    if !quiet {
        eprintln!("downloading {url}");
    }
    let agent = agent();
    let bar = progress_bar(quiet, dest);
    let mut attempt = 1;
    let bytes = loop {
        match fetch_once(&agent, url, &part, &bar) {
            Ok(bytes) => break bytes,
            Err(e @ DownloadError::Interrupted { .. }) if attempt < ATTEMPTS => {
                if !quiet {
                    bar.suspend(|| eprintln!("{e}; retrying"));
                }
                attempt += 1;
            }
            Err(e) => {
                bar.abandon();
                return Err(e);
            }
        }
    };
    bar.finish_and_clear();
    fs::rename(&part, dest).map_err(DownloadError::io("rename", &part))?;
    if let Some(dir) = dest.parent() {
        sync_dir(dir);
    }
    if !quiet {
        eprintln!("saved {} ({bytes} bytes)", dest.display());
    }
    Ok(Fetched::Downloaded { bytes })
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        // 404 and friends are handled below with better messages.
        .http_status_as_error(false)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_resolve(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(READ_TIMEOUT))
        .timeout_per_read(Some(READ_TIMEOUT))
        .user_agent(concat!("cyclegan/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// One request: appends to or restarts `part`, and returns its final length
/// once it holds the whole file.
fn fetch_once(
    agent: &ureq::Agent,
    url: &str,
    part: &Path,
    bar: &ProgressBar,
) -> Result<u64, DownloadError> {
    let have = fs::metadata(part).map_or(0, |m| m.len());
    let mut request = agent.get(url);
    if have > 0 {
        request = request.header("Range", format!("bytes={have}-"));
    }
    let response = request.call().map_err(|e| DownloadError::Unreachable {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
    let content_range = header("content-range").and_then(parse_content_range);
    let bad = |detail: String| DownloadError::BadResponse {
        url: url.to_string(),
        detail,
        part: part.to_path_buf(),
    };
    let (start, total) = match response.status().as_u16() {
        // A full body, also when the server ignored our Range: start over.
        200 => (
            0,
            header("content-length").and_then(|v| v.trim().parse().ok()),
        ),
        206 => match content_range {
            Some((Some(start), total)) if start == have => (have, total),
            _ => {
                return Err(bad(format!(
                    "asked for bytes {have}- but got Content-Range {:?}",
                    header("content-range")
                )));
            }
        },
        // Nothing left to send: a previous run stopped between the last write
        // and the rename. Anything else means the .part is not a prefix.
        416 => {
            if content_range.and_then(|(_, total)| total) == Some(have) {
                return Ok(have);
            }
            fs::remove_file(part).map_err(DownloadError::io("delete", part))?;
            return Err(DownloadError::Interrupted {
                url: url.to_string(),
                got: 0,
                expected: None,
                reason: "the server refused to resume, the partial file was dropped".to_string(),
                part: part.to_path_buf(),
            });
        }
        404 => {
            return Err(DownloadError::NotFound {
                url: url.to_string(),
            });
        }
        status => {
            return Err(DownloadError::Status {
                url: url.to_string(),
                status,
            });
        }
    };

    let mut file = if start == 0 {
        File::create(part)
    } else {
        OpenOptions::new().append(true).open(part)
    }
    .map_err(DownloadError::io("write", part))?;
    show_length(bar, total, start);

    let mut body = response.into_body().into_reader();
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = start;
    let interrupted = |got: u64, reason: String| DownloadError::Interrupted {
        url: url.to_string(),
        got,
        expected: total,
        reason,
        part: part.to_path_buf(),
    };
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(interrupted(got, e.to_string())),
        };
        file.write_all(&buf[..n])
            .map_err(DownloadError::io("write", part))?;
        got += n as u64;
        bar.set_position(got);
    }
    match total {
        Some(total) if got < total => {
            return Err(interrupted(got, "connection closed early".to_string()));
        }
        Some(total) if got > total => {
            // Past the announced end the bytes cannot be trusted.
            drop(file);
            fs::remove_file(part).map_err(DownloadError::io("delete", part))?;
            return Err(bad(format!(
                "received {got} bytes but the server announced {total}"
            )));
        }
        _ => {}
    }
    file.sync_all().map_err(DownloadError::io("sync", part))?;
    Ok(got)
}

/// Parses `bytes <start>-<end>/<total>` (either side may be `*`) into
/// `(start, total)`.
fn parse_content_range(value: &str) -> Option<(Option<u64>, Option<u64>)> {
    let (range, total) = value.trim().strip_prefix("bytes")?.trim().split_once('/')?;
    let number = |s: &str| s.trim().parse::<u64>().ok();
    let total = if total.trim() == "*" {
        None
    } else {
        Some(number(total)?)
    };
    let start = if range.trim() == "*" {
        None
    } else {
        Some(number(range.split_once('-')?.0)?)
    };
    Some((start, total))
}

/// Hidden when `quiet` or when stderr is not a terminal (logs, CI).
fn progress_bar(quiet: bool, dest: &Path) -> ProgressBar {
    if quiet || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned());
    bar.set_message(name.unwrap_or_default());
    bar
}

fn show_length(bar: &ProgressBar, total: Option<u64>, start: u64) {
    let template = match total {
        Some(_) => "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        None => "{msg} {spinner} {bytes} {bytes_per_sec}",
    };
    // The templates are constants; a parse failure would only lose styling.
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if let Some(total) = total {
        bar.set_length(total);
    }
    bar.set_position(start);
    // Resumed bytes are not throughput; keep them out of the rate and ETA.
    bar.reset_eta();
}

/// Makes the rename durable. Best effort: not every platform or filesystem
/// can sync a directory, and the data itself is already synced.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_path_appends_suffix() {
        assert_eq!(
            part_path(Path::new("datasets/maps.zip")),
            Path::new("datasets/maps.zip.part")
        );
        assert_eq!(
            part_path(Path::new("c/x_pretrained/latest_net_G.pth")),
            Path::new("c/x_pretrained/latest_net_G.pth.part")
        );
    }

    #[test]
    fn content_range_forms() {
        assert_eq!(
            parse_content_range("bytes 100-199/200"),
            Some((Some(100), Some(200)))
        );
        assert_eq!(parse_content_range("bytes 0-0/*"), Some((Some(0), None)));
        assert_eq!(parse_content_range("bytes */512"), Some((None, Some(512))));
        assert_eq!(
            parse_content_range(" bytes 5-9/10 "),
            Some((Some(5), Some(10)))
        );
        assert_eq!(parse_content_range("items 1-2/3"), None);
        assert_eq!(parse_content_range("bytes x-2/3"), None);
        assert_eq!(parse_content_range("bytes 1-2"), None);
    }

    #[test]
    fn existing_dest_is_not_requested() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("f.bin");
        fs::write(&dest, b"done").unwrap();
        // Port 9 on loopback has nothing listening: any request would fail.
        let got = download_file("http://127.0.0.1:9/f.bin", &dest, true).unwrap();
        assert_eq!(got, Fetched::AlreadyPresent);
        assert_eq!(fs::read(&dest).unwrap(), b"done");
    }
}
