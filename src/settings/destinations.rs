//! The destination of a job: Apex Central's client and sink, or Vision One's, each after
//! checking that no option of the other destination was given.

use anyhow::anyhow;

use super::Settings;
use crate::apex::client::ApexClient;
use crate::cli::SinkKind;
use crate::exit::Failure;
use crate::sink::apex::ApexSink;
use crate::sink::vision_one::{Region, VisionOneClient, VisionOneSink};

impl Settings {
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

    /// Apex Central as the destination: [`Settings::apex_client`], after checking that no
    /// Vision One option was given.
    pub fn apex_sink(&self) -> Result<ApexSink, Failure> {
        self.only_options_of(SinkKind::Apex)?;
        Ok(ApexSink::new(self.apex_client()?))
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
    pub(super) fn vision_one_base(&self) -> Result<String, Failure> {
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

#[cfg(test)]
mod tests {
    use crate::cli::{ApexOpts, Options};
    use crate::settings::tests::settings;

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
}
