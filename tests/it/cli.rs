//! The real binary against the simulated Apex Central over loopback HTTP(S).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use crate::common::{
    TestPki, apex_cmd, apex_config, apex_run, bin, entry, output_text, start_apex, start_lumu,
};
use apex_ioc_sync::lock::InstanceLock;
use apex_ioc_sync::sim::BackgroundApex;
use apex_ioc_sync::sim::apex::ApexSimConfig;
use apex_ioc_sync::sim::lumu::SimIncident;
use apex_ioc_sync::sim::server::tls_config;
use serde_json::Value;

/// Entries of several owners, as a shared list holds them.
fn seed(apex: &BackgroundApex) {
    for e in [
        entry("ip", "10.0.0.1", "apex-ioc-sync:lumu C2C incident 1"),
        entry("domain", "c2.example", "apex-ioc-sync:lumu Malware"),
        entry("url", "https://c2.example/x?a=1&b=2", "apex-ioc-sync:lumu"),
        entry(
            "file_sha1",
            "73d95a30c812d9cff0eaf37a686fdfef8f9ca531",
            "apex-ioc-sync:lumu",
        ),
        entry("ip", "10.0.0.2", "apex-ioc-sync:taxii indicator--1"),
        entry("ip", "10.0.0.3", "blocked by hand after the March incident"),
        entry("domain", "lumu.example", "see apex-ioc-sync:lumu"),
        entry("domain", "other.example", "apex-ioc-sync:lumu2"),
    ] {
        apex.sim.insert(e);
    }
}

fn contents(apex: &BackgroundApex) -> Vec<String> {
    let mut c: Vec<String> = apex
        .sim
        .all_entries()
        .into_iter()
        .map(|e| e.content)
        .collect();
    c.sort();
    c
}

#[test]
fn udso_list_prints_a_table_marking_our_entries() {
    let apex = start_apex();
    seed(&apex);
    let dir = tempfile::tempdir().unwrap();
    let out = apex_run(dir.path(), &apex, &["udso", "list"])
        .assert()
        .success();
    let (stdout, _) = output_text(out.get_output());
    let row = |content: &str| {
        stdout
            .lines()
            .find(|l| l.contains(content))
            .unwrap_or_else(|| panic!("{content} in\n{stdout}"))
            .to_owned()
    };
    assert!(row("10.0.0.1").contains("ours:lumu"));
    assert!(row("10.0.0.2").contains("ours:taxii"));
    assert!(!row("10.0.0.3").contains("ours:"));
    assert!(!row("lumu.example").contains("ours:"));
    assert!(row("other.example").contains("ours:lumu2"));
    assert!(stdout.contains("8 entries (domain 3, file_sha1 1, ip 3, url 1); 6 carry an apex-ioc-sync tag (lumu 4, lumu2 1, taxii 1)"));
}

#[test]
fn udso_list_json_and_type_filter() {
    let apex = start_apex();
    seed(&apex);
    let dir = tempfile::tempdir().unwrap();
    let out = apex_run(dir.path(), &apex, &["udso", "list"])
        .args(["--type", "ip", "--json"])
        .assert()
        .success();
    let listed: Vec<Value> = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(listed.len(), 3);
    let first = listed.iter().find(|e| e["content"] == "10.0.0.1").unwrap();
    assert_eq!(first["owner_tag"], "lumu");
    assert_eq!(first["type"], "ip");
    let manual = listed.iter().find(|e| e["content"] == "10.0.0.3").unwrap();
    assert!(manual["owner_tag"].is_null());
    assert_eq!(apex.sim.control.stats.count("GET"), 1);
}

#[test]
fn wrong_api_key_is_a_clear_auth_error_without_the_key() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let c = apex.sim.config();
    let out = bin(dir.path())
        .args([
            "udso",
            "list",
            "--host",
            &apex.url(),
            "--application-id",
            &c.app_id,
        ])
        .args(["--api-key", "WRONG-KEY-d0e5f1"])
        .assert()
        .code(1);
    let (stdout, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("HTTP 401, error 19 (invalid signature)") && stderr.contains("--api-key"),
        "{stderr}"
    );
    assert!(!stderr.contains("WRONG-KEY-d0e5f1") && !stdout.contains("WRONG-KEY-d0e5f1"));
    // Auth errors are not retried.
    assert_eq!(apex.sim.control.stats.total(), 1);
}

