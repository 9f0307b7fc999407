//! What each source reads (Lumu Defender, a TAXII server, files), checked: a missing or
//! inconsistent option is a usage error that names it, and its `.config` line.

use anyhow::anyhow;

use super::Settings;
use super::clients::warn_if_clear_text;
use crate::cli::{MAX_LUMU_DAYS, SourceKind};
use crate::exit::Failure;
use crate::source::file::FileSettings;
use crate::source::lumu::LumuSettings;
use crate::source::taxii::{TaxiiAuth, TaxiiSettings};

impl Settings {
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
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use super::*;
    use crate::cli::{FileOpts, LumuOpts, Options, SyncOpts, TaxiiOpts};
    use crate::config::ConfigFile;
    use crate::secret::Secret;
    use crate::settings::tests::settings;

    /// The Lumu options with a company key.
    fn lumu_key() -> LumuOpts {
        LumuOpts {
            company_key: Some(Secret::new("k")),
            ..Default::default()
        }
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
}
