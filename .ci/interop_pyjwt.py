"""Interop check: the tokens apex-ioc-sync sends verify with PyJWT and carry the checksum
that Trend's documented Python recipe computes for the same request.

A capture server on loopback plays Apex Central (a small UDSO list in memory) and Lumu
Defender (two incidents). The real binary runs a Lumu sync (an internationalised domain
goes out as its A-label; the recipe's Unicode known answer covers UTF-8 bodies),
then --clean (DELETEs of percent-encoded content), then the OpenIOC filing cabinet calls
(upload with extraction, list, delete); every Apex request it made is checked.
The reference token of reference/apex-central.md, which the crate's unit tests pin to the
exact string our signer makes, is verified with PyJWT too.

Usage: python interop_pyjwt.py PATH/TO/apex-ioc-sync
"""

import atexit
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt  # PyJWT

APP_ID = "5A6C9E3B-1D2F-4A8B-9C0D-E1F2A3B4C5D6"
API_KEY = "INTEROP-KEY-7F3E-11D2-8A4B-0C9D2E1F"
COMPANY_KEY = "interop-company-key"
UDSO = "/WebApp/api/SuspiciousObjects/UserDefinedSO/"
OPENIOC_FILE = "/WebApp/IOCBackend/OpenIOCResource/File"
OPENIOC_EXTRACTION = "/WebApp/SuspiciousObjectsBackend/UserDefinedSOResource/OpenIOCExtraction"
OPENIOC_CABINET = "/WebApp/IOCBackend/OpenIOCResource/FilingCabinet"
OPENIOC_SAMPLE = "APT28_a438caeb-96dd-4225-853c-fc5910980961.ioc"

# The token src/apex/auth.rs makes for the reference's inputs (pinned by a unit test).
REFERENCE_TOKEN = (
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJhcHBpZCI6IkFQUElELVRFU1QiLCJpYXQiOjE3MDAwMDAwMDAuMjUsInZlcnNpb24iOiJWMSIsImNoZWNrc3VtIjoiSnpwUzVNWHFHeHpMNnV6bmJuTTZGM1daRUVOaGZmWkUxeGNFRU1nbVYzND0ifQ"
    ".6kr7hDU7pbEOobJQp9F2tHE76NFVVOWOPrXDrUexBOE"
)

INCIDENTS = {
    "inc-1": {
        "adversaries": ["bücher.example", "203.0.113.7"],
        "adversaryTypes": ["C2C"],
        "triggers": ["https://Evil.Example.com/Path?q=1&x=a+b%20c#frag", "tcp://198.51.100.1:8443"],
        "files": ["73d95a30c812d9cff0eaf37a686fdfef8f9ca531"],
    },
    "inc-2": {
        "adversaries": ["c2.example"],
        "adversaryTypes": ["Malware", "Phishing"],
        "triggers": ["http://198.51.100.1:8080/ü/x.php"],
        "files": [],
    },
}
EXPECTED_IOCS = 7  # 2 ips, 2 domains, 2 urls, 1 sha1


def create_checksum(http_method, raw_url, headers, request_body):
    """Trend's documented recipe, as published."""
    string_to_hash = http_method.upper() + "|" + raw_url.lower() + "|" + headers + "|" + request_body
    return base64.b64encode(hashlib.sha256(str.encode(string_to_hash)).digest()).decode("utf-8")


