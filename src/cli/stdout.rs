//! Results on standard output. A reader that stops early (`cyclegan info x | head -3`) closes
//! the pipe, and since Rust ignores SIGPIPE, `println!` would then panic with a backtrace.
//! Writes here report that case as [`StdoutClosed`], which [`super::run`] ends quietly on,
//! as ripgrep does.

use std::io::{self, Write};

/// The reader of standard output went away: nothing is wrong, nobody is listening.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
pub struct StdoutClosed;

/// Writes `text` to standard output and flushes it.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        r => Ok(r?),
    }
}
