//! The crash test: a real sync, killed with SIGKILL at many points, then run again
//! uninterrupted; the rerun must converge. For each job (Lumu, TAXII and local files to Apex,
//! a plain list to Vision One):
//!
//! 1. a history run: the destination already holds entries of others (some equal to IOCs the
//!    source reports, some in another spelling, one of another job's tag), the job runs once
//!    uninterrupted (state file, metrics file);
//! 2. the source changes and some owned entries fall due for renewal, so the next run has
//!    adds, updates and removals to make; an owned entry in another spelling of an owned IOC
//!    must go too;
//! 3. a reference run from that start, uninterrupted: how many requests each server gets;
//! 4. from the same start again, one run per kill point, killed there: while the n-th request
//!    of the source or of the destination is held before the server acts on it (and, for a
//!    write, also after it acted but before the answer), for every n a run makes; inside
//!    the metrics file write (its temporary made, not renamed yet); after seeded random
//!    delays (from the start, or after a random request);
//! 5. after each kill (what the killed run left dated ten minutes back, as the next scheduled
//!    run finds it), the same job run again uninterrupted must exit 0 and leave exactly
//!    the desired entries under the tag (normal form, once each), every entry of others as it
//!    was (content, notes, scan action, expiry), no stray file the run does not sweep, and a
//!    state file that opens; a second rerun must write nothing.
//!
//! Unix only: SIGKILL (`Child::kill`) and `/proc` (main.rs says so).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use apex_ioc_sync::apex::udso::UdsoEntry;
use apex_ioc_sync::ioc::{Ioc, IocKind};
use apex_ioc_sync::sim::lumu::{LumuSim, SimIncident};
use apex_ioc_sync::sim::server::{Control, HoldPoint};
use apex_ioc_sync::sim::taxii::{TaxiiSimConfig, indicator};
use apex_ioc_sync::sim::vision_one::{SimObject, VisionOneSimConfig};
use apex_ioc_sync::sim::{BackgroundApex, BackgroundLumu, BackgroundTaxii, BackgroundVisionOne};
use apex_ioc_sync::sink::vision_one::ObjectType;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::common::*;

// The jobs.

#[test]
fn a_killed_lumu_run_converges_on_the_next_run() {
    crash_test(Job::new("lumu", Origin::Lumu, Target::Apex));
}

#[test]
fn a_killed_taxii_run_converges_on_the_next_run() {
    crash_test(Job::new("taxii", Origin::Taxii, Target::Apex));
}

#[test]
fn a_killed_file_run_converges_on_the_next_run() {
    crash_test(Job::new("file", Origin::Files, Target::Apex));
}

#[test]
fn a_killed_run_to_vision_one_converges_on_the_next_run() {
    crash_test(Job::new("file", Origin::PlainList, Target::VisionOne));
}

/// The simulator's hold stops the request at the point asked: before handling, a put is
/// not stored while it is held; before the answer, it is. (The crash test's exact kill
/// points rest on it.)
#[test]
fn a_held_request_has_or_has_not_taken_effect_as_asked() {
    let run = |apex: &BackgroundApex, dir: &Path| {
        std_bin(dir)
            .args(apex_args(apex))
            .args(["--source", "file", "--file", "list.txt"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("list.txt"), "held.example\n").unwrap();
    // Which request is the put, counted as the hold counts.
    let apex = start_apex();
    apex.sim.control.stats.keep_order();
    assert!(run(&apex, dir.path()).wait().unwrap().success());
    let order = apex.sim.control.stats.order();
    let put = 1 + order.iter().position(|m| m == "PUT").expect("a put") as u64;
    for (point, stored_while_held) in [
        (HoldPoint::BeforeHandling, false),
        (HoldPoint::BeforeAnswer, true),
    ] {
        let apex = start_apex();
        apex.sim.control.hold.arm(put, point);
        let mut child = run(&apex, dir.path());
        let held = apex.sim.control.hold.wait_held(Duration::from_secs(20));
        assert_eq!(
            held,
            Some(put),
            "{point:?}: the put ({order:?}) was not held"
        );
        let stored = !owned(&apex, "file").is_empty();
        child.kill().unwrap();
        child.wait().unwrap();
        apex.sim.control.hold.release();
        assert_eq!(stored, stored_while_held, "{point:?}");
        assert!(
            apex.sim.control.stats.order().is_empty(),
            "kept only when asked"
        );
    }
}

/// Where a job's IOCs come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Lumu,
    Taxii,
    /// A plain list and a STIX bundle.
    Files,
    /// A plain list only.
    PlainList,
}

/// Where they go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Apex,
    VisionOne,
}

/// The source as the history run reads it, or as changed since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    History,
    Changed,
}

#[derive(Debug, Clone)]
struct Job {
    tag: &'static str,
    from: Origin,
    to: Target,
    /// The time the sources' data is dated from.
    base: DateTime<Utc>,
}

/// `h` hours.
fn hours(h: i64) -> chrono::Duration {
    chrono::Duration::hours(h)
}

