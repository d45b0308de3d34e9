#!/usr/bin/env python3
"""The browser login round trip, as fast as it goes: GET /authorize → the hosted login page →
POST the credentials → the redirect to the callback with a code → POST /oauth/token with the
code and the PKCE verifier. Each worker keeps its own cookie jar; `--sso` logs in once per worker
and then measures round trips that ride the session (no password check).

Prints one JSON object: round trips, seconds, per second, latency p50/p99 (ms), failures.
Standard library only (http.client, html.parser), so that nothing else is installed."""

import argparse
import base64
import hashlib
import html.parser
import http.client
import http.cookiejar
import json
import os
import secrets
import threading
import time
import urllib.parse
import urllib.request


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class Forms(html.parser.HTMLParser):
    """The page's forms: action, method and inputs (name → value)."""

    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action") or "", "method": (a.get("method") or "get").lower(), "inputs": {}})
        elif tag in ("input", "button") and self.forms and a.get("name"):
            if tag == "button" and a.get("type", "submit") != "submit":
                return
            self.forms[-1]["inputs"].setdefault(a["name"], a.get("value") or "")


def pkce():
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class Flow:
    def __init__(self, args):
        self.a = args
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)

    def req(self, url, data=None):
        r = urllib.request.Request(url, data=data)
        if data is not None:
            r.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            resp = self.opener.open(r, timeout=30)
            return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:  # 3xx (not followed) and errors
            return e.code, e.headers, e.read()

    def round_trip(self):
        a = self.a
        verifier, challenge = pkce()
        state = secrets.token_urlsafe(16)
        q = urllib.parse.urlencode({
            "response_type": "code", "client_id": a.client_id, "redirect_uri": a.callback,
            "scope": "openid profile email", "state": state, "code_challenge": challenge,
            "code_challenge_method": "S256",
        })
        url = f"{a.base}/authorize?{q}"
        # Follow redirects by hand until the callback (code) or a page with a form (login).
        for _ in range(10):
            status, headers, body = self.req(url)
            if status in (301, 302, 303, 307):
                url = urllib.parse.urljoin(url, headers["Location"])
                if url.startswith(a.callback):
                    break
                continue
            if status != 200:
                raise RuntimeError(f"GET {url}: {status}")
            p = Forms()
            p.feed(body.decode("utf-8", "replace"))
            form = next((f for f in p.forms if "password" in f["inputs"]), None)
            if form is None:
                raise RuntimeError(f"no login form at {url}")
            fields = dict(form["inputs"])
            for k in ("username", "email"):
                if k in fields:
                    fields[k] = a.username
            fields["password"] = a.password
            status, headers, _ = self.req(urllib.parse.urljoin(url, form["action"] or url),
                                          urllib.parse.urlencode(fields).encode())
            if status not in (301, 302, 303):
                raise RuntimeError(f"login POST: {status}")
            url = urllib.parse.urljoin(url, headers["Location"])
            if url.startswith(a.callback):
                break
        else:
            raise RuntimeError("too many redirects")
        params = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        if params.get("state", [None])[0] != state or "code" not in params:
            raise RuntimeError(f"callback without code/state: {url}")
        body = urllib.parse.urlencode({
            "grant_type": "authorization_code", "client_id": a.client_id,
            "client_secret": a.client_secret, "code": params["code"][0],
            "redirect_uri": a.callback, "code_verifier": verifier,
        }).encode()
        status, _, resp = self.req(f"{a.base}/oauth/token", body)
        if status != 200 or "id_token" not in json.loads(resp):
            raise RuntimeError(f"token: {status} {resp[:200]!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--client-secret", required=True)
    ap.add_argument("--callback", required=True)
    ap.add_argument("--username", required=True)
    ap.add_argument("--password", default=os.environ.get("BENCH_LOGIN_PASSWORD", ""))
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--sso", action="store_true", help="log in once per worker, then ride the session")
    a = ap.parse_args()

    lat, failures, lock = [], [], threading.Lock()
    deadline = [0.0]
    ready = threading.Barrier(a.workers + 1)

    def worker():
        f = Flow(a)
        try:
            if a.sso:
                f.round_trip()
        except Exception as e:  # noqa: BLE001 - reported, not hidden
            with lock:
                failures.append(str(e))
        ready.wait()
        while time.monotonic() < deadline[0]:
            t0 = time.monotonic()
            try:
                if not a.sso:
                    f.jar.clear()
                f.round_trip()
                with lock:
                    lat.append(time.monotonic() - t0)
            except Exception as e:  # noqa: BLE001
                with lock:
                    failures.append(str(e))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(a.workers)]
    for t in threads:
        t.start()
    deadline[0] = time.monotonic() + 3600
    ready.wait()
    start = time.monotonic()
    deadline[0] = start + a.seconds
    for t in threads:
        t.join()
    wall = time.monotonic() - start
    lat.sort()
    pct = lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1) if lat else None
    print(json.dumps({"round_trips": len(lat), "seconds": round(wall, 2),
                      "per_second": round(len(lat) / wall, 2) if wall else 0,
                      "p50_ms": pct(0.50), "p99_ms": pct(0.99), "failures": len(failures),
                      "first_failure": failures[0] if failures else None, "sso": a.sso}))


if __name__ == "__main__":
    main()
