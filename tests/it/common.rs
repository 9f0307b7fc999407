//! Helpers shared by the integration tests: a simulated Apex Central on loopback and the
//! real binary pointed at it.

use std::path::Path;

use apex_ioc_sync::apex::udso::UdsoEntry;
use apex_ioc_sync::sim::BackgroundApex;
use apex_ioc_sync::sim::apex::ApexSimConfig;
use assert_cmd::Command;

/// Environment variables that would leak into the binary from the developer's shell.
const CLEARED_ENV: &[&str] = &[
    "APEX_API_KEY",
    "LUMU_COMPANY_KEY",
    "TAXII_TOKEN",
    "TAXII_PASSWORD",
    "PROXY_PASSWORD",
    "V1_API_TOKEN",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

pub fn start_apex() -> BackgroundApex {
    BackgroundApex::start(ApexSimConfig::random()).expect("simulator starts")
}

pub fn start_apex_with(config: ApexSimConfig) -> BackgroundApex {
    BackgroundApex::start(config).expect("simulator starts")
}

/// The binary, run in `dir` (so no stray `.config` is read and lock files stay there).
pub fn bin(dir: &Path) -> Command {
    Command::from_std(std_bin(dir))
}

/// [`bin`] as a `std::process::Command`, for tests that wire its pipes themselves.
pub fn std_bin(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("apex-ioc-sync"));
    cmd.current_dir(dir);
    for var in CLEARED_ENV {
        cmd.env_remove(var);
    }
    cmd
}

/// The options that point the binary at the simulator: host and credentials.
pub fn apex_args(apex: &BackgroundApex) -> Vec<String> {
    let c = apex.sim.config();
    vec![
        "--host".into(),
        apex.url(),
        "--application-id".into(),
        c.app_id.clone(),
        "--api-key".into(),
        c.api_key.clone(),
    ]
}

/// The binary with the simulator's host and credentials.
pub fn apex_cmd(dir: &Path, apex: &BackgroundApex) -> Command {
    let mut cmd = bin(dir);
    cmd.args(apex_args(apex));
    cmd
}

/// The binary running `command` (a subcommand's name, and maybe its first arguments)
/// against the simulator. Options follow the command they belong to, so the host and
/// credentials come after it.
pub fn apex_run(dir: &Path, apex: &BackgroundApex, command: &[&str]) -> Command {
    let mut cmd = bin(dir);
    cmd.args(command).args(apex_args(apex));
    cmd
}

/// `.config` lines that point at the simulator: host, application ID and API key.
pub fn apex_config(apex: &BackgroundApex) -> String {
    let c = apex.sim.config();
    format!(
        "host={}\napplication-id={}\napi-key={}\n",
        apex.url(),
        c.app_id,
        c.api_key
    )
}

pub fn entry(kind: &str, content: &str, notes: &str) -> UdsoEntry {
    UdsoEntry {
        kind: kind.into(),
        content: content.into(),
        notes: notes.into(),
        scan_action: "block".into(),
        expiration_utc_date: None,
    }
}

/// The JSON a command printed on standard output.
pub fn json(out: &assert_cmd::assert::Assert) -> serde_json::Value {
    serde_json::from_slice(&out.get_output().stdout).expect("JSON on stdout")
}

/// Standard output and error of a finished command, as text.
pub fn output_text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

use apex_ioc_sync::sim::BackgroundLumu;
use apex_ioc_sync::sim::lumu::LumuSim;

pub fn start_lumu() -> BackgroundLumu {
    BackgroundLumu::start(&LumuSim::random_key()).expect("simulator starts")
}

/// The binary set up for a Lumu job against both simulators.
pub fn lumu_cmd(dir: &Path, apex: &BackgroundApex, lumu: &BackgroundLumu) -> Command {
    let mut cmd = apex_cmd(dir, apex);
    cmd.args([
        "--lumu-url",
        &lumu.url(),
        "--company-key",
        lumu.sim.company_key(),
    ]);
    cmd
}

/// The entries a tag owns, as `type content` lines, sorted.
pub fn owned(apex: &BackgroundApex, tag: &str) -> Vec<String> {
    let mut v: Vec<String> = apex
        .sim
        .all_entries()
        .into_iter()
        .filter(|e| e.owner_tag() == Some(tag))
        .map(|e| format!("{} {}", e.kind, e.content))
        .collect();
    v.sort();
    v
}

/// Writes (PUT and DELETE) the simulator has received.
pub fn writes(apex: &BackgroundApex) -> u64 {
    apex.sim.control.stats.count("PUT") + apex.sim.control.stats.count("DELETE")
}

use apex_ioc_sync::sim::BackgroundTaxii;
use apex_ioc_sync::sim::taxii::TaxiiSimConfig;

pub fn start_taxii(config: TaxiiSimConfig) -> BackgroundTaxii {
    BackgroundTaxii::start(config).expect("simulator starts")
}

