//! The integration tests, one binary (as ripgrep does): the real `apex-ioc-sync` binary and
//! the library's clients against the simulators in `src/sim/` over loopback HTTP.

mod apex_client;
mod apex_forms;
mod bounded;
mod cli;
mod common;
mod credentials;
// SIGKILL at exact points needs Unix: FIFOs, /proc; on Windows (and under Wine) the crash test
// is left out.
#[cfg(unix)]
mod crash;
mod deadline;
mod exclusions;
mod file_modes;
mod guard;
mod help;
mod http_conventions;
mod journal;
mod layers;
mod lumu_cache;
mod lumu_sync;
mod malformed_stix;
mod metrics;
mod missing;
mod normal_form;
mod openioc;
mod openioc_corpus;
mod output;
mod ownership;
mod plain_lists;
mod preflight;
mod races;
mod reference;
mod refusals;
mod service;
mod sim_auth;
mod taxii_boundary;
mod taxii_cases;
mod taxii_state;
mod taxii_sync;
mod vision_one;
mod vision_one_sync;
mod watch;
