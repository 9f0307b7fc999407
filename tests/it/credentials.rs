//! Credentials go only where they belong: TLS options scoped to their server, the Lumu
//! company key never in an error, a log line or a redirect, and a warning when a credential
//! would travel in clear text. The real binary against the simulators over loopback.

use apex_ioc_sync::apex::udso::ScanAction;
use apex_ioc_sync::http::HttpSettings;
use apex_ioc_sync::secret::Secret;
use apex_ioc_sync::sim::BackgroundApex;
use apex_ioc_sync::sim::apex::ApexSimConfig;
use apex_ioc_sync::sim::lumu::{LumuSim, SimIncident};
use apex_ioc_sync::sim::taxii::{TaxiiSim, TaxiiSimConfig, indicator};
use apex_ioc_sync::source::lumu::{self, LumuSettings};
use axum::http::StatusCode;

use crate::common::*;

const COLLECTION: &str = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";

fn incident() -> SimIncident {
    SimIncident::open("i-1", chrono::Duration::hours(1), &["c2.example"], &["C2C"])
}

fn tls_apex(pki: &TestPki) -> BackgroundApex {
    BackgroundApex::start_with_tls(ApexSimConfig::random(), Some(pki.server_config())).unwrap()
}

/// `--ca-cert` and `--insecure` are Apex Central's: with either, a Lumu server whose
/// certificate only that CA vouches for is still refused.
#[test]
fn apex_tls_options_do_not_apply_to_lumu() {
    let pki = TestPki::new();
    let apex = tls_apex(&pki);
    let lumu_sim = LumuSim::new(&LumuSim::random_key());
    lumu_sim.add(incident());
    let lumu = serve_tls(lumu_sim.router(), &pki);
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let mut cmd = apex_cmd(dir.path(), &apex);
        cmd.args(["--lumu-url", &lumu.server.url()])
            .args(["--company-key", lumu_sim.company_key()])
            .args(extra);
        cmd.assert().code(1)
    };
    for extra in [&["--ca-cert", &pki.path("ca.pem")][..], &["--insecure"][..]] {
        let out = run(extra);
        let (_, stderr) = output_text(out.get_output());
        assert!(
            stderr.contains("cannot reach Lumu Defender")
                && stderr.to_lowercase().contains("certificate"),
            "{extra:?}: {stderr}"
        );
        assert!(!stderr.contains(lumu_sim.company_key()), "{stderr}");
    }
    assert_eq!(lumu.control.stats.total(), 0, "no request got through");
    assert!(apex.sim.all_entries().is_empty());
    assert!(apex.sim.control.stats.count("GET") >= 2, "Apex was reached");
}