#[test]
fn wrong_application_id_names_the_flag() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let out = bin(dir.path())
        .args([
            "udso",
            "list",
            "--host",
            &apex.url(),
            "--application-id",
            "NOPE",
        ])
        .env("APEX_API_KEY", &apex.sim.config().api_key)
        .assert()
        .code(1);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("error 17 (invalid application ID)") && stderr.contains("--application-id"),
        "{stderr}"
    );
}

#[test]
fn missing_settings_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin(dir.path()).args(["udso", "list"]).assert().code(2);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("no Apex Central server: give --host"),
        "{stderr}"
    );

    // Past any source's range (Lumu's own 30 days: see taxii_state).
    let out = bin(dir.path()).args(["--days", "3651"]).assert().code(2);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("--days") && stderr.contains("3651"),
        "{stderr}"
    );

    bin(dir.path()).args(["--no-such-flag"]).assert().code(2);
    bin(dir.path())
        .args([
            "udso",
            "list",
            "--host",
            "ftp://x",
            "--application-id",
            "a",
            "--api-key",
            "k",
        ])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("scheme"));
}

#[test]
fn an_unreachable_server_fails_with_exit_1_naming_the_request() {
    // A port that was free a moment ago.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let out = bin(dir.path())
        .args([
            "udso",
            "list",
            "--type",
            "ip",
            "--host",
            &format!("http://127.0.0.1:{port}"),
        ])
        .args(["--application-id", "a", "--api-key", "k", "--timeout", "2"])
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(1);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains(
            "cannot reach Apex Central for GET /WebApp/api/SuspiciousObjects/UserDefinedSO/?type=ip"
        ),
        "{stderr}"
    );
}

#[test]
fn both_spellings_of_lumu_flags_are_accepted() {
    let (apex, lumu) = (start_apex(), start_lumu());
    lumu.sim.add(SimIncident::open(
        "i-1",
        chrono::Duration::hours(1),
        &["c2.spelling.example"],
        &["C2C"],
    ));
    let dir = tempfile::tempdir().unwrap();
    let c = apex.sim.config();
    // The sync job, as Lumu's script is run.
    let out = bin(dir.path())
        .args(["--host", &apex.url()])
        .args(["--application_id", &c.app_id, "--api_key", &c.api_key])
        .args([
            "--lumu_url",
            &lumu.url(),
            "--company_key",
            lumu.sim.company_key(),
        ])
        .args([
            "--ioc_types",
            "domain",
            "--scan_action",
            "log",
            "--preserve_iocs",
            "--no_expiration_date",
            "--adversary_types",
            "C2C",
        ])
        .assert()
        .success();
    let stdout = output_text(out.get_output()).0;
    assert!(stdout.contains("plan +1 ~0 -0 =0"), "{stdout}");
    let entries = apex.sim.all_entries();
    let added = entries
        .iter()
        .find(|e| e.content == "c2.spelling.example")
        .unwrap();
    assert_eq!(
        (added.scan_action.as_str(), &added.expiration_utc_date),
        ("log", &None)
    );
    // And a subcommand, with the options it takes.
    bin(dir.path())
        .args(["udso", "list", "--host", &apex.url()])
        .args(["--application_id", &c.app_id, "--api_key", &c.api_key])
        .assert()
        .success();
}

