//! The integration tests, one binary (as ripgrep does): the real `apex-ioc-sync` binary and
//! the library's clients against the simulators in `src/sim/` over loopback HTTP.

mod apex_client;
mod apex_forms;
mod bounded;
mod cli;
mod common;
mod credentials;
mod lumu_sync;
mod missing;
mod openioc;
mod openioc_corpus;
mod ownership;
mod preflight;
mod sim_auth;
mod taxii_sync;
