//! HTTP conventions in full (issue 19, item 2): proxy credentials byte for byte through a real
//! loopback proxy that checks `Proxy-Authorization` (`cases/http/20-proxy-password-percent`),
//! `NO_PROXY` by curl's rules, and `Retry-After` as an HTTP-date
//! (`cases/http/26-retry-after-http-date`).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;
use apex_ioc_sync::sim::proxy::ForwardProxy;
use apex_ioc_sync::sim::server::RetryAfterForm;
use apex_ioc_sync::sim::taxii::{TaxiiSimConfig, indicator};
use apex_ioc_sync::sim::{BackgroundApex, BackgroundTaxii};

/// The passwords of case 20: plain, every URL delimiter with `%41`, `%25`, and UTF-8.
const PASSWORDS: [&str; 4] = ["plain-Passw0rd", "Pa@ss:w0rd#7%41/x", "p%25x", "pässwörd€"];
const USER: &str = "svc-ioc";

const CASE20: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/cases/http/20-proxy-password-percent/iocs.txt"
);

/// Case 20's dry run through the proxy on `port`: the file job of one domain.
fn case20_run(dir: &Path, apex: &BackgroundApex, port: u16) -> assert_cmd::Command {
    let mut cmd = apex_cmd(dir, apex);
    cmd.args(["--source", "file", "--file", CASE20])
        .args(["--tag", "case20", "--dry-run"])
        .args([
            "--proxy-host",
            "127.0.0.1",
            "--proxy-port",
            &port.to_string(),
        ]);
    cmd
}

/// Every request reached the proxy with exactly `user:password`, and was let through.
fn assert_every_request_carried(proxy: &ForwardProxy, password: &str, requests: usize) {
    let seen = proxy.requests();
    assert_eq!(seen.len(), requests, "{seen:?}");
    for r in seen {
        assert_eq!(
            r.credentials.as_deref(),
            Some(format!("{USER}:{password}").as_str()),
            "{r:?}"
        );
        assert!(r.admitted, "{r:?}");
    }
}

#[test]
fn case20_the_proxy_password_arrives_byte_for_byte_from_the_flag_the_environment_and_the_config() {
    let apex = start_apex();
    for password in PASSWORDS {
        // From the flag.
        let proxy = ForwardProxy::start(Some((USER, password))).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = case20_run(dir.path(), &apex, proxy.port())
            .args(["--proxy-user", USER, "--proxy-password", password])
            .assert()
            .success();
        let (stdout, stderr) = output_text(out.get_output());
        assert!(
            stdout.contains("c2.proxy-case.example") && stdout.contains("plan +1"),
            "{stdout}"
        );
        assert!(!stdout.contains(password) && !stderr.contains(password));
        // The access check and the three lists.
        assert_every_request_carried(&proxy, password, 4);

        // From PROXY_PASSWORD.
        let proxy = ForwardProxy::start(Some((USER, password))).unwrap();
        case20_run(dir.path(), &apex, proxy.port())
            .args(["--proxy-user", USER])
            .env("PROXY_PASSWORD", password)
            .assert()
            .success();
        assert_every_request_carried(&proxy, password, 4);

        // From the .config file.
        let proxy = ForwardProxy::start(Some((USER, password))).unwrap();
        let config = dir.path().join("job.config");
        std::fs::write(
            &config,
            format!(
                "{}proxy-host=127.0.0.1\nproxy-port={}\nproxy-user={USER}\nproxy-password={password}\n",
                apex_config(&apex),
                proxy.port()
            ),
        )
        .unwrap();
        bin(dir.path())
            .args(["--config", config.to_str().unwrap()])
            .args(["--source", "file", "--file", CASE20])
            .args(["--tag", "case20", "--dry-run"])
            .assert()
            .success();
        assert_every_request_carried(&proxy, password, 4);
    }
}