#[test]
fn config_file_supplies_options_and_bad_lines_are_named() {
    let apex = start_apex();
    seed(&apex);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join(".config");
    std::fs::write(&config, format!("# rehearsal\n{}", apex_config(&apex))).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    // ./.config is read without --config.
    let out = bin(dir.path()).args(["udso", "list"]).assert().success();
    let (stdout, stderr) = output_text(out.get_output());
    assert!(stdout.contains("8 entries"), "{stdout}");
    assert!(!stderr.contains("chmod"), "{stderr}");

    std::fs::write(&config, "host=x\n\nscan-action=maybe\n").unwrap();
    let out = bin(dir.path()).args(["udso", "list"]).assert().code(2);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.starts_with("Error: .config:3: `scan-action`"),
        "{stderr}"
    );
    assert!(stderr.contains("maybe"), "{stderr}");

    let other = dir.path().join("job.config");
    std::fs::write(&other, "hots=x\n").unwrap();
    let out = bin(dir.path())
        .args(["udso", "list", "--config", other.to_str().unwrap()])
        .assert()
        .code(2);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("job.config:1: unknown option `hots`"),
        "{stderr}"
    );
}

#[cfg(unix)]
#[test]
fn a_config_with_secrets_readable_by_others_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let c = apex.sim.config();
    let config = dir.path().join(".config");
    std::fs::write(&config, apex_config(&apex)).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = bin(dir.path()).args(["udso", "list"]).assert().success();
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("holds api-key and can be read by other users")
            && stderr.contains("chmod 600"),
        "{stderr}"
    );
    assert!(!stderr.contains(&c.api_key));
}

#[test]
fn clean_removes_only_this_tags_entries() {
    let apex = start_apex();
    seed(&apex);
    let dir = tempfile::tempdir().unwrap();
    let before = contents(&apex);

    // A dry run lists what it would remove and writes nothing.
    let out = apex_cmd(dir.path(), &apex)
        .args(["--clean", "--dry-run"])
        .assert()
        .success();
    let (stdout, _) = output_text(out.get_output());
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("- ")).count(),
        4,
        "{stdout}"
    );
    assert_eq!(apex.sim.control.stats.count("DELETE"), 0);
    assert_eq!(contents(&apex), before);

    let out = apex_cmd(dir.path(), &apex)
        .args(["--clean", "--json"])
        .assert()
        .success();
    let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["tag"], "lumu");
    assert_eq!(report["deleted"], 4);
    assert_eq!(report["owned"]["ip"], 1);
    assert_eq!(report["failed"].as_array().unwrap().len(), 0);
    assert_eq!(
        contents(&apex),
        ["10.0.0.2", "10.0.0.3", "lumu.example", "other.example"]
    );

    // Again: nothing is left to remove.
    let out = apex_cmd(dir.path(), &apex)
        .args(["--clean", "--json"])
        .assert()
        .success();
    let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["deleted"], 0);

    // Another tag's turn.
    apex_cmd(dir.path(), &apex)
        .args(["--clean", "--tag", "taxii"])
        .assert()
        .success();
    assert_eq!(
        contents(&apex),
        ["10.0.0.3", "lumu.example", "other.example"]
    );
}

#[test]
fn clean_converges_through_injected_faults() {
    let apex = start_apex();
    for i in 0..40 {
        apex.sim
            .insert(entry("ip", &format!("10.1.0.{i}"), "apex-ioc-sync:lumu"));
    }
    apex.sim.insert(entry("ip", "10.2.0.1", "manual"));
    let faults = &apex.sim.control.faults;
    faults.first_try_only(true);
    faults.error_5xx_every(3);
    faults.error_429_every(5, 1);
    faults.drop_every(7);
    faults.set_latency(std::time::Duration::from_millis(10));
    let dir = tempfile::tempdir().unwrap();
    apex_cmd(dir.path(), &apex)
        .args(["--clean", "--threads", "8"])
        .assert()
        .success();
    assert_eq!(contents(&apex), ["10.2.0.1"]);
    assert!(
        apex.sim.control.stats.count("DELETE") > 40,
        "faults were injected"
    );
}

