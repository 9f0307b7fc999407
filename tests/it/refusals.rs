//! Refuse what leaks or can be forged (issue 19, item 3): plain `http://` to Apex Central
//! without `--allow-http`, credentials in a URL, and secrets a server echoes into a write's
//! error.

use crate::common::*;
use apex_ioc_sync::sim::taxii::TaxiiSimConfig;

#[test]
fn plain_http_to_apex_on_another_machine_is_refused_unless_allow_http() {
    let dir = tempfile::tempdir().unwrap();
    // 192.0.2.1 (TEST-NET-1, RFC 5737): another machine, and one that never answers.
    let host = "http://192.0.2.1:9";
    let out = bin(dir.path())
        .args(["udso", "list", "--type", "ip", "--host", host])
        .args(["--application-id", "A", "--api-key", "apex-key-x"])
        .assert()
        .code(2);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("--host `http://192.0.2.1:9` is plain http://")
            && stderr.contains("--allow-http")
            && stderr.contains("https://"),
        "{stderr}"
    );

    // With it (from the .config file here), the run goes on, warned, and tries to connect.
    std::fs::write(
        dir.path().join(".config"),
        format!("host={host}\napplication-id=A\napi-key=apex-key-x\nallow-http\ntimeout=1\n"),
    )
    .unwrap();
    let out = bin(dir.path())
        .args(["udso", "list", "--type", "ip"])
        .assert()
        .code(1);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("--allow-http: Apex Central (192.0.2.1) is reached over plain http://")
            && stderr.contains("cannot reach Apex Central"),
        "{stderr}"
    );

    // Loopback (the simulator) needs no flag.
    let apex = start_apex();
    apex_run(dir.path(), &apex, &["udso", "list"])
        .args(["--type", "ip"])
        .assert()
        .success();
}

#[test]
fn allow_http_is_an_apex_option() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin(dir.path())
        .args([
            "--sink",
            "vision-one",
            "--v1-region",
            "us",
            "--v1-token",
            "v1-t0ken-x",
        ])
        .args(["--source", "file", "--file", "x.txt", "--allow-http"])
        .assert()
        .code(2);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("--allow-http is an option of Apex Central"),
        "{stderr}"
    );
}

/// Every URL option that would carry a user name and password, with the option that
/// should hold them instead.
#[test]
fn credentials_in_a_url_are_refused_naming_the_right_option_never_the_password() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("iocs.txt");
    std::fs::write(&list, "c2.example\n").unwrap();
    let secret = "Hunter2-Pw";
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--source".into(),
                "taxii".into(),
                "--taxii-url".into(),
                format!("https://reader:{secret}@taxii.example/taxii2/"),
            ],
            "--taxii-user and --taxii-password",
        ),
        (
            vec![
                "--source".into(),
                "lumu".into(),
                "--company-key".into(),
                "lumu-key-x".into(),
                "--lumu-url".into(),
                format!("https://me:{secret}@defender.lumu.io"),
            ],
            "--company-key",
        ),
        (
            vec![
                "--source".into(),
                "file".into(),
                "--file".into(),
                list.to_str().unwrap().into(),
                "--proxy-host".into(),
                format!("http://svc:{secret}@proxy.corp"),
            ],
            "--proxy-user and --proxy-password",
        ),
    ];
    for (args, instead) in cases {
        let out = apex_cmd(dir.path(), &apex).args(&args).assert().code(2);
        let (stdout, stderr) = output_text(out.get_output());
        assert!(
            stderr.contains("holds a user name or password") && stderr.contains(instead),
            "{args:?}: {stderr}"
        );
        assert!(
            !stderr.contains(secret) && !stdout.contains(secret),
            "{stderr}"
        );
    }
    assert_eq!(apex.sim.control.stats.total(), 0, "nothing was sent");

    // --host, and --v1-url.
    let out = bin(dir.path())
        .args([
            "udso",
            "list",
            "--host",
            &format!("https://admin:{secret}@apex.corp"),
        ])
        .args(["--application-id", "A", "--api-key", "apex-key-x"])
        .assert()
        .code(2);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("--host") && stderr.contains("--api-key") && !stderr.contains(secret),
        "{stderr}"
    );
    let out = bin(dir.path())
        .args(["list", "--sink", "vision-one", "--v1-token", "v1-t0ken-x"])
        .args([
            "--v1-url",
            &format!("https://u:{secret}@api.xdr.trendmicro.com"),
        ])
        .assert()
        .code(2);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("--v1-url") && stderr.contains("--v1-token") && !stderr.contains(secret),
        "{stderr}"
    );
}

