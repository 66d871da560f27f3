"""Many resources on one agent (issue 12): does anything wait for anything else?

Drives the release `agent run` on a generated repository: N deployments of 2 process replicas
each (a tiny HTTP server answering "<version> <flavor>"), each serving its own model trained by
its own pipeline (a step that writes a model and metrics). Deployment d00 rolls out with
`rolling`; the others with a canary whose single step holds 50 % for an hour. Measured:

  serve-all      from the agent's start on an empty state to every deployment answering v1
  cycle          p50/p99 of the agent's pass (modelops_last_cycle_seconds, every pass seen) once
                 converged, with nothing to do
  idle           the agent's CPU (percent of one core) and RSS over 20 s once converged
  commit->serve  from a commit changing d00 (then POST /api/v1/sync) to d00 answering the new
                 flavor on 20 requests in a row: median of ROUNDS with no other rollout in
                 flight, then median of ROUNDS with the N-1 other deployments' canaries in
                 flight (held in their pause) — and the ratio of the two (the goal: <= 1.5x)

Usage: python3 bench/scale.py AGENT_BINARY WORK_FOLDER DEPLOYMENTS ROUNDS
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

AGENT, WORK, COUNT, ROUNDS = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
REPO = os.path.join(WORK, "repo")
NAMES = [f"d{i:02d}" for i in range(COUNT)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def git(*args):
    subprocess.run(["git", "-C", REPO, "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args],
                   check=True, capture_output=True)


def write(path, text):
    full = os.path.join(REPO, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(text)


TRAIN = """import json, os
out = os.environ["MODELOPS_OUTPUT_DIR"]
os.makedirs(os.path.join(out, "model"), exist_ok=True)
open(os.path.join(out, "model", "weights.json"), "w").write("{}")
json.dump({"accuracy": 0.9}, open(os.path.join(out, "metrics.json"), "w"))
"""

SERVE = """import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
ANSWER = (os.environ.get("MODELOPS_MODEL_VERSION", "0") + " " + os.environ.get("FLAVOR", "")).encode()
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def resources(name, listen, flavor):
    strategy = "{type: rolling}" if name == "d00" else "{type: canary, steps: [{weight: 50, pause: 1h}]}"
    return f"""apiVersion: modelops/v1
kind: Model
metadata: {{name: {name}}}
spec:
  pipeline: {name}
  aliases:
    production: {{policy: latest-passing, gates: [{{metric: accuracy, min: 0.5}}]}}
---
apiVersion: modelops/v1
kind: Pipeline
metadata: {{name: {name}}}
spec:
  model: {name}
  workdir: training
  steps: [{{name: train, command: ["python3", "train.py"]}}]
  triggers: {{onSpecChange: true}}
---
apiVersion: modelops/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  model: {name}@production
  runtime: process
  command: ["python3", "serving/serve.py"]
  env: {{FLAVOR: "{flavor}"}}
  replicas: 2
  listen: 127.0.0.1:{listen}
  health: {{path: /healthz, interval: 2s, timeout: 1s, failureThreshold: 3, startupTimeout: 60s}}
  strategy: {strategy}
  rollback: {{auto: true, scaleDownDelay: 1s}}
"""