#[test]
fn the_password_reaches_the_proxy_through_a_connect_tunnel_too() {
    let pki = TestPki::new();
    let apex = BackgroundApex::start_with_tls(
        apex_ioc_sync::sim::apex::ApexSimConfig::random(),
        Some(pki.server_config()),
    )
    .unwrap();
    let password = PASSWORDS[1];
    let proxy = ForwardProxy::start(Some((USER, password))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    apex_run(dir.path(), &apex, &["udso", "list"])
        .args(["--type", "ip", "--ca-cert", &pki.path("ca.pem")])
        .args(["--proxy-host", "127.0.0.1"])
        .args(["--proxy-port", &proxy.port().to_string()])
        .args(["--proxy-user", USER, "--proxy-password", password])
        .assert()
        .success();
    let seen = proxy.requests();
    assert!(
        !seen.is_empty() && seen.iter().all(|r| r.method == "CONNECT" && r.admitted),
        "{seen:?}"
    );
    assert_eq!(
        seen[0].credentials.as_deref(),
        Some(format!("{USER}:{password}").as_str())
    );

    // A wrong password: the tunnel is refused, and the error says so, naming the proxy.
    let out = apex_run(dir.path(), &apex, &["udso", "list"])
        .args(["--type", "ip", "--ca-cert", &pki.path("ca.pem")])
        .args(["--proxy-host", "127.0.0.1"])
        .args(["--proxy-port", &proxy.port().to_string()])
        .args(["--proxy-user", USER, "--proxy-password", "Wr0ng%41"])
        .assert()
        .code(1);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains(&format!(
            "the proxy 127.0.0.1:{} refused the credentials",
            proxy.port()
        )) && stderr.contains("--proxy-password")
            && !stderr.contains("Wr0ng"),
        "{stderr}"
    );
}

#[test]
fn a_407_names_the_proxy_says_the_credentials_were_refused_and_never_shows_the_password() {
    let apex = start_apex();
    let proxy = ForwardProxy::start(Some((USER, "the-right-one"))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = case20_run(dir.path(), &apex, proxy.port())
        .args([
            "--proxy-user",
            USER,
            "--proxy-password",
            "Pa@ss:w0rd#7%41/x",
        ])
        .assert()
        .code(1);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains(&format!(
            "the proxy 127.0.0.1:{} refused the credentials sent for GET /WebApp/api/SuspiciousObjects/UserDefinedSO/",
            proxy.port()
        )) && stderr.contains("HTTP 407")
            && stderr.contains("check --proxy-user and --proxy-password"),
        "{stderr}"
    );
    assert!(!stderr.contains("w0rd"), "{stderr}");
    // Not retried: a refused credential does not get better.
    assert_eq!(proxy.requests().len(), 1);

    // No credentials at all: the proxy asks for some.
    let out = case20_run(dir.path(), &apex, proxy.port()).assert().code(1);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains(&format!(
            "the proxy 127.0.0.1:{} asks for credentials",
            proxy.port()
        )) && stderr.contains("give --proxy-user and --proxy-password"),
        "{stderr}"
    );
}

