//! Exit codes, as documented in docs/operations.md ("Exit codes"), and the error that carries one.

use std::fmt;

/// The process exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// All done.
    Ok = 0,
    /// The run failed (source, Apex, network, I/O).
    Failed = 1,
    /// A usage or configuration error.
    Usage = 2,
    /// Another instance holds the lock.
    Locked = 3,
    /// Finished, but some writes failed.
    PartialWrites = 4,
    /// A brake engaged: the removal brake or the add brake (see --force).
    Brake = 5,
    /// The run's deadline (`--max-run-minutes`) passed before every write was made: the
    /// writes not started are left for the next run. Apart from 4, since nothing failed:
    /// the schedule or the deadline wants looking at, not the server.
    DeadlineReached = 6,
}

/// An error that ends the run with a given exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: ExitCode,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn new(code: ExitCode, error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code,
            error: error.into(),
        }
    }

    pub fn usage(error: impl Into<anyhow::Error>) -> Self {
        Self::new(ExitCode::Usage, error)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

/// Anything else that goes wrong fails the run (exit 1).
impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure::new(ExitCode::Failed, error)
    }
}
