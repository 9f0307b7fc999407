//! `watch`: the real binary following the simulated Lumu's incident journal over HTTP and
//! writing to the simulated Apex Central. Bounds are generous (CI runs on 2 loaded cores):
//! what is measured is seconds, where the sync job takes up to half an hour.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apex_ioc_sync::ioc::IocKind;
use apex_ioc_sync::sim::lumu::{Endpoint, Expired, JournalMode, SimIncident};
use apex_ioc_sync::sim::taxii::{TaxiiSimConfig, indicator};
use apex_ioc_sync::sim::{BackgroundApex, BackgroundLumu};
use apex_ioc_sync::state::StateStore;

use crate::common::{
    apex_args, bin, entry, lumu_cmd, owned, start_apex, start_lumu, start_taxii, std_bin,
};

/// How long a pushed change may take to show, on a loaded CI machine.
const BOUND: Duration = Duration::from_secs(10);

/// Waits up to `bound` for `ready`; panics with `what` when it does not come.
fn wait_for(bound: Duration, what: &str, mut ready: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < bound, "not within {bound:?}: {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
    started.elapsed()
}

/// Whether the tag `lumu` owns an entry of `kind` with `content`.
fn listed(apex: &BackgroundApex, kind: &str, content: &str) -> bool {
    owned(apex, "lumu").contains(&format!("{kind} {content}"))
}

/// A running `watch`, killed when dropped. Its standard output and error go to files in
/// its folder, the log to `watch.log` there.
struct Watch {
    child: Arc<Mutex<Option<Child>>>,
    dir: PathBuf,
}

impl Watch {
    /// Starts `watch` in `dir` against both simulators, with `extra` options.
    fn start(dir: &Path, apex: &BackgroundApex, lumu: &BackgroundLumu, extra: &[&str]) -> Self {
        let mut cmd = std_bin(dir);
        cmd.arg("watch")
            .args(apex_args(apex))
            .args([
                "--lumu-url",
                &lumu.url(),
                "--company-key",
                lumu.sim.company_key(),
            ])
            .args(["--long-poll-seconds", "2", "--log-file", "watch.log", "-v"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("watch.out")).unwrap())
            .stderr(std::fs::File::create(dir.join("watch.err")).unwrap());
        Watch {
            child: Arc::new(Mutex::new(Some(cmd.spawn().expect("watch starts")))),
            dir: dir.to_owned(),
        }
    }

    #[cfg(unix)]
    fn pid(&self) -> u32 {
        self.child.lock().unwrap().as_ref().unwrap().id()
    }

