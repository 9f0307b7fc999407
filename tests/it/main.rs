//! The integration tests, one binary (as ripgrep does): the real `apex-ioc-sync` binary and
//! the library's clients against the simulators in `src/sim/` over loopback HTTP.

mod apex_client;
mod cli;
mod common;
mod lumu_sync;
mod openioc;
mod openioc_corpus;
mod output;
mod service;
mod sim_auth;
mod taxii_sync;
mod vision_one;