#[test]
fn writes_that_keep_failing_exit_4_and_the_rest_go_on() {
    let apex = start_apex();
    for i in 0..6 {
        apex.sim.insert(entry(
            "domain",
            &format!("d{i}.example"),
            "apex-ioc-sync:lumu",
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    // The server goes down after the four lists: the deletes run out of tries.
    apex.sim.control.faults.error_5xx_after(4);
    let out = apex_cmd(dir.path(), &apex)
        .args(["--clean", "--json", "--threads", "6"])
        .assert()
        .code(4);
    let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let failed = report["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 6);
    assert_eq!(report["deleted"], 0);
    assert!(
        failed[0]["error"].as_str().unwrap().contains("HTTP 503"),
        "{failed:?}"
    );
}

#[test]
fn a_second_instance_exits_3_and_a_stale_lock_file_does_not_block() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join(".config");
    let c = apex.sim.config();
    std::fs::write(
        &config,
        format!("host={}\napplication-id={}\n", apex.url(), c.app_id),
    )
    .unwrap();
    let lock_path = dir.path().join("apex-ioc-sync-lumu.lock");

    // Another instance (this test) holds the default lock of tag lumu.
    let held = InstanceLock::acquire(&lock_path).unwrap();
    let out = bin(dir.path())
        .args(["--clean", "--config", config.to_str().unwrap()])
        .env("APEX_API_KEY", &c.api_key)
        .assert()
        .code(3);
    let (_, stderr) = output_text(out.get_output());
    assert_eq!(stderr, "Error: Another instance is running. Quitting.\n");
    assert_eq!(apex.sim.control.stats.total(), 0, "nothing was done");

    // A job with another tag has its own lock.
    bin(dir.path())
        .args([
            "--clean",
            "--tag",
            "soc",
            "--config",
            config.to_str().unwrap(),
        ])
        .env("APEX_API_KEY", &c.api_key)
        .assert()
        .success();

    // The holder dies; its lock file stays behind and does not block.
    drop(held);
    assert!(lock_path.exists());
    bin(dir.path())
        .args(["--clean", "--config", config.to_str().unwrap()])
        .env("APEX_API_KEY", &c.api_key)
        .assert()
        .success();

    // --lock-file moves it.
    let custom = dir.path().join("custom.lock");
    let _held = InstanceLock::acquire(&custom).unwrap();
    apex_cmd(dir.path(), &apex)
        .args(["--clean", "--lock-file", custom.to_str().unwrap()])
        .assert()
        .code(3);
}

#[test]
fn tls_is_verified_unless_insecure_and_ca_cert_adds_a_root() {
    let pki = TestPki::new();
    let tls = tls_config(
        pki.path("server.pem").as_ref(),
        pki.path("server.key").as_ref(),
    )
    .unwrap();
    let apex = BackgroundApex::start_with_tls(ApexSimConfig::random(), Some(tls)).unwrap();
    assert!(apex.url().starts_with("https://127.0.0.1:"));
    let dir = tempfile::tempdir().unwrap();

    let out = apex_run(dir.path(), &apex, &["udso", "list"])
        .assert()
        .code(1);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("cannot reach Apex Central")
            && stderr.to_lowercase().contains("certificate"),
        "{stderr}"
    );
    assert_eq!(apex.sim.control.stats.total(), 0, "no request got through");

    apex_run(dir.path(), &apex, &["udso", "list"])
        .args(["--ca-cert", &pki.path("ca.pem")])
        .assert()
        .success();

    let out = apex_run(dir.path(), &apex, &["udso", "list"])
        .args(["--insecure"])
        .assert()
        .success();
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("Apex Central's TLS certificate is NOT verified"),
        "{stderr}"
    );

    // A file that is not a certificate is a usage error naming it.
    let out = apex_run(dir.path(), &apex, &["udso", "list"])
        .args(["--ca-cert", &pki.path("server.key")])
        .assert()
        .code(2);
    let (_, stderr) = output_text(out.get_output());
    assert!(stderr.contains("server.key"), "{stderr}");
}

/// A forward proxy for plain HTTP that records each connection's first request head and
/// relays the bytes both ways.
fn recording_proxy() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { break };
            let seen = seen.clone();
            thread::spawn(move || relay(client, &seen));
        }
    });
    (port, heads)
}

