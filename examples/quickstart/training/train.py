"""Step 2: logistic regression by batch gradient descent (standard library only).

Reads $MODELOPS_OUTPUT_DIR/data.csv, holds out 25 % for evaluation, and writes what the agent
registers: model/weights.json (the artifact), metrics.json (accuracy, log loss) and profile.json
(the baseline histogram of each feature, for drift monitors).
"""
import csv
import json
import math
import os
import random

params = json.load(open(os.environ["MODELOPS_PARAMS"]))
learning_rate = float(params.get("learning_rate", "0.1"))
epochs = int(params.get("epochs", "200"))
output = os.environ["MODELOPS_OUTPUT_DIR"]

with open(os.path.join(output, "data.csv")) as f:
    reader = csv.reader(f)
    header = next(reader)
    data = [([float(x) for x in row[:-1]], int(row[-1])) for row in reader]
features = header[:-1]
random.Random(int(params.get("seed", "7"))).shuffle(data)
split = int(len(data) * 0.75)
train, test = data[:split], data[split:]

def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-max(min(z, 30), -30)))

weights = [0.0] * len(features)
bias = 0.0
for epoch in range(epochs):
    grad_w = [0.0] * len(features)
    grad_b = 0.0
    for x, y in train:
        error = sigmoid(sum(w * xi for w, xi in zip(weights, x)) + bias) - y
        grad_w = [g + error * xi for g, xi in zip(grad_w, x)]
        grad_b += error
    weights = [w - learning_rate * g / len(train) for w, g in zip(weights, grad_w)]
    bias -= learning_rate * grad_b / len(train)

correct = 0
loss = 0.0
for x, y in test:
    p = sigmoid(sum(w * xi for w, xi in zip(weights, x)) + bias)
    correct += int((p >= 0.5) == bool(y))
    loss -= y * math.log(max(p, 1e-12)) + (1 - y) * math.log(max(1 - p, 1e-12))
metrics = {"accuracy": round(correct / len(test), 4), "log_loss": round(loss / len(test), 4)}

os.makedirs(os.path.join(output, "model"), exist_ok=True)
with open(os.path.join(output, "model", "weights.json"), "w") as f:
    model = {"features": features, "weights": weights, "bias": bias}
    # A deliberately broken version for demonstrations: the server answers this share with 500.
    if float(params.get("fault_rate", "0")) > 0:
        model["fault_rate"] = float(params["fault_rate"])
    json.dump(model, f, indent=2)
with open(os.path.join(output, "metrics.json"), "w") as f:
    json.dump(metrics, f)

edges = [-4 + i * 0.5 for i in range(17)]
profile = {"features": {}}
for i, name in enumerate(features):
    counts = [0] * (len(edges) + 1)
    for x, _ in train:
        counts[sum(1 for e in edges if x[i] > e)] += 1
    profile["features"][name] = {"edges": edges, "counts": counts}
with open(os.path.join(output, "profile.json"), "w") as f:
    json.dump(profile, f)
print("metrics:", json.dumps(metrics))