/// `udso list --type ip` against `apex` at `host` (`127.0.0.1` or `localhost`), with the
/// environment's proxy set to `proxy` and `NO_PROXY` to `no_proxy`: how many requests the
/// proxy saw.
fn through_proxy(apex: &BackgroundApex, host: &str, no_proxy: &str) -> usize {
    let proxy = ForwardProxy::start(None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = apex.url().replace("127.0.0.1", host);
    let c = apex.sim.config();
    bin(dir.path())
        .args(["udso", "list", "--type", "ip"])
        .args(["--host", &url, "--application-id", &c.app_id])
        .env("APEX_API_KEY", &c.api_key)
        .env("HTTP_PROXY", format!("http://127.0.0.1:{}", proxy.port()))
        .env("NO_PROXY", no_proxy)
        .assert()
        .success();
    proxy.requests().len()
}

#[test]
fn no_proxy_star_alone_or_in_a_list_means_every_host_addresses_included() {
    let apex = start_apex();
    // The control: the proxy is used.
    assert_eq!(through_proxy(&apex, "127.0.0.1", ""), 1);
    for no_proxy in ["*", "localhost, *", "*,intranet.example"] {
        assert_eq!(through_proxy(&apex, "127.0.0.1", no_proxy), 0, "{no_proxy}");
    }
}

#[test]
fn no_proxy_names_match_themselves_and_their_subdomains_only() {
    let apex = start_apex();
    for (no_proxy, direct) in [
        ("localhost", true),
        (".localhost", true),
        ("LOCALHOST.", true),
        ("other.example,localhost", true),
        ("calhost", false),
        ("127.0.0.0/8", false),
    ] {
        let proxied = through_proxy(&apex, "localhost", no_proxy);
        assert_eq!(
            proxied == 0,
            direct,
            "NO_PROXY={no_proxy}: {proxied} proxied"
        );
    }
    // An address host is matched by addresses and networks.
    assert_eq!(through_proxy(&apex, "127.0.0.1", "127.0.0.0/8"), 0);
    assert_eq!(through_proxy(&apex, "127.0.0.1", "127.0.0.2"), 1);
}

#[test]
fn no_proxy_applies_to_the_proxy_flags_too() {
    let apex = start_apex();
    let proxy = ForwardProxy::start(None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    apex_run(dir.path(), &apex, &["udso", "list"])
        .args(["--type", "ip", "--proxy-host", "127.0.0.1"])
        .args(["--proxy-port", &proxy.port().to_string()])
        .env("NO_PROXY", "127.0.0.1")
        .assert()
        .success();
    assert_eq!(proxy.requests().len(), 0, "as curl does, NO_PROXY wins");
}

const COLLECTION: &str = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";

/// Case 26's TAXII server: one indicator, its objects endpoint rate limited for `window`
/// from the first request, `Retry-After` in `form`.
fn rate_limited_feed(window: Duration, form: RetryAfterForm) -> BackgroundTaxii {
    let taxii = start_taxii(TaxiiSimConfig::default());
    taxii.sim.add_collection(COLLECTION, "feed", None, true);
    let added = chrono::Utc::now() - chrono::Duration::hours(1);
    taxii.sim.add_object(
        COLLECTION,
        added,
        indicator(
            "indicator--0d9c8b7a-0000-4000-8000-000000000001",
            "[domain-name:value = 'rate-limited-c2.example']",
            added,
        ),
    );
    taxii
        .sim
        .control
        .faults
        .rate_limit_window("/objects/", window, form);
    taxii
}

/// Case 26's dry run: the time it took, its output, and how many objects requests the
/// server got.
fn case26_run(window: Duration, form: RetryAfterForm, code: i32) -> (Duration, String, usize) {
    let apex = start_apex();
    let taxii = rate_limited_feed(window, form);
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = taxii_cmd(dir.path(), &apex, &taxii)
        .args(["--tag", "case26", "--dry-run"])
        .assert()
        .code(code);
    let elapsed = started.elapsed();
    let (stdout, stderr) = output_text(out.get_output());
    let requests = taxii.sim.objects_requests().len()
        + taxii.sim.control.faults.rate_limited_answers() as usize;
    (elapsed, format!("{stdout}{stderr}"), requests)
}

#[test]
fn case26_an_http_date_retry_after_is_waited_until_not_polled() {
    // Scaled down from the case's 20 s: the same shape, a 3 s window.
    for form in [RetryAfterForm::HttpDate, RetryAfterForm::Seconds] {
        let (elapsed, output, requests) = case26_run(Duration::from_secs(3), form.clone(), 0);
        assert!(
            output.contains("rate-limited-c2.example") && output.contains("plan +1"),
            "{output}"
        );
        // One 429, one wait until the date, one successful request: not a poll a second.
        assert_eq!(requests, 2, "{form:?}: {output}");
        assert!(elapsed >= Duration::from_secs(3), "{form:?}: {elapsed:?}");
    }
}

#[test]
fn case26_a_wait_past_five_minutes_fails_at_once_with_the_real_wait() {
    let (elapsed, output, requests) =
        case26_run(Duration::from_secs(400), RetryAfterForm::HttpDate, 1);
    assert_eq!(requests, 1, "{output}");
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
    // The server asked for about 400 s (the date is rounded up to the next second).
    let asked = output
        .split("asks to wait ")
        .nth(1)
        .and_then(|rest| rest.split('s').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no wait in: {output}"));
    assert!((395..=402).contains(&asked), "{output}");
    assert!(
        output.contains("the TAXII server asks to wait") && output.contains("longer than the 300s"),
        "{output}"
    );
}

#[test]
fn an_unreadable_retry_after_is_warned_about_and_backed_off() {
    let (_, output, requests) = case26_run(
        Duration::from_secs(2),
        RetryAfterForm::Text("after the storm".into()),
        0,
    );
    assert!(
        output.contains("`Retry-After: after the storm`")
            && output.contains("neither seconds nor an HTTP date")
            && output.contains("the normal back-off"),
        "{output}"
    );
    // The back-off (250 ms doubling) is no poll a second either: a handful of tries in 2 s.
    assert!((2..=6).contains(&requests), "{requests}: {output}");
}
