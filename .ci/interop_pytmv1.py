"""Interop check: Trend's own Python SDK, pytmv1, drives the simulated Vision One that
`apex-ioc-sync simulate` serves: list (with nextLink paging), add, delete, per-item
failures in 207 answers, the per-type capacity (error 4000018), the 1 MB body limit and a
wrong token. Every assertion is on what pytmv1 itself parsed, so a simulator that strays
from the protocol Trend's SDK expects fails here.

Before that, the binary itself syncs to the simulator (`--sink vision-one`): pytmv1 lists
what it pushed (one object of each type, its description, scan action, risk level, a
30-day expiry, then none), sees an unchanged run write nothing, and sees `--clean` take
exactly those objects away: proof that what the binary writes is readable by Trend's SDK.

It also records the requests pytmv1 builds (method, path, query, the headers that matter,
the JSON body with values reduced to their kind) and compares them with
tests/data/vision-one/pytmv1-requests.json, which the crate's integration tests check the
Vision One client's own requests against. A newer pytmv1 that builds other requests shows
up as a difference; `--write-shapes` rewrites the file.

Usage: python interop_pytmv1.py PATH/TO/apex-ioc-sync [--write-shapes]
"""

import datetime
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from urllib.parse import parse_qsl, urlsplit

import pytmv1
import pytmv1.core
from pytmv1 import ObjectRequest, ObjectType, ResultCode, SuspiciousObjectRequest
from pytmv1.model.enum import RiskLevel, ScanAction

# pytmv1 logs every failed call with its traceback; the failures here are the expected ones.
logging.getLogger("pytmv1").setLevel(logging.CRITICAL)

PYTMV1_VERSION = "0.11.0"
SHAPES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "vision-one",
                      "pytmv1-requests.json")
LIST_PATH = "/v3.0/threatintel/suspiciousObjects"
DELETE_PATH = LIST_PATH + "/delete"
CAPACITY = 10_000
TAG = "apex-ioc-sync:interop"