# The recipe itself, against the known answers of reference/apex-central.md.
KNOWN = [
    ("GET", UDSO + "?type=ip&contentFilter=1.2.3.4", "", "o4PDjosptAH5X9kI5DMHvUdCiWJ4bAAsoAlTiLpwuVs="),
    ("DELETE", UDSO + "?type=url&content=https%3A%2F%2FEvil.Example.com%2FPath%3Fq%3D1", "",
     "B0xp2AJOrEEkYb7D0qYBzOL1fp4dCa6kGjDdrTaClgg="),
    ("PUT", UDSO, '{"param":{"type":"domain","content":"bücher.example","notes":"ünïcode","scan_action":"block"}}',
     "aokSTqlgCREEkUfioii2wQ1KvvTQ4XIoa03bKafe5aU="),
    ("GET", UDSO + "?type=ip", "", "JzpS5MXqGxzL6uznbnM6F3WZEENhffZE1xcEEMgmV34="),
    ("put", OPENIOC_EXTRACTION,
     '{"param":{"FileHashIDList":["73d95a30c812d9cff0eaf37a686fdfef8f9ca531"],"ScanType":{"File":2,"IP":2,"URL":2,"Domain":2}}}',
     "s2+uc1g7mYDQoCsKlT4W90SoM+g3xHmZVwdkGiUrS3U="),
]

captured = []
udso = {}  # (type, content) -> entry
cabinet = {}  # FileHashID -> file name
lock = threading.Lock()


class Peer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path.startswith("/api/"):
            return self.lumu(url.path, query)
        with lock:
            captured.append({
                "method": self.command,
                "raw_url": self.path,  # the request target exactly as sent
                "authorization": self.headers.get("Authorization", ""),
                "content_type": self.headers.get("Content-Type", ""),
                "body": body,
            })
            data = None
            if url.path == OPENIOC_FILE and self.command == "POST":
                files = json.loads(body)["param"]
                infos = []
                for f in files:
                    content = base64.b64decode(f["FileContentBase64"])
                    hash_id = hashlib.sha1(content).hexdigest()
                    cabinet[hash_id] = f["FileName"]
                    infos.append({"FileName": f["FileName"], "FileHashID": hash_id, "UploadedStatus": 1})
                data = {"UploadedResultInfoList": infos, "UploadedResultMessageList": []}
            elif url.path == OPENIOC_EXTRACTION:
                param = json.loads(body)["param"]
                if param["ScanType"] != {"File": 1, "IP": 1, "URL": 1, "Domain": 1}:
                    data = []  # the binary reports the file as not extracted
                else:
                    data = [{"FileHashID": h, "ExtractingStatus": 1, "ExtractionErrorMessage": ""}
                            for h in param["FileHashIDList"] if h in cabinet]
            elif url.path == OPENIOC_CABINET:
                page = json.loads(query["param"])
                data = {"FilingCabinet": [
                    {"FileHashID": h, "FileName": n, "FileAddedDatetime": "2026-11-23 10:00:00",
                     "ExtractingStatus": 1, "ShortDesc": "", "UploadedBy": "api", "UploadedFrom": "api"}
                    for h, n in sorted(cabinet.items())][(page["PageNumber"] - 1) * page["PageSize"]:][:page["PageSize"]],
                    "TotalIOCCount": len(cabinet)}
            elif url.path == OPENIOC_FILE and self.command == "DELETE":
                ids = json.loads(query["param"])["FileHashIDList"]
                data = [{"FileHashID": h, "DeletedStatus": 1 if cabinet.pop(h, None) else -1} for h in ids]
            elif self.command == "GET":
                data = [e for (t, _), e in sorted(udso.items()) if t == query["type"]]
            elif self.command == "PUT":
                param = json.loads(body)["param"]
                param.setdefault("expiration_utc_date", None)
                udso[(param["type"], param["content"])] = param
            elif self.command == "DELETE":
                udso.pop((query["type"], query["content"]), None)
        self.answer(200, {"Data": data, "Meta": {"Result": 1, "ErrorCode": 0, "ErrorMsg": ""}})

    def lumu(self, path, query):
        if query.get("key") != COMPANY_KEY:
            return self.answer(401, {"name": "Unauthorized", "detail": "bad key"})
        if path == "/api/incidents/all":
            items = [{"id": i, "adversaries": v["adversaries"], "adversaryTypes": v["adversaryTypes"],
                      "status": "open", "timestamp": "2026-11-20T10:00:00.000Z"} for i, v in INCIDENTS.items()]
            return self.answer(200, {"items": items, "paginationInfo": {"page": 1, "items": 100}})
        m = re.fullmatch(r"/api/incidents/([^/]+)/context", path)
        if m and m.group(1) in INCIDENTS:
            v = INCIDENTS[m.group(1)]
            return self.answer(200, {"related_files": v["files"], "threat_triggers": v["triggers"]})
        return self.answer(404, {"name": "NotFound", "detail": path})

    do_GET = do_PUT = do_DELETE = do_POST = handle_any

    def log_message(self, *args):
        pass


