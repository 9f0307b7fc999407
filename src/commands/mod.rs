//! Subcommands beside the default sync run.

pub mod demo;
pub mod help;
pub mod list;
pub mod openioc;
pub mod simulate;
pub mod sync;
pub mod table;
pub mod udso;
pub mod watch;