fn relay(client: TcpStream, seen: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    seen.lock().unwrap().push(head.clone());
    // "GET http://127.0.0.1:PORT/path HTTP/1.1": connect to the authority.
    let target = head.split_whitespace().nth(1).unwrap();
    let authority = target
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let mut upstream = TcpStream::connect(authority).unwrap();
    upstream.write_all(head.as_bytes()).unwrap();
    let buffered = reader.buffer().to_vec();
    upstream.write_all(&buffered).unwrap();
    let mut up_read = upstream.try_clone().unwrap();
    let mut down = client.try_clone().unwrap();
    thread::spawn(move || {
        let _ = std::io::copy(&mut up_read, &mut down);
    });
    let mut rest = reader.into_inner();
    let mut buf = [0u8; 8192];
    loop {
        match rest.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if upstream.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
}

#[test]
fn proxy_flags_route_requests_through_the_proxy_with_auth() {
    let apex = start_apex();
    let (port, heads) = recording_proxy();
    let dir = tempfile::tempdir().unwrap();
    let out = apex_run(dir.path(), &apex, &["udso", "list"])
        .args(["--type", "url", "-vv"])
        .args([
            "--proxy-host",
            "127.0.0.1",
            "--proxy-port",
            &port.to_string(),
        ])
        .args(["--proxy-user", "alice"])
        .env("PROXY_PASSWORD", "pr0xy-s3cret")
        .assert()
        .success();
    let heads = heads.lock().unwrap();
    assert_eq!(heads.len(), 1, "{heads:?}");
    let head = &heads[0];
    assert!(
        head.starts_with(&format!(
            "GET {}/WebApp/api/SuspiciousObjects/UserDefinedSO/?type=url HTTP/1.1",
            apex.url()
        )),
        "{head}"
    );
    // alice:pr0xy-s3cret
    assert!(
        head.contains("proxy-authorization: Basic YWxpY2U6cHIweHktczNjcmV0"),
        "{head}"
    );
    let (stdout, stderr) = output_text(out.get_output());
    assert!(!stdout.contains("pr0xy-s3cret") && !stderr.contains("pr0xy-s3cret"));
}

#[test]
fn the_environment_proxy_is_used_when_no_proxy_flag_is_given() {
    let apex = start_apex();
    let (port, heads) = recording_proxy();
    let dir = tempfile::tempdir().unwrap();
    apex_run(dir.path(), &apex, &["udso", "list"])
        .args(["--type", "ip"])
        .env("HTTP_PROXY", format!("http://127.0.0.1:{port}"))
        .assert()
        .success();
    assert_eq!(heads.lock().unwrap().len(), 1);
}

#[test]
fn secrets_never_reach_output_logs_or_json() {
    let apex = start_apex();
    seed(&apex);
    let dir = tempfile::tempdir().unwrap();
    let c = apex.sim.config();
    let log = dir.path().join("run.log");
    let secrets = [
        c.api_key.as_str(),
        "pr0xy-s3cret",
        "lumu-c0mpany-key",
        "taxii-t0ken",
    ];
    let check = |out: &std::process::Output| {
        let (stdout, stderr) = output_text(out);
        let logged = std::fs::read_to_string(&log).unwrap_or_default();
        for text in [&stdout, &stderr, &logged] {
            for secret in secrets {
                assert!(!text.contains(secret), "{secret} leaked into:\n{text}");
            }
            // Every JWT starts with the base64 of `{"`.
            assert!(!text.contains("eyJ"), "a token leaked into:\n{text}");
        }
    };
    // `command` first: options follow the command they belong to.
    let run = |command: &[&str], args: &[&str], code: i32| {
        let mut cmd = bin(dir.path());
        cmd.args(command)
            .args(["--host", &apex.url(), "--application-id", &c.app_id, "-vv"]);
        if command.is_empty() {
            cmd.args([
                "--company-key",
                "lumu-c0mpany-key",
                "--taxii-token",
                "taxii-t0ken",
            ]);
        } else {
            // A command of Apex Central's own takes no Lumu or TAXII option: the secrets
            // sit in the environment, unread.
            cmd.env("LUMU_COMPANY_KEY", "lumu-c0mpany-key")
                .env("TAXII_TOKEN", "taxii-t0ken");
        }
        let out = cmd
            .args(args)
            .env("APEX_API_KEY", &c.api_key)
            .env("PROXY_PASSWORD", "pr0xy-s3cret")
            .assert()
            .code(code);
        check(out.get_output());
    };
    run(&["udso", "list"], &[], 0);
    run(&["udso", "list"], &["--json"], 0);
    run(&[], &["--clean", "--dry-run", "--json"], 0);
    run(
        &[],
        &[
            "--logging",
            "file",
            "--log-file",
            log.to_str().unwrap(),
            "--clean",
        ],
        0,
    );
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("clean tag=lumu")
    );
    // A failing run's error, in the log and on screen.
    run(
        &["udso", "list"],
        &[
            "--logging",
            "file",
            "--log-file",
            log.to_str().unwrap(),
            "--application-id",
            "x",
        ],
        1,
    );
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("invalid application ID")
    );
    // Help shows which variables are read, never their values.
    let out = bin(dir.path())
        .arg("--help")
        .env("APEX_API_KEY", &c.api_key)
        .assert()
        .success();
    check(out.get_output());
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("APEX_API_KEY"));
}

