"""The real-world TAXII servers of tests/data/cases/taxii/taxii_oddities.py against the binary.

Starts the tool's simulated Apex Central (`apex-ioc-sync simulate`), then, for each mode of
taxii_oddities.py, that server on loopback, and runs `--source taxii --dry-run --json`
against it, checking the right behaviour the cases README gives. The `inclusive` mode is
also run for real three times on one state file: the first run keeps what arrived and
warns, the second steps past the date the server is stuck at, the third is not stuck.

Usage: python3 taxii_cases.py PATH/TO/apex-ioc-sync PATH/TO/taxii_oddities.py
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

COLLECTION = "5d0b3c2e-0000-4000-8000-0000000000c1"
OBJECTS = "/api1/collections/%s/objects/" % COLLECTION


def fail(message):
    print("TAXII CASES FAILED: " + message, file=sys.stderr)
    sys.exit(1)


def check(condition, message, *context):
    if not condition:
        fail(message + "".join("\n--- " + str(c) for c in context))


def start_apex(binary, work):
    proc = subprocess.Popen([binary, "simulate"], cwd=work, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    options = {}
    deadline = time.time() + 30
    while len(options) < 3 and time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            fail("apex-ioc-sync simulate exited early")
        for key in ("host", "application-id", "api-key"):
            if line.strip().startswith(key + "="):
                options[key] = line.strip().split("=", 1)[1]
    check(len(options) == 3, "apex-ioc-sync simulate printed no options")
    return proc, options


class Oddity:
    """taxii_oddities.py MODE, on a free loopback port."""

    def __init__(self, script, mode, work):
        self.mode = mode
        self.portfile = os.path.join(work, mode + ".port")
        self.logfile = os.path.join(work, mode + ".log")
        self.proc = subprocess.Popen([sys.executable, script, mode, self.portfile, self.logfile])
        for _ in range(100):
            if os.path.exists(self.portfile) and open(self.portfile).read().strip():
                break
            if self.proc.poll() is not None:
                fail("taxii_oddities.py %s exited with %s" % (mode, self.proc.returncode))
            time.sleep(0.1)
        else:
            fail("taxii_oddities.py %s did not start" % mode)
        self.url = "http://127.0.0.1:%s/taxii2/" % open(self.portfile).read().strip()

    def log(self):
        return open(self.logfile).read().splitlines() if os.path.exists(self.logfile) else []

    def objects_requests(self):
        return [l for l in self.log() if l.startswith("GET " + OBJECTS)]

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def run(binary, apex, server, work, *extra, dry_run=True):
    """The binary against `server`: (exit code, JSON report or None, standard error)."""
    args = [binary, "--host", apex["host"], "--application-id", apex["application-id"],
            "--api-key", apex["api-key"], "--source", "taxii", "--taxii-url", server.url,
            "--state-file", os.path.join(work, server.mode + ".db"),
            "--lock-file", os.path.join(work, server.mode + ".lock"), "--json",
            # A tag per case: each case owns its own entries on the one simulated Apex.
            "--tag", "case-" + server.mode]
    if dry_run:
        args.append("--dry-run")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAXII_", "APEX_"))}
    out = subprocess.run(args + list(extra), cwd=work, capture_output=True, text=True,
                         timeout=120, env=env)
    try:
        report = json.loads(out.stdout)
    except ValueError:
        report = None
    return out.returncode, report, out.stderr


def domains(report):
    return (report or {}).get("iocs", {}).get("domain", 0)


def case_empty_next(binary, apex, server, work):
    code, report, err = run(binary, apex, server, work)
    check(code == 0, "empty-next: exit %s, not 0" % code, err)
    check(report["items"] == 5 and domains(report) == 5, "empty-next: not 5 indicators", report)
    # By date, each page from just before the last date_added of the page before (more
    # objects may share it): five objects in pages of two take four pages.
    requests = server.objects_requests()
    check(len(requests) == 4, "empty-next: %d objects requests, not 4" % len(requests), requests)
    check(not any("next=" in r for r in requests), "empty-next: an empty next was sent back",
          requests)


def case_inclusive(binary, apex, server, work):
    code, report, err = run(binary, apex, server, work)
    check(code == 0, "inclusive: exit %s, not 0 (the run must go on to sync)" % code, err)
    check(domains(report) == 4, "inclusive: the 4 indicators that arrived are not all kept",
          report)
    warnings = report.get("warnings", [])
    check(len(warnings) == 1 and COLLECTION in warnings[0]
          and "does not move past" in warnings[0],
          "inclusive: no warning naming the collection and the stall", report)
    check(not os.path.exists(os.path.join(work, "inclusive.db")),
          "inclusive: the dry run made the state file")
    # For real, three times on one state file.
    code, report, err = run(binary, apex, server, work, dry_run=False)
    check(code == 0 and len(report.get("warnings", [])) == 1,
          "inclusive run 1: not exit 0 with one warning", err)
    code, report, err = run(binary, apex, server, work, dry_run=False)
    warnings = report.get("warnings", []) if report else []
    check(code == 0 and len(warnings) == 1 and "stepping past" in warnings[0],
          "inclusive run 2: does not step past the date the server is stuck at", err)
    before = len(server.objects_requests())
    code, report, err = run(binary, apex, server, work, dry_run=False)
    check(code == 0 and not report.get("warnings"),
          "inclusive run 3: still stuck", report, err)
    check(len(server.objects_requests()) - before == 1,
          "inclusive run 3: more than one objects request", server.log())


def case_opaque_next(binary, apex, server, work):
    code, report, err = run(binary, apex, server, work)
    check(code == 0 and report["items"] == 5, "opaque-next: not exit 0 with 5 indicators",
          err, server.log())
    check(not any("-> 400" in l for l in server.log()), "opaque-next: the server refused a page",
          server.log())


def case_offset_header(binary, apex, server, work):
    code, report, err = run(binary, apex, server, work)
    check(code == 0 and report["items"] == 5, "offset-header: not exit 0 with 5 indicators",
          err, server.log())
    check(len(server.objects_requests()) == 3, "offset-header: not 3 objects requests",
          server.log())


def case_content_types(binary, apex, server, work):
    code, report, err = run(binary, apex, server, work, "--taxii-collection", "feed")
    check(code == 0 and report["items"] == 5, "content-types: not exit 0 with 5 indicators",
          err, server.log())
    # The collection listed as readable that answers 403 with an application/json error.
    code, report, err = run(binary, apex, server, work)
    check(code == 1 and "no read access to this collection" in err,
          "content-types: the 403 error body is not reported", code, err)


def case_empty(binary, apex, server, work):
    code, report, err = run(binary, apex, server, work)
    check(code == 0 and report["items"] == 0, "empty: not exit 0 with 0 indicators", err)


CASES = [
    ("empty-next", case_empty_next),
    ("inclusive", case_inclusive),
    ("opaque-next", case_opaque_next),
    ("offset-header", case_offset_header),
    ("content-types", case_content_types),
    ("empty", case_empty),
]


def main():
    if len(sys.argv) != 3:
        fail(__doc__.strip().splitlines()[-1])
    binary, script = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    with tempfile.TemporaryDirectory() as work:
        apex_proc, apex = start_apex(binary, work)
        try:
            for mode, case in CASES:
                server = Oddity(script, mode, work)
                try:
                    case(binary, apex, server, work)
                finally:
                    server.stop()
                print("taxii case %s: ok" % mode)
        finally:
            apex_proc.send_signal(signal.SIGINT)
            try:
                apex_proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                apex_proc.kill()
    print("every TAXII case behaves as tests/data/cases/README.md says")


if __name__ == "__main__":
    main()
