#!/usr/bin/env python3
"""Checks manifests against modelops.schema.json with the `jsonschema` package.

Usage: check.py --valid FILE... [--invalid FILE...]
Every document of a --valid file must pass; every --invalid file must have a document that fails.
Prints one JSON object per file ({"file", "expected", "errors"}) and exits 1 on any surprise.
"""
import json
import os
import sys

import jsonschema
import yaml

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "modelops.schema.json")

def main(argv):
    with open(SCHEMA) as f:
        validator = jsonschema.Draft7Validator(json.load(f))
    expected, ok = "valid", True
    for arg in argv:
        if arg in ("--valid", "--invalid"):
            expected = arg[2:]
            continue
        with open(arg) as f:
            documents = [d for d in yaml.safe_load_all(f) if d is not None]
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for d in documents for e in validator.iter_errors(d)]
        surprise = bool(errors) if expected == "valid" else not errors
        ok = ok and not surprise
        print(json.dumps({"file": arg, "expected": expected, "errors": errors}))
    return 0 if ok else 1

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
