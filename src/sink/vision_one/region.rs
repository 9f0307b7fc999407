//! Vision One's regional API hosts, and the checks on a base URL given by hand.

use std::fmt;

use url::Url;

/// A Vision One data centre. Each tenant lives in one region; its API token works only
/// against that region's host.
///
/// Source: Trend Vision One automation guide "Regional domains"
/// (<https://automation.trendmicro.com/xdr/Guides/Regional-domains>), as restated in
/// `shared/reference/vision-one.md`; the same hosts are built by Trend's Go client
/// (`trendmicro/vision-one-mcp-server`, `internal/v1client/v1client.go`, `getRegionURL`,
/// commit 720730a3): `api.xdr.trendmicro.com` for us, `api.xdr.trendmicro.co.jp` for jp,
/// `api.<region>.xdr.trendmicro.com` for the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Region {
    /// United States.
    #[value(verbatim_doc_comment)]
    Us,
    /// European Union (Germany).
    #[value(verbatim_doc_comment)]
    Eu,
    /// Japan.
    #[value(verbatim_doc_comment)]
    Jp,
    /// Singapore.
    #[value(verbatim_doc_comment)]
    Sg,
    /// Australia.
    #[value(verbatim_doc_comment)]
    Au,
    /// India.
    #[value(verbatim_doc_comment)]
    In,
    /// United Kingdom.
    #[value(verbatim_doc_comment)]
    Uk,
    /// Middle East and Africa (United Arab Emirates).
    #[value(verbatim_doc_comment)]
    Mea,
    /// United States government.
    #[value(verbatim_doc_comment)]
    Usgov,
}

impl Region {
    pub const ALL: [Region; 9] = [
        Region::Us,
        Region::Eu,
        Region::Jp,
        Region::Sg,
        Region::Au,
        Region::In,
        Region::Uk,
        Region::Mea,
        Region::Usgov,
    ];

    /// The region's name as `--v1-region` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Region::Us => "us",
            Region::Eu => "eu",
            Region::Jp => "jp",
            Region::Sg => "sg",
            Region::Au => "au",
            Region::In => "in",
            Region::Uk => "uk",
            Region::Mea => "mea",
            Region::Usgov => "usgov",
        }
    }

    /// The API host.
    pub fn host(self) -> &'static str {
        match self {
            Region::Us => "api.xdr.trendmicro.com",
            Region::Eu => "api.eu.xdr.trendmicro.com",
            Region::Jp => "api.xdr.trendmicro.co.jp",
            Region::Sg => "api.sg.xdr.trendmicro.com",
            Region::Au => "api.au.xdr.trendmicro.com",
            Region::In => "api.in.xdr.trendmicro.com",
            Region::Uk => "api.uk.xdr.trendmicro.com",
            Region::Mea => "api.mea.xdr.trendmicro.com",
            Region::Usgov => "api.usgov.xdr.trendmicro.com",
        }
    }

    /// `https://<host>`, the base every API path (`/v3.0/...`) is appended to.
    pub fn base_url(self) -> String {
        format!("https://{}", self.host())
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Checks a Vision One base URL given by hand (`--v1-url`) and returns it as
/// `scheme://host[:port]`.
///
/// The API token travels in every request, so plain `http` is accepted only for a loopback
/// host (the simulator, a local proxy); anything else must be `https`. A path, query or
/// user name is refused: the tool appends `/v3.0/...` itself.
pub fn parse_base_url(raw: &str) -> Result<Url, String> {
    let raw = raw.trim();
    // First, and never echoing them: the other messages quote the URL.
    crate::http::refuse_credentials(raw, "", "--v1-token").map_err(|_| {
        format!(
            "`{}`: leave credentials out of the URL; the token goes in --v1-token",
            crate::http::without_userinfo(raw)
        )
    })?;
    let url = Url::parse(raw).map_err(|e| {
        format!("`{raw}` is not a URL ({e}); give scheme and host, e.g. https://api.eu.xdr.trendmicro.com")
    })?;
    let Some(host) = url.host() else {
        return Err(format!("`{raw}` has no host name"));
    };
    match url.scheme() {
        "https" => {}
        "http" if crate::http::is_loopback(&host) => {}
        "http" => {
            return Err(format!(
                "`{raw}`: plain http would send the API token unencrypted; use https (http is for loopback only)"
            ));
        }
        other => return Err(format!("`{raw}`: the scheme must be https, not {other}")),
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{raw}`: give the server only (scheme, host and port), not a path such as /v3.0"
        ));
    }
    let mut base =
        Url::parse(&format!("{}://{}", url.scheme(), host)).map_err(|e| e.to_string())?;
    base.set_port(url.port())
        .map_err(|()| format!("`{raw}`: bad port"))?;
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_hosts() {
        let urls: Vec<String> = Region::ALL.iter().map(|r| r.base_url()).collect();
        assert_eq!(
            urls,
            [
                "https://api.xdr.trendmicro.com",
                "https://api.eu.xdr.trendmicro.com",
                "https://api.xdr.trendmicro.co.jp",
                "https://api.sg.xdr.trendmicro.com",
                "https://api.au.xdr.trendmicro.com",
                "https://api.in.xdr.trendmicro.com",
                "https://api.uk.xdr.trendmicro.com",
                "https://api.mea.xdr.trendmicro.com",
                "https://api.usgov.xdr.trendmicro.com",
            ]
        );
        // Every region's name is what clap takes.
        use clap::ValueEnum;
        for r in Region::ALL {
            assert_eq!(Region::from_str(r.name(), false), Ok(r));
            // And each region URL passes the hand-given URL check unchanged.
            assert_eq!(
                parse_base_url(&r.base_url()).unwrap().as_str(),
                format!("{}/", r.base_url())
            );
        }
    }

    #[test]
    fn hand_given_base_urls() {
        let ok = |s: &str| parse_base_url(s).unwrap().to_string();
        assert_eq!(
            ok("https://API.eu.xdr.trendmicro.com/"),
            "https://api.eu.xdr.trendmicro.com/"
        );
        assert_eq!(ok("https://v1.corp:8443"), "https://v1.corp:8443/");
        assert_eq!(ok("http://127.0.0.1:9000"), "http://127.0.0.1:9000/");
        assert_eq!(ok("http://[::1]:9000/"), "http://[::1]:9000/");
        assert_eq!(ok("http://localhost:9000"), "http://localhost:9000/");
        let err = |s: &str| parse_base_url(s).unwrap_err();
        assert!(err("http://api.xdr.trendmicro.com").contains("unencrypted"));
        assert!(err("ftp://x.example").contains("scheme"));
        assert!(err("https://api.xdr.trendmicro.com/v3.0").contains("path"));
        assert!(err("https://api.xdr.trendmicro.com/?a=1").contains("path"));
        let e = err("https://user:S3cret-pw@api.xdr.trendmicro.com");
        assert!(e.contains("credentials") && !e.contains("S3cret"), "{e}");
        assert!(err("api.xdr.trendmicro.com").contains("not a URL"));
    }
}
