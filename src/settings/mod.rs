//! The options after `.config` and the command line are merged: defaults applied, required
//! values checked (a missing or inconsistent one is a usage error, exit 2), and the typed
//! pieces the commands need built from them.
//!
//! By file: [`Settings`] here, with what every command reads of it (tag, source,
//! destination, threads, the secrets to redact); `paths.rs`, where the job's files go;
//! `clients.rs`, each server's HTTP settings; `sources.rs`, what each source reads;
//! `destinations.rs`, the destination's client and sink; `policy.rs`, the planner's policy
//! and the exclusions.

mod clients;
mod destinations;
mod paths;
mod policy;
mod sources;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::anyhow;

use crate::cli::{DEFAULT_THREADS, Options, SinkKind, SourceKind, THREADED_THREADS};
use crate::config::ConfigFile;
use crate::exit::Failure;
use crate::ioc::IocKind;
use crate::model::{ScanAction, validate_tag};
use crate::secret::Redactor;

pub use paths::ServiceDirs;

/// Merged options and the config file they came from.
#[derive(Debug, Clone)]
pub struct Settings {
    pub opts: Options,
    pub config: Option<ConfigFile>,
    /// The service manager's folders for this job's files, when it gives them.
    pub service_dirs: ServiceDirs,
    /// When the run must end (`--max-run-minutes` from its start), once a sync run has
    /// begun ([`Settings::with_deadline`]): every client built from these settings waits for
    /// no retry past it. `None` for the other commands.
    pub deadline: Option<Instant>,
    /// Whether runs are journalled in the state file: always in the program; off only to
    /// measure what the journal costs ([`Settings::without_journal`], `benches/sync.rs`).
    pub journal: bool,
}

impl Settings {
    pub fn new(opts: Options, config: Option<ConfigFile>) -> Self {
        Settings {
            opts,
            config,
            service_dirs: ServiceDirs::default(),
            deadline: None,
            journal: true,
        }
    }

    /// These settings without the journal: for measuring its cost only (`benches/sync.rs`);
    /// the program always journals.
    pub fn without_journal(self) -> Self {
        Settings {
            journal: false,
            ..self
        }
    }

    /// These settings for a run that must end at `deadline` (see [`Settings::deadline`]).
    pub fn with_deadline(self, deadline: Instant) -> Self {
        Settings {
            deadline: Some(deadline),
            ..self
        }
    }

    /// `--max-run-minutes`: how long a sync run may take, counted from its start.
    pub fn max_run(&self) -> Duration {
        Duration::from_secs_f64(60.0 * self.opts.sync.max_run_minutes)
    }

    /// These settings with the service manager's folders (see [`ServiceDirs`]).
    pub fn with_service_dirs(self, service_dirs: ServiceDirs) -> Self {
        Settings {
            service_dirs,
            ..self
        }
    }

    /// Every secret of these options (API key, company key, TAXII token and password, proxy
    /// password, Vision One token), for [`Redactor::redact`].
    pub fn redactor(&self) -> Redactor {
        let o = &self.opts;
        Redactor::new(
            [
                &o.apex.api_key,
                &o.lumu.company_key,
                &o.taxii.taxii_token,
                &o.taxii.taxii_password,
                &o.http.proxy_password,
                &o.vision_one.v1_token,
            ]
            .into_iter()
            .flatten()
            .cloned(),
        )
    }

    /// `text` with every secret of these options redacted, in any form a URL carries it.
    pub fn redact(&self, text: &str) -> String {
        self.redactor().redact(text)
    }

    /// `--source`.
    pub fn source(&self) -> SourceKind {
        self.opts.sync.source
    }

    /// `--sink`.
    pub fn sink(&self) -> SinkKind {
        self.opts.destination.sink
    }

    /// `--tag`, else the source's name.
    pub fn tag(&self) -> Result<String, Failure> {
        let tag = self
            .opts
            .sync
            .tag
            .clone()
            .unwrap_or_else(|| self.source().name().to_owned());
        validate_tag(&tag).map_err(|e| Failure::usage(anyhow!("--tag `{tag}`: {e}")))?;
        Ok(tag)
    }

    /// Writes at once: `--threads`, else 20 with `--threaded`, else 4.
    pub fn threads(&self) -> usize {
        let sync = &self.opts.sync;
        usize::from(sync.threads.unwrap_or(if sync.threaded {
            THREADED_THREADS
        } else {
            DEFAULT_THREADS
        }))
    }

    /// `--ioc-types`.
    pub fn ioc_types(&self) -> BTreeSet<IocKind> {
        self.opts.sync.ioc_types.iter().map(|t| t.kind()).collect()
    }

    /// `--scan-action`.
    pub fn scan_action(&self) -> ScanAction {
        self.opts.sync.action.scan_action
    }

    /// ` (file:line)` of the `.config` line that sets option `long` to `value`, if one does
    /// (an error about a merged value then says where it came from).
    fn config_line(&self, long: &str, value: &str) -> String {
        self.config
            .as_ref()
            .and_then(|c| {
                c.entries
                    .iter()
                    .rfind(|e| e.long == long && e.value.as_deref() == Some(value))
                    .map(|e| format!(" ({}:{})", c.path.display(), e.line))
            })
            .unwrap_or_default()
    }

    /// ` (file:line)` of the last `.config` line that sets option `long`, if one does.
    fn config_entry(&self, long: &str) -> String {
        self.config
            .as_ref()
            .and_then(|c| {
                c.entries
                    .iter()
                    .rfind(|e| e.long == long)
                    .map(|e| format!(" ({}:{})", c.path.display(), e.line))
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::SyncOpts;

    /// Settings of `opts` alone, with no `.config` file.
    pub(super) fn settings(opts: Options) -> Settings {
        Settings::new(opts, None)
    }

    #[test]
    fn threads_defaults() {
        let sync = |sync: SyncOpts| Options {
            sync,
            ..Default::default()
        };
        assert_eq!(settings(Options::default()).threads(), 4);
        let threaded = SyncOpts {
            threaded: true,
            ..Default::default()
        };
        assert_eq!(settings(sync(threaded.clone())).threads(), 20);
        let both = SyncOpts {
            threads: Some(7),
            ..threaded
        };
        assert_eq!(settings(sync(both)).threads(), 7);
    }

    #[test]
    fn tag_defaults_to_the_source_and_is_checked() {
        let sync = |sync: SyncOpts| Options {
            sync,
            ..Default::default()
        };
        assert_eq!(settings(Options::default()).tag().unwrap(), "lumu");
        let o = sync(SyncOpts {
            source: SourceKind::Taxii,
            ..Default::default()
        });
        assert_eq!(settings(o).tag().unwrap(), "taxii");
        let o = sync(SyncOpts {
            tag: Some("my tag".into()),
            ..Default::default()
        });
        assert_eq!(
            settings(o).tag().unwrap_err().code,
            crate::exit::ExitCode::Usage
        );
    }
}
