//! The sync run: desired set -> plan -> apply -> report, against any destination
//! (`crate::sink::Sink`), in the terms of [`crate::model`].

pub mod apply;
pub mod clean;
pub mod plan;
pub mod run;