def answer(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            return response.read().decode()
    except Exception:
        return None


class Agent:
    def __init__(self):
        self.api = free_port()
        config = os.path.join(WORK, "agent.yaml")
        with open(config, "w") as f:
            f.write(f"source: {{url: {REPO}, branch: main, path: manifests, interval: 5s}}\n"
                    f"state: {WORK}/state\napi: {{listen: 127.0.0.1:{self.api}}}\n")
        self.log = open(os.path.join(WORK, "agent.log"), "w")
        self.process = subprocess.Popen([AGENT, "run", "--config", config], stdout=self.log, stderr=self.log)

    def get(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.api}{path}", timeout=5) as response:
            return response.read()

    def sync(self):
        request = urllib.request.Request(f"http://127.0.0.1:{self.api}/api/v1/sync", data=b"", method="POST")
        urllib.request.urlopen(request, timeout=5).read()

    def metrics(self):
        values = {}
        for line in self.get("/metrics").decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    def cpu_seconds(self):
        fields = open(f"/proc/{self.process.pid}/stat").read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mib(self):
        for line in open(f"/proc/{self.process.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def paused(self):
        rows = json.loads(self.get("/api/v1/status"))
        return sum(1 for row in rows if row.get("kind") == "Deployment" and ", paused" in row.get("message", ""))

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def wait(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out after {seconds} s waiting for {what} (see {WORK}/agent.log)")


def main():
    os.makedirs(REPO)
    ports = {name: free_port() for name in NAMES}
    write("training/train.py", TRAIN)
    write("serving/serve.py", SERVE)
    for name in NAMES:
        write(f"manifests/{name}.yaml", resources(name, ports[name], "one"))
    subprocess.run(["git", "init", "-q", "-b", "main", REPO], check=True)
    git("add", "-A")
    git("commit", "-q", "-m", "many teams")

    agent = Agent()
    started = time.monotonic()
    try:
        wait(lambda: all(answer(ports[n]) == "1 one" for n in NAMES), 900, "every deployment to serve v1")
        serve_all = time.monotonic() - started
        wait(lambda: agent.metrics().get(f'modelops_replicas{{deployment="{NAMES[-1]}",version="1",health="healthy"}}') == 2,
             120, "the replicas to turn healthy")
        time.sleep(3)

        # Passes with nothing to do: every pass's duration, 30 s of them (sync requests force a pass).
        cycles, seen, deadline = [], None, time.monotonic() + 30
        while time.monotonic() < deadline:
            agent.sync()
            time.sleep(0.2)
            metrics = agent.metrics()
            count = metrics.get("modelops_reconcile_cycles_total")
            if count != seen:
                seen = count
                cycles.append(metrics["modelops_last_cycle_seconds"])
        cycles.sort()

        cpu0, t0 = agent.cpu_seconds(), time.monotonic()
        time.sleep(20)
        idle_cpu = 100 * (agent.cpu_seconds() - cpu0) / (time.monotonic() - t0)
        idle_rss = agent.rss_mib()

        flavors = iter(f"f{i}" for i in range(100))

        def commit_to_serve():
            flavor = next(flavors)
            write("manifests/d00.yaml", resources("d00", ports["d00"], flavor))
            git("commit", "-q", "-am", f"d00 answers {flavor}")
            t = time.monotonic()
            agent.sync()
            wait(lambda: all(answer(ports["d00"]) == f"1 {flavor}" for _ in range(20)), 300, f"d00 to serve {flavor}")
            return time.monotonic() - t

        quiet = [commit_to_serve() for _ in range(ROUNDS)]
        for name in NAMES[1:]:
            write(f"manifests/{name}.yaml", resources(name, ports[name], "two"))
        git("commit", "-q", "-am", "every other deployment starts a canary")
        agent.sync()
        wait(lambda: agent.paused() == COUNT - 1, 900, f"{COUNT - 1} canaries to pause")
        busy = [commit_to_serve() for _ in range(ROUNDS)]
        wait(lambda: agent.paused() == COUNT - 1, 60, "the canaries to still be paused")
    finally:
        agent.stop()

    def pct(values, q):
        return values[min(len(values) - 1, int(q * len(values)))]

    quiet_median, busy_median = statistics.median(quiet), statistics.median(busy)
    print(f"deployments: {COUNT} x 2 process replicas, {COUNT} pipelines")
    print(f"serve-all        {serve_all:.1f} s from an empty state to every deployment serving v1")
    print(f"cycle            p50 {1000 * pct(cycles, 0.5):.1f} ms, p99 {1000 * pct(cycles, 0.99):.1f} ms "
          f"({len(cycles)} passes, converged)")
    print(f"idle             {idle_cpu:.2f} % of one core, RSS {idle_rss:.0f} MiB")
    print(f"commit->serve    {quiet_median:.2f} s with no rollout in flight "
          f"({', '.join(f'{v:.2f}' for v in quiet)})")
    print(f"commit->serve    {busy_median:.2f} s with {COUNT - 1} canaries in flight "
          f"({', '.join(f'{v:.2f}' for v in busy)})")
    print(f"ratio            {busy_median / quiet_median:.2f}x (goal <= 1.5x)")


main()
