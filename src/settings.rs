//! The options after `.config` and the command line are merged: defaults applied, required
//! values checked (a missing or inconsistent one is a usage error, exit 2), and the typed
//! pieces the commands need built from them.

use std::collections::{BTreeSet, HashSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::anyhow;

use crate::apex::client::ApexClient;
use crate::cli::{
    DEFAULT_THREADS, LockScope, LoggingMode, MAX_LUMU_DAYS, Options, SinkKind, SourceKind,
    THREADED_THREADS,
};
use crate::config::ConfigFile;
use crate::exit::Failure;
use crate::http::{HttpSettings, ProxySettings};
use crate::ioc::IocKind;
use crate::logging::{LOG_FILE_NAME, LogTarget};
use crate::model::{ScanAction, validate_tag};
use crate::policy::Exclusions;
use crate::policy::builtin::OwnHost;
use crate::secret::Redactor;
use crate::sink::apex::ApexSink;
use crate::sink::vision_one::{Region, VisionOneClient, VisionOneSink};
use crate::source::file::FileSettings;
use crate::source::lumu::LumuSettings;
use crate::source::taxii::{TaxiiAuth, TaxiiSettings};
use crate::sync::plan::Policy;

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

/// The folders a service manager gives a job for its files: systemd's `StateDirectory=` and
/// `LogsDirectory=` arrive as `$STATE_DIRECTORY` and `$LOGS_DIRECTORY` (systemd.exec(5),
/// "Environment variables in spawned processes"). With them the job needs no write access
/// beside its config file, which systemd's `LoadCredential=` hands over read-only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceDirs {
    /// Where the lock and state files go by default.
    pub state: Option<PathBuf>,
    /// Where the log file goes by default.
    pub logs: Option<PathBuf>,
}

impl ServiceDirs {
    /// From `$STATE_DIRECTORY` and `$LOGS_DIRECTORY`.
    pub fn from_env() -> Self {
        Self::from_values(
            std::env::var_os("STATE_DIRECTORY").as_deref(),
            std::env::var_os("LOGS_DIRECTORY").as_deref(),
        )
    }

    /// From the two variables' values. systemd joins several folders with `:` (one for each
    /// path given to `StateDirectory=`); the first is used. `std::env::split_paths` splits
    /// on `:`, and on Windows on `;` as in `PATH`, so a `C:\...` path stays whole. An empty
    /// value is no folder.
    pub fn from_values(state: Option<&OsStr>, logs: Option<&OsStr>) -> Self {
        let first = |value: Option<&OsStr>| {
            std::env::split_paths(value?)
                .next()
                .filter(|p| !p.as_os_str().is_empty())
        };
        ServiceDirs {
            state: first(state),
            logs: first(logs),
        }
    }
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

    /// The folder of the config file, where the lock and log files go by default.
    pub fn config_dir(&self) -> Option<PathBuf> {
        let path = &self.config.as_ref()?.path;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        Some(dir.map_or_else(|| PathBuf::from("."), Path::to_path_buf))
    }

    /// Where a file of this job's (lock, state, log) goes unless a flag names it: in the
    /// service manager's folder for it (`service_dir`, see [`ServiceDirs`]), else beside the
    /// config file, else in the current folder. The one place of this rule.
    fn default_file(&self, service_dir: Option<&Path>, name: &str) -> PathBuf {
        match service_dir
            .map(Path::to_path_buf)
            .or_else(|| self.config_dir())
        {
            Some(dir) => dir.join(name),
            None => PathBuf::from(name),
        }
    }

    /// `apex-ioc-sync-<tag>.<extension>` in the state folder (see [`Self::default_file`]), so
    /// that jobs with different tags never share one.
    fn job_file(&self, tag: &str, extension: &str) -> PathBuf {
        // Tags are checked to be file-name safe; this keeps the name portable regardless.
        let tag: String = tag
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.default_file(
            self.service_dirs.state.as_deref(),
            &format!("apex-ioc-sync-{tag}.{extension}"),
        )
    }

