#!/usr/bin/env python3
"""A bounded, reproducible hostile load for bench/memory.sh (loopback only).

Calls every implemented Management API operation (from `gatehouse ops --list`) with malformed,
oversized and wrongly typed bodies, path and query values (the query names each operation
declares, from the embedded OpenAPI spec), sends 1 MB bodies, and uses many distinct bearer
tokens: forged ones and distinct valid ones (tokens for random subsets of the granted scopes).
Everything goes to the given base URL; the run is bounded by a request budget and a deadline.

usage: fuzzload.py BASE_URL SPEC_JSON OPS_LIST CLIENT_ID CLIENT_SECRET [ROUNDS] [SEED]
prints one JSON line: requests sent, answers by status, connection errors, seconds.
"""

import base64
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse

BASE, SPEC, OPS, CLIENT_ID, CLIENT_SECRET = sys.argv[1:6]
ROUNDS = int(sys.argv[6]) if len(sys.argv) > 6 else 6
SEED = int(sys.argv[7]) if len(sys.argv) > 7 else 7
DEADLINE = time.monotonic() + 300  # never more than 5 minutes
THREADS = 4
MB = 1 << 20

u = urllib.parse.urlsplit(BASE)
HOST, PORT = u.hostname, u.port
assert HOST in ("127.0.0.1", "localhost", "::1"), "loopback only"

spec = json.load(open(SPEC))
ops = []
for line in open(OPS):
    parts = line.rstrip("\n").split("\t")
    if len(parts) == 4 and parts[0] == "done":
        ops.append((parts[1], parts[2]))


def params_of(method, path):
    item = spec["paths"].get(path, {})
    op = item.get(method.lower(), {})
    return [p for p in item.get("parameters", []) + op.get("parameters", []) if isinstance(p, dict)]


stats = {"requests": 0, "status": {}, "errors": 0}
lock = threading.Lock()


class Conn:
    def __init__(self):
        self.c = None

    def request(self, method, url, body=None, headers=None):
        for attempt in range(2):
            try:
                if self.c is None:
                    self.c = http.client.HTTPConnection(HOST, PORT, timeout=30)
                self.c.request(method, url, body=body, headers=headers or {})
                r = self.c.getresponse()
                data = r.read()
                with lock:
                    stats["requests"] += 1
                    stats["status"][str(r.status)] = stats["status"].get(str(r.status), 0) + 1
                if r.getheader("connection", "").lower() == "close":
                    self.c.close()
                    self.c = None
                return r.status, data
            except (OSError, http.client.HTTPException):
                if self.c is not None:
                    self.c.close()
                self.c = None
                if attempt == 1:
                    with lock:
                        stats["requests"] += 1
                        stats["errors"] += 1
        return 0, b""


def token(conn, scope=None):
    body = {"grant_type": "client_credentials", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "audience": BASE + "/api/v2/"}
    if scope:
        body["scope"] = scope
    st, data = conn.request("POST", "/oauth/token", json.dumps(body), {"content-type": "application/json"})
    if st != 200:
        raise SystemExit(f"token: HTTP {st} {data[:200]!r}")
    j = json.loads(data)
    return j["access_token"], j["scope"].split()


def junk_value(rnd):
    return rnd.choice([
        lambda: "x" * rnd.choice([1, 300, 5000]),
        lambda: str(rnd.randint(-10**12, 10**12)),
        lambda: "-1", lambda: "1e309", lambda: "true", lambda: "null", lambda: "",
        lambda: "%00%ff%fe", lambda: "é" * 200, lambda: "a,b,,c" * 50,
        lambda: "app_metadata.x:\"y\" OR (email:*)" * 3,
        lambda: "".join(rnd.choice("{}[]\"':\\*()&|!") for _ in range(64)),
    ])()