/// TAXII has options of its own; Apex's do not reach it, and its own do not reach Apex.
#[test]
fn taxii_has_its_own_tls_options() {
    let pki = TestPki::new();
    let taxii_sim = TaxiiSim::new(TaxiiSimConfig {
        token: Some("t0ken".into()),
        ..TaxiiSimConfig::default()
    });
    taxii_sim.add_collection(COLLECTION, "Indicators", Some("hvi"), true);
    let when = chrono::Utc::now() - chrono::Duration::hours(2);
    taxii_sim.add_object(
        COLLECTION,
        when,
        indicator("indicator--a", "[ipv4-addr:value = '198.51.100.1']", when),
    );
    let taxii = serve_tls(taxii_sim.router(), &pki);
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let cmd = |extra: &[&str]| {
        let mut cmd = apex_cmd(dir.path(), &apex);
        cmd.args(["--source", "taxii", "--taxii-token", "t0ken"])
            .args(["--taxii-url", &format!("{}/taxii2/", taxii.server.url())])
            .args(["--state-file", dir.path().join("s.db").to_str().unwrap()])
            .args(extra);
        cmd
    };
    for extra in [
        &[][..],
        &["--ca-cert", &pki.path("ca.pem"), "--insecure"][..],
    ] {
        let out = cmd(extra).assert().code(1);
        let (_, stderr) = output_text(out.get_output());
        assert!(
            stderr.contains("cannot reach the TAXII server")
                && stderr.to_lowercase().contains("certificate"),
            "{extra:?}: {stderr}"
        );
    }
    assert!(apex.sim.all_entries().is_empty());
    cmd(&["--taxii-ca-cert", &pki.path("ca.pem")])
        .assert()
        .success();
    assert_eq!(owned(&apex, "taxii"), ["ip 198.51.100.1"]);
    let out = cmd(&["--taxii-insecure"]).assert().success();
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("the TAXII server's TLS certificate is NOT verified"),
        "{stderr}"
    );
    // From a .config file too.
    let config = dir.path().join("job.config");
    std::fs::write(
        &config,
        format!(
            "taxii-ca-cert={}\ntaxii-insecure=false\n",
            pki.path("ca.pem")
        ),
    )
    .unwrap();
    cmd(&["--config", config.to_str().unwrap()])
        .assert()
        .success();
    // And --taxii-ca-cert is no CA for Apex Central (`udso list` does not even take it:
    // a job's run against an Apex Central with that CA's certificate fails its access check).
    let tls = tls_apex(&pki);
    let list = dir.path().join("iocs.txt");
    std::fs::write(&list, "evil.example\n").unwrap();
    let out = apex_cmd(dir.path(), &tls)
        .args(["--source", "file", "--file", list.to_str().unwrap()])
        .args(["--taxii-ca-cert", &pki.path("ca.pem")])
        .assert()
        .code(1);
    let (_, stderr) = output_text(out.get_output());
    assert!(stderr.contains("cannot reach Apex Central"), "{stderr}");
    apex_run(dir.path(), &tls, &["udso", "list"])
        .args(["--taxii-ca-cert", &pki.path("ca.pem")])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("'--taxii-ca-cert'"));
}

/// A server that quotes the request's URL in its error (the key is in the query string):
/// neither the error, nor the log at the highest verbosity, nor standard output carries the
/// key, whether it is right or wrong, on a 4xx or on a 5xx given up after retries.
#[test]
fn a_server_echoing_the_url_never_makes_the_lumu_key_appear() {
    let (apex, lumu) = (start_apex(), start_lumu());
    lumu.sim.add(incident());
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.log");
    for (status, key) in [
        (StatusCode::BAD_REQUEST, lumu.sim.company_key().to_owned()),
        (StatusCode::BAD_GATEWAY, lumu.sim.company_key().to_owned()),
        (
            StatusCode::BAD_REQUEST,
            "Wr0ng/Key+With=Odd&Chars".to_owned(),
        ),
    ] {
        lumu.sim.echo_url_in_errors(Some(status));
        let out = apex_cmd(dir.path(), &apex)
            .args(["--lumu-url", &lumu.url(), "--company-key", &key, "-vv"])
            .args(["--log-file", log.to_str().unwrap(), "--logging", "screen"])
            .assert()
            .code(1);
        let (stdout, stderr) = output_text(out.get_output());
        assert!(
            stderr.contains("cannot serve /api/incidents/all?key=<redacted>"),
            "{stderr}"
        );
        let encoded: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
        for text in [&stdout, &stderr] {
            assert!(!text.contains(&key) && !text.contains(&encoded), "{text}");
        }
        // And in a log file.
        let out = apex_cmd(dir.path(), &apex)
            .args(["--lumu-url", &lumu.url(), "--company-key", &key, "-vv"])
            .args(["--log-file", log.to_str().unwrap()])
            .assert()
            .code(1);
        let (stdout, stderr) = output_text(out.get_output());
        let logged = std::fs::read_to_string(&log).unwrap();
        assert!(logged.contains("<redacted>"), "{logged}");
        for text in [&stdout, &stderr, &logged] {
            assert!(!text.contains(&key) && !text.contains(&encoded), "{text}");
        }
    }
    assert!(apex.sim.all_entries().is_empty());
}

