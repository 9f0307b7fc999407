//! Bounded reads: an answer that never ends (or announces a size past the cap) and a local
//! file that never ends (or is just over the cap) are errors naming the server and endpoint,
//! or the file, never memory exhaustion. The real binary over loopback.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use apex_ioc_sync::files::MAX_INPUT_FILE_BYTES;
use axum::http::Method;

use crate::common::*;

/// Slack beyond a cap for what the server may have written before the client stopped
/// reading: the kernel's socket buffers on loopback and the client's read buffer.
const SLACK: u64 = 16 << 20;
/// A guard against a client that never stops (the failure this file tests for): the test
/// fails instead of hanging. Not a speed target.
const HANG_GUARD: Duration = Duration::from_secs(300);

/// How the misbehaving server answers every request.
#[derive(Clone, Copy)]
enum Answer {
    /// 200 with a chunked body of JSON-looking bytes that never ends.
    Endless,
    /// 200 announcing a body of 1 TiB, then bytes without end.
    HugeLength,
}

/// A server that answers every request on loopback with `answer`, counting the body bytes
/// it managed to write.
struct Misbehaving {
    url: String,
    written: Arc<AtomicU64>,
}

fn misbehaving(answer: Answer) -> Misbehaving {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let written = Arc::new(AtomicU64::new(0));
    let counter = written.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let counter = counter.clone();
            std::thread::spawn(move || serve(stream, answer, &counter));
        }
    });
    Misbehaving { url, written }
}

fn serve(mut stream: TcpStream, answer: Answer, written: &AtomicU64) {
    // Read the request head; the body, if any, is small and left in the socket.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let header = match answer {
        Answer::Endless => {
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                .to_owned()
        }
        Answer::HugeLength => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            1u64 << 40
        ),
    };
    if stream.write_all(header.as_bytes()).is_err() {
        return;
    }
    let data = vec![b' '; 64 << 10];
    let mut chunk = Vec::new();
    if matches!(answer, Answer::Endless) {
        chunk.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
        chunk.extend_from_slice(&data);
        chunk.extend_from_slice(b"\r\n");
    } else {
        chunk = data;
    }
    while stream.write_all(&chunk).is_ok() {
        written.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
}

fn check(
    server: &Misbehaving,
    answer: Answer,
    out: &std::process::Output,
    says: &[&str],
    cap: u64,
) {
    let (_, stderr) = output_text(out);
    for s in says {
        assert!(stderr.contains(s), "expected `{s}` in: {stderr}");
    }
    let written = server.written.load(Ordering::Relaxed);
    assert!(
        written <= cap + SLACK,
        "the client read on: the server wrote {written} bytes (cap {cap})"
    );
    match answer {
        // Read up to the cap, then stopped.
        Answer::Endless => assert!(written >= cap, "{written} < {cap}"),
        // Stopped at the announced length, before the body.
        Answer::HugeLength => assert!(written <= SLACK, "{written}"),
    }
}

#[test]
fn endless_or_oversized_answers_are_errors_naming_the_server_and_endpoint() {
    for answer in [Answer::Endless, Answer::HugeLength] {
        let server = misbehaving(answer);
        let dir = tempfile::tempdir().unwrap();

        // Apex Central: 64 MiB.
        let out = bin(dir.path())
            .args(["udso", "list", "--type", "ip"])
            .args([
                "--host",
                &server.url,
                "--application-id",
                "A",
                "--api-key",
                "K",
            ])
            .timeout(HANG_GUARD)
            .assert()
            .code(1);
        check(
            &server,
            answer,
            out.get_output(),
            &[
                "unexpected answer from Apex Central to GET /WebApp/api/SuspiciousObjects/UserDefinedSO/?type=ip",
                "larger than 64 MiB",
            ],
            64 << 20,
        );

        // Lumu Defender: 16 MiB.
        let apex = start_apex();
        let server = misbehaving(answer);
        let out = apex_cmd(dir.path(), &apex)
            .args(["--lumu-url", &server.url, "--company-key", "k"])
            .timeout(HANG_GUARD)
            .assert()
            .code(1);
        check(
            &server,
            answer,
            out.get_output(),
            &[
                "Lumu Defender's answer to POST /api/incidents/all",
                "larger than 16 MiB",
                "nothing was written",
            ],
            16 << 20,
        );

        // TAXII: 64 MiB.
        let server = misbehaving(answer);
        let out = apex_cmd(dir.path(), &apex)
            .args([
                "--source",
                "taxii",
                "--taxii-url",
                &format!("{}/taxii2/", server.url),
            ])
            .args(["--state-file", dir.path().join("s.db").to_str().unwrap()])
            .timeout(HANG_GUARD)
            .assert()
            .code(1);
        check(
            &server,
            answer,
            out.get_output(),
            &[
                "the TAXII server's answer to GET /taxii2/",
                "larger than 64 MiB",
            ],
            64 << 20,
        );
        assert_eq!(writes(&apex), 0);
    }
}