def fail(message):
    print("INTEROP FAILED: " + message, file=sys.stderr)
    sys.exit(1)


# The Lumu job's state file (its context cache) goes here, not into the checkout.
STATE_DIR = tempfile.mkdtemp(prefix="apex-ioc-sync-interop-")
atexit.register(shutil.rmtree, STATE_DIR, True)


def run(binary, host, *args, command=(), expect=0):
    """The sync job (or `command`, a subcommand, which takes Apex Central's options only:
    options follow the command they belong to) against the capture server; its JSON."""
    apex = ["--host", host, "--application-id", APP_ID, "--api-key", API_KEY, "--json"]
    job = [] if command else ["--lumu-url", host, "--company-key", COMPANY_KEY, "--tag", "interop",
                              "--state-file", os.path.join(STATE_DIR, "state.db")]
    result = subprocess.run(
        [binary, *command, *apex, *job, *args],
        capture_output=True, text=True, timeout=120,
    )
    if result.returncode != expect:
        fail(f"apex-ioc-sync {' '.join([*command, *args])} exited {result.returncode}:\n{result.stderr}")
    return json.loads(result.stdout)


def check_reference_token():
    import warnings
    with warnings.catch_warnings():
        # The reference's key is short on purpose; PyJWT warns about it.
        warnings.simplefilter("ignore")
        claims = jwt.decode(REFERENCE_TOKEN, "APIKEY-TEST", algorithms=["HS256"])
    if claims != {"appid": "APPID-TEST", "iat": 1700000000.25, "version": "V1",
                  "checksum": "JzpS5MXqGxzL6uznbnM6F3WZEENhffZE1xcEEMgmV34="}:
        fail(f"reference token claims {claims}")