def junk_body(rnd):
    kind = rnd.randrange(9)
    if kind == 0:
        return b"{not json"
    if kind == 1:
        return json.dumps({"name": "x" * (MB - 100)}).encode()  # ~1 MB
    if kind == 2:
        return b"[" * 5000 + b"]" * 5000
    if kind == 3:
        return json.dumps([1, 2, 3]).encode()
    if kind == 4:
        return json.dumps({k: rnd.choice([1, "s", None, [], {}, True, 1.5, "x" * 3000])
                           for k in ["name", "description", "callbacks", "app_type", "identifier",
                                     "scopes", "strategy", "options", "email", "connection",
                                     "client_id", "audience", "user_id", "password", "bogus"]}).encode()
    if kind == 5:
        return json.dumps({f"k{i}": i for i in range(20000)}).encode()
    if kind == 6:
        return b"\xff\xfe\x00garbage"
    if kind == 7:
        return json.dumps({"name": "fuzz", "metadata": {f"m{i}": "v" * 100 for i in range(50)}}).encode()
    return b"{}"


def fill_path(path, rnd):
    out = []
    for seg in path.split("/"):
        if seg.startswith("{") and seg.endswith("}"):
            seg = urllib.parse.quote(junk_value(rnd), safe="")
        out.append(seg)
    return "/api/v2" + "/".join(out)


def worker(n, bearer):
    rnd = random.Random(SEED * 1000 + n)
    conn = Conn()
    auth = {"authorization": "Bearer " + bearer}
    for r in range(ROUNDS):
        for i, (method, path) in enumerate(ops):
            if (i + r) % THREADS != n or time.monotonic() > DEADLINE:
                continue
            qs = []
            for p in params_of(method, path):
                if p.get("in") == "query" and rnd.random() < 0.7:
                    qs.append((p["name"], junk_value(rnd)))
            qs.append(("bogus_" + str(rnd.randrange(1000)), junk_value(rnd)))
            url = fill_path(path, rnd) + "?" + urllib.parse.urlencode(qs)
            headers = dict(auth)
            body = None
            if method in ("POST", "PATCH", "PUT"):
                body = junk_body(rnd)
                headers["content-type"] = rnd.choice(["application/json", "application/json",
                                                      "text/plain", "application/x-www-form-urlencoded"])
            conn.request(method, url, body, headers)
            # the same operation with a valid-looking minimal body and defaults
            conn.request(method, fill_path(path, rnd), b"{}" if body is not None else None,
                         {**auth, "content-type": "application/json"})


def tokens_phase(n, scopes, count):
    """Distinct bearer tokens: forged (random signature) and valid (random scope subsets)."""
    rnd = random.Random(SEED * 77 + n)
    conn = Conn()
    for i in range(count):
        if time.monotonic() > DEADLINE:
            return
        if i % 2 == 0:
            subset = " ".join(rnd.sample(scopes, rnd.randint(1, len(scopes))) + ["read:clients"])
            t, _ = token(conn, subset)
        else:
            h = base64.urlsafe_b64encode(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "x"}).encode()).rstrip(b"=")
            p = base64.urlsafe_b64encode(json.dumps({"sub": f"forged{i}", "scope": " ".join(scopes)}).encode()).rstrip(b"=")
            t = (h + b"." + p + b"." + base64.urlsafe_b64encode(rnd.randbytes(256)).rstrip(b"=")).decode()
        conn.request("GET", "/api/v2/clients?per_page=1", None, {"authorization": "Bearer " + t})


def run(target, args_list):
    ts = [threading.Thread(target=target, args=a) for a in args_list]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


start = time.monotonic()
main_conn = Conn()
admin_token, all_scopes = token(main_conn)
PHASES = os.environ.get("FUZZ_PHASES", "ops,tokens").split(",")
if "ops" in PHASES:
    run(worker, [(n, admin_token) for n in range(THREADS)])
if "tokens" in PHASES:
    run(tokens_phase, [(n, all_scopes, 250) for n in range(THREADS)])
stats["seconds"] = round(time.monotonic() - start, 1)
stats["operations"] = len(ops)
print(json.dumps(stats))
