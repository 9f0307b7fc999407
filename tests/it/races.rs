//! No take-over by a race: an entry someone adds while a run is under way is never
//! overwritten, and jobs of different tags on one server can be kept from running at once
//! (`--lock-scope destination`). The real binary against the simulated Apex Central.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use apex_ioc_sync::lock::InstanceLock;
use apex_ioc_sync::sim::BackgroundApex;
use axum::http::Method;

use crate::common::*;

/// A plain list of `domains` at `dir/name`.
fn list(dir: &Path, name: &str, domains: impl IntoIterator<Item = String>) -> std::path::PathBuf {
    let path = dir.join(name);
    let text: String = domains.into_iter().map(|d| d + "\n").collect();
    std::fs::write(&path, text).unwrap();
    path
}

fn domain(n: usize) -> String {
    format!("d{n:03}.example")
}

/// The arguments of the file job of `tag` over the list at `file`, domains only.
fn file_job(apex: &BackgroundApex, tag: &str, file: &Path) -> Vec<String> {
    let mut args = apex_args(apex);
    args.extend(
        [
            "--source",
            "file",
            "--ioc-types",
            "domain",
            "--tag",
            tag,
            "--file",
        ]
        .map(String::from),
    );
    args.push(file.display().to_string());
    args
}

fn spawn(dir: &Path, args: &[String]) -> Child {
    std_bin(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The exit code of a spawned job, and its standard error.
fn finish(child: Child) -> (i32, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn notes_of(apex: &BackgroundApex, content: &str) -> Option<String> {
    apex.sim
        .all_entries()
        .into_iter()
        .find(|e| e.content == content)
        .map(|e| e.notes)
}

/// A person adds `taken.example` by hand after the run listed the domains and before its
/// add: the run lists the type again right before its adds, leaves the person's entry as it
/// is, says so, and adds the rest.
#[test]
fn an_entry_added_between_the_listing_and_the_add_is_left_alone_and_reported() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let file = list(
        dir.path(),
        "iocs.txt",
        ["free.example", "taken.example"].map(String::from),
    );
    let person = || entry("domain", "Taken.Example", "added by hand (ticket 7)");
    // GET 1 is the access check, GET 2 the domain list the plan is made from; whatever
    // comes next (listing again, or without it the first add) finds the person's entry.
    apex.sim
        .on_request(Method::GET, 3, move |sim| sim.insert(person()));
    apex.sim
        .on_request(Method::PUT, 1, move |sim| sim.insert(person()));
    let out = bin(dir.path())
        .args(file_job(&apex, "file", &file))
        .args(["--threads", "1", "--json"])
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(report["plan"]["add"], 2);
    assert_eq!(report["taken_meanwhile"], 1, "{report:#}");
    assert_eq!(report["put"], 1);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("taken.example")
            && stderr.contains("is now listed without the tag file")
            && stderr.contains("not added"),
        "{stderr}"
    );
    assert_eq!(
        notes_of(&apex, "Taken.Example").as_deref(),
        Some("added by hand (ticket 7)"),
        "the person's entry is untouched"
    );
    assert_eq!(owned(&apex, "file"), ["domain free.example"]);
    // The next run: GET 4 and 5 are its access check and list, GET 6 the list again right
    // before its add; the summary line says what happened.
    apex.sim.on_request(Method::GET, 6, |sim| {
        sim.insert(entry("domain", "late.example", "added by hand"));
    });
    let late = list(
        dir.path(),
        "late.txt",
        ["free.example", "late.example"].map(String::from),
    );
    let out = bin(dir.path())
        .args(file_job(&apex, "file", &late))
        .assert()
        .success();
    let (stdout, _) = output_text(out.get_output());
    assert!(
        stdout.contains("1 not written (taken meanwhile by an entry without the tag)"),
        "{stdout}"
    );
    assert_eq!(
        notes_of(&apex, "late.example").as_deref(),
        Some("added by hand")
    );
}

/// The listing right before the adds comes back without `Data`: none of that type's adds
/// is made (each reported as failed, exit 4), and the next run makes them.
#[test]
fn adds_whose_type_cannot_be_listed_again_are_not_made() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let file = list(dir.path(), "iocs.txt", ["a.example".to_owned()]);
    apex.sim
        .on_request(Method::GET, 3, |sim| sim.answer_without_data(true));
    let out = bin(dir.path())
        .args(file_job(&apex, "file", &file))
        .assert()
        .code(4);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("a.example")
            && stderr.contains(
                "not added: the domain list could not be read again right before the adds"
            )
            && stderr.contains("no `Data`"),
        "{stderr}"
    );
    assert_eq!(apex.sim.control.stats.count("PUT"), 0);
    apex.sim.answer_without_data(false);
    bin(dir.path())
        .args(file_job(&apex, "file", &file))
        .assert()
        .success();
    assert_eq!(owned(&apex, "file"), ["domain a.example"]);
}

/// An update is a blind upsert too: when the entry to renew is edited by hand between the
/// listing and the update (its notes no longer carry the tag), it is not rewritten.
#[test]
fn an_entry_edited_before_its_update_is_not_rewritten() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let file = list(dir.path(), "iocs.txt", ["renew.example".to_owned()]);
    // Ours, expiring in two days: the plan renews it.
    let mut ours = entry("domain", "renew.example", "apex-ioc-sync:file x");
    ours.expiration_utc_date = Some((chrono::Utc::now() + chrono::Duration::days(2)).naive_utc());
    apex.sim.insert(ours.clone());
    let edited = move |sim: &apex_ioc_sync::sim::apex::ApexSim| {
        sim.insert(apex_ioc_sync::apex::udso::UdsoEntry {
            notes: "kept by the SOC".into(),
            ..ours.clone()
        })
    };
    apex.sim.on_request(Method::GET, 3, edited.clone());
    apex.sim.on_request(Method::PUT, 1, edited);
    let out = bin(dir.path())
        .args(file_job(&apex, "file", &file))
        .arg("--json")
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(report["plan"]["update"], 1);
    assert_eq!(report["taken_meanwhile"], 1, "{report:#}");
    assert_eq!(
        notes_of(&apex, "renew.example").as_deref(),
        Some("kept by the SOC")
    );
}