/// The binary set up for a TAXII job against both simulators, its state file in `dir`.
pub fn taxii_cmd(dir: &Path, apex: &BackgroundApex, taxii: &BackgroundTaxii) -> Command {
    let mut cmd = apex_cmd(dir, apex);
    cmd.args(["--source", "taxii", "--taxii-url", &taxii.discovery_url()]);
    cmd
}

/// A test CA and a server certificate it signed, as PEM files in a temporary folder.
pub struct TestPki {
    dir: tempfile::TempDir,
}

impl TestPki {
    /// A CA and a certificate for 127.0.0.1 and localhost signed by it.
    pub fn new() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "apex-ioc-sync test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).unwrap();
        std::fs::write(dir.path().join("server.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
        TestPki { dir }
    }

    /// `ca.pem`, `server.pem` or `server.key`.
    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }
}

impl TestPki {
    /// A rustls server configuration with this certificate.
    pub fn server_config(&self) -> std::sync::Arc<rustls::ServerConfig> {
        apex_ioc_sync::sim::server::tls_config(
            self.path("server.pem").as_ref(),
            self.path("server.key").as_ref(),
        )
        .unwrap()
    }
}

/// A simulator's router served over HTTPS on loopback, on a runtime of its own; stops when
/// dropped.
pub struct TlsServer {
    pub server: apex_ioc_sync::sim::server::RunningServer,
    pub control: apex_ioc_sync::sim::server::Control,
    _runtime: tokio::runtime::Runtime,
}

pub fn serve_tls(router: axum::Router, pki: &TestPki) -> TlsServer {
    use apex_ioc_sync::sim::server::{Control, bind_loopback, spawn};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let control = Control::default();
    let server = runtime
        .block_on(async {
            let listener = bind_loopback(0).await?;
            spawn(listener, router, Some(pki.server_config()), control.clone())
        })
        .unwrap();
    TlsServer {
        server,
        control,
        _runtime: runtime,
    }
}

use apex_ioc_sync::sim::vision_one::RecordedRequest;
use serde_json::{Value, json};

/// A recorded request in the form of tests/data/vision-one/pytmv1-requests.json.
pub fn shape(r: &RecordedRequest) -> Value {
    let mut query: Vec<&str> = r.query.iter().map(|(k, _)| k.as_str()).collect();
    query.sort();
    let body = r.body.as_ref().map(|b| {
        b.as_array()
            .unwrap()
            .iter()
            .map(|item| {
                item.as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| {
                        let kind = match (k.as_str(), v) {
                            ("scanAction" | "riskLevel", v) => v.clone(),
                            (_, Value::String(_)) => json!("<string>"),
                            (_, Value::Number(n)) if n.is_i64() || n.is_u64() => json!("<integer>"),
                            (_, other) => json!(format!("<{other}>")),
                        };
                        (k.clone(), kind)
                    })
                    .collect::<serde_json::Map<_, _>>()
            })
            .collect::<Vec<_>>()
    });
    json!({
        "method": r.method,
        "path": r.path,
        "query": query,
        "headers": {
            "Authorization": r.authorization,
            "Content-Type": r.content_type,
            "TMV1-Filter": r.filter,
        },
        "body": body,
    })
}

/// The item of a recorded pytmv1 body whose object sits under `key`.
pub fn item_with_key<'a>(body: &'a Value, key: &str) -> &'a Value {
    body.as_array()
        .unwrap()
        .iter()
        .find(|item| item.get(key).is_some())
        .unwrap_or_else(|| panic!("pytmv1 recorded no {key} item"))
}

/// The requests pytmv1 builds, as `.ci/interop_pytmv1.py` recorded them: `list`,
/// `list-next`, `add`, `delete`.
pub fn pytmv1_request(operation: &str) -> Value {
    let recorded: Value =
        serde_json::from_str(include_str!("../data/vision-one/pytmv1-requests.json")).unwrap();
    recorded["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["operation"] == operation)
        .unwrap_or_else(|| panic!("no {operation} in the recording"))
        .clone()
}

use apex_ioc_sync::sim::BackgroundVisionOne;
use apex_ioc_sync::sim::vision_one::VisionOneSimConfig;

pub fn start_v1(config: VisionOneSimConfig) -> BackgroundVisionOne {
    BackgroundVisionOne::start(config).expect("simulator starts")
}

/// The options that point a job at the simulated Vision One: `--sink vision-one`, its URL
/// and token.
pub fn v1_args(v1: &BackgroundVisionOne) -> Vec<String> {
    vec![
        "--sink".into(),
        "vision-one".into(),
        "--v1-url".into(),
        v1.url(),
        "--v1-token".into(),
        v1.sim.config().token.clone(),
    ]
}

/// The binary writing to the simulated Vision One (see [`v1_args`]).
pub fn v1_cmd(dir: &Path, v1: &BackgroundVisionOne) -> Command {
    v1_run(dir, v1, &[])
}

/// The binary running `command` (a subcommand's name, first) against the simulated Vision
/// One (see [`v1_args`]).
pub fn v1_run(dir: &Path, v1: &BackgroundVisionOne, command: &[&str]) -> Command {
    let mut cmd = bin(dir);
    cmd.args(command).args(v1_args(v1));
    cmd
}