    /// `--logging` (`--log-file` alone means file logging); the file is `--log-file`, else
    /// `apex-ioc-sync.log` in `$LOGS_DIRECTORY`, else beside the config file, else here.
    pub fn log_target(&self) -> LogTarget {
        let logging = &self.opts.logging;
        let default = if logging.log_file.is_some() {
            LoggingMode::File
        } else {
            LoggingMode::Screen
        };
        match logging.logging.unwrap_or(default) {
            LoggingMode::Screen => LogTarget::Stderr,
            LoggingMode::File => LogTarget::File(logging.log_file.clone().unwrap_or_else(|| {
                self.default_file(self.service_dirs.logs.as_deref(), LOG_FILE_NAME)
            })),
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

    /// `--lock-file`, else `apex-ioc-sync-<tag>.lock` in `$STATE_DIRECTORY`, else beside the
    /// config file, else here.
    pub fn lock_path(&self, tag: &str) -> PathBuf {
        self.opts
            .sync
            .lock_file
            .clone()
            .unwrap_or_else(|| self.job_file(tag, "lock"))
    }

    /// The lock file of the job of `tag` under `--lock-scope`: [`Settings::lock_path`] for
    /// `tag`; for `destination`, `apex-ioc-sync@<sink>-<host>-<port>.lock` in the same folder,
    /// one file for every job that writes to that server (the host lower-cased, the port
    /// the scheme's when not given, so that `apex.corp` and `https://APEX.corp:443` share
    /// it). The name keeps letters, digits, `.`, `-` and `_` only, so it is valid on Linux
    /// and Windows alike.
    ///
    /// # Errors
    /// A usage error for `--lock-scope destination` with `--lock-file` (two answers to one
    /// question), or a destination that is not given or not a URL.
    pub fn scoped_lock_path(&self, tag: &str) -> Result<PathBuf, Failure> {
        let sync = &self.opts.sync;
        if sync.lock_scope == LockScope::Tag {
            return Ok(self.lock_path(tag));
        }
        if sync.lock_file.is_some() {
            return Err(Failure::usage(anyhow!(
                "--lock-scope destination{} names the lock file after the destination, and \
                 --lock-file{} names one: give one of them",
                self.config_entry("lock-scope"),
                self.config_entry("lock-file")
            )));
        }
        let sink = self.sink();
        let address = match sink {
            SinkKind::Apex => {
                let host = self.opts.apex.host.as_deref().unwrap_or_default();
                crate::apex::client::parse_host(host, self.opts.apex.allow_http)
                    .map_err(Failure::usage)?
            }
            SinkKind::VisionOne => self.vision_one_base()?,
        };
        let url = url::Url::parse(&address)
            .map_err(|e| Failure::usage(anyhow!("the destination `{address}`: {e}")))?;
        let host = url.host_str().unwrap_or_default().to_lowercase();
        let port = url.port_or_known_default().unwrap_or_default();
        // Anything but letters, digits, `.`, `-` and `_` (an IPv6 address's `:` and brackets)
        // becomes `_`; a name past 100 characters is cut: two servers that then share a lock
        // file only never run at once.
        let safe: String = host
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .take(100)
            .collect();
        Ok(self.default_file(
            self.service_dirs.state.as_deref(),
            &format!("apex-ioc-sync@{}-{safe}-{port}.lock", sink.name()),
        ))
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

    /// What every server's client shares: the time-out and the proxy. No TLS options: those
    /// belong to one server each (below).
    fn base_http(&self) -> Result<HttpSettings, Failure> {
        let o = &self.opts.http;
        let proxy = match (&o.proxy_host, &o.proxy_user, &o.proxy_password) {
            (Some(host), user, password) => {
                // A password alone may just be a PROXY_PASSWORD left in the environment.
                if password.is_some() && user.is_none() {
                    tracing::warn!(
                        "a proxy password is set but no --proxy-user: connecting to the proxy without authentication"
                    );
                }
                let proxy = ProxySettings {
                    host: host.clone(),
                    port: o.proxy_port,
                    user: user.clone(),
                    password: user.as_ref().and(password.clone()),
                };
                // Checked here, before anything is sent: a usage error (exit 2).
                proxy.url().map_err(Failure::usage)?;
                proxy.authorization().map_err(Failure::usage)?;
                Some(proxy)
            }
            (None, Some(_), _) => {
                return Err(Failure::usage(anyhow!("--proxy-user needs --proxy-host")));
            }
            // A proxy password from the environment alone is not a proxy setting.
            (None, None, _) if self.opts.given("proxy_port") => {
                return Err(Failure::usage(anyhow!("--proxy-port needs --proxy-host")));
            }
            (None, None, _) => None,
        };
        Ok(HttpSettings {
            timeout: Duration::from_secs(o.timeout),
            proxy,
            deadline: self.deadline,
            ..HttpSettings::default()
        })
    }

    /// The client settings for Apex Central: `--ca-cert` and `--insecure` apply here only.
    pub fn apex_http(&self) -> Result<HttpSettings, Failure> {
        let o = &self.opts.apex;
        if o.insecure {
            tracing::warn!(
                "--insecure: Apex Central's TLS certificate is NOT verified; anyone on the path can read and change what is sent"
            );
        }
        if o.allow_http
            && let Some(host) = o.host.as_deref().and_then(|h| clear_text_host(h.trim()))
        {
            tracing::warn!(
                "--allow-http: Apex Central ({host}) is reached over plain http://; the signed requests and the list the removals trust travel in clear, readable and changeable by anyone on the path"
            );
        }
        Ok(HttpSettings {
            ca_cert: o.ca_cert.clone(),
            ca_cert_option: "--ca-cert",
            insecure: o.insecure,
            allow_http: o.allow_http,
            ..self.base_http()?
        })
    }

    /// The client settings for Lumu Defender: no TLS options of its own (it is a public
    /// service: the system's roots, where a TLS-inspecting proxy's CA is installed too,
    /// verify it), and no redirects, since its company key travels in the URL.
    pub fn lumu_http(&self) -> Result<HttpSettings, Failure> {
        Ok(HttpSettings {
            follow_redirects: false,
            ..self.base_http()?
        })
    }

    /// The client settings for the TAXII server: `--taxii-ca-cert` and `--taxii-insecure`.
    pub fn taxii_http(&self) -> Result<HttpSettings, Failure> {
        let o = &self.opts.taxii;
        if o.taxii_insecure {
            tracing::warn!(
                "--taxii-insecure: the TAXII server's TLS certificate is NOT verified; anyone on the path can read its credentials and change what it sends"
            );
        }
        Ok(HttpSettings {
            ca_cert: o.taxii_ca_cert.clone(),
            ca_cert_option: "--taxii-ca-cert",
            insecure: o.taxii_insecure,
            ..self.base_http()?
        })
    }

    /// `--ioc-types`.
    pub fn ioc_types(&self) -> BTreeSet<IocKind> {
        self.opts.sync.ioc_types.iter().map(|t| t.kind()).collect()
    }

    /// `--scan-action`.
    pub fn scan_action(&self) -> ScanAction {
        self.opts.sync.action.scan_action
    }

    /// The planner's policy for this job, against a destination whose lists hold
    /// `capacity` entries per type ([`crate::sink::Sink::capacity_per_kind`]).
    pub fn policy(&self, tag: &str, capacity: usize) -> Policy {
        let o = &self.opts.sync;
        Policy {
            tag: tag.to_owned(),
            types: self.ioc_types(),
            expiration_days: (!o.no_expiration_date).then_some(o.expiration_days),
            preserve: o.preserve_iocs,
            force: o.force,
            capacity,
            // Known only once the list is read (see `sync::run`).
            withdrawn: HashSet::new(),
            max_adds: o.max_adds,
            // Known from the journal (see `commands::sync`).
            owned_peak: None,
        }
    }

    /// What to read from Lumu Defender, for the job of `tag`.
    pub fn lumu(&self, tag: &str) -> Result<LumuSettings, Failure> {
        let o = &self.opts.lumu;
        let key = o.company_key.clone().ok_or_else(|| {
            Failure::usage(anyhow!(
                "no Lumu company key: give --company-key, or `company-key=...` in the .config file, or LUMU_COMPANY_KEY in the environment"
            ))
        })?;
        self.no_min_confidence()?;
        let days = self.opts.sync.days;
        if days > MAX_LUMU_DAYS {
            return Err(Failure::usage(anyhow!(
                "--days {days}{}: Lumu Defender is read at most {MAX_LUMU_DAYS} days back; give 1 to {MAX_LUMU_DAYS} for --source lumu",
                self.config_line("days", &days.to_string())
            )));
        }
        let url = o.lumu_url.clone();
        crate::http::refuse_credentials(&url, "--lumu-url", "--company-key (or LUMU_COMPANY_KEY)")
            .map_err(Failure::usage)?;
        warn_if_clear_text(&url, "--lumu-url", "the company key");
        Ok(LumuSettings {
            url,
            company_key: key,
            days,
            statuses: o
                .incident_status
                .iter()
                .map(|s| s.name().to_owned())
                .collect(),
            adversary_types: o
                .adversary_types
                .iter()
                .map(|t| t.name().to_owned())
                .collect(),
            scan_action: self.scan_action(),
            max_context_calls: o.max_context_calls as usize,
            max_run: self.max_run(),
            state_file: self.state_path(tag),
            tag: tag.to_owned(),
            dry_run: self.opts.sync.dry_run,
        })
    }

    /// What to read from a TAXII server.
    pub fn taxii(&self, tag: &str) -> Result<TaxiiSettings, Failure> {
        let o = &self.opts.taxii;
        let url = o.taxii_url.clone().ok_or_else(|| {
            Failure::usage(anyhow!(
                "no TAXII server: give --taxii-url (a discovery URL or an API root), or `taxii-url=...` in the .config file"
            ))
        })?;
        // Before anything else: the URL names the feed in the state file.
        crate::http::refuse_credentials(
            &url,
            "--taxii-url",
            "--taxii-token, or --taxii-user and --taxii-password (or TAXII_PASSWORD)",
        )
        .map_err(Failure::usage)?;
        let auth = match (&o.taxii_token, &o.taxii_user, &o.taxii_password) {
            (Some(_), Some(_), _) => {
                return Err(Failure::usage(anyhow!(
                    "give either --taxii-token or --taxii-user with --taxii-password, not both"
                )));
            }
            (Some(token), None, _) => TaxiiAuth::Bearer(token.clone()),
            (None, Some(user), Some(password)) => TaxiiAuth::Basic {
                user: user.clone(),
                password: password.clone(),
            },
            (None, Some(_), None) => {
                return Err(Failure::usage(anyhow!(
                    "--taxii-user needs --taxii-password (or TAXII_PASSWORD in the environment)"
                )));
            }
            (None, None, _) => TaxiiAuth::None,
        };
        match &auth {
            TaxiiAuth::None => {}
            TaxiiAuth::Bearer(_) => warn_if_clear_text(&url, "--taxii-url", "the TAXII token"),
            TaxiiAuth::Basic { .. } => {
                warn_if_clear_text(&url, "--taxii-url", "the TAXII user's password")
            }
        }
        Ok(TaxiiSettings {
            url,
            collections: o.taxii_collection.clone(),
            auth,
            page_size: o.taxii_page_size,
            days: self.opts.sync.days,
            scan_action: self.scan_action(),
            min_confidence: o.min_confidence,
            state_file: self.state_path(tag),
            tag: tag.to_owned(),
            dry_run: self.opts.sync.dry_run,
        })
    }

    /// `--state-file`, else `apex-ioc-sync-<tag>.db` in `$STATE_DIRECTORY`, else beside the
    /// config file, else here.
    pub fn state_path(&self, tag: &str) -> PathBuf {
        self.opts
            .sync
            .state_file
            .clone()
            .unwrap_or_else(|| self.job_file(tag, "db"))
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

    /// `--min-confidence` is a STIX indicator's property: another source refuses it.
    fn no_min_confidence(&self) -> Result<(), Failure> {
        match self.opts.taxii.min_confidence {
            Some(n) => Err(Failure::usage(anyhow!(
                "--min-confidence{} applies to STIX indicators (--source taxii, or STIX bundles with --source file), not to --source {}",
                self.config_line("min-confidence", &n.to_string()),
                self.source().name()
            ))),
            None => Ok(()),
        }
    }

    /// The files of `--source file` and `--source openioc`.
    pub fn files(&self) -> Result<FileSettings, Failure> {
        if self.source() == SourceKind::Openioc {
            self.no_min_confidence()?;
        }
        if self.opts.files.file.is_empty() {
            return Err(Failure::usage(anyhow!(
                "--source {} needs at least one --file PATH",
                self.source().name()
            )));
        }
        Ok(FileSettings {
            files: self.opts.files.file.clone(),
            scan_action: self.scan_action(),
            min_confidence: self.opts.taxii.min_confidence,
        })
    }

    /// The built-in guard (unless `--no-default-exclusions`), holding back this job's own
    /// hosts ([`Settings::own_hosts`]) too, the `--exclude` lists and the `--hold` list,
    /// loaded. A list that cannot be read or parsed, or a hold list that does not exist, is a
    /// configuration error (exit 2).
    pub fn exclusions(&self) -> Result<Exclusions, Failure> {
        self.load_exclusions(false)
    }

    /// [`Settings::exclusions`] for `rollback`, which writes the hold list: one that does
    /// not exist yet holds nothing.
    pub fn exclusions_for_rollback(&self) -> Result<Exclusions, Failure> {
        self.load_exclusions(true)
    }

    fn load_exclusions(&self, hold_may_be_missing: bool) -> Result<Exclusions, Failure> {
        let o = &self.opts.exclusions;
        let own = self.own_hosts(|name| std::env::var(name).ok());
        let mut exclusions = Exclusions::load(!o.no_default_exclusions, &own, &o.exclude);
        if let (Ok(loaded), Some(hold)) = (&mut exclusions, &o.hold) {
            let held = loaded.load_hold(hold, hold_may_be_missing);
            if let Err(e) = held {
                exclusions = Err(e);
            }
        }
        exclusions.map_err(|e| {
            Failure::usage(e.context("an exclusion list could not be loaded; nothing was written"))
        })
    }

    /// The hosts this job talks to, for the guard: the destination (`--host`, or Vision
    /// One's `--v1-url` or `--v1-region`), the source's server (`--lumu-url` for `--source
    /// lumu`, `--taxii-url` for `--source taxii`; the API roots a TAXII discovery names
    /// share its origin, `source::taxii::client`), and the proxy: `--proxy-host`, else the
    /// proxies `env` names (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, either case, as
    /// reqwest reads them). A value that does not parse names no host (the client that
    /// uses it reports it).
    pub fn own_hosts(&self, env: impl Fn(&str) -> Option<String>) -> Vec<OwnHost> {
        let o = &self.opts;
        let mut urls: Vec<(String, String)> = Vec::new();
        match self.sink() {
            SinkKind::Apex => {
                if let Some(host) = &o.apex.host {
                    urls.push(("--host".into(), host.clone()));
                }
            }
            SinkKind::VisionOne => {
                if let Some(url) = &o.vision_one.v1_url {
                    urls.push(("--v1-url".into(), url.clone()));
                }
                if let Some(region) = o.vision_one.v1_region {
                    urls.push((format!("--v1-region {region}"), region.base_url()));
                }
            }
        }
        match self.source() {
            SourceKind::Lumu => urls.push(("--lumu-url".into(), o.lumu.lumu_url.clone())),
            SourceKind::Taxii => {
                if let Some(url) = &o.taxii.taxii_url {
                    urls.push(("--taxii-url".into(), url.clone()));
                }
            }
            SourceKind::File | SourceKind::Openioc => {}
        }
        match &o.http.proxy_host {
            Some(host) => urls.push(("--proxy-host".into(), host.clone())),
            None => {
                for name in [
                    "HTTPS_PROXY",
                    "https_proxy",
                    "HTTP_PROXY",
                    "http_proxy",
                    "ALL_PROXY",
                    "all_proxy",
                ] {
                    if let Some(url) = env(name).filter(|u| !u.trim().is_empty()) {
                        urls.push((name.into(), url));
                    }
                }
            }
        }
        urls.into_iter()
            .filter_map(|(option, url)| {
                Some(OwnHost {
                    host: url_host(&url)?,
                    option,
                })
            })
            .collect()
    }

    /// A client for `--host` with `--application-id` and `--api-key` (and `--ca-cert`,
    /// `--insecure`).
    pub fn apex_client(&self) -> Result<ApexClient, Failure> {
        let o = &self.opts.apex;
        let missing = |flag: &str, name: &str, env: Option<&str>| {
            let env = env
                .map(|e| format!(", or {e} in the environment"))
                .unwrap_or_default();
            Failure::usage(anyhow!(
                "no Apex Central {name}: give --{flag}, or `{flag}=...` in the .config file{env}"
            ))
        };
        let host = o
            .host
            .as_deref()
            .ok_or_else(|| missing("host", "server", None))?;
        let app_id = o
            .application_id
            .as_deref()
            .ok_or_else(|| missing("application-id", "application ID", None))?;
        let api_key = o
            .api_key
            .clone()
            .ok_or_else(|| missing("api-key", "API key", Some("APEX_API_KEY")))?;
        ApexClient::new(host, app_id, api_key, &self.apex_http()?).map_err(Failure::usage)
    }
}

impl Settings {
    /// The options that belong to one destination and were given (on the command line or in
    /// the `.config` file; a secret the environment holds is not "given": the same shell may
    /// run jobs for both destinations), as `(option, destination)`.
    fn destination_options(&self) -> Vec<(&'static str, SinkKind)> {
        [
            ("host", "host", SinkKind::Apex),
            ("application-id", "application_id", SinkKind::Apex),
            ("api-key", "api_key", SinkKind::Apex),
            ("ca-cert", "ca_cert", SinkKind::Apex),
            ("insecure", "insecure", SinkKind::Apex),
            ("allow-http", "allow_http", SinkKind::Apex),
            ("v1-url", "v1_url", SinkKind::VisionOne),
            ("v1-region", "v1_region", SinkKind::VisionOne),
            ("v1-token", "v1_token", SinkKind::VisionOne),
            ("risk-level", "risk_level", SinkKind::VisionOne),
        ]
        .into_iter()
        .filter(|(_, id, _)| self.opts.given(id))
        .map(|(option, _, sink)| (option, sink))
        .collect()
    }

    /// A usage error for the first option of another destination than `sink`, naming it
    /// (and the `.config` line that set it, if one did): a job writes to one destination,
    /// and an option that cannot apply is a mistake, not something to ignore.
    pub fn only_options_of(&self, sink: SinkKind) -> Result<(), Failure> {
        let Some((option, other)) = self
            .destination_options()
            .into_iter()
            .find(|(_, s)| *s != sink)
        else {
            return Ok(());
        };
        let name = |k: SinkKind| match k {
            SinkKind::Apex => "Apex Central",
            SinkKind::VisionOne => "Vision One",
        };
        Err(Failure::usage(anyhow!(
            "--{option}{} is an option of {} (--sink {}), and this job writes to {} (--sink {}); \
             remove it, or choose the other destination with --sink",
            self.config_entry(option),
            name(other),
            other.name(),
            name(sink),
            sink.name()
        )))
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

    /// Apex Central as the destination: [`Settings::apex_client`], after checking that no
    /// Vision One option was given.
    pub fn apex_sink(&self) -> Result<ApexSink, Failure> {
        self.only_options_of(SinkKind::Apex)?;
        Ok(ApexSink::new(self.apex_client()?))
    }

    /// The client settings for Vision One: the time-out and the proxy; TLS verified against
    /// the system's roots (a public service); no redirects (the API answers where it is
    /// asked, and the token must go to that host only).
    pub fn vision_one_http(&self) -> Result<HttpSettings, Failure> {
        Ok(HttpSettings {
            follow_redirects: false,
            ..self.base_http()?
        })
    }

    /// A Vision One client: the host of `--v1-region` or `--v1-url` (one of them), and
    /// `--v1-token` (or `V1_API_TOKEN`).
    pub fn vision_one_client(&self) -> Result<VisionOneClient, Failure> {
        let base = self.vision_one_base()?;
        let token = self.opts.vision_one.v1_token.clone().ok_or_else(|| {
            Failure::usage(anyhow!(
                "no Vision One API token: give --v1-token, or `v1-token=...` in the .config file, or V1_API_TOKEN in the environment"
            ))
        })?;
        VisionOneClient::new(&base, &token, &self.vision_one_http()?).map_err(Failure::usage)
    }

    /// The Vision One API's base URL: the host of `--v1-region` or `--v1-url` (one of them).
    fn vision_one_base(&self) -> Result<String, Failure> {
        let o = &self.opts.vision_one;
        Ok(match (&o.v1_url, o.v1_region) {
            (Some(_), Some(_)) => {
                return Err(Failure::usage(anyhow!(
                    "give either --v1-url{} or --v1-region{}, not both",
                    self.config_entry("v1-url"),
                    self.config_entry("v1-region")
                )));
            }
            (Some(url), None) => url.clone(),
            (None, Some(region)) => region.base_url(),
            (None, None) => {
                let regions: Vec<&str> = Region::ALL.iter().map(|r| r.name()).collect();
                return Err(Failure::usage(anyhow!(
                    "no Vision One server: give --v1-region ({}) or --v1-url, or `v1-region=...` in the .config file",
                    regions.join(", ")
                )));
            }
        })
    }

    /// Vision One as the destination, after checking that no Apex Central option was given.
    pub fn vision_one_sink(&self) -> Result<VisionOneSink, Failure> {
        self.only_options_of(SinkKind::VisionOne)?;
        let client = self.vision_one_client()?;
        Ok(VisionOneSink::new(client, self.opts.risk_level))
    }
}

/// The host of `text`, a URL or a bare `host[:port]` (as `--host` and `--proxy-host` take
/// it); IPv6 without its brackets.
fn url_host(text: &str) -> Option<String> {
    let text = text.trim();
    let url = if text.contains("://") {
        url::Url::parse(text)
    } else {
        url::Url::parse(&format!("http://{text}"))
    }
    .ok()?;
    Some(match url.host()? {
        url::Host::Domain(name) => name.to_owned(),
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => ip.to_string(),
    })
}

/// Warns when `url` is plain `http://` to another machine: `credential` would cross the
/// network in clear text. Loopback (`127.0.0.0/8`, `::1`, `localhost`) is exempt: that
/// traffic never leaves the machine (rehearsals against `simulate`).
fn warn_if_clear_text(url: &str, option: &str, credential: &str) {
    if let Some(host) = clear_text_host(url) {
        tracing::warn!(
            "{option} is plain http:// to {host}: {credential} travels in clear text, readable by anyone on the path; use https://"
        );
    }
}

/// The host of a plain `http://` URL that is not loopback.
fn clear_text_host(url: &str) -> Option<String> {
    let url = url::Url::parse(url.trim()).ok()?;
    if url.scheme() != "http" || crate::http::is_loopback(&url.host()?) {
        return None;
    }
    url.host_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{
        ApexOpts, FileOpts, HttpOpts, LoggingOpts, LumuOpts, SyncOpts, TaxiiOpts, VisionOneOpts,
    };
    use crate::secret::Secret;

    fn settings(opts: Options) -> Settings {
        Settings::new(opts, None)
    }

    /// The Lumu options with a company key.
    fn lumu_key() -> LumuOpts {
        LumuOpts {
            company_key: Some(Secret::new("k")),
            ..Default::default()
        }
    }

    #[test]
    fn missing_apex_credentials_are_usage_errors_that_say_how_to_fix() {
        let err = settings(Options::default()).apex_client().unwrap_err();
        assert_eq!(err.code, crate::exit::ExitCode::Usage);
        assert!(err.to_string().contains("--host"), "{err}");
        let err = settings(Options {
            apex: ApexOpts {
                host: Some("apex.corp".into()),
                application_id: Some("A".into()),
                ..Default::default()
            },
            ..Default::default()
        })
        .apex_client()
        .unwrap_err();
        assert!(err.to_string().contains("APEX_API_KEY"), "{err}");
    }

    #[test]
    fn days_past_30_are_for_taxii_only_and_the_error_names_the_config_line() {
        let opts = Options {
            sync: SyncOpts {
                days: 60,
                ..Default::default()
            },
            lumu: lumu_key(),
            taxii: TaxiiOpts {
                taxii_url: Some("https://taxii.example/taxii2/".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let config = ConfigFile::parse(Path::new("/etc/apex/.config"), "\ndays=60\n").unwrap();
        let err = Settings::new(opts.clone(), Some(config))
            .lumu("lumu")
            .unwrap_err();
        assert_eq!(err.code, crate::exit::ExitCode::Usage);
        assert!(
            err.to_string().contains("--days 60 (/etc/apex/.config:2)")
                && err.to_string().contains("give 1 to 30"),
            "{err}"
        );
        assert_eq!(settings(opts).taxii("taxii").unwrap().days, 60);
    }

    #[test]
    fn min_confidence_is_refused_where_there_is_no_confidence() {
        let opts = |source| Options {
            sync: SyncOpts {
                source,
                ..Default::default()
            },
            taxii: TaxiiOpts {
                min_confidence: Some(50),
                ..Default::default()
            },
            lumu: lumu_key(),
            files: FileOpts {
                file: vec![PathBuf::from("a.ioc")],
            },
            ..Default::default()
        };
        for source in [SourceKind::Lumu, SourceKind::Openioc] {
            let s = settings(opts(source));
            let err = match source {
                SourceKind::Lumu => s.lumu("lumu").unwrap_err(),
                _ => s.files().unwrap_err(),
            };
            assert!(
                err.to_string().contains("--min-confidence applies to STIX"),
                "{err}"
            );
        }
        assert_eq!(
            settings(opts(SourceKind::File))
                .files()
                .unwrap()
                .min_confidence,
            Some(50)
        );
    }

    #[test]
    fn tls_options_belong_to_their_server() {
        let o = Options {
            apex: ApexOpts {
                ca_cert: Some("/etc/apex-ca.pem".into()),
                insecure: true,
                ..Default::default()
            },
            taxii: TaxiiOpts {
                taxii_ca_cert: Some("/etc/taxii-ca.pem".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let s = settings(o);
        let apex = s.apex_http().unwrap();
        assert_eq!(apex.ca_cert.as_deref(), Some(Path::new("/etc/apex-ca.pem")));
        assert!(apex.insecure && apex.follow_redirects);
        let taxii = s.taxii_http().unwrap();
        assert_eq!(
            taxii.ca_cert.as_deref(),
            Some(Path::new("/etc/taxii-ca.pem"))
        );
        assert_eq!(taxii.ca_cert_option, "--taxii-ca-cert");
        assert!(!taxii.insecure);
        let lumu = s.lumu_http().unwrap();
        assert!(lumu.ca_cert.is_none() && !lumu.insecure && !lumu.follow_redirects);
        let o = Options {
            taxii: TaxiiOpts {
                taxii_insecure: true,
                ..Default::default()
            },
            ..Default::default()
        };
        let s = settings(o);
        assert!(s.taxii_http().unwrap().insecure && !s.apex_http().unwrap().insecure);
    }

    #[test]
    fn clear_text_urls_to_other_machines_are_flagged() {
        assert_eq!(
            clear_text_host("http://lumu.example.org/").as_deref(),
            Some("lumu.example.org")
        );
        assert_eq!(
            clear_text_host("HTTP://10.1.2.3:8080/taxii2/").as_deref(),
            Some("10.1.2.3")
        );
        for quiet in [
            "https://defender.lumu.io",
            "http://127.0.0.1:9000",
            "http://localhost/x",
            "http://[::1]:80/",
            "not a url",
        ] {
            assert_eq!(clear_text_host(quiet), None, "{quiet}");
        }
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

    #[test]
    fn proxy_options_must_come_together() {
        let http = |http: HttpOpts| Options {
            http,
            ..Default::default()
        };
        let o = http(HttpOpts {
            proxy_user: Some("u".into()),
            ..Default::default()
        });
        assert!(
            settings(o)
                .apex_http()
                .unwrap_err()
                .to_string()
                .contains("--proxy-host")
        );
        // A password without a user (PROXY_PASSWORD left in the environment) is not used.
        let o = http(HttpOpts {
            proxy_host: Some("p".into()),
            proxy_password: Some(Secret::new("pw")),
            ..Default::default()
        });
        assert!(
            settings(o)
                .lumu_http()
                .unwrap()
                .proxy
                .unwrap()
                .password
                .is_none()
        );
        let o = http(HttpOpts {
            proxy_host: Some("p".into()),
            ..Default::default()
        });
        let proxy = settings(o).taxii_http().unwrap().proxy.unwrap();
        assert_eq!(proxy.url().unwrap().as_str(), "http://p:8080/");
        // A port without a host is refused when it was given, not when it is the default.
        let port_alone = Options {
            given: ["proxy_port".to_owned()].into(),
            ..Default::default()
        };
        assert!(
            settings(port_alone)
                .apex_http()
                .unwrap_err()
                .to_string()
                .contains("--proxy-port needs --proxy-host")
        );
        assert!(
            settings(Options::default())
                .apex_http()
                .unwrap()
                .proxy
                .is_none()
        );
    }

    #[test]
    fn lock_state_and_log_files_default_beside_the_config() {
        let s = Settings::new(
            Options::default(),
            Some(ConfigFile {
                path: "/etc/apex/.config".into(),
                entries: vec![],
            }),
        );
        assert_eq!(
            s.lock_path("lumu"),
            Path::new("/etc/apex/apex-ioc-sync-lumu.lock")
        );
        assert_eq!(
            s.state_path("lumu"),
            Path::new("/etc/apex/apex-ioc-sync-lumu.db")
        );
        assert_eq!(
            s.lock_path("soc/feed 1"),
            Path::new("/etc/apex/apex-ioc-sync-soc_feed_1.lock")
        );
        assert_eq!(s.log_target(), LogTarget::Stderr);
        let file_logging = |logging: LoggingOpts| {
            let opts = Options {
                logging,
                ..Default::default()
            };
            Settings { opts, ..s.clone() }.log_target()
        };
        let logging = LoggingOpts {
            logging: Some(LoggingMode::File),
            ..Default::default()
        };
        assert_eq!(
            file_logging(logging.clone()),
            LogTarget::File("/etc/apex/apex-ioc-sync.log".into())
        );
        let named = LoggingOpts {
            log_file: Some("/var/log/x.log".into()),
            ..Default::default()
        };
        assert_eq!(
            file_logging(named.clone()),
            LogTarget::File("/var/log/x.log".into())
        );
        let screen = LoggingOpts {
            logging: Some(LoggingMode::Screen),
            ..named
        };
        assert_eq!(file_logging(screen), LogTarget::Stderr);

        let s = Settings::new(
            Options::default(),
            Some(ConfigFile {
                path: ".config".into(),
                entries: vec![],
            }),
        );
        assert_eq!(s.lock_path("x"), Path::new("./apex-ioc-sync-x.lock"));
        let s = Settings::new(
            Options {
                logging,
                ..Default::default()
            },
            None,
        );
        assert_eq!(s.log_target(), LogTarget::File("apex-ioc-sync.log".into()));
        assert_eq!(s.state_path("taxii"), Path::new("apex-ioc-sync-taxii.db"));
    }

    #[test]
    fn a_destination_scoped_lock_is_named_after_the_server() {
        let apex = |host: &str, scope: LockScope| {
            Settings::new(
                Options {
                    apex: ApexOpts {
                        host: Some(host.into()),
                        ..Default::default()
                    },
                    sync: SyncOpts {
                        lock_scope: scope,
                        ..Default::default()
                    },
                    ..Default::default()
                },
                Some(ConfigFile {
                    path: "/etc/apex/.config".into(),
                    entries: vec![],
                }),
            )
        };
        let lock = |host: &str| {
            apex(host, LockScope::Destination)
                .scoped_lock_path("lumu")
                .unwrap()
        };
        // Every spelling of one server shares the file; another port is another server.
        let expected = Path::new("/etc/apex/apex-ioc-sync@apex-apex.corp-443.lock");
        assert_eq!(lock("apex.corp"), expected);
        assert_eq!(lock("https://APEX.corp:443"), expected);
        assert_eq!(
            lock("http://127.0.0.1:9000"),
            Path::new("/etc/apex/apex-ioc-sync@apex-127.0.0.1-9000.lock")
        );
        // No `:`, `[` or `]` in a file name (Windows refuses them).
        assert_eq!(
            lock("https://[::1]:8443"),
            Path::new("/etc/apex/apex-ioc-sync@apex-___1_-8443.lock")
        );
        // The tag scope: the tag's file, as without the option.
        let by_tag = apex("apex.corp", LockScope::Tag);
        assert_eq!(
            by_tag.scoped_lock_path("lumu").unwrap(),
            by_tag.lock_path("lumu")
        );
        // Vision One: the region's host, or --v1-url's.
        let v1 = |vision_one: VisionOneOpts| {
            Settings::new(
                Options {
                    destination: crate::cli::DestinationOpts {
                        sink: SinkKind::VisionOne,
                    },
                    vision_one,
                    sync: SyncOpts {
                        lock_scope: LockScope::Destination,
                        ..Default::default()
                    },
                    ..Default::default()
                },
                None,
            )
            .scoped_lock_path("x")
        };
        assert_eq!(
            v1(VisionOneOpts {
                v1_region: Some(Region::Eu),
                ..Default::default()
            })
            .unwrap(),
            Path::new("apex-ioc-sync@vision-one-api.eu.xdr.trendmicro.com-443.lock")
        );
        assert_eq!(
            v1(VisionOneOpts {
                v1_url: Some("http://127.0.0.1:7000/".into()),
                ..Default::default()
            })
            .unwrap(),
            Path::new("apex-ioc-sync@vision-one-127.0.0.1-7000.lock")
        );
        // Two answers to one question.
        let mut both = apex("apex.corp", LockScope::Destination);
        both.opts.sync.lock_file = Some("/run/x.lock".into());
        let err = both.scoped_lock_path("lumu").unwrap_err();
        assert_eq!(err.code, crate::exit::ExitCode::Usage);
        assert!(err.to_string().contains("--lock-file"), "{err}");
    }

    #[test]
    fn lumu_budget_deadline_and_state_file_defaults() {
        let o = Options {
            lumu: lumu_key(),
            ..Default::default()
        };
        let l = settings(o.clone()).lumu("company-a").unwrap();
        assert_eq!(l.max_context_calls, 1_000);
        assert_eq!(l.max_run, Duration::from_secs(25 * 60));
        assert_eq!(l.state_file, Path::new("apex-ioc-sync-company-a.db"));
        assert_eq!(l.tag, "company-a");
        assert!(!l.dry_run);
        let l = settings(Options {
            lumu: LumuOpts {
                max_context_calls: 0,
                ..lumu_key()
            },
            sync: SyncOpts {
                max_run_minutes: 0.5,
                state_file: Some("/var/lib/x.db".into()),
                dry_run: true,
                ..Default::default()
            },
            ..o
        })
        .lumu("lumu")
        .unwrap();
        assert_eq!(l.max_context_calls, 0);
        assert_eq!(l.max_run, Duration::from_secs(30));
        assert_eq!(l.state_file, Path::new("/var/lib/x.db"));
        assert!(l.dry_run);
    }

    #[test]
    fn service_dirs_take_the_first_folder_and_no_empty_one() {
        let dirs = |state: &str, logs: &str| {
            ServiceDirs::from_values(Some(OsStr::new(state)), Some(OsStr::new(logs)))
        };
        let two = std::env::join_paths(["/var/lib/a/lumu", "/var/lib/b"]).unwrap();
        let d = ServiceDirs::from_values(Some(&two), None);
        assert_eq!(d.state.as_deref(), Some(Path::new("/var/lib/a/lumu")));
        assert_eq!(d.logs, None);
        // systemd's own form, on the platform systemd runs on.
        #[cfg(unix)]
        assert_eq!(
            dirs("/var/lib/a:/var/lib/b", "/var/log/a").state.as_deref(),
            Some(Path::new("/var/lib/a"))
        );
        // A drive letter's colon is not a separator on Windows.
        #[cfg(windows)]
        assert_eq!(
            dirs(r"C:\ProgramData\a", "").state.as_deref(),
            Some(Path::new(r"C:\ProgramData\a"))
        );
        assert_eq!(dirs("", ""), ServiceDirs::default());
        assert_eq!(ServiceDirs::from_values(None, None), ServiceDirs::default());
    }

    #[test]
    fn service_dirs_hold_lock_state_and_log_and_flags_still_win() {
        let config = Some(ConfigFile {
            path: "/run/credentials/apex-ioc-sync@lumu.service/config".into(),
            entries: vec![],
        });
        let file_logging = Options {
            logging: LoggingOpts {
                logging: Some(LoggingMode::File),
                ..Default::default()
            },
            ..Default::default()
        };
        let dirs = ServiceDirs {
            state: Some("/var/lib/apex-ioc-sync/lumu".into()),
            logs: Some("/var/log/apex-ioc-sync/lumu".into()),
        };
        let s = Settings::new(file_logging.clone(), config.clone()).with_service_dirs(dirs.clone());
        assert_eq!(
            s.lock_path("lumu"),
            Path::new("/var/lib/apex-ioc-sync/lumu/apex-ioc-sync-lumu.lock")
        );
        assert_eq!(
            s.state_path("lumu"),
            Path::new("/var/lib/apex-ioc-sync/lumu/apex-ioc-sync-lumu.db")
        );
        assert_eq!(
            s.log_target(),
            LogTarget::File("/var/log/apex-ioc-sync/lumu/apex-ioc-sync.log".into())
        );

        // One folder without the other: the other file stays beside the config.
        let state_only = ServiceDirs {
            logs: None,
            ..dirs.clone()
        };
        let s = Settings::new(file_logging.clone(), config.clone()).with_service_dirs(state_only);
        assert_eq!(
            s.log_target(),
            LogTarget::File("/run/credentials/apex-ioc-sync@lumu.service/apex-ioc-sync.log".into())
        );
        let logs_only = ServiceDirs {
            state: None,
            ..dirs.clone()
        };
        let s = Settings::new(file_logging, None).with_service_dirs(logs_only);
        assert_eq!(s.lock_path("lumu"), Path::new("apex-ioc-sync-lumu.lock"));

        // Flags name the files whatever the folders.
        let named = Options {
            sync: SyncOpts {
                lock_file: Some("/srv/x.lock".into()),
                state_file: Some("/srv/x.db".into()),
                ..Default::default()
            },
            logging: LoggingOpts {
                log_file: Some("/srv/x.log".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let s = Settings::new(named, config).with_service_dirs(dirs);
        assert_eq!(s.lock_path("lumu"), Path::new("/srv/x.lock"));
        assert_eq!(s.state_path("lumu"), Path::new("/srv/x.db"));
        assert_eq!(s.log_target(), LogTarget::File("/srv/x.log".into()));
    }

    /// The hosts the guard holds back: the destination's, the source's server (only the
    /// one this job reads) and the proxy (`--proxy-host`, else the environment's).
    #[test]
    fn own_hosts_are_the_servers_this_job_talks_to() {
        let hosts = |opts: Options, env: &[(&str, &str)]| -> Vec<(String, String)> {
            settings(opts)
                .own_hosts(|name| {
                    env.iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, v)| (*v).to_owned())
                })
                .into_iter()
                .map(|h| (h.option, h.host))
                .collect()
        };
        let pair = |o: &str, h: &str| (o.to_owned(), h.to_owned());
        // A Lumu job to Apex Central, the proxy from the environment.
        let lumu_to_apex = Options {
            apex: ApexOpts {
                host: Some("Apex.Corp:8443".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            hosts(
                lumu_to_apex.clone(),
                &[
                    ("https_proxy", "http://10.0.0.8:3128"),
                    ("NO_PROXY", "ignored.example"),
                    ("ALL_PROXY", " ")
                ]
            ),
            [
                pair("--host", "apex.corp"),
                pair("--lumu-url", "defender.lumu.io"),
                pair("https_proxy", "10.0.0.8"),
            ]
        );
        // `--proxy-host` wins over the environment, as it does for the clients.
        let with_proxy = Options {
            http: HttpOpts {
                proxy_host: Some("proxy.corp".into()),
                ..Default::default()
            },
            ..lumu_to_apex
        };
        assert_eq!(
            hosts(with_proxy, &[("HTTPS_PROXY", "http://other.example:1")])[2],
            pair("--proxy-host", "proxy.corp")
        );
        // A TAXII job to Vision One: the region's host, the TAXII server; no Lumu.
        let taxii_to_v1 = Options {
            destination: crate::cli::DestinationOpts {
                sink: SinkKind::VisionOne,
            },
            vision_one: crate::cli::VisionOneOpts {
                v1_region: Some(Region::Eu),
                ..Default::default()
            },
            sync: SyncOpts {
                source: SourceKind::Taxii,
                ..Default::default()
            },
            taxii: TaxiiOpts {
                taxii_url: Some("https://[2001:db8::5]/taxii2/".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            hosts(taxii_to_v1, &[]),
            [
                pair("--v1-region eu", "api.eu.xdr.trendmicro.com"),
                pair("--taxii-url", "2001:db8::5"),
            ]
        );
        // A file job names no source server.
        let file_job = Options {
            sync: SyncOpts {
                source: SourceKind::File,
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(hosts(file_job, &[]).is_empty());
    }
}
