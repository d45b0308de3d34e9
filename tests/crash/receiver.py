"""An HTTPS log-stream receiver for the crash test: appends the log_id of every entry it gets
(JSON lines, JSON arrays or single objects) to a file. Usage: receiver.py PORT CERT KEY OUT_FILE"""
import http.server
import json
import ssl
import sys

port, cert, key, out_path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
out = open(out_path, "a", buffering=1)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
        items = []
        for line in body.splitlines():
            if not line.strip():
                continue
            v = json.loads(line)
            items.extend(v if isinstance(v, list) else [v])
        for it in items:
            out.write(it["log_id"] + "\n")
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