const SHA1_A: &str = "3395856ce81f2b7382dee72602f798b642f14140";
const SHA1_B: &str = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3";
const SHA1_C: &str = "7c4a8d09ca3762af61e59520943dc26494f8941b";
const SHA1_FOREIGN: &str = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
const TAXII_COLLECTION: &str = "c7a5c000-0000-4000-8000-000000000001";

impl Job {
    fn new(tag: &'static str, from: Origin, to: Target) -> Self {
        Job {
            tag,
            from,
            to,
            base: Utc::now(),
        }
    }

    fn name(&self) -> String {
        format!("{:?} to {:?}", self.from, self.to)
    }

    /// The entries the tag must own once a run converged on the changed source: the IOCs it
    /// reports, less those an entry of others holds, as `type value` in normal form, sorted.
    fn expected(&self) -> Vec<String> {
        let mut v: Vec<String> = match self.from {
            Origin::Lumu => vec![
                "domain c2.crash.example".into(),
                "ip 203.0.113.10".into(),
                "url https://c2.crash.example/gate.php?id=1".into(),
                "url https://c2.crash.example/second".into(),
                format!("file_sha1 {SHA1_A}"),
                "domain phish.crash.example".into(),
                "domain new.crash.example".into(),
                "ip 198.51.100.40".into(),
                format!("file_sha1 {SHA1_B}"),
            ],
            Origin::Taxii => vec![
                "domain t1.crash.example".into(),
                "url http://t3.crash.example/x".into(),
                "domain t7a.crash.example".into(),
                "domain t7b.crash.example".into(),
                format!("file_sha1 {SHA1_C}"),
            ],
            Origin::Files => vec![
                "domain f1.crash.example".into(),
                "url http://f3.crash.example/a".into(),
                "domain f4.crash.example".into(),
                format!("file_sha1 {SHA1_C}"),
                "ip 198.51.100.32".into(),
                "domain b2.crash.example".into(),
            ],
            Origin::PlainList => vec![
                "domain f1.crash.example".into(),
                "url http://f3.crash.example/a".into(),
                "domain f4.crash.example".into(),
                format!("file_sha1 {SHA1_C}"),
            ],
        };
        v.sort();
        v
    }