#[test]
fn a_taxii_url_with_credentials_never_reaches_the_state_file() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.db");
    // From --taxii-url: refused before the state file is even opened.
    let taxii = start_taxii(TaxiiSimConfig::default());
    let url = taxii
        .discovery_url()
        .replace("http://", "http://reader:St4te-Pw@");
    apex_cmd(dir.path(), &apex)
        .args(["--source", "taxii", "--taxii-url", &url])
        .args(["--state-file", state.to_str().unwrap()])
        .assert()
        .code(2);
    assert!(!state.exists());

    // From a discovery document whose API root carries credentials: not read, not stored.
    let root = format!(
        "{}/api1/",
        taxii.url().replace("http://", "http://reader:St4te-Pw@")
    );
    let taxii = start_taxii(TaxiiSimConfig {
        api_root: Some(root),
        ..TaxiiSimConfig::default()
    });
    taxii
        .sim
        .add_collection("91a7b528-80eb-42ed-a74d-c6fbd5a26116", "feed", None, true);
    let out = taxii_cmd(dir.path(), &apex, &taxii)
        .args(["--state-file", state.to_str().unwrap()])
        .assert()
        .code(1);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("carries a user name or password in its URL") && !stderr.contains("St4te"),
        "{stderr}"
    );
    let stored = std::fs::read(&state).unwrap_or_default();
    assert!(
        !String::from_utf8_lossy(&stored).contains("St4te-Pw"),
        "the state file holds the password"
    );
}

#[test]
fn a_token_vision_one_echoes_into_a_failed_write_is_redacted_in_the_log_and_the_json() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("iocs.txt");
    std::fs::write(&list, "one.example\ntwo.example\n").unwrap();
    let v1 = start_v1(apex_ioc_sync::sim::vision_one::VisionOneSimConfig::random());
    v1.sim.refuse_value("two.example");
    v1.sim.echo_request_in_refusals(true);
    let token = v1.sim.config().token.clone();
    let out = v1_cmd(dir.path(), &v1)
        .args([
            "--source",
            "file",
            "--file",
            list.to_str().unwrap(),
            "--json",
        ])
        .assert()
        .code(4);
    let report = json(&out);
    let error = report["failed"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("domain `two.example`")
            && error.contains("Authorization: Bearer <redacted>"),
        "{error}"
    );
    assert!(error.contains("token=<redacted>"), "{error}");
    let (stdout, stderr) = output_text(out.get_output());
    for text in [&stdout, &stderr] {
        assert!(!text.contains(&token), "the token leaked:\n{text}");
    }
    assert!(stderr.contains("<redacted>"), "{stderr}");
}

#[test]
fn a_signed_token_apex_echoes_into_a_failed_write_is_redacted() {
    let apex = start_apex();
    apex.sim.echo_writes(true);
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("iocs.txt");
    std::fs::write(&list, "c2.example\n").unwrap();
    let out = apex_cmd(dir.path(), &apex)
        .args([
            "--source",
            "file",
            "--file",
            list.to_str().unwrap(),
            "--json",
        ])
        .assert()
        .code(4);
    let report = json(&out);
    let error = report["failed"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("bad request: PUT /WebApp/api/SuspiciousObjects/UserDefinedSO/")
            && error.contains("Authorization: Bearer <redacted>"),
        "{error}"
    );
    let (stdout, stderr) = output_text(out.get_output());
    for text in [&stdout, &stderr] {
        // Every JWT starts with the base64 of `{"`.
        assert!(!text.contains("eyJ"), "a token leaked:\n{text}");
    }
}
