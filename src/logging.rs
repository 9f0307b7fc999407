//! Logging through `tracing`: to standard error, or to a size-rotated log file.
//!
//! Only this crate logs above `warn`: the HTTP stack's own debug output could carry request
//! headers, and those carry tokens.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::Context;
use file_rotate::{ContentLimit, FileRotate, compression::Compression, suffix::AppendCount};
use tracing_subscriber::EnvFilter;

/// Name of the log file for `--logging file`.
pub const LOG_FILE_NAME: &str = "apex-ioc-sync.log";
/// Rotate the log file when it reaches this size...
pub const LOG_ROTATE_BYTES: usize = 10 * 1024 * 1024;
/// ...and keep this many rotated files beside it (`apex-ioc-sync.log.1` ...).
pub const LOG_KEEP_FILES: usize = 5;

/// Where log lines go, resolved from the options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    Stderr,
    File(PathBuf),
}

/// The filter for `-v` counts: info by default, debug with `-v`, trace with `-vv`.
pub fn filter(verbose: u8) -> EnvFilter {
    let level = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    EnvFilter::new(format!("warn,apex_ioc_sync={level}"))
}

/// Installs the global subscriber. Call once, early.
pub fn init(target: &LogTarget, verbose: u8) -> anyhow::Result<()> {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(verbose))
        .with_target(verbose > 0);
    match target {
        LogTarget::Stderr => builder.with_writer(std::io::stderr).init(),
        LogTarget::File(path) => {
            let path = std::path::absolute(path)
                .with_context(|| format!("cannot use log file {}", path.display()))?;
            // Only its owner reads it (0600 on Unix), and a symbolic link at its path is
            // refused: the rotating writer opens every new file with these options too.
            let mut options = OpenOptions::new();
            options.read(true).create(true).append(true);
            crate::files::private(&mut options);
            // Open it once ourselves: the rotating writer panics where we want an error.
            crate::files::open_private(&path, &mut options.clone()).with_context(|| {
                format!(
                    "cannot write log file {} (choose another with --log-file)",
                    path.display()
                )
            })?;
            let writer = FileRotate::new(
                &path,
                AppendCount::new(LOG_KEEP_FILES),
                ContentLimit::BytesSurpassed(LOG_ROTATE_BYTES),
                Compression::None,
                Some(options),
            );
            builder
                .with_ansi(false)
                .with_writer(Mutex::new(writer))
                .init();
        }
    }
    Ok(())
}
