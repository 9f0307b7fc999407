"""Interop check against medallion, the OASIS reference TAXII 2.1 server.

Starts medallion on a loopback port with a generated data set (max_page_size small enough to
force paging) and the tool's own simulated Apex Central (`apex-ioc-sync simulate`), syncs
with `--source taxii` over HTTP Basic auth, posts new indicator versions and a revocation to
medallion through its TAXII API, syncs again, and checks the UDSO list after each run.

Usage: python interop_medallion.py PATH/TO/apex-ioc-sync
"""

import base64
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone

USER, PASSWORD = "alice", "interop-s3cret"
COLLECTION = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
MEDIA = "application/taxii+json;version=2.1"
COUNT = 25
PAGE = 4


def fail(message):
    print("INTEROP FAILED: " + message, file=sys.stderr)
    sys.exit(1)


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, what):
    for _ in range(200):
        if proc.poll() is not None:
            fail(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    fail(f"{what} did not start listening on port {port}")


def indicator(i, pattern, modified, **extra):
    return dict({
        "type": "indicator", "spec_version": "2.1", "id": f"indicator--00000000-0000-4000-8000-{i:012d}",
        "created": ts(modified - timedelta(hours=1)), "modified": ts(modified),
        "name": f"interop {i}", "indicator_types": ["malicious-activity"],
        "pattern": pattern, "pattern_type": "stix", "valid_from": ts(modified - timedelta(hours=1)),
    }, **extra)


def pattern(i):
    return [
        f"[ipv4-addr:value = '198.51.100.{i}']",
        f"[domain-name:value = 'd{i}.example.net']",
        f"[url:value = 'https://u{i}.example.org/x?id={i}']",
        f"[file:hashes.'SHA-1' = '{i:040x}']",
    ][i % 4]


def expected_value(i):
    return ["ip", "domain", "url", "file_sha1"][i % 4], [
        f"198.51.100.{i}", f"d{i}.example.net", f"https://u{i}.example.org/x?id={i}", f"{i:040x}"][i % 4]


def main():
    if len(sys.argv) != 2:
        fail("usage: interop_medallion.py PATH/TO/apex-ioc-sync")
    binary = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="medallion-interop-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    now = datetime.now(timezone.utc)
    objects, manifest = [], []
    for i in range(COUNT):
        modified = now - timedelta(days=2, minutes=COUNT - i)
        obj = indicator(i, pattern(i), modified)
        objects.append(obj)
        manifest.append({"id": obj["id"], "date_added": ts(modified), "version": obj["modified"],
                         "media_type": "application/stix+json;version=2.1"})
    data = {
        "/discovery": {"title": "interop", "default": f"{base}/api1/", "api_roots": [f"{base}/api1/"]},
        "api1": {
            "information": {"title": "interop root", "versions": [MEDIA], "max_content_length": 9765625},
            "status": [],
            "collections": [{"id": COLLECTION, "title": "Interop Indicators", "alias": "interop",
                             "can_read": True, "can_write": True,
                             "media_types": ["application/stix+json;version=2.1"],
                             "objects": objects, "manifest": manifest}],
        },
    }
    with open(os.path.join(work, "data.json"), "w") as f:
        json.dump(data, f)
    with open(os.path.join(work, "config.json"), "w") as f:
        json.dump({"backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                               "filename": os.path.join(work, "data.json")},
                   "users": {USER: PASSWORD}, "taxii": {"max_page_size": PAGE}}, f)

    medallion = os.path.join(os.path.dirname(sys.executable), "medallion")
    server = subprocess.Popen([medallion, "--host", "127.0.0.1", "--port", str(port), os.path.join(work, "config.json")],
                              stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "medallion.log"), "w"))
    apex = subprocess.Popen([binary, "simulate"], stdout=subprocess.PIPE, text=True)
    try:
        wait_for_port(port, server, "medallion")
        options = {}
        for line in apex.stdout:
            m = re.match(r"\s+(host|application-id|api-key)=(\S+)", line)
            if m:
                options[m.group(1)] = m.group(2)
            if len(options) == 3:
                break
        if len(options) != 3:
            fail("apex-ioc-sync simulate did not print its options")
        apex_args = ["--host", options["host"], "--application-id", options["application-id"]]
        env = dict(os.environ, APEX_API_KEY=options["api-key"], TAXII_PASSWORD=PASSWORD)

        def sync():
            run = subprocess.run(
                [binary, "--source", "taxii", "--taxii-url", f"{base}/taxii2/", "--taxii-user", USER,
                 "--taxii-collection", "interop", "--taxii-page-size", "10", "--ioc-types", "ip,domain,url,hash",
                 "--state-file", os.path.join(work, "state.db"), "--lock-file", os.path.join(work, "job.lock"),
                 "--json", *apex_args],
                capture_output=True, text=True, timeout=120, env=env)
            if run.returncode != 0:
                fail(f"sync exited {run.returncode}:\n{run.stderr}\n(medallion log in {work})")
            return json.loads(run.stdout)

        def listed():
            run = subprocess.run([binary, "udso", "list", "--json", *apex_args], capture_output=True, text=True,
                                 timeout=60, env=env)
            if run.returncode != 0:
                fail(f"udso list exited {run.returncode}:\n{run.stderr}")
            return {(e["type"], e["content"]): e for e in json.loads(run.stdout) if e["owner_tag"] == "taxii"}

        first = sync()
        if first["items"] != COUNT:
            fail(f"first sync read {first['items']} indicators, expected {COUNT} (paging by {PAGE})")
        want = {expected_value(i) for i in range(COUNT)}
        got = listed()
        if set(got) != want:
            fail(f"after the first sync the list differs: missing {want - set(got)}, extra {set(got) - want}")

        # New versions: indicator 1 changes its domain; indicator 2 is revoked; one new indicator.
        later = datetime.now(timezone.utc)
        posted = [
            indicator(1, "[domain-name:value = 'moved.example.net']", later),
            indicator(2, pattern(2), later, revoked=True),
            indicator(100, "[domain-name:value = 'new.example.net'] AND [ipv4-addr:value = '203.0.113.9']", later),
        ]
        request = urllib.request.Request(
            f"{base}/api1/collections/{COLLECTION}/objects/", method="POST",
            data=json.dumps({"objects": posted}).encode(),
            headers={"Content-Type": MEDIA, "Accept": MEDIA,
                     "Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()})
        with urllib.request.urlopen(request, timeout=30) as answer:
            status = json.load(answer)
        if status.get("success_count") != len(posted):
            fail(f"medallion did not take the new versions: {status}")

        second = sync()
        if second["items"] != len(posted):
            fail(f"second sync read {second['items']} indicators, expected only the {len(posted)} new ones")
        want -= {expected_value(1), expected_value(2)}
        want |= {("domain", "moved.example.net"), ("domain", "new.example.net"), ("ip", "203.0.113.9")}
        got = listed()
        if set(got) != want:
            fail(f"after the second sync the list differs: missing {want - set(got)}, extra {set(got) - want}")
        actions = {k: e["scan_action"] for k, e in got.items()}
        if actions[("domain", "new.example.net")] != "log" or actions[("domain", "moved.example.net")] != "block":
            fail(f"scan actions are not as the AND/OR rule says: {actions}")
        print(f"interop: medallion 3.0.0 paged {COUNT} indicators by {PAGE}; new versions, a revocation and an "
              f"AND pattern synced: {len(got)} entries as expected")
    finally:
        apex.terminate()
        server.terminate()
        apex.wait(timeout=10)
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
