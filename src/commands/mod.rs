//! Subcommands beside the default sync run.

pub mod simulate;
pub mod udso;
