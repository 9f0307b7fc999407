"""Interop check: the tokens apex-ioc-sync sends verify with PyJWT and carry the checksum
that Trend's documented Python recipe computes for the same request.

A capture server on loopback plays Apex Central: it answers the UDSO list with entries
owned by the tag (a URL with reserved characters, a Unicode domain, ...) and records every
request the binary makes during a real `--clean` run. Then every recorded request is checked.

Usage: python interop_pyjwt.py PATH/TO/apex-ioc-sync
"""

import base64
import hashlib
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt  # PyJWT

APP_ID = "5A6C9E3B-1D2F-4A8B-9C0D-E1F2A3B4C5D6"
API_KEY = "INTEROP-KEY-7F3E-11D2-8A4B-0C9D2E1F"
UDSO = "/WebApp/api/SuspiciousObjects/UserDefinedSO/"

OWNED = {
    "ip": ["203.0.113.7"],
    "domain": ["bücher.example", "c2.example"],
    "url": ["https://Evil.Example.com/Path?q=1&x=a+b%20c#frag", "http://198.51.100.1:8080/ü/x.php"],
    "file_sha1": ["73d95a30c812d9cff0eaf37a686fdfef8f9ca531"],
}


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
]

captured = []


class Apex(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        captured.append({
            "method": self.command,
            "raw_url": self.path,  # the request target exactly as sent
            "authorization": self.headers.get("Authorization", ""),
            "content_type": self.headers.get("Content-Type", ""),
            "body": body,
        })
        data = None
        if self.command == "GET":
            kind = self.path.split("type=", 1)[1].split("&", 1)[0]
            data = [
                {"type": kind, "content": c, "notes": "apex-ioc-sync:interop test",
                 "scan_action": "block", "expiration_utc_date": None}
                for c in OWNED.get(kind, [])
            ] + [{"type": kind, "content": "manual-" + kind, "notes": "by hand",
                  "scan_action": "log", "expiration_utc_date": "2030-01-01T00:00:00.000"}]
        answer = json.dumps({"Data": data, "Meta": {"Result": 1, "ErrorCode": 0, "ErrorMsg": ""}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_PUT = do_DELETE = do_POST = handle_any

    def log_message(self, *args):
        pass


def fail(message):
    print("INTEROP FAILED: " + message, file=sys.stderr)
    sys.exit(1)


def main():
    if len(sys.argv) != 2:
        fail("usage: interop_pyjwt.py PATH/TO/apex-ioc-sync")
    for method, url, body, expected in KNOWN:
        got = create_checksum(method, url, "", body)
        if got != expected:
            fail(f"the documented recipe gives {got} for {method} {url}, the reference says {expected}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Apex)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"http://127.0.0.1:{server.server_address[1]}"
    run = subprocess.run(
        [sys.argv[1], "--clean", "--tag", "interop", "--json", "--host", host,
         "--application-id", APP_ID, "--api-key", API_KEY],
        capture_output=True, text=True, timeout=120,
    )
    server.shutdown()
    if run.returncode != 0:
        fail(f"apex-ioc-sync exited {run.returncode}:\n{run.stderr}")
    report = json.loads(run.stdout)
    owned = sum(len(v) for v in OWNED.values())
    if report["deleted"] != owned:
        fail(f"expected {owned} deletes, the report says {report['deleted']}")

    deletes = [r for r in captured if r["method"] == "DELETE"]
    gets = [r for r in captured if r["method"] == "GET"]
    if len(gets) != 4 or len(deletes) != owned:
        fail(f"expected 4 GETs and {owned} DELETEs, captured {len(gets)} and {len(deletes)}")

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
        if not isinstance(claims.get("iat"), float) or abs(now - claims["iat"]) > 120:
            fail(f"{what}: iat {claims.get('iat')!r} is not a fresh float")
        expected = create_checksum(r["method"], r["raw_url"], "", r["body"].decode("utf-8"))
        if claims.get("checksum") != expected:
            fail(f"{what}: checksum {claims.get('checksum')} but the recipe gives {expected}")
        if r["content_type"] != "application/json;charset=utf-8":
            fail(f"{what}: Content-Type {r['content_type']!r}")

    # The delete of the URL with reserved characters is percent-encoded on the wire.
    encoded = UDSO + "?type=url&content=https%3A%2F%2FEvil.Example.com%2FPath%3Fq%3D1%26x%3Da%2Bb%2520c%23frag"
    if encoded not in [r["raw_url"] for r in deletes]:
        fail("the URL delete was not sent percent-encoded as expected:\n" + "\n".join(r["raw_url"] for r in deletes))
    iats = sorted(jwt.decode(r["authorization"][7:], API_KEY, algorithms=["HS256"])["iat"] for r in captured)
    if len(set(iats)) != len(iats):
        fail("two requests carried the same iat: tokens are not made per request")

    print(f"interop: {len(captured)} requests ({len(gets)} GET, {len(deletes)} DELETE) verified with "
          f"PyJWT {jwt.__version__} and the documented checksum recipe")


if __name__ == "__main__":
    main()
