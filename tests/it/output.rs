//! Standard output that behaves: a reader that goes away (`udso list | head -1`) ends the
//! program quietly with exit 0, or with the run's own exit code; a real write error is
//! reported. The real binary against the simulated Apex Central and Lumu over loopback.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};

use apex_ioc_sync::sim::lumu::sample_incidents;

use crate::common::{
    apex_args, entry, owned, start_apex, start_lumu, std_bin, writes as apex_writes,
};

/// Waits for `child` and returns its exit code and standard error.
fn finish(mut child: Child) -> (i32, String) {
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr piped")
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    (status.code().expect("exited, not killed"), stderr)
}

/// `udso list | head -1`: thousands of rows, far more than a pipe buffer holds, and a reader
/// that takes the header line and hangs up.
#[test]
fn udso_list_into_a_reader_that_stops_after_one_line_exits_0_quietly() {
    let apex = start_apex();
    for i in 0..5000 {
        apex.sim.insert(entry(
            "domain",
            &format!("host-{i:05}.malware-delivery.example"),
            "apex-ioc-sync:lumu C2C incident 1b1f6d6e-5c1a-4a8e-9d3e-000000000001",
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = std_bin(dir.path())
        .args(["udso", "list"])
        .args(apex_args(&apex))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is dropped here: the rest of the table meets a closed pipe.
    assert!(first.starts_with("TYPE"), "{first}");
    let (code, stderr) = finish(child);
    assert_eq!((code, stderr.as_str()), (0, ""));
}

/// A sync whose `--json` report meets a closed pipe: the writes are done, the summary is in
/// the log, and the run ends with exit 0 and nothing on standard error.
#[test]
fn sync_json_into_a_closed_pipe_exits_0_and_still_logs_the_summary() {
    let apex = start_apex();
    let lumu = start_lumu();
    for incident in sample_incidents() {
        lumu.sim.add(incident);
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sync.log");
    let mut child = std_bin(dir.path())
        .args(apex_args(&apex))
        .args(["--lumu-url", &lumu.url()])
        .args(["--company-key", lumu.sim.company_key()])
        .args(["--json", "--log-file", log.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Hang up before the run has written anything.
    drop(child.stdout.take());
    let (code, stderr) = finish(child);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert!(!owned(&apex, "lumu").is_empty(), "the sync wrote nothing");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("lumu (tag lumu):"), "{log}");
}

/// A closed pipe does not hide a failed run: writes that keep failing still exit 4.
#[test]
fn a_closed_pipe_keeps_the_exit_code_of_failed_writes() {
    let apex = start_apex();
    for i in 0..3 {
        apex.sim
            .insert(entry("ip", &format!("10.9.0.{i}"), "apex-ioc-sync:lumu"));
    }
    // The server goes down after the four lists: the deletes run out of tries.
    apex.sim.control.faults.error_5xx_after(4);
    let dir = tempfile::tempdir().unwrap();
    let mut child = std_bin(dir.path())
        .args(apex_args(&apex))
        .args(["--clean", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let (code, stderr) = finish(child);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("3 of 3 writes failed"), "{stderr}");
    assert!(!stderr.contains("standard output"), "{stderr}");
    assert!(apex_writes(&apex) > 0);
}

/// Output that cannot be written for another reason (a full disk) is an error, exit 1.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_under_stdout_is_an_error() {
    let apex = start_apex();
    apex.sim.insert(entry("ip", "10.9.0.1", "manual"));
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let child = std_bin(dir.path())
        .args(["udso", "list"])
        .args(apex_args(&apex))
        .stdout(full)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (code, stderr) = finish(child);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("Error: cannot write to standard output: No space left on device"),
        "{stderr}"
    );
    // The cause is said once, not repeated as the error's source.
    assert_eq!(
        stderr.matches("No space left on device").count(),
        1,
        "{stderr}"
    );
}