/// The Lumu source itself never returns the key in an error (the binary redacts once more
/// before printing; this pins the source's own care).
#[test]
fn the_lumu_source_errors_never_hold_the_key() {
    let lumu = start_lumu();
    lumu.sim.echo_url_in_errors(Some(StatusCode::FORBIDDEN));
    let key = lumu.sim.company_key().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let settings = LumuSettings {
        url: lumu.url(),
        company_key: Secret::new(&key),
        days: 30,
        statuses: vec!["open".into()],
        adversary_types: vec![],
        scan_action: ScanAction::Block,
        max_context_calls: 1_000,
        max_run: std::time::Duration::from_secs(60),
        state_file: dir.path().join("state.db"),
        tag: "lumu".into(),
        dry_run: false,
    };
    let deadline = std::time::Instant::now() + settings.max_run;
    let error = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(lumu::pull(&settings, &HttpSettings::default(), deadline))
        .unwrap_err();
    let text = format!("{error:#} {error:?}");
    assert!(text.contains("HTTP 403"), "{text}");
    assert!(!text.contains(&key), "{text}");
}

/// A redirect would carry the key (in the URL) wherever the server points: it is not
/// followed, and the run says what to fix.
#[test]
fn lumu_redirects_are_not_followed() {
    let (apex, lumu, elsewhere) = (start_apex(), start_lumu(), start_lumu());
    lumu.sim.add(incident());
    lumu.sim.redirect_to(Some(&elsewhere.url()));
    let dir = tempfile::tempdir().unwrap();
    let out = lumu_cmd(dir.path(), &apex, &lumu).assert().code(1);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("with a redirect (HTTP 302 Found), which is not followed")
            && stderr.contains("--lumu-url"),
        "{stderr}"
    );
    assert!(!stderr.contains(lumu.sim.company_key()), "{stderr}");
    assert_eq!(
        elsewhere.sim.control.stats.total(),
        0,
        "the redirect target never saw the key"
    );
    assert!(apex.sim.all_entries().is_empty());
}

/// Plain http:// to another machine is warned about when a credential travels over it;
/// loopback (the simulators) is not.
#[test]
fn credentials_in_clear_text_are_warned_about() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    // A wrong API key stops the run at the access check, before any source request.
    let cases: [&[&str]; 2] = [
        &["--lumu-url", "http://lumu.invalid", "--company-key", "k"],
        &[
            "--source",
            "taxii",
            "--taxii-url",
            "http://taxii.invalid/taxii2/",
            "--taxii-token",
            "t",
        ],
    ];
    for (args, warning) in cases.iter().zip([
        "--lumu-url is plain http:// to lumu.invalid: the company key travels in clear text",
        "--taxii-url is plain http:// to taxii.invalid: the TAXII token travels in clear text",
    ]) {
        let out = apex_cmd(dir.path(), &apex)
            .args(["--api-key", "WRONG"])
            .args(*args)
            .assert()
            .code(1);
        let (_, stderr) = output_text(out.get_output());
        assert!(stderr.contains(warning), "{stderr}");
    }
    let lumu = start_lumu();
    lumu.sim.add(incident());
    let out = lumu_cmd(dir.path(), &apex, &lumu).assert().success();
    assert!(!output_text(out.get_output()).1.contains("plain http://"));
}

/// A server on loopback that answers every request with `status` and a JSON `body`.
fn canned_server(status: &'static str, body: String) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/taxii+json;version=2.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

/// A TAXII server whose error quotes the credential it was sent: the error the tool prints
/// quotes the server, and still no credential of the run appears (the last gate before
/// anything is printed or logged).
#[test]
fn a_server_quoting_a_credential_never_makes_it_appear() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    for (args, secret) in [
        (
            vec!["--taxii-token", "T0KEN-in-the-answer"],
            "T0KEN-in-the-answer",
        ),
        (
            vec![
                "--taxii-user",
                "u",
                "--taxii-password",
                "pa55word-in-the-answer",
            ],
            "pa55word-in-the-answer",
        ),
    ] {
        let server = canned_server(
            "401 Unauthorized",
            format!(
                r#"{{"title":"Unauthorized","description":"credential {secret} is not valid"}}"#
            ),
        );
        let out = apex_cmd(dir.path(), &apex)
            .args([
                "--source",
                "taxii",
                "--taxii-url",
                &format!("{server}/taxii2/"),
            ])
            .args(["--state-file", dir.path().join("s.db").to_str().unwrap()])
            .args(&args)
            .arg("-vv")
            .assert()
            .code(1);
        let (stdout, stderr) = output_text(out.get_output());
        assert!(
            stderr.contains("Unauthorized: credential <redacted> is not valid"),
            "{stderr}"
        );
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{stderr}"
        );
    }
}