    /// The log so far.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("watch.log")).unwrap_or_default()
    }

    /// Standard error so far.
    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("watch.err")).unwrap_or_default()
    }

    /// Kills it (SIGKILL on Unix, TerminateProcess on Windows) and waits for it.
    fn kill(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A closure that kills it, for the simulator to call while a request is in flight.
    fn killer(&self) -> impl FnOnce() + Send + 'static {
        let child = self.child.clone();
        move || {
            if let Some(child) = child.lock().unwrap().as_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Waits up to `bound` for it to exit by itself.
    #[cfg(unix)]
    fn exit_within(&self, bound: Duration) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self
                .child
                .lock()
                .unwrap()
                .as_mut()
                .unwrap()
                .try_wait()
                .unwrap()
            {
                return status;
            }
            assert!(
                started.elapsed() < bound,
                "watch did not exit within {bound:?}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Whether it is still running.
    fn running(&self) -> bool {
        let mut child = self.child.lock().unwrap();
        matches!(child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.kill();
    }
}

fn incident(id: &str, adversaries: &[&str]) -> SimIncident {
    SimIncident::open(id, chrono::Duration::hours(1), adversaries, &["C2C"])
}

/// Where the state file of the tag `lumu` says the stream stands.
fn committed_offset(dir: &Path) -> Option<u64> {
    let store = StateStore::open(&dir.join("apex-ioc-sync-lumu.db")).unwrap();
    store.stream_position("lumu").unwrap().map(|p| p.offset)
}

#[test]
fn a_new_incident_is_pushed_within_seconds_and_a_close_removes_what_no_other_holds() {
    let (apex, lumu) = (start_apex(), start_lumu());
    lumu.sim
        .add(incident("inc-a", &["a.example", "shared.example"]));
    // Open throughout: a source that gives nothing would engage the removal brake, as in
    // the sync job.
    lumu.sim.add(incident("inc-keep", &["keep.example"]));
    // Someone's own entry equal to an IOC the new incident brings: never touched.
    apex.sim
        .insert(entry("domain", "soc.example", "blocked by the SOC"));
    let dir = tempfile::tempdir().unwrap();
    let watch = Watch::start(dir.path(), &apex, &lumu, &[]);
    wait_for(BOUND, "the first full sync", || {
        listed(&apex, "domain", "a.example")
    });

    lumu.sim.open_incident(
        incident("inc-b", &["b.example", "shared.example", "soc.example"])
            .with_triggers(&["https://b.example/gate.php"]),
    );
    let took = wait_for(BOUND, "the new incident's IOCs", || {
        listed(&apex, "url", "https://b.example/gate.php")
    });
    assert!(listed(&apex, "domain", "b.example"));
    eprintln!("pushed {took:?} after the incident opened");
    let notes: Vec<String> = apex
        .sim
        .all_entries()
        .into_iter()
        .filter(|e| e.content == "b.example")
        .map(|e| e.notes)
        .collect();
    assert_eq!(notes, ["apex-ioc-sync:lumu C2C incident inc-b"]);
    assert_eq!(
        apex.sim
            .all_entries()
            .into_iter()
            .find(|e| e.content == "soc.example")
            .unwrap()
            .notes,
        "blocked by the SOC"
    );

    // Closing A takes its own IOC off; the one B holds too stays.
    lumu.sim.set_status("inc-a", "closed");
    wait_for(BOUND, "the closed incident's IOC removed", || {
        !listed(&apex, "domain", "a.example")
    });
    assert!(listed(&apex, "domain", "shared.example"));
    assert!(listed(&apex, "domain", "b.example"));

    // Muting B takes the rest of it off.
    lumu.sim.set_status("inc-b", "muted");
    wait_for(BOUND, "the muted incident's IOCs removed", || {
        owned(&apex, "lumu") == ["domain keep.example"]
    });
    assert_eq!(apex.sim.all_entries().len(), 2, "the SOC's entry stays");
    // The stream did it all: one full sync (the first), and no poll loop.
    assert_eq!(lumu.sim.calls(Endpoint::Incidents), 1);
    assert!(watch.running(), "{}", watch.stderr());
}

#[test]
fn a_kill_between_the_writes_and_the_commit_and_a_restart_lose_no_event() {
    let (apex, lumu) = (start_apex(), start_lumu());
    lumu.sim.add(incident("inc-a", &["a.example"]));
    lumu.sim.add(incident("inc-keep", &["keep.example"]));
    let dir = tempfile::tempdir().unwrap();
    let watch = Watch::start(dir.path(), &apex, &lumu, &[]);
    wait_for(BOUND, "the first full sync", || {
        listed(&apex, "domain", "a.example")
    });
    wait_for(BOUND, "the first commit", || {
        committed_offset(dir.path()).is_some()
    });
    let before = committed_offset(dir.path()).unwrap();
    // The next PUT (the new incident's) kills the watch before it is answered: after its
    // write reached the server, before the batch's commit.
    let puts = apex.sim.control.stats.count("PUT");
    let kill = watch.killer();
    apex.sim
        .on_request(reqwest::Method::PUT, puts + 1, move |_| kill());
    lumu.sim.open_incident(incident("inc-b", &["b.example"]));
    wait_for(BOUND, "the kill", || !watch.running());
    assert_eq!(
        committed_offset(dir.path()),
        Some(before),
        "the batch was not committed"
    );
    // While it is down: a new incident, and one closed.
    lumu.sim.open_incident(incident("inc-c", &["c.example"]));
    lumu.sim.set_status("inc-a", "closed");

    let watch = Watch::start(dir.path(), &apex, &lumu, &[]);
    wait_for(BOUND, "every event applied after the restart", || {
        owned(&apex, "lumu")
            == [
                "domain b.example",
                "domain c.example",
                "domain keep.example",
            ]
    });
    // From the stored offset, not from a full sync (not due yet).
    assert_eq!(lumu.sim.calls(Endpoint::Incidents), 1, "{}", watch.log());
    assert!(watch.log().contains("resuming Lumu's journal at offset"));
    wait_for(BOUND, "the commit", || {
        committed_offset(dir.path()) == Some(lumu.sim.journal_end())
    });
}

#[test]
fn a_full_sync_every_reconcile_minutes_restores_an_entry_deleted_by_hand() {
    let (apex, lumu) = (start_apex(), start_lumu());
    lumu.sim.add(incident("inc-a", &["a.example", "b.example"]));
    let dir = tempfile::tempdir().unwrap();
    let watch = Watch::start(dir.path(), &apex, &lumu, &["--reconcile-minutes", "0.05"]);
    wait_for(BOUND, "the first full sync", || {
        listed(&apex, "domain", "b.example")
    });
    assert!(apex.sim.remove(IocKind::Domain, "b.example"));
    wait_for(BOUND, "the next full sync", || {
        listed(&apex, "domain", "b.example")
    });
    assert!(lumu.sim.calls(Endpoint::Incidents) >= 2, "{}", watch.log());
}

#[test]
fn a_scheduled_sync_of_the_same_tag_exits_3_while_watch_runs() {
    let (apex, lumu) = (start_apex(), start_lumu());
    lumu.sim.add(incident("inc-a", &["a.example"]));
    let dir = tempfile::tempdir().unwrap();
    let watch = Watch::start(dir.path(), &apex, &lumu, &[]);
    wait_for(BOUND, "the first full sync", || {
        listed(&apex, "domain", "a.example")
    });
    let out = lumu_cmd(dir.path(), &apex, &lumu).assert().code(3);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("Another instance is running"), "{stderr}");
    // Another tag is another job.
    lumu_cmd(dir.path(), &apex, &lumu)
        .args(["--tag", "other"])
        .assert()
        .success();
    assert!(watch.running());
}

#[cfg(unix)]
#[test]
fn sigterm_stops_it_within_seconds_with_exit_0_a_usable_state_file_and_the_lock_released() {
    let (apex, lumu) = (start_apex(), start_lumu());
    lumu.sim.add(incident("inc-a", &["a.example"]));
    let dir = tempfile::tempdir().unwrap();
    // A long poll of a minute: the signal comes while the journal is being waited on.
    let watch = Watch::start(dir.path(), &apex, &lumu, &["--long-poll-seconds", "60"]);
    wait_for(BOUND, "the first commit", || {
        committed_offset(dir.path()).is_some()
    });
    lumu.sim.open_incident(incident("inc-b", &["b.example"]));
    wait_for(BOUND, "the new incident", || {
        listed(&apex, "domain", "b.example")
    });
    wait_for(BOUND, "its commit", || {
        committed_offset(dir.path()) == Some(lumu.sim.journal_end())
    });
    let signalled = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &watch.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = watch.exit_within(Duration::from_secs(5));
    assert_eq!(exit.code(), Some(0), "{}", watch.stderr());
    eprintln!("stopped {:?} after SIGTERM", signalled.elapsed());
    assert!(watch.log().contains("SIGTERM: stopping"), "{}", watch.log());
    // The lock is free, and the state file holds where the stream stands.
    apex_ioc_sync::lock::InstanceLock::acquire(&dir.path().join("apex-ioc-sync-lumu.lock"))
        .unwrap();
    assert_eq!(committed_offset(dir.path()), Some(lumu.sim.journal_end()));
    let store = StateStore::open(&dir.path().join("apex-ioc-sync-lumu.db")).unwrap();
    let mut ids: Vec<String> = store
        .watched_incidents("lumu")
        .unwrap()
        .into_keys()
        .collect();
    ids.sort();
    assert_eq!(ids, ["inc-a", "inc-b"]);
}

#[test]
fn a_journal_that_answers_at_once_is_not_asked_more_than_once_per_wait() {
    let (apex, lumu) = (start_apex(), start_lumu());
    lumu.sim.add(incident("inc-a", &["a.example"]));
    lumu.sim.set_journal_mode(JournalMode {
        no_long_poll: true,
        ..JournalMode::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let _watch = Watch::start(dir.path(), &apex, &lumu, &[]);
    wait_for(BOUND, "the first full sync", || {
        listed(&apex, "domain", "a.example")
    });
    let before = lumu.sim.calls(Endpoint::Updates);
    std::thread::sleep(Duration::from_secs(6));
    let calls = lumu.sim.calls(Endpoint::Updates) - before;
    // One call per 2-second wait, not a busy loop.
    assert!((2..=4).contains(&calls), "{calls} calls in 6 s");
    // And an event still comes through, within a wait.
    lumu.sim.open_incident(incident("inc-b", &["b.example"]));
    wait_for(BOUND, "the new incident", || {
        listed(&apex, "domain", "b.example")
    });
}

#[test]
fn status_events_that_name_the_incident_only_still_let_it_go() {
    let (apex, lumu) = (start_apex(), start_lumu());
    lumu.sim.add(incident("inc-keep", &["keep.example"]));
    lumu.sim.set_journal_mode(JournalMode {
        status_by_id: true,
        ..JournalMode::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let watch = Watch::start(dir.path(), &apex, &lumu, &[]);
    wait_for(BOUND, "the first full sync", || {
        listed(&apex, "domain", "keep.example")
    });
    lumu.sim.open_incident(incident("inc-b", &["b.example"]));
    wait_for(BOUND, "the new incident", || {
        listed(&apex, "domain", "b.example")
    });
    lumu.sim.set_status("inc-b", "closed");
    wait_for(BOUND, "the close, by id", || {
        !listed(&apex, "domain", "b.example")
    });
    // A new incident named by id only cannot be pushed by the stream: it is warned about
    // (the next full sync covers it).
    lumu.sim
        .push_event(serde_json::json!({"NewIncidentCreated": {"incidentId": "inc-x"}}));
    wait_for(BOUND, "the warning", || {
        watch.log().contains("the next full sync covers it")
    });
}

#[test]
fn a_refused_offset_after_a_restart_starts_over_from_the_journals_end_with_a_full_sync() {
    let (apex, lumu) = (start_apex(), start_lumu());
    lumu.sim.add(incident("inc-a", &["a.example"]));
    lumu.sim.set_journal_mode(JournalMode {
        expired: Expired::Refuse,
        ..JournalMode::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let watch = Watch::start(dir.path(), &apex, &lumu, &[]);
    lumu.sim.open_incident(incident("inc-b", &["b.example"]));
    wait_for(BOUND, "the new incident", || {
        listed(&apex, "domain", "b.example")
    });
    wait_for(BOUND, "its commit", || {
        committed_offset(dir.path()) == Some(lumu.sim.journal_end())
    });
    watch.kill();
    // While it is down an incident opens, and the journal drops what it held.
    lumu.sim.open_incident(incident("inc-c", &["c.example"]));
    lumu.sim.open_incident(incident("inc-d", &["d.example"]));
    lumu.sim.expire_journal(lumu.sim.journal_end());
    let watch = Watch::start(dir.path(), &apex, &lumu, &[]);
    wait_for(BOUND, "the missed incidents, by a full sync", || {
        listed(&apex, "domain", "c.example") && listed(&apex, "domain", "d.example")
    });
    assert!(watch.log().contains("refuses offset"), "{}", watch.log());
    assert_eq!(lumu.sim.calls(Endpoint::Incidents), 2);
    // And it follows the journal from there.
    lumu.sim.open_incident(incident("inc-e", &["e.example"]));
    wait_for(BOUND, "a new incident after that", || {
        listed(&apex, "domain", "e.example")
    });
}

#[test]
fn an_apex_outage_holds_the_batch_until_apex_answers_again() {
    let (apex, lumu) = (start_apex(), start_lumu());
    lumu.sim.add(incident("inc-a", &["a.example"]));
    let dir = tempfile::tempdir().unwrap();
    let watch = Watch::start(dir.path(), &apex, &lumu, &[]);
    wait_for(BOUND, "the first commit", || {
        committed_offset(dir.path()).is_some()
    });
    let before = committed_offset(dir.path());
    apex.sim
        .control
        .faults
        .error_5xx_after(apex.sim.control.stats.total());
    lumu.sim.open_incident(incident("inc-b", &["b.example"]));
    wait_for(BOUND * 2, "the failed batch", || {
        watch
            .log()
            .contains("applying Lumu's incident events failed")
    });
    assert_eq!(committed_offset(dir.path()), before, "nothing committed");
    apex.sim.control.faults.clear();
    wait_for(BOUND * 2, "the batch, once Apex answers", || {
        listed(&apex, "domain", "b.example")
    });
    assert!(watch.running());
}

#[test]
fn a_lumu_outage_is_waited_out() {
    let (apex, lumu) = (start_apex(), start_lumu());
    lumu.sim.add(incident("inc-a", &["a.example"]));
    let dir = tempfile::tempdir().unwrap();
    let watch = Watch::start(dir.path(), &apex, &lumu, &[]);
    wait_for(BOUND, "the first commit", || {
        committed_offset(dir.path()).is_some()
    });
    lumu.sim
        .control
        .faults
        .error_5xx_after(lumu.sim.control.stats.total());
    wait_for(BOUND * 3, "the failed read", || {
        watch
            .log()
            .contains("reading Lumu's incident journal failed")
    });
    lumu.sim.control.faults.clear();
    lumu.sim.open_incident(incident("inc-b", &["b.example"]));
    wait_for(BOUND * 2, "the incident, once Lumu answers", || {
        listed(&apex, "domain", "b.example")
    });
    assert!(watch.running());
}

#[test]
fn the_metrics_file_gets_the_watch_gauges() {
    let (apex, lumu) = (start_apex(), start_lumu());
    lumu.sim.add(incident("inc-a", &["a.example"]));
    let dir = tempfile::tempdir().unwrap();
    let prom = dir.path().join("watch.prom");
    let _watch = Watch::start(
        dir.path(),
        &apex,
        &lumu,
        &["--metrics-file", prom.to_str().unwrap()],
    );
    wait_for(BOUND, "the first commit", || {
        committed_offset(dir.path()).is_some()
    });
    lumu.sim.open_incident(incident("inc-b", &["b.example"]));
    let labels = r#"tag="lumu",source="lumu",sink="apex""#;
    let applied = format!("apex_ioc_sync_watch_events{{{labels},result=\"applied\"}} 1\n");
    wait_for(BOUND, "the gauges of the applied event", || {
        std::fs::read_to_string(&prom).is_ok_and(|t| t.contains(&applied))
    });
    let text = std::fs::read_to_string(&prom).unwrap();
    for family in [
        "apex_ioc_sync_last_run_exit_code",
        "apex_ioc_sync_watch_last_poll_timestamp_seconds",
        "apex_ioc_sync_watch_last_event_timestamp_seconds",
        "apex_ioc_sync_watch_lag_seconds",
        "apex_ioc_sync_watch_lumu_calls",
        "apex_ioc_sync_watch_journal_offset",
    ] {
        assert!(
            text.contains(&format!("{family}{{{labels}")),
            "{family}: {text}"
        );
    }
}

#[test]
fn options_that_do_not_apply_to_a_watch_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let base = [
        "watch",
        "--host",
        "http://127.0.0.1:9",
        "--application-id",
        "a",
    ];
    for (extra, says) in [
        (
            &[
                "--api-key",
                "key-0123",
                "--company-key",
                "company-0123",
                "--clean",
            ][..],
            "watch does not take --clean",
        ),
        (
            &[
                "--api-key",
                "key-0123",
                "--company-key",
                "company-0123",
                "--dry-run",
            ],
            "watch does not take --dry-run",
        ),
        (
            &[
                "--api-key",
                "key-0123",
                "--company-key",
                "company-0123",
                "--json",
            ],
            "watch does not take --json",
        ),
        (
            &[
                "--api-key",
                "key-0123",
                "--company-key",
                "company-0123",
                "--poll-seconds",
                "60",
            ],
            "--poll-seconds does not apply to watch --source lumu",
        ),
        (
            &[
                "--api-key",
                "key-0123",
                "--source",
                "file",
                "--file",
                "x.txt",
                "--reconcile-minutes",
                "5",
            ],
            "--reconcile-minutes does not apply to watch --source file",
        ),
    ] {
        let out = crate::common::bin(dir.path())
            .args(base)
            .args(extra)
            .assert()
            .code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(stderr.contains(says), "{extra:?}: {stderr}");
    }
    // watch's own options in a .config: read by watch, left by the sync job.
    std::fs::write(
        dir.path().join(".config"),
        "reconcile-minutes=0.5\nlong-poll-seconds=5\n",
    )
    .unwrap();
    let out = crate::common::bin(dir.path())
        .args(["watch", "--poll-seconds", "60"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("--poll-seconds does not apply"), "{stderr}");
    std::fs::write(dir.path().join(".config"), "reconcile-minutes=0\n").unwrap();
    let out = crate::common::bin(dir.path()).arg("watch").assert().code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains(".config:1") && stderr.contains("reconcile-minutes"),
        "{stderr}"
    );
}

#[test]
fn a_taxii_watch_reads_the_feed_every_poll_seconds() {
    let apex = start_apex();
    let taxii = start_taxii(TaxiiSimConfig::default());
    let collection = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";
    taxii
        .sim
        .add_collection(collection, "Indicators", Some("ind"), true);
    let when = chrono::Utc::now() - chrono::Duration::hours(1);
    taxii.sim.add_object(
        collection,
        when,
        indicator("indicator--1", "[ipv4-addr:value = '198.51.100.7']", when),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std_bin(dir.path());
    cmd.arg("watch")
        .args(apex_args(&apex))
        .args(["--source", "taxii", "--taxii-url", &taxii.discovery_url()])
        .args(["--poll-seconds", "1", "--log-file", "watch.log"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let watch = Watch {
        child: Arc::new(Mutex::new(Some(cmd.spawn().unwrap()))),
        dir: dir.path().to_owned(),
    };
    wait_for(BOUND, "the first read", || {
        owned(&apex, "taxii") == ["ip 198.51.100.7"]
    });
    let now = chrono::Utc::now();
    taxii.sim.add_object(
        collection,
        now,
        indicator("indicator--2", "[domain-name:value = 'new.example']", now),
    );
    wait_for(BOUND, "the next read", || {
        owned(&apex, "taxii").contains(&"domain new.example".to_owned())
    });
    assert!(watch.running(), "{}", watch.log());
}

/// `simulate`'s Lumu takes new incidents (`POST /sim/incidents`) and Lumu's own close call
/// while a watch follows it, as its banner says.
#[test]
fn a_watch_follows_simulate_as_its_banner_shows() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut sim = std_bin(dir.path());
    sim.arg("simulate")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let sim = Watch {
        child: Arc::new(Mutex::new(Some(sim.spawn().unwrap()))),
        dir: dir.path().to_owned(),
    };
    let stdout = sim
        .child
        .lock()
        .unwrap()
        .as_mut()
        .unwrap()
        .stdout
        .take()
        .unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let (mut watch_args, mut open_url) = (String::new(), String::new());
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(args) = line.strip_prefix("  apex-ioc-sync watch ") {
            watch_args = args.to_owned();
        }
        if let Some(url) = line
            .split('\'')
            .nth(1)
            .filter(|u| u.contains("/sim/incidents"))
        {
            open_url = url.to_owned();
        }
        if line.starts_with("The simulators keep") {
            break;
        }
    }
    let drain = std::thread::spawn(move || lines.count());
    assert!(!watch_args.is_empty() && !open_url.is_empty());
    let mut cmd = std_bin(dir.path());
    cmd.arg("watch")
        .args(watch_args.split(' '))
        .args(["--long-poll-seconds", "2", "--log-file", "watch.log"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let watch = Watch {
        child: Arc::new(Mutex::new(Some(cmd.spawn().unwrap()))),
        dir: dir.path().to_owned(),
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let post = |url: &str, body: &str| -> String {
        runtime.block_on(async {
            let answer = reqwest::Client::new()
                .post(url)
                .body(body.to_owned())
                .send()
                .await
                .unwrap();
            assert!(answer.status().is_success(), "{url}: {}", answer.status());
            answer.text().await.unwrap()
        })
    };
    let list = || {
        crate::common::bin(dir.path())
            .args(["udso", "list", "--type", "domain"])
            .args(watch_args.split(' ').take(6))
            .output()
            .unwrap()
    };
    let shows = |content: &str| String::from_utf8_lossy(&list().stdout).contains(content);
    wait_for(BOUND, "the first full sync", || shows("c2.badguys.example"));
    let opened = post(
        &open_url,
        r#"{"adversaries": ["fresh-c2.example"], "adversaryTypes": ["C2C"]}"#,
    );
    let id = serde_json::from_str::<serde_json::Value>(&opened).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for(BOUND, "the new incident", || shows("fresh-c2.example"));
    post(
        &open_url.replace("/sim/incidents", &format!("/api/incidents/{id}/close")),
        r#"{"comment": "handled"}"#,
    );
    wait_for(BOUND, "the closed incident", || !shows("fresh-c2.example"));
    assert!(watch.running(), "{}", watch.log());
    sim.kill();
    drain.join().unwrap();
}

/// `demo` ends with a watch: an incident opened while it follows the simulated Lumu is on
/// the list, and off it once closed.
#[test]
fn the_demo_shows_a_watch() {
    let dir = tempfile::tempdir().unwrap();
    for sink in ["apex", "vision-one"] {
        let out = crate::common::bin(dir.path())
            .args(["demo", "--sink", sink])
            .assert()
            .success();
        let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        assert!(stdout.contains("== Run 4: apex-ioc-sync watch"), "{stdout}");
        assert!(
            stdout.contains("The new incident's IOCs were on the list "),
            "{stdout}"
        );
        assert!(stdout.contains("lumu stream (tag lumu)"), "{stdout}");
    }
}

/// Lumu sends `IncidentUpdated` for every new contact. One whose context gained a trigger
/// pushes it; then, the context is read again at most every 10 minutes per incident, and an
/// update that brings no new IOC costs no call to Apex at all.
#[test]
fn an_update_writes_only_what_it_changes() {
    let (apex, lumu) = (start_apex(), start_lumu());
    lumu.sim.add(incident("inc-a", &["a.example"]));
    let dir = tempfile::tempdir().unwrap();
    let watch = Watch::start(dir.path(), &apex, &lumu, &[]);
    wait_for(BOUND, "the first commit", || {
        committed_offset(dir.path()).is_some()
    });
    let contexts = lumu.sim.calls(Endpoint::Context);
    lumu.sim
        .touch("inc-a", Some("https://a.example/new-gate.php"));
    wait_for(BOUND, "the new trigger", || {
        listed(&apex, "url", "https://a.example/new-gate.php")
    });
    assert_eq!(lumu.sim.calls(Endpoint::Context), contexts + 1);
    wait_for(BOUND, "the update's commit", || {
        committed_offset(dir.path()) == Some(lumu.sim.journal_end())
    });
    let requests = apex.sim.control.stats.total();
    lumu.sim.touch("inc-a", None);
    wait_for(BOUND, "the second update's commit", || {
        committed_offset(dir.path()) == Some(lumu.sim.journal_end())
    });
    assert_eq!(apex.sim.control.stats.total(), requests, "{}", watch.log());
    assert_eq!(
        lumu.sim.calls(Endpoint::Context),
        contexts + 1,
        "not read again within 10 minutes"
    );
}

/// A journal that answers a lower offset than the one asked for (it was reset: a stored
/// offset past its end) is followed from there: no later event is lost.
#[test]
fn a_journal_that_went_back_is_followed_from_where_it_answers() {
    let apex = start_apex();
    let key = apex_ioc_sync::sim::lumu::LumuSim::random_key();
    let lumu = BackgroundLumu::start(&key).unwrap();
    lumu.sim.add(incident("inc-a", &["a.example"]));
    let dir = tempfile::tempdir().unwrap();
    let watch = Watch::start(dir.path(), &apex, &lumu, &[]);
    for id in ["inc-b", "inc-c"] {
        lumu.sim
            .open_incident(incident(id, &[&format!("{id}.example")]));
    }
    wait_for(BOUND, "the new incidents", || {
        listed(&apex, "domain", "inc-c.example")
    });
    wait_for(BOUND, "their commit", || {
        committed_offset(dir.path()) == Some(lumu.sim.journal_end())
    });
    watch.kill();
    // The same company, its journal started over (the simulator anew, at offset 0).
    let reset = BackgroundLumu::start(&key).unwrap();
    for i in lumu.sim.incidents() {
        reset.sim.add(i);
    }
    drop(lumu);
    let watch = Watch::start(dir.path(), &apex, &reset, &[]);
    wait_for(BOUND, "the journal followed from its new start", || {
        watch.log().contains("to a call at offset")
    });
    reset
        .sim
        .open_incident(incident("inc-d", &["inc-d.example"]));
    wait_for(BOUND, "an incident of the reset journal", || {
        listed(&apex, "domain", "inc-d.example")
    });
}

/// Every sync of a watch (the first full sync, and each batch of the stream) is a run in
/// the journal, with its writes: `history` lists them, `explain` names the run that added an
/// IOC.
#[test]
fn the_watch_s_writes_are_in_the_journal() {
    let (apex, lumu) = (start_apex(), start_lumu());
    lumu.sim.add(incident("inc-keep", &["keep.example"]));
    let dir = tempfile::tempdir().unwrap();
    let watch = Watch::start(dir.path(), &apex, &lumu, &[]);
    wait_for(BOUND, "the first full sync", || {
        listed(&apex, "domain", "keep.example")
    });
    lumu.sim.open_incident(incident("inc-b", &["b.example"]));
    let history = || {
        let out = bin(dir.path())
            .args(["history", "--json"])
            .assert()
            .success();
        let runs: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        runs.as_array().unwrap().clone()
    };
    // The IOC is on the list once its PUT is answered; the run ends in the journal just after.
    wait_for(BOUND, "the stream's run ended in the journal", || {
        history()
            .iter()
            .any(|r| r["source"] == "lumu stream" && !r["exit_code"].is_null())
    });
    assert!(listed(&apex, "domain", "b.example"));
    watch.kill();

    let runs = history();
    let sources: Vec<&str> = runs.iter().map(|r| r["source"].as_str().unwrap()).collect();
    assert_eq!(
        sources.last(),
        Some(&"lumu"),
        "the full sync first: {runs:?}"
    );
    let stream = runs
        .iter()
        .find(|r| r["source"] == "lumu stream" && r["plan"]["add"] == 1)
        .unwrap_or_else(|| panic!("a stream run that added: {runs:?}"));
    assert_eq!(stream["exit_code"], 0);
    let id = stream["id"].as_str().unwrap();
    let out = bin(dir.path())
        .args(["history", id, "--json"])
        .assert()
        .success();
    let writes: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let writes: Vec<String> = writes
        .as_array()
        .unwrap()
        .iter()
        .map(|w| format!("{} {} {}", w["op"], w["content"], w["result"]))
        .collect();
    assert_eq!(writes, [r#""add" "b.example" "done""#]);

    let out = bin(dir.path())
        .arg("explain")
        .args(apex_args(&apex))
        .args(["b.example"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains(id), "explain names the stream's run: {text}");
}
