#!/usr/bin/env python3
"""Writes a manifests tree of N resources (a quarter of each kind), four documents per file.

Usage: generate.py OUT_DIR [N]   (default N = 10000: 2,500 files, about 10 MB)
Every generated resource is valid, and references resolve, so `agent validate` does all its work.
"""
import os
import sys

def model(i):
    return f"""apiVersion: modelops/v1
kind: Model
metadata:
  name: model-{i}
  labels: {{team: team-{i % 17}, tier: gold, generated: "true"}}
  annotations: {{owner: "someone-{i}@example.com", description: "generated model number {i} for the benchmark"}}
spec:
  description: Generated classifier number {i}, trained nightly on synthetic transactions
  pipeline: train-{i}
  aliases:
    staging:
      policy: latest-passing
      gates:
        - {{metric: auc, min: 0.90}}
        - {{metric: latency_p99_ms, max: 50}}
        - {{metric: precision_at_1pct, min: 0.55}}
    production:
      version: {i % 9 + 1}
    canary:
      policy: latest-passing
      from: staging
      soak: 24h
      gates:
        - {{metric: auc, beats: production, margin: 0.005}}
  retain: 20
"""

def pipeline(i):
    return f"""apiVersion: modelops/v1
kind: Pipeline
metadata:
  name: train-{i}
  labels: {{team: team-{i % 17}, schedule: weekly}}
spec:
  model: model-{i}
  workdir: training/model-{i}
  image: localhost/trainer:1
  params: {{C: "1.0", max_iter: "200", seed: "{i}", penalty: l2, solver: lbfgs}}
  inputs:
    - name: transactions
      path: /srv/data/transactions-{i}.csv
    - name: labels
      dvc: data/labels-{i}.csv.dvc
  steps:
    - name: prepare
      run: python3 prepare.py --rows 100000 --out "$MODELOPS_OUTPUT_DIR/data"
    - name: train
      command: ["python3", "train.py", "--epochs", "20"]
      env: {{SEED: "42", OMP_NUM_THREADS: "2"}}
      timeout: 30m
    - name: evaluate
      command: ["python3", "evaluate.py"]
      timeout: 10m
  triggers:
    onSpecChange: true
    onInputChange: true
    schedule: "0 3 * * 1"
    onAlert: [drift-{i}]
  retries: 1
  timeout: 2h
"""

def deployment(i):
    return f"""apiVersion: modelops/v1
kind: Deployment
metadata:
  name: api-{i}
  labels: {{team: team-{i % 17}, exposure: internal}}
spec:
  model: model-{i}@production
  runtime: process
  command: ["python3", "serving/serve.py", "--workers", "2"]
  env: {{LOG_LEVEL: info, BATCH_SIZE: "32"}}
  replicas: 2
  port: 8080
  listen: 127.0.0.1:{10000 + i}
  health:
    path: /healthz
    interval: 2s
    timeout: 1s
    failureThreshold: 3
    startupTimeout: 60s
  strategy:
    type: canary
    steps:
      - {{weight: 10, pause: 30s}}
      - {{weight: 50, pause: 30s}}
  analysis:
    monitors: [drift-{i}]
  rollback:
    auto: true
  resources: {{memory: 512Mi, cpus: "1"}}
"""

def monitor(i):
    return f"""apiVersion: modelops/v1
kind: Monitor
metadata:
  name: drift-{i}
  labels: {{team: team-{i % 17}}}
spec:
  deployment: api-{i}
  source:
    scrape: {{path: /metrics, interval: 5s}}
  metric:
    ratio: {{numerator: http_requests_errors_total, denominator: http_requests_total}}
  window: 60s
  threshold: {{max: 0.05}}
  for: 10s
  actions: [rollback, notify]
"""

def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    groups = n // 4
    for i in range(groups):
        folder = os.path.join(out, f"team-{i % 50:02d}")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"stack-{i:05d}.yaml"), "w") as f:
            f.write("---\n".join([model(i), pipeline(i), deployment(i), monitor(i)]))

if __name__ == "__main__":
    main()
