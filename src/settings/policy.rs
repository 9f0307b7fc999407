//! What a job holds back and how it plans: the planner's policy (types, expiry, brakes) and
//! the exclusions (the built-in guard with this job's own hosts, the `--exclude` lists, the
//! `--hold` list).

use std::collections::HashSet;

use super::Settings;
use crate::cli::{SinkKind, SourceKind};
use crate::exit::Failure;
use crate::policy::Exclusions;
use crate::policy::builtin::OwnHost;
use crate::sync::plan::Policy;

impl Settings {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{ApexOpts, HttpOpts, Options, SyncOpts, TaxiiOpts};
    use crate::settings::tests::settings;
    use crate::sink::vision_one::Region;

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