    /// Owned entries whose expiry the start moves close (so the killed run renews them).
    fn renewed(&self) -> &'static [&'static str] {
        match self.from {
            Origin::Lumu => &["phish.crash.example", "203.0.113.10"],
            Origin::Taxii => &["t1.crash.example", "http://t3.crash.example/x"],
            Origin::Files | Origin::PlainList => &["f1.crash.example", "http://f3.crash.example/a"],
        }
    }

    /// An owned entry in another spelling of an IOC the tag also owns in normal form: the
    /// killed run must remove it.
    fn misspelled(&self) -> (IocKind, &'static str) {
        match self.from {
            Origin::Lumu => (IocKind::Domain, "C2.Crash.Example."),
            Origin::Taxii => (IocKind::Domain, "T1.Crash.Example."),
            // Vision One matches domains case-insensitively: a trailing dot is another key.
            Origin::Files | Origin::PlainList => (IocKind::Domain, "f1.crash.example."),
        }
    }

    /// The entries of others on the destination before the history run: one equal to an IOC
    /// the source reports, one in another spelling of one, one of another job's tag, and
    /// two unrelated ones. They must never change.
    fn foreign(&self) -> Vec<Record> {
        let expires = (self.base + chrono::Duration::days(90)).naive_utc();
        let entries = [
            (
                "domain",
                "held.crash.example",
                "SOC: blocked by hand",
                "log",
            ),
            ("domain", "Spelled.Crash.Example.", "", "block"),
            (
                "ip",
                "203.0.113.99",
                "apex-ioc-sync:other C2C incident x",
                "block",
            ),
            ("url", "http://soc.crash.example/own", "SOC", "log"),
        ];
        let sha1 = SHA1_FOREIGN.to_uppercase();
        let entries = entries
            .into_iter()
            .chain([("file_sha1", sha1.as_str(), "SOC", "block")]);
        entries
            .map(|(kind, content, notes, action)| match self.to {
                Target::Apex => Record::Apex(UdsoEntry {
                    kind: kind.into(),
                    content: content.into(),
                    notes: notes.into(),
                    scan_action: action.into(),
                    expiration_utc_date: (action == "log").then_some(expires),
                }),
                Target::VisionOne => {
                    let kind = IocKind::from_udso_type(kind).unwrap();
                    let mut o = SimObject::new(ObjectType::for_kind(kind), content, notes);
                    o.scan_action = action.into();
                    o.expires = (action == "log").then_some(expires.and_utc());
                    o.last_modified = self.base - hours(48);
                    Record::V1(o)
                }
            })
            .collect()
    }

    /// The options of the job (the destination's and the source's aside).
    fn args(&self, dir: &Path) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "--tag".into(),
            self.tag.into(),
            "--ioc-types".into(),
            "ip,domain,url,hash".into(),
            "--metrics-file".into(),
            metrics_path(dir).to_str().unwrap().into(),
            "--json".into(),
        ];
        match self.from {
            Origin::Lumu | Origin::Taxii => {}
            Origin::Files => args.extend(
                [
                    "--source",
                    "file",
                    "--file",
                    "iocs.txt",
                    "--file",
                    "bundle.json",
                ]
                .map(String::from),
            ),
            Origin::PlainList => {
                args.extend(["--source", "file", "--file", "iocs.txt"].map(String::from))
            }
        }
        args
    }

    /// The source files of a file job, in `dir`.
    fn write_files(&self, dir: &Path, phase: Phase) {
        if !matches!(self.from, Origin::Files | Origin::PlainList) {
            return;
        }
        let list = match phase {
            Phase::History => {
                "f1.crash.example\n203.0.113.31\nhttp://f3.crash.example/a\n\
                 held.crash.example\nspelled.crash.example\n"
            }
            Phase::Changed => &format!(
                "f1.crash.example\nhttp://f3.crash.example/a\nf4.crash.example\n{SHA1_C}\n\
                 held.crash.example\nspelled.crash.example\n"
            ),
        };
        std::fs::write(dir.join("iocs.txt"), list).unwrap();
        if self.from == Origin::Files {
            let at = self.base - hours(2);
            let objects = match phase {
                Phase::History => vec![
                    indicator(
                        "indicator--b1",
                        "[domain-name:value = 'b1.crash.example']",
                        at,
                    ),
                    indicator("indicator--b3", "[ipv4-addr:value = '198.51.100.32']", at),
                ],
                Phase::Changed => vec![
                    indicator(
                        "indicator--b2",
                        "[domain-name:value = 'b2.crash.example']",
                        at,
                    ),
                    indicator("indicator--b3", "[ipv4-addr:value = '198.51.100.32']", at),
                ],
            };
            let bundle = json!({"type": "bundle", "id": "bundle--crash", "objects": objects});
            std::fs::write(dir.join("bundle.json"), bundle.to_string()).unwrap();
        }
    }

    /// The source's simulator as the history run reads it, or none (file jobs). One per
    /// job: the state file names a TAXII feed by its URL.
    fn start_source(&self) -> Option<SourceSim> {
        match self.from {
            Origin::Lumu => Some(SourceSim::Lumu(self.lumu())),
            Origin::Taxii => Some(SourceSim::Taxii(self.taxii())),
            Origin::Files | Origin::PlainList => None,
        }
    }

    /// The source's changes since the history run.
    fn change_source(&self, source: &SourceSim) {
        match source {
            SourceSim::Lumu(lumu) => {
                // An endpoint contacted the C2 again (its context is read again), an incident
                // closed, a new one opened.
                lumu.sim
                    .touch("inc-1", Some("https://c2.crash.example/second"));
                lumu.sim.set_status("inc-3", "closed");
                lumu.sim.add(
                    self.incident(
                        "inc-4",
                        2,
                        &["new.crash.example", "198.51.100.40"],
                        &["Malware"],
                    )
                    .with_files(&[SHA1_B]),
                );
            }
            SourceSim::Taxii(taxii) => {
                let add = |added: DateTime<Utc>, object: Value| {
                    taxii.sim.add_object(TAXII_COLLECTION, added, object);
                };
                let new = self.base - hours(1);
                let second = chrono::Duration::seconds;
                // The producer revokes t2; two indicators share one date_added across the
                // boundary of the two pages this read takes; one more after them.
                let mut revoked =
                    indicator("indicator--t2", "[ipv4-addr:value = '203.0.113.21']", new);
                revoked["revoked"] = json!(true);
                add(new + second(1), revoked);
                for (id, domain) in [
                    ("indicator--t7a", "t7a.crash.example"),
                    ("indicator--t7b", "t7b.crash.example"),
                ] {
                    let pattern = format!("[domain-name:value = '{domain}']");
                    add(new + second(2), indicator(id, &pattern, new));
                }
                let pattern = format!("[file:hashes.'SHA-1' = '{SHA1_C}']");
                add(new + second(3), indicator("indicator--t8", &pattern, new));
            }
        }
    }

    /// An open incident first seen `h` hours before `base`.
    fn incident(&self, id: &str, h: i64, adversaries: &[&str], types: &[&str]) -> SimIncident {
        let mut i = SimIncident::open(id, chrono::Duration::zero(), adversaries, types);
        i.timestamp = self.base - hours(h);
        i.last_contact = i.timestamp;
        i
    }

    fn lumu(&self) -> BackgroundLumu {
        let lumu = BackgroundLumu::start(&LumuSim::random_key()).expect("simulator starts");
        lumu.sim.add(
            self.incident("inc-1", 20, &["c2.crash.example", "203.0.113.10"], &["C2C"])
                .with_triggers(&["https://c2.crash.example/gate.php?id=1"])
                .with_files(&[SHA1_A]),
        );
        lumu.sim.add(self.incident(
            "inc-2",
            18,
            &[
                "phish.crash.example",
                "held.crash.example",
                "spelled.crash.example",
                "203.0.113.99",
            ],
            &["Phishing"],
        ));
        lumu.sim.add(self.incident(
            "inc-3",
            16,
            &["gone.crash.example", "198.51.100.30"],
            &["Malware"],
        ));
        lumu
    }

    fn taxii(&self) -> BackgroundTaxii {
        // Pages of two, with `next` tokens.
        let taxii = start_taxii(TaxiiSimConfig {
            max_page_size: 2,
            ..TaxiiSimConfig::default()
        });
        taxii
            .sim
            .add_collection(TAXII_COLLECTION, "crash", None, true);
        let old = self.base - hours(10);
        let history = [
            ("indicator--t1", "[domain-name:value = 't1.crash.example']"),
            ("indicator--t2", "[ipv4-addr:value = '203.0.113.21']"),
            ("indicator--t3", "[url:value = 'http://t3.crash.example/x']"),
            (
                "indicator--t4",
                "[domain-name:value = 'held.crash.example']",
            ),
            (
                "indicator--t5",
                "[domain-name:value = 'spelled.crash.example']",
            ),
        ];
        for (i, (id, pattern)) in (1..).zip(history) {
            let added = old + chrono::Duration::seconds(i);
            taxii
                .sim
                .add_object(TAXII_COLLECTION, added, indicator(id, pattern, old));
        }
        taxii
    }
}

