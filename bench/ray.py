"""The Ray runtime against the process runtime (issue 15), in the same run.

For each runtime, `agent run` on a copy of the quickstart (the Ray one uses examples/quickstart/ray,
its steps as Ray jobs and its revisions as Serve applications; the strategy is a plain rolling
update, so that pauses do not hide the mechanics). Measured from the agent's own records and from
answers through the router:

  first      from the agent's start to the first answer through the router (train v1, promote,
             first rollout; on Ray this includes starting Serve's controller and proxy).
  train      from `git commit` of a new seed to the new version registered (the 1 s fetch
             interval, then both steps: on Ray, each a job, its output sent back to the agent).
  serve      from registered to the first answer from the new version (promote, start the new
             revision — a Serve application on Ray — health, route).
  rollout    from that first answer to every answer coming from the new version.

Medians over RUNS commits. Usage: python3 bench/ray.py AGENT WORK RUNS RAY_DASHBOARD_URL
"""
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

AGENT, WORK, RUNS, RAY = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def git(repo, *args):
    subprocess.run(["git", "-C", repo, "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args],
                   check=True, capture_output=True)


def answer(listen):
    """The model version that answered one prediction, or None."""
    body = json.dumps({"features": [120.0, 3, 40.0, 2]}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{listen}/predict", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.headers.get("X-Model-Version")
    except Exception:
        return None


def until(predicate, limit=600):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(0.02)
    raise SystemExit("timed out")


def prepare(runtime):
    folder = os.path.join(WORK, runtime)
    repo = os.path.join(folder, "repo")
    os.makedirs(repo)
    source = os.path.join(ROOT, "examples", "quickstart")
    for item in ("manifests", "training", "serving"):
        shutil.copytree(os.path.join(source, item), os.path.join(repo, item))
    if runtime == "ray":
        shutil.copy(os.path.join(source, "ray", "iris-train.yaml"), os.path.join(repo, "manifests", "pipelines"))
        shutil.copy(os.path.join(source, "ray", "iris-api.yaml"), os.path.join(repo, "manifests", "deploy"))
    listen, api = free_port(), free_port()
    deploy = os.path.join(repo, "manifests", "deploy", "iris-api.yaml")
    text = open(deploy).read().replace("127.0.0.1:9000", f"127.0.0.1:{listen}")
    start = text.index("  strategy:")
    end = text.index("  analysis:")
    text = text[:start] + "  strategy: {type: rolling}\n" + text[end:]
    text = text.replace("    auto: true\n", "    auto: true\n    scaleDownDelay: 1s\n")
    open(deploy, "w").write(text)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "bench")
    config = os.path.join(folder, "agent.yaml")
    with open(config, "w") as f:
        f.write(f"source: {{url: {repo}, branch: main, path: manifests, interval: 1s}}\n"
                f"state: {folder}/state\napi: {{listen: 127.0.0.1:{api}}}\n")
        if runtime == "ray":
            f.write(f"ray: {{address: {RAY}, serve: {{host: 127.0.0.1, port: {free_port()}}}}}\n")
    return repo, config, listen, api


def measure(runtime):
    repo, config, listen, api = prepare(runtime)
    log = open(os.path.join(WORK, runtime, "agent.log"), "w")
    started = time.monotonic()
    agent = subprocess.Popen([AGENT, "run", "--config", config], stdout=log, stderr=subprocess.STDOUT)
    try:
        first = until(lambda: answer(listen) == "1") - started
        trains, serves, rollouts = [], [], []
        for run in range(RUNS):
            version = str(run + 2)
            pipeline = os.path.join(repo, "manifests", "pipelines", "iris-train.yaml")
            text = open(pipeline).read()
            open(pipeline, "w").write(text.replace(f'seed: "{run + 7}"', f'seed: "{run + 8}"'))
            t0 = time.monotonic()
            git(repo, "commit", "-q", "-am", f"seed {run + 8}")
            registered = until(lambda: registered_version(api) >= int(version))
            t1 = until(lambda: answer(listen) == version)
            t2 = until(lambda: all(answer(listen) == version for _ in range(20)))
            trains.append(registered - t0)
            serves.append(t1 - registered)
            rollouts.append(t2 - t1)
        return {"first": first, "train": statistics.median(trains), "serve": statistics.median(serves),
                "rollout": statistics.median(rollouts)}
    finally:
        agent.terminate()
        agent.wait(timeout=30)


def registered_version(api):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{api}/api/v1/models?name=iris-classifier", timeout=5) as r:
            return max((v["version"] for v in json.load(r)), default=0)
    except Exception:
        return 0


results = {runtime: measure(runtime) for runtime in ("process", "ray")}
print(f"quickstart, medians of {RUNS} commits")
print(f"{'':10} {'process':>10} {'ray':>10} {'ray/process':>12}")
for key in ("first", "train", "serve", "rollout"):
    p, r = results["process"][key], results["ray"][key]
    print(f"{key:10} {p:9.2f}s {r:9.2f}s {r / p if p else float('nan'):11.1f}×")
