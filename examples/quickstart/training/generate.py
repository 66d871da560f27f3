"""Step 1: writes a two-class data set (two Gaussian blobs, 4 features) to $MODELOPS_OUTPUT_DIR/data.csv.

Seeded by the `seed` param, so a run at the same commit and params produces the same data.
"""
import csv
import json
import os
import random

params = json.load(open(os.environ["MODELOPS_PARAMS"]))
rng = random.Random(int(params.get("seed", "7")))
rows = int(params.get("rows", "2000"))
out = os.path.join(os.environ["MODELOPS_OUTPUT_DIR"], "data.csv")
with open(out, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["amount", "hour", "distance", "velocity", "label"])
    for _ in range(rows):
        label = rng.random() < 0.5
        shift = 1.2 if label else -1.2
        writer.writerow([round(rng.gauss(shift, 1.0), 4), round(rng.gauss(shift * 0.5, 1.0), 4),
                         round(rng.gauss(shift * 0.8, 1.0), 4), round(rng.gauss(0.0, 1.0), 4), int(label)])
print(f"wrote {rows} rows to {out}")
