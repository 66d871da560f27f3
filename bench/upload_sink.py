"""An upstream for bench/router-memory: reads each request body whole, at RATE MiB/s per
connection (0: as fast as it comes), then answers 200 with the byte count.

Usage: upload_sink.py PORT [RATE]
"""

import http.server
import sys
import time

rate = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0


class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        remaining = int(self.headers.get("Content-Length", "0"))
        total = 0
        while remaining > 0:
            data = self.rfile.read(min(remaining, 64 << 10))
            if not data:
                break
            remaining -= len(data)
            total += len(data)
            if rate > 0:
                time.sleep(len(data) / (rate * (1 << 20)))
        body = f"{total}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer.request_queue_size = 1024
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink)
server.daemon_threads = True
server.serve_forever()
