"""Time from a breach becoming visible to 100 % of traffic on the stable version (issue 5).

Drives the release `agent run` on a copy of the quickstart, with the bad-version trick of the
tests (training param fault_rate: the version answers that share of predictions with 500). A
sampler thread sends predictions through the deployment's stable endpoint back to back and
records (time, version) of every answer. Each run trains a new bad version, then:

  alert-canary   the version is in its canary step (50 %, long pause); the bench POSTs
                 Alertmanager's webhook payload (v4) for it to /hooks/alertmanager at t0.
  alert-after    the rollout has completed (the previous version's replicas are kept for the
                 scale-down delay); the alert is POSTed at t0.
  scrape-canary  a scrape monitor (interval 1 s, for 2 s, ratio over 5 s) in the canary step;
                 t0 is the first 500 the sampler saw from the bad version (the breach visible).

The time measured is t1 - t0, where t1 is the first answer after which every answer (at least
200 in a row) comes from the stable version. Medians over the runs are printed.

Usage: python3 bench/rollback.py AGENT_BINARY WORK_FOLDER RUNS
"""
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

AGENT, WORK, RUNS = sys.argv[1], sys.argv[2], int(sys.argv[3])
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def git(repo, *args):
    subprocess.run(["git", "-C", repo, "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args],
                   check=True, capture_output=True)


class Sampler(threading.Thread):
    """Predictions back to back through the router, each answer's (time, version, status)."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.answers, self.running = port, [], True

    def run(self):
        body = json.dumps({"features": [0.5, 0.5, 0.8, 0.0]}).encode()
        while self.running:
            request = urllib.request.Request(f"http://127.0.0.1:{self.port}/predict", data=body,
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    status, version = response.status, response.headers.get("X-Model-Version")
            except urllib.error.HTTPError as error:
                status, version = error.code, error.headers.get("X-Model-Version")
            except OSError:
                status, version = 0, None
            self.answers.append((time.monotonic(), int(version) if version else None, status))

    def settled_on(self, stable, since, run_length=200):
        """The time of the first answer after `since` from which `run_length`+ answers all came from `stable`."""
        answers = [a for a in self.answers if a[0] >= since]
        start = None
        for index, (at, version, _) in enumerate(answers):
            if version != stable:
                start = None
                continue
            if start is None:
                start = index
            if index - start + 1 >= run_length:
                return answers[start][0]
        return None


class Setup:
    def __init__(self, name, monitor, pause):
        self.folder = os.path.join(WORK, name)
        self.repo = os.path.join(self.folder, "repo")
        os.makedirs(self.repo)
        for part in ("manifests", "training", "serving"):
            shutil.copytree(os.path.join(ROOT, "examples/quickstart", part), os.path.join(self.repo, part))
        self.listen, self.api = free_port(), free_port()
        deploy = os.path.join(self.repo, "manifests/deploy/iris-api.yaml")
        text = open(deploy).read().replace("127.0.0.1:9000", f"127.0.0.1:{self.listen}")
        text = text.replace("      - {weight: 25, pause: 10s}\n      - {weight: 50, pause: 10s}\n",
                            f"      - {{weight: 50, pause: {pause}}}\n")
        open(deploy, "w").write(text)
        open(os.path.join(self.repo, "manifests/monitors/iris-api-errors.yaml"), "w").write(monitor)
        self.seed = 7
        git(self.repo, "init", "-q", "-b", "main")
        git(self.repo, "add", "-A")
        git(self.repo, "commit", "-q", "-m", "bench")
        config = os.path.join(self.folder, "agent.yaml")
        open(config, "w").write(f"source: {{url: {self.repo}, branch: main, path: manifests, interval: 1s}}\n"
                                f"state: {self.folder}/state\napi: {{listen: 127.0.0.1:{self.api}}}\n")
        self.log = open(os.path.join(self.folder, "agent.log"), "w")
        self.agent = subprocess.Popen([AGENT, "run", "--config", config], stdout=self.log, stderr=self.log)
        self.sampler = Sampler(self.listen)
        self.sampler.start()
        self.version = 1
        self.wait(lambda: self.latest() == 1, 180, "v1 serving")

    def latest(self):
        recent = [a for a in self.sampler.answers[-20:] if a[1] is not None]
        return recent[-1][1] if recent else None

    def wait(self, condition, seconds, what):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.05)
        raise SystemExit(f"timed out waiting for {what}; see {self.folder}/agent.log")

    def bad_version(self):
        """Commits a new seed with fault_rate 0.5; returns the version it will register."""
        self.seed += 1
        path = os.path.join(self.repo, "manifests/pipelines/iris-train.yaml")
        text = open(path).read()
        start = text.index('seed: "')
        end = text.index("}", start)
        open(path, "w").write(text[:start] + f'seed: "{self.seed}", fault_rate: "0.5"' + text[end:])
        git(self.repo, "commit", "-q", "-am", f"bad seed {self.seed}")
        self.version += 1
        return self.version

    def alert(self, version):
        payload = {"receiver": "modelops", "status": "firing", "version": "4", "groupKey": "bench",
                   "truncatedAlerts": 0, "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
                   "externalURL": "http://bench",
                   "alerts": [{"status": "firing", "labels": {"alertname": "IrisApiErrors", "deployment": "iris-api",
                                                              "version": str(version)},
                               "annotations": {"summary": "bench"}, "startsAt": "2026-01-01T00:00:00Z",
                               "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": str(version)}]}
        request = urllib.request.Request(f"http://127.0.0.1:{self.api}/hooks/alertmanager",
                                         data=json.dumps(payload).encode(),
                                         headers={"Content-Type": "application/json"})
        t0 = time.monotonic()
        urllib.request.urlopen(request, timeout=5).read()
        return t0

    def stop(self):
        self.sampler.running = False
        self.agent.terminate()
        self.agent.wait(30)


ALERT = """apiVersion: modelops/v1
kind: Monitor
metadata: {name: iris-api-errors}
spec:
  deployment: iris-api
  source: {alertmanager: {alertname: IrisApiErrors}}
  actions: [rollback]
"""
SCRAPE = """apiVersion: modelops/v1
kind: Monitor
metadata: {name: iris-api-errors}
spec:
  deployment: iris-api
  source: {scrape: {interval: 1s}}
  metric: {ratio: {numerator: http_requests_errors_total, denominator: http_requests_total}}
  window: 5s
  threshold: {max: 0.05}
  for: 2s
  actions: [rollback]
"""


def measure(name, monitor, pause, after_rollout=False, scrape=False):
    setup = Setup(name, monitor, pause)
    times = []
    try:
        for _ in range(RUNS):
            stable = setup.latest()
            bad = setup.bad_version()
            since = time.monotonic()
            setup.wait(lambda: any(a[1] == bad for a in setup.sampler.answers[-50:]), 180, f"v{bad} taking traffic")
            if after_rollout:
                setup.wait(lambda: all(a[1] == bad for a in setup.sampler.answers[-100:]), 120, f"v{bad} at 100 %")
                time.sleep(1)
            if scrape:
                def first_error():
                    return next((a[0] for a in setup.sampler.answers if a[0] >= since and a[1] == bad and a[2] == 500),
                                None)
                setup.wait(lambda: first_error() is not None, 60, f"a first 500 from v{bad}")
                t0 = first_error()
            else:
                t0 = setup.alert(bad)
            setup.wait(lambda: setup.sampler.settled_on(stable, t0) is not None, 120, f"traffic back on v{stable}")
            times.append(setup.sampler.settled_on(stable, t0) - t0)
            time.sleep(2)  # let the monitor resolve before the next bad version
    finally:
        setup.stop()
    return times


def report(name, times, target):
    print(f"{name:14} runs {len(times)}  median {statistics.median(times):.3f} s  "
          f"min {min(times):.3f}  max {max(times):.3f}  ({target})", flush=True)


alert_canary = measure("alert-canary", ALERT, "120s")
report("alert-canary", alert_canary, "target < 0.5 s after the alert")
alert_after = measure("alert-after", ALERT, "1s", after_rollout=True)
report("alert-after", alert_after, "target < 0.5 s after the alert")
scrape_canary = measure("scrape-canary", SCRAPE, "120s", scrape=True)
report("scrape-canary", scrape_canary, "target <= scrape interval 1 s + for 2 s (+ a second scrape for a rate)")
