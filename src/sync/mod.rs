//! The sync run: desired set -> plan -> apply -> report.

pub mod apply;
pub mod clean;
pub mod plan;
pub mod run;
