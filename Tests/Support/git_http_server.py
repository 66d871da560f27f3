#!/usr/bin/env python3
"""A git smart-HTTP server for tests: `git http-backend` behind HTTP Basic auth, on loopback.

Usage: git_http_server.py PROJECT_ROOT TOKEN
Prints the port it listens on (127.0.0.1, chosen by the OS), then serves until killed or for at
most 120 s. Any user name is accepted; the password must be TOKEN.
"""
import base64
import http.server
import os
import subprocess
import sys
import threading
import time

ROOT, TOKEN = sys.argv[1], sys.argv[2]
BACKEND = "/usr/lib/git-core/git-http-backend"

class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def authorised(self):
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        _, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return password == TOKEN

    def handle_git(self):
        # A remote that accepts the connection and never answers, while ROOT/STALL exists.
        while os.path.exists(os.path.join(ROOT, "STALL")):
            time.sleep(0.1)
        if not self.authorised():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = dict(os.environ, GIT_PROJECT_ROOT=ROOT, GIT_HTTP_EXPORT_ALL="1", PATH_INFO=path,
                   QUERY_STRING=query, REQUEST_METHOD=self.command, REMOTE_USER="test",
                   CONTENT_TYPE=self.headers.get("Content-Type", ""), CONTENT_LENGTH=str(len(body)))
        out = subprocess.run([BACKEND], input=body, env=env, capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(": ")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = handle_git
    do_POST = handle_git

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
threading.Timer(120, server.shutdown).start()
server.serve_forever()