/// A job's folder: in the build's own temporary folder, which is on a disk where `/tmp` may
/// be in memory. There an `fsync` takes a real moment, and the metrics-write kill point
/// lands in its window in a try or two.
fn job_dir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

fn metrics_path(dir: &Path) -> PathBuf {
    dir.join("job.prom")
}

/// Whether `name` is a temporary of the metrics file: hidden, `.job.prom.<something>.tmp`
/// beside it (whatever the middle: a pid, or a random part).
fn is_metrics_temp(name: &str) -> bool {
    name.starts_with(".job.prom.") && name.ends_with(".tmp")
}

// The simulators.

/// A destination entry of either kind.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Record {
    Apex(UdsoEntry),
    V1(SimObject),
}

impl Record {
    fn kind(&self) -> Option<IocKind> {
        match self {
            Record::Apex(e) => e.ioc_kind(),
            Record::V1(o) => o.object_type.ioc_kind(),
        }
    }

    fn content(&self) -> &str {
        match self {
            Record::Apex(e) => &e.content,
            Record::V1(o) => &o.value,
        }
    }

    fn notes(&self) -> &str {
        match self {
            Record::Apex(e) => &e.notes,
            Record::V1(o) => &o.description,
        }
    }

    fn scan_action(&self) -> &str {
        match self {
            Record::Apex(e) => &e.scan_action,
            Record::V1(o) => &o.scan_action,
        }
    }

    fn owned_by(&self, tag: &str) -> bool {
        apex_ioc_sync::model::owner_tag(self.notes()) == Some(tag)
    }

    /// `type value` in normal form (an entry that does not normalise: as listed, marked).
    fn normal(&self) -> String {
        match self.kind() {
            Some(kind) => match Ioc::new(kind, self.content()) {
                Ok(ioc) => format!("{kind} {}", ioc.value),
                Err(_) => format!("{kind} {} (unreadable)", self.content()),
            },
            None => format!("? {}", self.content()),
        }
    }

    /// The same entry, expiring `in_days` from now.
    fn expiring_in(mut self, in_days: i64) -> Self {
        let at = Utc::now() + chrono::Duration::days(in_days);
        match &mut self {
            Record::Apex(e) => e.expiration_utc_date = Some(at.naive_utc()),
            Record::V1(o) => o.expires = Some(at),
        }
        self
    }

    /// An entry of `kind` the tag owns, as a run of the tool writes it.
    fn owned(to: Target, tag: &str, kind: IocKind, content: &str) -> Self {
        let notes = format!("apex-ioc-sync:{tag} an older run");
        let record = match to {
            Target::Apex => Record::Apex(entry(kind.udso_type(), content, &notes)),
            Target::VisionOne => {
                Record::V1(SimObject::new(ObjectType::for_kind(kind), content, &notes))
            }
        };
        record.expiring_in(30)
    }
}

enum Dest {
    Apex(BackgroundApex),
    V1(BackgroundVisionOne),
}

impl Dest {
    /// A fresh destination holding `records`.
    fn start(to: Target, records: &[Record]) -> Self {
        let dest = match to {
            Target::Apex => Dest::Apex(start_apex()),
            Target::VisionOne => Dest::V1(start_v1(VisionOneSimConfig::random())),
        };
        for record in records {
            match (&dest, record.clone()) {
                (Dest::Apex(apex), Record::Apex(e)) => apex.sim.insert(e),
                (Dest::V1(v1), Record::V1(o)) => v1.sim.insert(o),
                _ => unreachable!("a record of the other destination"),
            }
        }
        dest
    }

    fn control(&self) -> &Control {
        match self {
            Dest::Apex(apex) => &apex.sim.control,
            Dest::V1(v1) => &v1.sim.control,
        }
    }

    fn args(&self) -> Vec<String> {
        match self {
            Dest::Apex(apex) => apex_args(apex),
            Dest::V1(v1) => v1_args(v1),
        }
    }

