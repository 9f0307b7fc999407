//! The HTTP settings of each server's client: the time-out and the proxy they share, and the
//! TLS options and redirects that belong to one server each; plain `http://` to another
//! machine is warned about.

use std::time::Duration;

use anyhow::anyhow;

use super::Settings;
use crate::exit::Failure;
use crate::http::{HttpSettings, ProxySettings};

impl Settings {
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

    /// The client settings for Vision One: the time-out and the proxy; TLS verified against
    /// the system's roots (a public service); no redirects (the API answers where it is
    /// asked, and the token must go to that host only).
    pub fn vision_one_http(&self) -> Result<HttpSettings, Failure> {
        Ok(HttpSettings {
            follow_redirects: false,
            ..self.base_http()?
        })
    }
}

/// Warns when `url` is plain `http://` to another machine: `credential` would cross the
/// network in clear text. Loopback (`127.0.0.0/8`, `::1`, `localhost`) is exempt: that
/// traffic never leaves the machine (rehearsals against `simulate`).
pub(super) fn warn_if_clear_text(url: &str, option: &str, credential: &str) {
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
    use std::path::Path;

    use super::*;
    use crate::cli::{ApexOpts, HttpOpts, Options, TaxiiOpts};
    use crate::secret::Secret;
    use crate::settings::tests::settings;

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
}
