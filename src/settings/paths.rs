//! Where a job's files go: the lock, state and log files, by flag, else in the service
//! manager's folders ([`ServiceDirs`]), else beside the `.config` file, else here.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use anyhow::anyhow;

use super::Settings;
use crate::cli::{LockScope, LoggingMode, SinkKind};
use crate::exit::Failure;
use crate::logging::{LOG_FILE_NAME, LogTarget};

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

    /// `--state-file`, else `apex-ioc-sync-<tag>.db` in `$STATE_DIRECTORY`, else beside the
    /// config file, else here.
    pub fn state_path(&self, tag: &str) -> PathBuf {
        self.opts
            .sync
            .state_file
            .clone()
            .unwrap_or_else(|| self.job_file(tag, "db"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{ApexOpts, LoggingOpts, Options, SyncOpts, VisionOneOpts};
    use crate::config::ConfigFile;
    use crate::sink::vision_one::Region;

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
}
