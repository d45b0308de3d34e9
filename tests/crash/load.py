"""Write load for the crash test: threads create clients and users as fast as the server answers
and append every acknowledged (2xx) write to a file, flushed at once, until the server goes away.
Usage: load.py BASE_URL TOKEN OUT_FILE THREADS"""
import http.client
import json
import sys
import threading
import urllib.parse

base, token, out_path, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
host = urllib.parse.urlsplit(base)
lock = threading.Lock()
out = open(out_path, "a", buffering=1)
sent = [0]


def worker(n):
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
    i = 0
    while True:
        i += 1
        # Mostly clients; every fourth write a user (bcrypt makes those slower).
        if i % 4 == 0:
            kind, path = "user", "/api/v2/users"
            body = {"connection": "Username-Password-Authentication",
                    "email": f"crash-{n}-{i}@example.com", "password": "Crash-Passw0rd!"}
        else:
            kind, path = "client", "/api/v2/clients"
            body = {"name": f"crash-{n}-{i}"}
        try:
            conn.request("POST", path, json.dumps(body),
                         {"authorization": f"Bearer {token}", "content-type": "application/json"})
            with lock:
                sent[0] += 1
            res = conn.getresponse()
            data = res.read()
        except (OSError, http.client.HTTPException):
            return  # the server is gone
        if 200 <= res.status < 300:
            v = json.loads(data)
            key = v["user_id"] if kind == "user" else v["client_id"]
            with lock:
                out.write(f"{kind}\t{key}\t{body.get('name') or body['email']}\n")
        elif res.status >= 500:
            with lock:
                out.write(f"5xx\t{res.status}\t{data[:200]!r}\n")


ts = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(f"load: {sent[0]} writes sent")