/// `simulate` prints working options for all three simulators; a Lumu job and a TAXII job
/// run against them.
#[test]
fn simulate_serves_apex_lumu_and_taxii_with_printed_options() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    /// The simulators stop when the test ends, passed or failed (a simulator left running
    /// would hold the test run's output open).
    struct Stopped(std::process::Child);
    impl Drop for Stopped {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut sim = Stopped(
        Command::new(assert_cmd::cargo::cargo_bin("apex-ioc-sync"))
            .arg("simulate")
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut options = std::collections::HashMap::new();
    let mut taxii_url = String::new();
    let mut lines = BufReader::new(sim.0.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.split("(discovery ").nth(1) {
            taxii_url = rest.split(',').next().unwrap().to_owned();
        }
        if let Some((k, v)) = line.trim().split_once('=')
            && line.starts_with("  ")
        {
            options.insert(k.to_owned(), v.to_owned());
        }
        if line.starts_with("For example") {
            break;
        }
    }
    // Keep reading, as a person's terminal would.
    let drain = thread::spawn(move || lines.count());
    let apex = [
        "--host",
        &options["host"],
        "--application-id",
        &options["application-id"],
    ];
    // `command` first: options follow the command they belong to.
    let run = |command: &[&str], args: &[&str]| {
        bin(dir.path())
            .args(command)
            .args(apex)
            .args(args)
            .env("APEX_API_KEY", &options["api-key"])
            .assert()
    };
    run(
        &[],
        &[
            "--lumu-url",
            &options["lumu-url"],
            "--company-key",
            &options["company-key"],
        ],
    )
    .success();
    run(
        &[],
        &[
            "--source",
            "taxii",
            "--taxii-url",
            &taxii_url,
            "--ioc-types",
            "ip,domain,url,hash",
        ],
    )
    .success();
    let out = run(&["udso", "list"], &[]).success();
    let (stdout, _) = output_text(out.get_output());
    drop(sim);
    drain.join().unwrap();
    assert!(
        stdout.contains("ours:lumu") && stdout.contains("ours:taxii"),
        "{stdout}"
    );
    assert!(
        stdout.contains("stealer.example") && stdout.contains("c2.badguys.example"),
        "{stdout}"
    );
}

/// Whoever started `simulate` may stop reading its output; the simulators keep serving.
#[test]
fn simulate_outlives_a_closed_stdout() {
    use std::process::{Command, Stdio};
    let free_port = || {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut sim = Command::new(assert_cmd::cargo::cargo_bin("apex-ioc-sync"))
        .args(["simulate", "--port", &port.to_string()])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Hang up before it has bound its ports, let alone written its banner.
    drop(sim.stdout.take());
    let mut answered = false;
    for _ in 0..100 {
        thread::sleep(std::time::Duration::from_millis(50));
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            answered = true;
            break;
        }
    }
    // The banner has been written (to the closed pipe) by the time the port answers.
    thread::sleep(std::time::Duration::from_millis(300));
    let still_running = sim.try_wait().unwrap().is_none();
    let _ = sim.kill();
    let _ = sim.wait();
    assert!(answered, "simulate never listened on {port}");
    assert!(still_running, "simulate died when its stdout closed");
}
