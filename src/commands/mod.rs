//! Subcommands beside the default sync run.

pub mod demo;
pub mod simulate;
pub mod sync;
pub mod udso;
