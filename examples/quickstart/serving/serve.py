"""Serves the quickstart model over HTTP (standard library only), per the serving contract.

Reads $MODELOPS_MODEL_PATH/weights.json and listens on $PORT (127.0.0.1; BIND=0.0.0.0 in a
container). Endpoints:
  POST /predict          {"features": [amount, hour, distance, velocity]} -> {"probability", "label", "version"}
  GET  /healthz          200 when the model is loaded (also /v2/health/ready, the Open Inference Protocol path)
  GET  /metrics          Prometheus text: http_requests_total and http_requests_errors_total by version,
                         and modelops_feature_value (a histogram of each feature received, for drift
                         monitors; its buckets are the edges train.py writes in profile.json)
FAULT_RATE (0..1; or "fault_rate" in weights.json, from the training param of that name) answers
that share of predictions with 500, to exercise monitors and rollbacks.
"""
import json
import math
import os
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("MODELOPS_MODEL_VERSION", "0")
MODEL = json.load(open(os.path.join(os.environ["MODELOPS_MODEL_PATH"], "weights.json")))
FAULT_RATE = float(os.environ.get("FAULT_RATE") or MODEL.get("fault_rate", 0))
counts = {"requests": 0, "errors": 0}
EDGES = [-4 + i * 0.5 for i in range(17)]  # the same edges as train.py's profile.json
features_seen = {name: [0] * (len(EDGES) + 1) for name in MODEL["features"]}
lock = threading.Lock()


def feature_histograms():
    lines = ["# HELP modelops_feature_value Feature values received.", "# TYPE modelops_feature_value histogram"]
    for name, buckets in features_seen.items():
        cumulative = 0
        for edge, count in zip(EDGES + [math.inf], buckets):
            cumulative += count
            le = "+Inf" if edge == math.inf else repr(float(edge))
            lines.append(f'modelops_feature_value_bucket{{feature="{name}",le="{le}"}} {cumulative}')
        lines.append(f'modelops_feature_value_count{{feature="{name}"}} {cumulative}')
        lines.append(f'modelops_feature_value_sum{{feature="{name}"}} 0')
    return "\n".join(lines) + "\n"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # every reply has a Content-Length: connections are kept alive
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path in ("/healthz", "/v2/health/ready"):
            self.reply(200, "ok\n", "text/plain")
        elif self.path == "/metrics":
            with lock:
                text = (
                    "# HELP http_requests_total Prediction requests.\n# TYPE http_requests_total counter\n"
                    f'http_requests_total{{version="{VERSION}"}} {counts["requests"]}\n'
                    "# HELP http_requests_errors_total Prediction requests answered with an error.\n"
                    "# TYPE http_requests_errors_total counter\n"
                    f'http_requests_errors_total{{version="{VERSION}"}} {counts["errors"]}\n'
                ) + feature_histograms()
            self.reply(200, text, "text/plain; version=0.0.4")
        else:
            self.reply(404, '{"error": "not found"}')

    def do_POST(self):
        if self.path != "/predict":
            return self.reply(404, '{"error": "not found"}')
        with lock:
            counts["requests"] += 1
        try:
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            features = [float(x) for x in request["features"]]
            if len(features) != len(MODEL["weights"]):
                raise ValueError(f"expected {len(MODEL['weights'])} features")
            with lock:
                for name, x in zip(MODEL["features"], features):
                    features_seen[name][sum(1 for e in EDGES if x > e)] += 1
            if random.random() < FAULT_RATE:
                raise RuntimeError("injected fault")
            z = sum(w * x for w, x in zip(MODEL["weights"], features)) + MODEL["bias"]
            p = 1.0 / (1.0 + math.exp(-max(min(z, 30), -30)))
            self.reply(200, json.dumps({"probability": round(p, 6), "label": int(p >= 0.5), "version": VERSION}))
        except Exception as error:  # a bad request or an injected fault: counted as an error
            with lock:
                counts["errors"] += 1
            status = 400 if isinstance(error, (KeyError, ValueError, TypeError)) else 500
            self.reply(status, json.dumps({"error": str(error), "version": VERSION}))


class Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 drops connections under a burst
    daemon_threads = True


Server((os.environ.get("BIND", "127.0.0.1"), int(os.environ["PORT"])), Handler).serve_forever()