    /// Every entry, sorted by type and content.
    fn records(&self) -> Vec<Record> {
        let mut v: Vec<Record> = match self {
            Dest::Apex(apex) => apex
                .sim
                .all_entries()
                .into_iter()
                .map(Record::Apex)
                .collect(),
            Dest::V1(v1) => v1.sim.all_objects().into_iter().map(Record::V1).collect(),
        };
        v.sort_by(|a, b| (a.kind(), a.content()).cmp(&(b.kind(), b.content())));
        v
    }

    /// Write requests answered so far.
    fn writes(&self) -> u64 {
        match self {
            Dest::Apex(apex) => writes(apex),
            Dest::V1(v1) => v1.sim.endpoint_count("add") + v1.sim.endpoint_count("delete"),
        }
    }
}

enum SourceSim {
    Lumu(BackgroundLumu),
    Taxii(BackgroundTaxii),
}

impl SourceSim {
    fn control(&self) -> &Control {
        match self {
            SourceSim::Lumu(lumu) => &lumu.sim.control,
            SourceSim::Taxii(taxii) => &taxii.sim.control,
        }
    }

    fn args(&self) -> Vec<String> {
        match self {
            SourceSim::Lumu(lumu) => vec![
                "--lumu-url".into(),
                lumu.url(),
                "--company-key".into(),
                lumu.sim.company_key().into(),
            ],
            SourceSim::Taxii(taxii) => vec![
                "--source".into(),
                "taxii".into(),
                "--taxii-url".into(),
                taxii.discovery_url(),
            ],
        }
    }
}

// A world: the simulators and the job's folder, from the start every kill point shares.

/// What every run of the crash test starts from: the destination's entries and the job's
/// files after the history run, the source changed since.
struct Start {
    job: Job,
    source: Option<SourceSim>,
    records: Vec<Record>,
    files: Vec<(String, Vec<u8>)>,
}

struct World<'a> {
    job: &'a Job,
    dest: Dest,
    source: Option<&'a SourceSim>,
    dir: tempfile::TempDir,
}

impl World<'_> {
    fn command(&self) -> std::process::Command {
        let mut cmd = std_bin(self.dir.path());
        cmd.args(self.dest.args());
        if let Some(source) = self.source {
            cmd.args(source.args());
        }
        cmd.args(self.job.args(self.dir.path()));
        cmd
    }

    /// Runs the job to its end; its exit code, standard output and error.
    fn run(&self) -> (Option<i32>, String, String) {
        let out = self.command().output().unwrap();
        let (stdout, stderr) = output_text(&out);
        (out.status.code(), stdout, stderr)
    }

    fn owned(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .dest
            .records()
            .iter()
            .filter(|r| r.owned_by(self.job.tag))
            .map(Record::normal)
            .collect();
        v.sort();
        v
    }

    fn foreign(&self) -> Vec<Record> {
        self.dest
            .records()
            .into_iter()
            .filter(|r| !r.owned_by(self.job.tag))
            .collect()
    }

    /// The names in the job's folder.
    fn files(&self) -> BTreeSet<String> {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// Requests each server received so far: the source's (0 without one), the destination's.
    fn requests(&self) -> (u64, u64) {
        let source = self.source.map_or(0, |s| s.control().stats.total());
        (source, self.dest.control().stats.total())
    }

    fn release_holds(&self) {
        self.dest.control().hold.release();
        if let Some(source) = self.source {
            source.control().hold.release();
        }
    }
}

impl Start {
    /// The history run, then the changes.
    fn prepare(job: &Job) -> Start {
        let source = job.start_source();
        let history = World {
            job,
            dest: Dest::start(job.to, &job.foreign()),
            source: source.as_ref(),
            dir: job_dir(),
        };
        job.write_files(history.dir.path(), Phase::History);
        let (code, _, stderr) = history.run();
        assert_eq!(
            code,
            Some(0),
            "{}: the history run failed: {stderr}",
            job.name()
        );
        let mut records = history.dest.records();
        for r in records.iter_mut() {
            if r.owned_by(job.tag) && job.renewed().contains(&r.content()) {
                *r = r.clone().expiring_in(3);
            }
        }
        let (kind, content) = job.misspelled();
        records.push(Record::owned(job.to, job.tag, kind, content));
        let files = history
            .files()
            .into_iter()
            .map(|name| {
                let bytes = std::fs::read(history.dir.path().join(&name)).unwrap();
                (name, bytes)
            })
            .collect();
        drop(history);
        if let Some(source) = &source {
            job.change_source(source);
        }
        Start {
            job: job.clone(),
            source,
            records,
            files,
        }
    }

    /// A fresh world at the start: a new destination as the history run left it, the job's
    /// files copied, and the job's one source (changed, its counts back to zero: the state
    /// file names a TAXII feed by its URL, so the source keeps its port).
    fn world(&self) -> World<'_> {
        let world = World {
            job: &self.job,
            dest: Dest::start(self.job.to, &self.records),
            source: self.source.as_ref(),
            dir: job_dir(),
        };
        if let Some(source) = world.source {
            source.control().stats.reset();
        }
        for (name, bytes) in &self.files {
            std::fs::write(world.dir.path().join(name), bytes).unwrap();
        }
        self.job.write_files(world.dir.path(), Phase::Changed);
        world
    }
}

