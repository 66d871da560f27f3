"""Serves the quickstart model as a Ray Serve application (the quickstart's Ray mode), per the
serving contract: the same answers as serve.py.

The agent deploys one application per revision, with the commit's code as its working directory
and the version's artifact in it: $MODELOPS_MODEL_PATH (relative to that directory). Requests
reach it through the agent's router with the application's route prefix before their path
(Serve passes it as the ASGI root_path, stripped here). Endpoints:
  POST /predict   {"features": [...]} -> {"probability", "label", "version"}
  GET  /healthz   200 once the model is loaded
  GET  /metrics   http_requests_total and http_requests_errors_total by version
FAULT_RATE (0..1; or "fault_rate" in weights.json) makes that share of predictions raise, to
exercise monitors and rollbacks (Serve answers 500).
"""
import json
import math
import os
import random

from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse


@serve.deployment
class Model:
    def __init__(self):
        with open(os.path.join(os.environ["MODELOPS_MODEL_PATH"], "weights.json")) as f:
            self.model = json.load(f)
        self.version = os.environ.get("MODELOPS_MODEL_VERSION", "0")
        self.fault_rate = float(os.environ.get("FAULT_RATE") or self.model.get("fault_rate", 0))
        self.requests = 0
        self.errors = 0

    async def __call__(self, request: Request):
        path = request.url.path[len(request.scope.get("root_path", "")):] or "/"
        if request.method == "GET" and path in ("/healthz", "/v2/health/ready"):
            return PlainTextResponse("ok\n")
        if request.method == "GET" and path == "/metrics":
            return PlainTextResponse(
                f'http_requests_total{{version="{self.version}"}} {self.requests}\n'
                f'http_requests_errors_total{{version="{self.version}"}} {self.errors}\n'
            )
        if request.method != "POST" or path != "/predict":
            return JSONResponse({"error": "not found"}, status_code=404)
        self.requests += 1
        try:
            features = [float(x) for x in (await request.json())["features"]]
            if len(features) != len(self.model["weights"]):
                raise ValueError(f"expected {len(self.model['weights'])} features")
        except (KeyError, ValueError, TypeError) as error:
            self.errors += 1
            return JSONResponse({"error": str(error), "version": self.version}, status_code=400)
        if random.random() < self.fault_rate:
            self.errors += 1
            raise RuntimeError("injected fault")
        z = sum(w * x for w, x in zip(self.model["weights"], features)) + self.model["bias"]
        p = 1.0 / (1.0 + math.exp(-max(min(z, 30), -30)))
        return JSONResponse({"probability": round(p, 6), "label": int(p >= 0.5), "version": self.version})


app = Model.bind()