# One object of each type this tool writes.
TYPED = [
    (ObjectType.IP, "203.0.113.9"),
    (ObjectType.DOMAIN, "c2.interop.example"),
    (ObjectType.URL, "https://c2.interop.example/gate.php?id=1"),
    (ObjectType.FILE_SHA1, "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"),
    (ObjectType.FILE_SHA256, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
]
# What `simulate` puts on the list by hand (src/commands/simulate.rs).
SEEDED = {("domain", "phish.example"), ("ip", "192.0.2.77"),
          ("fileSha256", "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae")}


def fail(message):
    print("INTEROP FAILED: " + message, file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


# --- capture: every request pytmv1 sends, as it built it -------------------------------

captured = []
_send = pytmv1.core.Core._send_internal


def _capturing(self, request):
    captured.append(request)
    return _send(self, request)


pytmv1.core.Core._send_internal = _capturing


def value_kind(key, value):
    """A body value reduced to what a request shape compares."""
    if key in ("scanAction", "riskLevel"):
        return value  # enumerations: the literal matters
    if isinstance(value, bool):
        return "<boolean>"
    if isinstance(value, int):
        return "<integer>"
    if isinstance(value, str):
        return "<string>"
    return "<" + type(value).__name__ + ">"


def shape(operation, request, token):
    """What a client's request must look like: method, path, sorted query names, the headers
    that matter (the token replaced), the body's items with values reduced to their kind."""
    url = urlsplit(request.url)
    auth = request.headers.get("Authorization", "")
    body = None
    if request.body:
        raw = request.body.decode() if isinstance(request.body, bytes) else request.body
        body = [{k: value_kind(k, v) for k, v in item.items()} for item in json.loads(raw)]
    return {
        "operation": operation,
        "method": request.method,
        "path": url.path,
        "query": sorted(name for name, _ in parse_qsl(url.query)),
        "headers": {
            "Authorization": "Bearer <token>" if auth == "Bearer " + token else auth,
            "Content-Type": request.headers.get("Content-Type"),
            "TMV1-Filter": request.headers.get("TMV1-Filter"),
        },
        "body": body,
    }


# --- the simulator ------------------------------------------------------------------------

def start_simulator(binary):
    proc = subprocess.Popen([binary, "simulate", "--v1-port", "0"], stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        m = re.match(r"Simulated Trend Vision One listening on (\S+) \((\d+) objects; API token (\S+)\)", line)
        if m:
            return proc, m.group(1), m.group(3)
    proc.wait(timeout=10)
    fail(f"apex-ioc-sync simulate did not print the Vision One URL and token (exit {proc.returncode})")


def statuses(result):
    items = result.response.items if result.result_code == ResultCode.SUCCESS else result.errors
    return [item.status for item in items]


def suspicious(object_type, value, **extra):
    return SuspiciousObjectRequest(objectType=object_type, objectValue=value, description=TAG,
                                   scanAction=ScanAction.BLOCK, riskLevel=RiskLevel.HIGH, **extra)


def listed(client):
    seen = []
    result = client.object.consume_suspicious(seen.append)
    check(result.result_code == ResultCode.SUCCESS, f"consume_suspicious failed: {result.error}")
    check(result.response.total_consumed == len(seen), "consume_suspicious miscounted")
    return seen


def main():
    if len(sys.argv) < 2:
        fail("usage: interop_pytmv1.py PATH/TO/apex-ioc-sync [--write-shapes]")
    binary, write_shapes = os.path.abspath(sys.argv[1]), "--write-shapes" in sys.argv[2:]
    check(pytmv1.__version__ == PYTMV1_VERSION, f"pytmv1 {pytmv1.__version__}, expected {PYTMV1_VERSION}")
    proc, url, token = start_simulator(binary)
    try:
        binary_writes(binary, url, token)
        run(url, token, write_shapes)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# One object of each type, written by the binary from a plain list (values not in TYPED).
BINARY_TAG = "interop-bin"
BINARY_IOCS = [
    (ObjectType.IP, "198.51.100.44"),
    (ObjectType.DOMAIN, "stealer.interop.example"),
    (ObjectType.URL, "https://stealer.interop.example/up"),
    (ObjectType.FILE_SHA1, "3395856ce81f2b7382dee72602f798b642f14140"),
    (ObjectType.FILE_SHA256, "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"),
]


def sync(binary, url, token, folder, *extra):
    """Runs the binary's sync to the simulated Vision One; its --json report."""
    args = [binary, "--sink", "vision-one", "--v1-url", url, "--source", "file", "--file", "iocs.txt",
            "--ioc-types", "ip,domain,url,hash,sha256", "--tag", BINARY_TAG, "--json", *extra]
    env = dict(os.environ, V1_API_TOKEN=token)
    done = subprocess.run(args, cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    check(done.returncode == 0, f"{' '.join(args[1:])} exited {done.returncode}: {done.stderr}")
    check(token not in done.stdout + done.stderr, "the binary printed the API token")
    return json.loads(done.stdout)


def binary_writes(binary, url, token):
    with tempfile.TemporaryDirectory(prefix="apex-ioc-sync-interop-") as folder:
        binary_writes_in(binary, url, token, folder)


def binary_writes_in(binary, url, token, folder):
    client = pytmv1.init("apex-ioc-sync-interop", token, url)
    with open(os.path.join(folder, "iocs.txt"), "w") as f:
        f.write("".join(value + "\n" for _, value in BINARY_IOCS))

    def ours():
        return {(o.type, o.value): o for o in listed(client)
                if (o.description or "").startswith("apex-ioc-sync:" + BINARY_TAG)}

    report = sync(binary, url, token, folder, "--risk-level", "medium")
    check(report["put"] == len(BINARY_IOCS) and not report["failed"], f"the binary's push: {report}")
    objects = ours()
    check(set(objects) == set(BINARY_IOCS), f"pytmv1 lists {sorted(objects)} of the binary's objects")
    for o in objects.values():
        check(o.description.startswith(f"apex-ioc-sync:{BINARY_TAG} iocs.txt line "),
              f"description {o.description!r}")
        check(o.scan_action == ScanAction.BLOCK and o.risk_level == RiskLevel.MEDIUM
              and o.in_exception_list is False, f"{o.type.value} {o.value} listed as {o}")
        expires = datetime.datetime.fromisoformat(o.expired_date_time.replace("Z", "+00:00"))
        days = (expires - datetime.datetime.now(datetime.timezone.utc)).days
        check(days in (29, 30), f"{o.type.value} {o.value} expires in {days} days, not 30")
    print(f"binary: --sink vision-one pushed {len(objects)} objects (ip, domain, url, fileSha1, fileSha256); "
          "pytmv1 reads their description, scanAction block, riskLevel medium, 30-day expiry")

    report = sync(binary, url, token, folder, "--risk-level", "medium")
    check(report["put"] == 0 and report["plan"]["unchanged"] == len(BINARY_IOCS), f"an unchanged run: {report}")
    report = sync(binary, url, token, folder, "--risk-level", "medium", "--no-expiration-date")
    check(report["plan"]["update"] == len(BINARY_IOCS), f"--no-expiration-date: {report}")
    for o in ours().values():
        check(o.expired_date_time.startswith("9999-"), f"{o.value} expires {o.expired_date_time}, not never")
    print("binary: an unchanged run writes nothing; --no-expiration-date (daysToExpiration -1) reads as never")

    before = {(o.type, o.value) for o in listed(client)} - set(BINARY_IOCS)
    args = [binary, "--sink", "vision-one", "--v1-url", url, "--clean", "--tag", BINARY_TAG, "--json"]
    done = subprocess.run(args, cwd=folder, env=dict(os.environ, V1_API_TOKEN=token), capture_output=True,
                          text=True, timeout=120)
    check(done.returncode == 0 and json.loads(done.stdout)["deleted"] == len(BINARY_IOCS),
          f"--clean exited {done.returncode}: {done.stdout} {done.stderr}")
    after = {(o.type, o.value) for o in listed(client)}
    check(after == before, f"after --clean pytmv1 lists {sorted(after)}, expected {sorted(before)}")
    print(f"binary: --clean removed its {len(BINARY_IOCS)} objects; pytmv1 lists the others unchanged")


def run(url, token, write_shapes):
    client = pytmv1.init("apex-ioc-sync-interop", token, url)

    # 1. The list: the objects `simulate` put there by hand, parsed into pytmv1's models.
    result = client.object.list_suspicious()
    check(result.result_code == ResultCode.SUCCESS, f"list_suspicious failed: {result.error}")
    got = {(o.type.value, o.value) for o in result.response.items}
    check(got == SEEDED, f"list_suspicious parsed {got}, expected {SEEDED}")
    check(result.response.next_link is None, "a short list has no nextLink")
    print(f"list: {len(got)} seeded objects parsed (types {sorted(t for t, _ in got)})")

    # 2. Add one object of each type: 207 with a 201 per item.
    first_add = len(captured)
    result = client.object.add_suspicious(*[suspicious(t, v, daysToExpiration=30) for t, v in TYPED])
    check(result.result_code == ResultCode.SUCCESS, f"add_suspicious failed: {result.errors}")
    check(statuses(result) == [201] * len(TYPED), f"add statuses {statuses(result)}")
    add_request = captured[first_add]
    objects = {(o.type, o.value): o for o in listed(client)}
    for t, v in TYPED:
        o = objects.get((t, v))
        check(o is not None, f"{t.value} {v} not listed after the add")
        check(o.description == TAG and o.scan_action == ScanAction.BLOCK and o.risk_level == RiskLevel.HIGH
              and o.in_exception_list is False, f"{t.value} {v} listed as {o}")
        expires = datetime.datetime.fromisoformat(o.expired_date_time.replace("Z", "+00:00"))
        days = (expires - datetime.datetime.now(datetime.timezone.utc)).days
        check(days in (29, 30), f"{t.value} {v} expires in {days} days, not 30")
    print(f"add: {len(TYPED)} objects (ip, domain, url, fileSha1, fileSha256) -> 207 [201 x {len(TYPED)}], "
          "listed back with description, scanAction, riskLevel, 30-day expiry")

    # 3. Paging: pytmv1 follows our nextLink (it keeps the path after /v3.0 and the query).
    ips = [f"198.18.{i // 250}.{i % 250 + 1}" for i in range(250)]
    result = client.object.add_suspicious(*[suspicious(ObjectType.IP, ip) for ip in ips])
    check(statuses(result) == [201] * len(ips), "the 250 ip adds did not all succeed")
    first_list = len(captured)
    everything = listed(client)
    pages = [r for r in captured[first_list:] if r.method == "GET"]
    expected = len(SEEDED) + len(TYPED) + len(ips)
    check(len(everything) == expected, f"consume_suspicious saw {len(everything)} objects, expected {expected}")
    check(len(pages) == 3, f"{expected} objects at the default top of 100 are 3 pages, pytmv1 read {len(pages)}")
    check(all("skipToken=" in r.url for r in pages[1:]), "the later pages carry the skipToken of nextLink")
    print(f"paging: consume_suspicious read {len(everything)} objects over {len(pages)} pages via nextLink")

    # 4. A bad item beside a good one: 207 [201, 400]; pytmv1 reports the call failed, per item.
    result = client.object.add_suspicious(suspicious(ObjectType.DOMAIN, "fine.interop.example"),
                                          suspicious(ObjectType.FILE_SHA1, "not-a-sha1"))
    check(result.result_code == ResultCode.ERROR, "a 207 with a failed item is an error for pytmv1")
    check(statuses(result) == [201, 400], f"mixed add statuses {statuses(result)}")
    check(result.errors[1].code == "BadRequest" and "not-a-sha1" in result.errors[1].message,
          f"the failed item reads {result.errors[1]}")
    print(f"mixed add: 207 {statuses(result)}, item 2 {result.errors[1].code}: {result.errors[1].message}")

    # 5. Delete: 204 per item; a missing object is a 404 item.
    first_delete = len(captured)
    result = client.object.delete_suspicious(*[ObjectRequest(objectType=t, objectValue=v) for t, v in TYPED])
    check(result.result_code == ResultCode.SUCCESS, f"delete_suspicious failed: {result.errors}")
    check(statuses(result) == [204] * len(TYPED), f"delete statuses {statuses(result)}")
    delete_request = captured[first_delete]
    result = client.object.delete_suspicious(ObjectRequest(objectType=ObjectType.URL,
                                                           objectValue="https://never.interop.example/"))
    check(statuses(result) == [404] and result.errors[0].code == "NotFound", f"missing delete {result.errors}")
    left = {(o.type, o.value) for o in listed(client)}
    check(not left & set(TYPED), "deleted objects are still listed")
    print(f"delete: 207 [204 x {len(TYPED)}]; a missing object: 207 [404 NotFound]")

    # 6. Capacity: fill the ip list to 10,000, then one more is refused with 4000018.
    have = sum(1 for t, _ in left if t == ObjectType.IP)
    fill = [f"10.{i // 62500}.{i // 250 % 250}.{i % 250 + 1}" for i in range(CAPACITY - have)]
    for start in range(0, len(fill), 5000):
        result = client.object.add_suspicious(*[SuspiciousObjectRequest(objectType=ObjectType.IP, objectValue=ip)
                                                for ip in fill[start:start + 5000]])
        check(result.result_code == ResultCode.SUCCESS, f"filling the ip list failed: {result.errors[:3]}")
    result = client.object.add_suspicious(suspicious(ObjectType.IP, "100.64.0.1"))
    check(statuses(result) == [400], f"an 10,001st ip gave {statuses(result)}")
    full = result.errors[0]
    check(full.number == 4000018 and "4000018" in full.message, f"the list-full item reads {full}")
    print(f"capacity: {CAPACITY} ips, the next one -> 207 [400 {full.code}, number {full.number}]")

    # 7. A body over 1 MB: 413 for the whole request.
    big = [SuspiciousObjectRequest(objectType=ObjectType.URL, objectValue=f"https://big.interop.example/{i:05d}",
                                   description=TAG + " " + "x" * 100) for i in range(8_000)]
    size = len(captured)
    result = client.object.add_suspicious(*big)
    body = captured[size].body
    check(len(body) > 1_000_000, f"the big body is only {len(body)} bytes")
    check(result.result_code == ResultCode.ERROR and statuses(result) == [413],
          f"a {len(body)}-byte body gave {statuses(result)}")
    print(f"1 MB limit: a {len(body)}-byte add -> HTTP 413 {result.errors[0].code}")

    # 8. A wrong token: 401 in Vision One's error shape.
    result = pytmv1.init("apex-ioc-sync-interop", "not-the-token", url).object.list_suspicious()
    check(result.result_code == ResultCode.ERROR and result.error.status == 401
          and result.error.code == "InvalidCredentials", f"a wrong token gave {result.error}")
    print(f"wrong token: HTTP 401 {result.error.code}")

    # The request shapes pytmv1 built.
    shapes = {
        "pytmv1": PYTMV1_VERSION,
        "note": "Written by .ci/interop_pytmv1.py --write-shapes from the requests pytmv1 sends; "
                "values reduced to <string>/<integer> except scanAction and riskLevel.",
        "requests": [
            shape("list", pages[0], token),
            shape("list-next", pages[1], token),
            shape("add", add_request, token),
            shape("delete", delete_request, token),
        ],
    }
    if write_shapes:
        os.makedirs(os.path.dirname(SHAPES), exist_ok=True)
        with open(SHAPES, "w") as f:
            json.dump(shapes, f, indent=2)
            f.write("\n")
        print(f"request shapes written to {os.path.relpath(SHAPES)}")
    else:
        with open(SHAPES) as f:
            recorded = json.load(f)
        if recorded["requests"] != shapes["requests"]:
            fail("pytmv1 now builds other requests than tests/data/vision-one/pytmv1-requests.json records:\n"
                 + json.dumps(shapes["requests"], indent=2)
                 + "\n(run with --write-shapes if the change is right, then check the client against it)")
        print(f"request shapes: the {len(shapes['requests'])} recorded in "
              "tests/data/vision-one/pytmv1-requests.json are what pytmv1 builds")
    print(f"interop with pytmv1 {pytmv1.__version__}: passed ({len(captured)} requests)")


if __name__ == "__main__":
    main()
