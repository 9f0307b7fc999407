//! apex-ioc-sync: keeps the entries a job owns on Trend Micro Apex Central's User-Defined
//! Suspicious Objects list equal to what its source says.
//!
//! Data flows one way: source -> desired IOCs -> plan -> apply -> report.

pub mod apex;
pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod exit;
pub mod files;
pub mod http;
pub mod ioc;
pub mod lock;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod openioc;
pub mod output;
pub mod permissions;
pub mod policy;
pub mod retry;
pub mod secret;
pub mod settings;
pub mod sim;
pub mod sink;
pub mod source;
pub mod state;
pub mod stix;
pub mod sync;
#[cfg(test)]
mod test_util;
pub mod text;