/// What the uninterrupted run from the start did.
struct Reference {
    /// Requests the source received.
    source_requests: u64,
    /// The method of each request the destination received, in order.
    dest_requests: Vec<String>,
    duration: Duration,
    /// The names in the job's folder after it.
    files: BTreeSet<String>,
}

// Kill points.

/// Which server's request a kill point holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Source,
    Dest,
}

#[derive(Debug, Clone, Copy)]
enum Kill {
    /// While the n-th request of a server is held at a point.
    Held(Server, u64, HoldPoint),
    /// Inside the metrics write: its temporary file made, not renamed yet (killed as soon
    /// as the temporary shows, and tried again until the kill lands there).
    InMetricsWrite,
    /// This long after the start.
    AfterStart(Duration),
    /// This long after the k-th request (of both servers) arrived.
    AfterRequest(u64, Duration),
}

/// What a kill point found wrong.
#[derive(Debug, Default)]
struct Findings {
    failures: Vec<String>,
    /// Runs it took (see [`Ended::Missed`]).
    tries: usize,
}

impl Findings {
    fn fail(&mut self, what: String) {
        self.failures.push(what);
    }
}

/// How a killed run ended.
enum Ended {
    Killed,
    /// It ended before the kill point: with this exit code.
    ByItself(Option<i32>),
    /// Killed, but not inside the metrics write (it was over, or not begun): tried again.
    Missed,
}

/// Runs a metrics-write kill point may take (the kill lands in a window of a few
/// milliseconds, or less on a file system without a real `fsync`).
const METRICS_WRITE_TRIES: usize = 40;