/// The case: two jobs of different tags push overlapping sets of domains to one
/// server at the same moment. With `--lock-scope destination` they never write at once:
/// one runs, the other exits 3 (or runs after it) and, on its next run, leaves the first's
/// entries alone. No entry is ever written by both (200 domains, 200 puts), each is owned
/// by one tag, and a later run of one job whose source dropped its domains removes its own
/// entries and none of the other's.
#[test]
fn two_tags_on_one_server_at_once_never_take_each_others_entries() {
    let apex = start_apex();
    apex.sim
        .control
        .faults
        .set_latency(Duration::from_millis(10));
    let dir = tempfile::tempdir().unwrap();
    let a = list(dir.path(), "a.txt", (0..150).map(domain));
    let b = list(dir.path(), "b.txt", (50..200).map(domain));
    let job = |tag: &str, file: &Path| {
        let mut args = file_job(&apex, tag, file);
        args.extend(["--lock-scope", "destination"].map(String::from));
        args
    };
    let (job_a, job_b) = (job("a", &a), job("b", &b));
    let (first, second) = (spawn(dir.path(), &job_a), spawn(dir.path(), &job_b));
    let (code_a, err_a) = finish(first);
    let (code_b, err_b) = finish(second);
    for (code, stderr, args) in [(code_a, &err_a, &job_a), (code_b, &err_b, &job_b)] {
        match code {
            0 => {}
            // Its next scheduled run, once the other is done.
            3 => {
                assert!(stderr.contains("Another instance is running"), "{stderr}");
                bin(dir.path()).args(args).assert().success();
            }
            _ => panic!("exit {code}: {stderr}"),
        }
    }
    let (owned_a, owned_b) = (owned(&apex, "a"), owned(&apex, "b"));
    assert_eq!(
        apex.sim.control.stats.count("PUT"),
        200,
        "each domain written once"
    );
    assert_eq!(owned_a.len() + owned_b.len(), 200);
    assert_eq!(apex.sim.all_entries().len(), 200);
    // The job that ran first owns its 150; the other its 50 and none of the overlap.
    let (first_tag, first_file, other_tag) = if owned_a.len() == 150 {
        ("a", &a, "b")
    } else {
        ("b", &b, "a")
    };
    let others_before = owned(&apex, other_tag);
    assert_eq!(others_before.len(), 50);
    // The first job's source drops everything: it removes its own entries only.
    std::fs::write(first_file, "").unwrap();
    bin(dir.path())
        .args(job(first_tag, first_file))
        .arg("--force")
        .assert()
        .success();
    assert!(owned(&apex, first_tag).is_empty());
    assert_eq!(owned(&apex, other_tag), others_before);
    assert_eq!(apex.sim.control.stats.count("DELETE"), 150);
}

/// `--lock-scope destination`: while one job writes to a server, a job of another tag
/// against the same server exits 3; with the default scope (per tag) it runs. The lock
/// file is named after the server.
#[test]
fn a_destination_lock_keeps_other_tags_out_while_a_job_writes() {
    let apex = start_apex();
    apex.sim
        .control
        .faults
        .set_latency(Duration::from_millis(100));
    let dir = tempfile::tempdir().unwrap();
    let slow = list(dir.path(), "slow.txt", (0..60).map(domain));
    let quick = list(dir.path(), "quick.txt", ["quick.example".to_owned()]);
    let scoped = |tag: &str, file: &Path| {
        let mut args = file_job(&apex, tag, file);
        args.extend(["--lock-scope", "destination", "--threads", "1"].map(String::from));
        args
    };
    let running = spawn(dir.path(), &scoped("slow", &slow));
    let began = Instant::now();
    while apex.sim.control.stats.count("PUT") == 0 {
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "the job never wrote"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let port = apex.url().rsplit(':').next().unwrap().to_owned();
    let lock = dir
        .path()
        .join(format!("apex-ioc-sync@apex-127.0.0.1-{port}.lock"));
    assert!(lock.exists(), "{}", lock.display());
    // Another tag, the same server (the scope from its `.config`, in Lumu's spelling):
    // exits 3 at once.
    std::fs::write(dir.path().join("quick.config"), "lock_scope=destination\n").unwrap();
    let out = bin(dir.path())
        .args(file_job(&apex, "quick", &quick))
        .args(["--config", "quick.config"])
        .assert()
        .code(3);
    assert_eq!(
        output_text(out.get_output()).1,
        "Error: Another instance is running. Quitting.\n"
    );
    assert!(owned(&apex, "quick").is_empty());
    // The default scope: one lock per tag, so it runs beside the other.
    bin(dir.path())
        .args(file_job(&apex, "quick", &quick))
        .assert()
        .success();
    let mut running = running;
    assert!(
        running.try_wait().unwrap().is_none(),
        "the slow job was still writing while the per-tag job ran"
    );
    let (code, stderr) = finish(running);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(owned(&apex, "slow").len(), 60);
    assert_eq!(owned(&apex, "quick"), ["domain quick.example"]);
    // The lock is free again: the held file does not block (a lock, not a pid file).
    drop(InstanceLock::acquire(&lock).unwrap());
}
