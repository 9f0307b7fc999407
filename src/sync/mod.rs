//! The sync run: desired set -> plan -> apply -> report, against any destination
//! (`crate::sink::Sink`), in the terms of [`model`].

pub mod apply;
pub mod clean;
pub mod model;
pub mod plan;
pub mod run;
