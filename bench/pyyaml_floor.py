#!/usr/bin/env python3
"""Parse-only floor: PyYAML with libyaml (CSafeLoader) over every *.yaml under a folder.

Prints the seconds taken, reading files included, as the agent's figure includes them.
"""
import os
import sys
import time

import yaml

def main():
    root = sys.argv[1]
    start = time.perf_counter()
    documents = 0
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if name.endswith((".yaml", ".yml")):
                with open(os.path.join(folder, name), "rb") as f:
                    documents += sum(1 for d in yaml.load_all(f, Loader=yaml.CSafeLoader) if d is not None)
    elapsed = time.perf_counter() - start
    print(f"{elapsed:.4f} {documents}")

if __name__ == "__main__":
    main()