/// The crash test of one job; panics with every failure found.
fn crash_test(job: Job) {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let name = job.name();
    eprintln!("crash test {name}: seed {seed} (CRASH_SEED={seed} reproduces)");
    let mut rng = fastrand::Rng::with_seed(seed);
    let start = Start::prepare(&job);
    let expected = job.expected();

    // The uninterrupted run from the start.
    let world = start.world();
    world.dest.control().stats.keep_order();
    let begun = Instant::now();
    let (code, stdout, stderr) = world.run();
    let duration = begun.elapsed();
    assert_eq!(code, Some(0), "{name}: the reference run failed: {stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("the --json report");
    for op in ["add", "update", "remove"] {
        assert!(
            report["plan"][op].as_u64() > Some(0),
            "{name}: the run from the start has no {op} to make: {report}"
        );
    }
    assert_eq!(world.owned(), expected, "{name}: the reference run");
    let reference = Reference {
        source_requests: world.requests().0,
        dest_requests: world.dest.control().stats.order(),
        duration,
        files: world.files(),
    };
    drop(world);

    // Held requests: every request of a run. A read is held once (held before or after the
    // server handled it, the world is the same); a write twice: not done yet, and done but
    // not known to the run.
    let mut kills: Vec<Kill> = (1..=reference.source_requests)
        .map(|n| Kill::Held(Server::Source, n, HoldPoint::BeforeHandling))
        .collect();
    for (n, method) in (1..).zip(&reference.dest_requests) {
        kills.push(Kill::Held(Server::Dest, n, HoldPoint::BeforeHandling));
        if method != "GET" {
            kills.push(Kill::Held(Server::Dest, n, HoldPoint::BeforeAnswer));
        }
    }
    let writes = reference
        .dest_requests
        .iter()
        .filter(|m| *m != "GET")
        .count();
    kills.push(Kill::InMetricsWrite);
    const RANDOM: usize = 4;
    let total = reference.source_requests + reference.dest_requests.len() as u64;
    let window = reference.duration.as_micros() as u64;
    for _ in 0..RANDOM {
        kills.push(Kill::AfterStart(Duration::from_micros(rng.u64(0..window))));
        kills.push(Kill::AfterRequest(
            rng.u64(1..=total),
            Duration::from_micros(rng.u64(0..3_000)),
        ));
    }

    let mut failures = Vec::new();
    let (mut killed, mut by_itself, mut metrics_tries) = (0, 0, 0);
    for kill in &kills {
        let (ended, findings) = kill_and_rerun(&start, &reference, *kill);
        match ended {
            Ended::Killed => killed += 1,
            Ended::ByItself(_) => by_itself += 1,
            Ended::Missed => {}
        }
        if matches!(kill, Kill::InMetricsWrite) {
            metrics_tries = findings.tries;
        }
        for f in findings.failures {
            failures.push(format!("{kill:?}: {f}"));
        }
    }
    let held = kills.iter().filter(|k| matches!(k, Kill::Held(..))).count();
    eprintln!(
        "crash test {name}: {} kill points: {held} at a held request (every request of a run: \
         source {}, destination {} of which {writes} writes, held before and after handling), \
         1 inside the metrics write (landed in {metrics_tries} tries), {} after random delays \
         (seed {seed}); {killed} killed, {by_itself} ended before their kill point",
        kills.len(),
        reference.source_requests,
        reference.dest_requests.len(),
        2 * RANDOM,
    );
    assert!(
        failures.is_empty(),
        "crash test {name} (CRASH_SEED={seed} reproduces): {} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// One kill point: a fresh world, the run killed there, then two uninterrupted reruns and
/// the checks.
fn kill_and_rerun(start: &Start, reference: &Reference, kill: Kill) -> (Ended, Findings) {
    let job = &start.job;
    let expected = job.expected();
    let mut findings = Findings::default();
    let mut tries = 0;
    let (world, foreign, ended) = loop {
        let world = start.world();
        let foreign = world.foreign();
        tries += 1;
        match run_killed(&world, reference, kill) {
            Ok(Ended::Missed) if tries < METRICS_WRITE_TRIES => continue,
            Ok(Ended::Missed) => {
                findings.fail(format!(
                    "in {tries} tries, no kill landed between the making of the metrics \
                     file's temporary and its rename"
                ));
                return (Ended::Missed, findings);
            }
            Ok(ended) => break (world, foreign, ended),
            Err(e) => {
                findings.fail(e);
                return (Ended::Killed, findings);
            }
        }
    };
    findings.tries = tries;
    // The next scheduled run comes minutes later: what the killed run left (a temporary, a
    // journal) is as old as that when it starts.
    backdate(&world, &reference.files);
    if let Ended::ByItself(code) = ended {
        // Only a random delay may outlast the run; the run itself must have succeeded.
        if matches!(kill, Kill::Held(..) | Kill::InMetricsWrite) || code != Some(0) {
            findings.fail(format!("the run ended by itself with {code:?}"));
        }
    }

    // The rerun: exit 0, the desired entries, the others' as they were, no stray file.
    let (code, _, stderr) = world.run();
    if code != Some(0) {
        findings.fail(format!("the rerun exited {code:?}: {stderr}"));
    }
    let owned = world.owned();
    if owned != expected {
        let missing: Vec<&String> = expected.iter().filter(|e| !owned.contains(e)).collect();
        let extra: Vec<&String> = owned.iter().filter(|o| !expected.contains(o)).collect();
        let what =
            format!("after the rerun the tag owns {owned:?}: missing {missing:?}, extra {extra:?}");
        findings.fail(what);
    }
    let actions: BTreeSet<String> = world
        .dest
        .records()
        .iter()
        .filter(|r| r.owned_by(job.tag))
        .map(|r| r.scan_action().to_owned())
        .collect();
    if actions.iter().any(|a| a != "block") {
        findings.fail(format!(
            "owned entries with scan actions {actions:?}, not block"
        ));
    }
    let others = world.foreign();
    if others != foreign {
        findings.fail(format!(
            "entries of others changed: before {foreign:?}, after {others:?}"
        ));
    }
    let stray: Vec<String> = world
        .files()
        .difference(&reference.files)
        .cloned()
        .collect();
    if !stray.is_empty() {
        let what =
            format!("files left in the job's folder that the rerun did not sweep: {stray:?}");
        findings.fail(what);
    }
    let metrics = std::fs::read_to_string(metrics_path(world.dir.path())).unwrap_or_default();
    if !metrics
        .lines()
        .any(|l| l.starts_with("apex_ioc_sync_last_run_exit_code{") && l.ends_with(" 0"))
    {
        findings.fail(format!(
            "the rerun's metrics file does not say exit code 0: {metrics}"
        ));
    }

    // The second rerun: nothing left to do, the state file usable.
    let writes = world.dest.writes();
    let (code, _, stderr) = world.run();
    if code != Some(0) {
        findings.fail(format!("the second rerun exited {code:?}: {stderr}"));
    }
    let written = world.dest.writes() - writes;
    if written != 0 {
        findings.fail(format!("the second rerun made {written} writes"));
    }
    if world.owned() != owned {
        findings.fail("the second rerun changed what the tag owns".into());
    }
    let state = world
        .dir
        .path()
        .join(format!("apex-ioc-sync-{}.db", job.tag));
    if state.exists() {
        let check = rusqlite::Connection::open_with_flags(
            &state,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .and_then(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0)));
        if !matches!(check.as_deref(), Ok("ok")) {
            findings.fail(format!("the state file's integrity check: {check:?}"));
        }
    }
    (ended, findings)
}

/// Starts the job in `world` and kills it (SIGKILL) at `kill`; how it ended.
fn run_killed(world: &World, reference: &Reference, kill: Kill) -> Result<Ended, String> {
    let dest = world.dest.control();
    let control = |server| match server {
        Server::Source => world.source.expect("a source server").control(),
        Server::Dest => dest,
    };
    match kill {
        Kill::Held(server, nth, point) => control(server).hold.arm(nth, point),
        Kill::InMetricsWrite | Kill::AfterStart(_) | Kill::AfterRequest(..) => {}
    }
    let begun = Instant::now();
    let mut child = world
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, stdout) = read_lines(&mut child);
    let stderr = read_all(child.stderr.take().unwrap());
    let reached = match kill {
        Kill::Held(server, _, _) => {
            let held = wait_held(&mut child, control(server));
            settle(child.id());
            held
        }
        Kill::InMetricsWrite => metrics_temp_shows(world, &mut child, &lines),
        Kill::AfterStart(delay) => {
            std::thread::sleep(delay.saturating_sub(begun.elapsed()));
            Ok(true)
        }
        Kill::AfterRequest(k, delay) => {
            let arrived = loop {
                let (source, dest) = world.requests();
                if source + dest >= k {
                    break true;
                }
                if child.try_wait().unwrap().is_some() {
                    break false;
                }
                std::thread::sleep(Duration::from_micros(200));
            };
            std::thread::sleep(delay);
            Ok(arrived)
        }
    };
    let ended = match child.try_wait().unwrap() {
        Some(status) => Ended::ByItself(status.code()),
        None => {
            child.kill().unwrap();
            child.wait().unwrap();
            Ended::Killed
        }
    };
    world.release_holds();
    // Inside the metrics write only while its temporary is still there.
    let missed = matches!(kill, Kill::InMetricsWrite)
        && matches!(ended, Ended::Killed)
        && !world.files().iter().any(|name| is_metrics_temp(name));
    let ended = if missed { Ended::Missed } else { ended };
    drop(lines);
    let _ = stdout.join();
    let stderr = stderr.join().unwrap_or_default();
    match reached {
        Ok(true) => Ok(ended),
        Ok(false) if matches!(kill, Kill::InMetricsWrite) => Ok(Ended::Missed),
        Ok(false) => Err(format!(
            "the run ended before its kill point (the reference run made {} source and {} \
             destination requests): {stderr}",
            reference.source_requests,
            reference.dest_requests.len()
        )),
        Err(e) => Err(format!("{e}: {stderr}")),
    }
}

/// Waits until `control`'s armed request is held (true), or the run ended (false).
fn wait_held(child: &mut Child, control: &Control) -> Result<bool, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if control.hold.wait_held(Duration::from_millis(5)).is_some() {
            return Ok(true);
        }
        if child.try_wait().unwrap().is_some() {
            return Ok(false);
        }
        if Instant::now() > deadline {
            return Err("the run neither reached its kill point nor ended in 60 s".into());
        }
    }
}

