//! Subcommands beside the default sync run.

pub mod demo;
pub mod explain;
pub mod help;
pub mod history;
pub mod list;
pub mod openioc;
pub mod reference;
pub mod rollback;
pub mod simulate;
pub mod sync;
pub mod table;
pub mod udso;
pub mod watch;
