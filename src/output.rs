//! Standard output: every table, line and JSON document a command prints goes through
//! [`out!`](crate::out) and [`outln!`](crate::outln), never `print!`/`println!`.
//!
//! Rust ignores SIGPIPE, so when the reader of a pipe goes away
//! (`apex-ioc-sync udso list | head -1`) a write fails with `EPIPE` (on Windows
//! `ERROR_NO_DATA`; std maps both to [`io::ErrorKind::BrokenPipe`]), and `println!` panics
//! on that (exit 101). Here it is [`OutputError::Closed`]: the command stops printing and
//! the program ends quietly, with exit 0 or, for a sync, with the run's own exit code
//! (`app.rs`, `commands::sync`). Any other write error (a full disk under `> file`) is a
//! real error and is reported.

use std::fmt;
use std::io::{self, Write};

use crate::exit::{ExitCode, Failure};

/// Why standard output could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The reader closed the pipe: nobody wants more output. Not a failure.
    #[error("standard output was closed")]
    Closed,
    /// The cause is in the message, not a `source`: the program prints a failure with its
    /// whole chain (`{:#}`), which would say it twice.
    #[error("cannot write to standard output: {0}")]
    Write(io::Error),
}

impl From<io::Error> for OutputError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            OutputError::Closed
        } else {
            OutputError::Write(e)
        }
    }
}

/// Whether `error` (or an error it wraps) is a closed standard output.
pub fn is_closed(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|e| matches!(e.downcast_ref::<OutputError>(), Some(OutputError::Closed)))
}

/// The end of a command that printed (`printed`) and then decided its `outcome`: the
/// outcome's own failure or exit code wins, so a closed pipe never hides exit 4 or 5 (a real
/// write error is then logged); a command that succeeded ends with the print's error.
pub fn settle(
    printed: Result<(), OutputError>,
    outcome: Result<ExitCode, Failure>,
) -> Result<ExitCode, Failure> {
    match (printed, outcome) {
        (Err(e), Ok(ExitCode::Ok)) => Err(e.into()),
        (Err(OutputError::Write(e)), outcome) => {
            tracing::error!("cannot write to standard output: {e}");
            outcome
        }
        (_, outcome) => outcome,
    }
}

/// Writes `args` to standard output under its lock and flushes, so an error surfaces here
/// and not at exit. The body of [`out!`](crate::out) and [`outln!`](crate::outln).
pub fn write_fmt(args: fmt::Arguments<'_>) -> Result<(), OutputError> {
    write_to(&mut io::stdout().lock(), args)
}

fn write_to(writer: &mut impl Write, args: fmt::Arguments<'_>) -> Result<(), OutputError> {
    writer.write_fmt(args)?;
    writer.flush()?;
    Ok(())
}

/// `print!` to standard output that returns `Result<(), OutputError>` instead of panicking.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_fmt(format_args!($($arg)*))
    };
}

/// `println!` to standard output that returns `Result<(), OutputError>` instead of panicking.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::write_fmt(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that fails every write with one error kind.
    struct Failing(io::ErrorKind);

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(self.0.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_broken_pipe_is_closed_and_other_errors_are_real() {
        let err = write_to(&mut Failing(io::ErrorKind::BrokenPipe), format_args!("x")).unwrap_err();
        assert!(matches!(err, OutputError::Closed));
        assert!(is_closed(
            &anyhow::Error::new(err).context("printing the table")
        ));

        let err =
            write_to(&mut Failing(io::ErrorKind::StorageFull), format_args!("x")).unwrap_err();
        assert!(matches!(err, OutputError::Write(_)));
        assert!(!is_closed(&anyhow::Error::new(err)));
        assert!(!is_closed(&anyhow::anyhow!("standard output was closed")));
    }

    /// The message names the cause once: as the program prints a failure (`{:#}`, the
    /// whole chain), the I/O error is not repeated as the error's source.
    #[test]
    fn a_write_error_names_its_cause_once() {
        let err = OutputError::Write(io::Error::other("disk full"));
        let shown = format!("{:#}", anyhow::Error::new(err));
        assert_eq!(shown, "cannot write to standard output: disk full");
    }

    #[test]
    fn the_outcome_wins_over_a_closed_output() {
        let closed = || Err(OutputError::Closed);
        let full = || Err(OutputError::Write(io::ErrorKind::StorageFull.into()));
        let partial = || Err(Failure::new(ExitCode::PartialWrites, anyhow::anyhow!("x")));
        assert_eq!(
            settle(closed(), partial()).unwrap_err().code,
            ExitCode::PartialWrites
        );
        assert_eq!(
            settle(full(), partial()).unwrap_err().code,
            ExitCode::PartialWrites
        );
        assert_eq!(
            settle(closed(), Ok(ExitCode::PartialWrites)).unwrap(),
            ExitCode::PartialWrites
        );
        assert!(is_closed(
            &settle(closed(), Ok(ExitCode::Ok)).unwrap_err().error
        ));
        let err = settle(full(), Ok(ExitCode::Ok)).unwrap_err();
        assert!(!is_closed(&err.error));
        assert_eq!(err.code, ExitCode::Failed);
        assert_eq!(settle(Ok(()), Ok(ExitCode::Ok)).unwrap(), ExitCode::Ok);
    }

    #[test]
    fn writes_what_it_is_given() {
        let mut buf = Vec::new();
        write_to(&mut buf, format_args!("{} {}\n", "a", 1)).unwrap();
        assert_eq!(buf, b"a 1\n");
    }
}