/// Waits until every thread of process `pid` sleeps a few milliseconds in a row, so that a
/// run held on a request is killed with everything else it could do done (other requests
/// in flight, a page being committed on the state writer's thread): the same point on a
/// loaded machine as on an idle one. Linux says so in `/proc`; elsewhere this waits 20 ms.
fn settle(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut quiet = 0;
    while quiet < 3 && Instant::now() < deadline {
        match all_asleep(pid) {
            Some(true) => quiet += 1,
            Some(false) => quiet = 0,
            None => {
                std::thread::sleep(Duration::from_millis(20));
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Whether every thread of `pid` is asleep (state `S` in `/proc/<pid>/task/*/stat`); `None`
/// where `/proc` cannot tell.
fn all_asleep(pid: u32) -> Option<bool> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    for task in tasks {
        let stat = std::fs::read_to_string(task.ok()?.path().join("stat")).ok()?;
        // `pid (name) S ...`: the state follows the name, which may hold spaces.
        let state = stat.rsplit_once(") ")?.1.chars().next()?;
        if state != 'S' {
            return Some(false);
        }
    }
    Some(true)
}

/// Waits for the run's report (the end of its JSON, which comes right before the metrics
/// write), then watches the job's folder and returns as soon as a temporary of the metrics
/// file shows (true; the caller kills the run at once), or the run ended (false). The
/// temporary lives from its making to its rename (the write, an `fsync`): the kill lands
/// there or just after, which the caller tells apart by looking for it after the kill.
fn metrics_temp_shows(
    world: &World,
    child: &mut Child,
    lines: &mpsc::Receiver<String>,
) -> Result<bool, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match lines.recv_timeout(Duration::from_millis(5)) {
            Ok(line) if line == "}" => break,
            Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(false),
        }
        if Instant::now() > deadline {
            return Err("no report in 60 s".into());
        }
    }
    loop {
        // No sleep: the window is short, and this lasts a few milliseconds.
        if world.files().iter().any(|name| is_metrics_temp(name)) {
            return Ok(true);
        }
        if child.try_wait().unwrap().is_some() {
            return Ok(false);
        }
    }
}

/// Dates every file in the job's folder that is not among `kept` (what a run leaves there)
/// ten minutes back.
fn backdate(world: &World, kept: &BTreeSet<String>) {
    let then = std::time::SystemTime::now() - Duration::from_secs(600);
    for name in world.files().difference(kept) {
        let path = world.dir.path().join(name);
        if let Ok(file) = std::fs::File::options().write(true).open(&path) {
            let _ = file.set_modified(then);
        }
    }
}

/// The child's standard output, line by line, from a thread of its own.
fn read_lines(child: &mut Child) -> (mpsc::Receiver<String>, std::thread::JoinHandle<()>) {
    let stdout = child.stdout.take().unwrap();
    let (send, receive) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if send.send(line).is_err() {
                // Nobody listens any more: drain the rest.
                continue;
            }
        }
    });
    (receive, thread)
}

/// Everything `from` gives until its end, from a thread of its own.
fn read_all(mut from: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = from.read_to_string(&mut text);
        text
    })
}