def main():
    if len(sys.argv) != 2:
        fail("usage: interop_pyjwt.py PATH/TO/apex-ioc-sync")
    binary = sys.argv[1]
    for method, url, body, expected in KNOWN:
        got = create_checksum(method, url, "", body)
        if got != expected:
            fail(f"the documented recipe gives {got} for {method} {url}, the reference says {expected}")
    check_reference_token()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Peer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"http://127.0.0.1:{server.server_address[1]}"
    sync = run(binary, host, "--ioc-types", "ip,domain,url,hash")
    if sync["put"] != EXPECTED_IOCS or len(udso) != EXPECTED_IOCS:
        fail(f"the sync put {sync['put']} entries, {len(udso)} listed; expected {EXPECTED_IOCS}")
    clean = run(binary, host, "--clean")
    if clean["deleted"] != EXPECTED_IOCS or udso:
        fail(f"--clean deleted {clean['deleted']}, {len(udso)} left")

    sample = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data",
                          "openioc", "mandiant-apt", OPENIOC_SAMPLE)
    uploaded = run(binary, host, sample, "--extract", "--scan-action", "log", command=("openioc", "upload"))
    with open(sample, "rb") as f:
        sample_id = hashlib.sha1(f.read()).hexdigest()
    if [u["FileHashID"] for u in uploaded["uploaded"]] != [sample_id] or \
            [e["ExtractingStatus"] for e in uploaded["extracted"]] != [1]:
        fail(f"openioc upload --extract reported {uploaded}")
    listed = run(binary, host, command=("openioc", "list"))
    if [f["FileName"] for f in listed] != [OPENIOC_SAMPLE]:
        fail(f"openioc list reported {listed}")
    run(binary, host, sample_id, command=("openioc", "delete"))
    if cabinet:
        fail(f"openioc delete left {cabinet}")
    server.shutdown()

    by_method = {}
    for r in captured:
        by_method[r["method"]] = by_method.get(r["method"], 0) + 1
    # GET: the sync's access check, its 4 lists and the listing of each of the 4 types again
    # right before its wave of adds (docs/how-a-run-decides.md, "Guarded waves"), --clean's
    # 4 lists, openioc list.
    if by_method != {"GET": 14, "PUT": EXPECTED_IOCS + 1, "DELETE": EXPECTED_IOCS + 1, "POST": 1}:
        fail(f"unexpected requests {by_method}")
    extraction = [r for r in captured if r["raw_url"] == OPENIOC_EXTRACTION]
    expected_body = ('{"param":{"FileHashIDList":["%s"],"ScanType":{"File":1,"IP":1,"URL":1,"Domain":1}}}'
                     % sample_id).encode()
    if [r["body"] for r in extraction] != [expected_body]:
        fail(f"the extraction request was {[r['body'] for r in extraction]}")

    now = time.time()
    for r in captured:
        what = f"{r['method']} {r['raw_url']}"
        if not r["authorization"].startswith("Bearer "):
            fail(f"{what}: no bearer token")
        token = r["authorization"][len("Bearer "):]
        header = jwt.get_unverified_header(token)
        if header.get("alg") != "HS256" or header.get("typ") != "JWT":
            fail(f"{what}: header {header}")
        try:
            claims = jwt.decode(token, API_KEY, algorithms=["HS256"])
        except jwt.PyJWTError as e:
            fail(f"{what}: PyJWT rejects the token: {e}")
        try:
            jwt.decode(token, API_KEY + "x", algorithms=["HS256"])
            fail(f"{what}: verified with a wrong key")
        except jwt.InvalidSignatureError:
            pass
        if claims.get("appid") != APP_ID or claims.get("version") != "V1":
            fail(f"{what}: claims {claims}")
        if not isinstance(claims.get("iat"), float) or abs(now - claims["iat"]) > 300:
            fail(f"{what}: iat {claims.get('iat')!r} is not a fresh float")
        expected = create_checksum(r["method"], r["raw_url"], "", r["body"].decode("utf-8"))
        if claims.get("checksum") != expected:
            fail(f"{what}: checksum {claims.get('checksum')} but the recipe gives {expected}")
        if r["content_type"] != "application/json;charset=utf-8":
            fail(f"{what}: Content-Type {r['content_type']!r}")

    puts = [r for r in captured if r["method"] == "PUT"]
    # The Unicode adversary goes out in its normal form, the A-label.
    if not any(b'"xn--bcher-kva.example"' in r["body"] for r in puts):
        fail("no PUT carried the domain bücher.example as its A-label xn--bcher-kva.example")
    encoded = UDSO + "?type=url&content=https%3A%2F%2Fevil.example.com%2FPath%3Fq%3D1%26x%3Da%2Bb%2520c%23frag"
    deletes = [r["raw_url"] for r in captured if r["method"] == "DELETE"]
    if encoded not in deletes:
        fail("the URL delete was not sent percent-encoded as expected:\n" + "\n".join(deletes))
    iats = [jwt.decode(r["authorization"][7:], API_KEY, algorithms=["HS256"])["iat"] for r in captured]
    if len(set(iats)) != len(iats):
        fail("two requests carried the same iat: tokens are not made per request")

    print(f"interop: {len(captured)} Apex requests {by_method} and the reference token verified "
          f"with PyJWT {jwt.__version__} and the documented checksum recipe")


if __name__ == "__main__":
    main()