fn stderr_of(out: &assert_cmd::assert::Assert) -> String {
    output_text(out.get_output()).1
}

#[test]
fn a_file_just_over_its_cap_is_an_error_naming_it() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.txt");
    // Sparse: no disk is used, and the size is refused before a byte is read.
    std::fs::File::create(&big)
        .unwrap()
        .set_len(MAX_INPUT_FILE_BYTES + 1)
        .unwrap();
    let out = apex_cmd(dir.path(), &apex)
        .args(["--source", "file", "--file", big.to_str().unwrap()])
        .assert()
        .code(1);
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains(&format!("cannot read --file {}", big.display()))
            && stderr.contains("larger than 64 MiB"),
        "{stderr}"
    );
    let config = dir.path().join("big.config");
    std::fs::File::create(&config)
        .unwrap()
        .set_len((1 << 20) + 1)
        .unwrap();
    let out = bin(dir.path())
        .args(["udso", "list", "--config", config.to_str().unwrap()])
        .assert()
        .code(2);
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("big.config") && stderr.contains("larger than 1 MiB"),
        "{stderr}"
    );
    assert_eq!(writes(&apex), 0);
}

#[cfg(unix)]
#[test]
fn dev_zero_is_an_error_naming_it_wherever_a_file_is_read() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let zero = "/dev/zero";
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["--source", "file", "--file", zero],
            1,
            "cannot read --file /dev/zero: larger than 64 MiB",
        ),
        (
            vec!["--source", "openioc", "--file", zero],
            1,
            "cannot read --file /dev/zero: larger than 10000000 bytes",
        ),
        (
            vec!["openioc", "upload", zero],
            1,
            "cannot read --file /dev/zero: larger than 10000000 bytes",
        ),
        (
            vec!["udso", "list", "--ca-cert", zero],
            2,
            "cannot read --ca-cert /dev/zero: larger than 4 MiB",
        ),
        (
            vec!["udso", "list", "--config", zero],
            2,
            "cannot read config file /dev/zero: larger than 1 MiB",
        ),
    ];
    for (args, code, says) in cases {
        // A subcommand's name first, then its options.
        let out = bin(dir.path())
            .args(&args)
            .args(apex_args(&apex))
            .timeout(HANG_GUARD)
            .assert()
            .code(code);
        let stderr = stderr_of(&out);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    assert_eq!(writes(&apex), 0);
}

fn openioc_file(dir: &Path, i: usize) -> std::path::PathBuf {
    let path = dir.join(format!("ioc-{i:03}.ioc"));
    std::fs::write(
        &path,
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<ioc xmlns="http://schemas.mandiant.com/2010/ioc" id="n{i}" last-modified="2026-11-01T00:00:00Z">
  <definition>
    <Indicator id="top" operator="OR">
      <IndicatorItem id="dns" condition="is">
        <Context document="DnsEntryItem" search="DnsEntryItem/Host" type="mir"/>
        <Content type="string">c2-{i}.example</Content>
      </IndicatorItem>
    </Indicator>
  </definition>
</ioc>
"#
        ),
    )
    .unwrap();
    path
}

/// Files are read and encoded one upload at a time: a file that goes away after the first
/// upload of 200 is missed when its own batch is read (so the batch was not encoded
/// beforehand), and the upload stops there, saying what was done.
#[test]
fn openioc_upload_reads_each_batch_when_it_is_sent() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("iocs");
    std::fs::create_dir(&folder).unwrap();
    let files: Vec<_> = (0..201).map(|i| openioc_file(&folder, i)).collect();
    let last = files[200].clone();
    apex.sim.on_request(Method::POST, 1, move |_| {
        std::fs::remove_file(&last).unwrap();
    });
    let out = apex_run(dir.path(), &apex, &["openioc", "upload"])
        .arg(&folder)
        .assert()
        .code(4);
    let (stdout, stderr) = output_text(out.get_output());
    assert!(stdout.ends_with("200 of 200 files uploaded\n"), "{stdout}");
    assert!(
        stderr.contains("stopped after 200 of 201 files were uploaded")
            && stderr.contains("ioc-200.ioc")
            && stderr.contains("changed since it was checked"),
        "{stderr}"
    );
    assert_eq!(apex.sim.cabinet_names().len(), 200);
    assert_eq!(apex.sim.control.stats.count("POST"), 1);
}
