//! `watch`: the real binary following the simulated Lumu's incident journal over HTTP and
//! writing to the simulated Apex Central. Bounds are generous (CI runs on 2 loaded cores):
//! what is measured is seconds, where the sync job takes up to half an hour.

use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apex_ioc_sync::ioc::IocKind;
use apex_ioc_sync::lock::InstanceLock;
use apex_ioc_sync::sim::lumu::{Endpoint, Expired, JournalMode, SimIncident};
use apex_ioc_sync::sim::taxii::{TaxiiSimConfig, indicator};
use apex_ioc_sync::sim::{BackgroundApex, BackgroundLumu};
use apex_ioc_sync::state::StateStore;

use crate::common::{
    apex_args, entry, lumu_cmd, owned, start_apex, start_lumu, start_taxii, std_bin,
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
            .args(["--lumu-url", &lumu.url(), "--company-key", lumu.sim.company_key()])
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
    fn exit_within(&self, bound: Duration) -> ExitStatus {
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
