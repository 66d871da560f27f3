"""Memory of a reverse proxy under many concurrent large uploads (bench/router-memory).

Usage: router_memory.py PROXY_PORT UPSTREAM_NAME PIDS [CLIENTS] [MIB]
Sends CLIENTS concurrent POSTs of MIB MiB each through the proxy (the body is streamed from one
small buffer, so the client's own memory stays flat), samples the resident memory of the proxy's
processes (PIDS, comma-separated) every 20 ms, and prints one line:
  idle-MiB peak-MiB after-MiB ok-count seconds
"after" is read 12 s after the last answer (the router gives freed memory back every 10 s).
"""

import http.client
import sys
import threading
import time

port = int(sys.argv[1])
pids = [int(p) for p in sys.argv[3].split(",") if p]
clients = int(sys.argv[4]) if len(sys.argv) > 4 else 80
mib = int(sys.argv[5]) if len(sys.argv) > 5 else 16
chunk = b"x" * (256 << 10)


def rss_mib():
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


ok = 0
lock = threading.Lock()


def upload():
    global ok
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.putrequest("POST", "/upload")
        connection.putheader("Content-Length", str(mib << 20))
        connection.putheader("Content-Type", "application/octet-stream")
        connection.endheaders()
        for _ in range((mib << 20) // len(chunk)):
            connection.send(chunk)
        response = connection.getresponse()
        response.read()
        if response.status == 200:
            with lock:
                ok += 1
    except OSError:
        pass
    finally:
        connection.close()


idle = rss_mib()
peak = idle
threads = [threading.Thread(target=upload) for _ in range(clients)]
started = time.monotonic()
for thread in threads:
    thread.start()
while any(thread.is_alive() for thread in threads):
    peak = max(peak, rss_mib())
    time.sleep(0.02)
took = time.monotonic() - started
time.sleep(12)
print(f"{idle:.0f} {peak:.0f} {rss_mib():.0f} {ok} {took:.1f}")
