#!/usr/bin/env python3
"""Mutation fuzzing of `agent validate`: no input may crash it, hang it, or exit with anything but 0 or 1.

Usage: fuzz.py AGENT [ITERATIONS] [SEED]
Mutates the bundled example manifests (byte flips, splices, deletions, duplicated lines, deep
nesting, aliases) and runs the agent on each mutant with a 5 s limit. Prints a summary; exits 1
and keeps the offending input in bench/out/ when a run crashes or hangs.
"""
import glob
import os
import random
import subprocess
import sys
import tempfile

TOKENS = [b"&a ", b"*a", b"<<: *a\n", b"[", b"{", b"---\n", b"!!str ", b"!Ref ", b"\t", b"\xff", b"\x00",
          b"'", b'"', b"? ", b"- ", b": ", b"#", b"|\n", b">-\n", b"%YAML 1.1\n", b"\n  ", b"@"]

def mutate(data, rng):
    data = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(5)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif op == 1:
            data[pos:pos] = rng.choice(TOKENS)
        elif op == 2 and data:
            del data[pos:pos + rng.randint(1, 40)]
        elif op == 3:
            lines = data.split(b"\n")
            i = rng.randrange(len(lines))
            lines.insert(i, lines[rng.randrange(len(lines))])
            data = bytearray(b"\n".join(lines))
        else:
            data[pos:pos] = rng.choice([b"[", b"{a: "]) * rng.randint(1, 200)
    return bytes(data)

def main():
    agent = sys.argv[1]
    iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    seeds = [open(p, "rb").read() for p in sorted(glob.glob("examples/*/manifests/**/*.yaml", recursive=True))]
    counts = {0: 0, 1: 0}
    with tempfile.TemporaryDirectory() as work:
        target = os.path.join(work, "m.yaml")
        for i in range(iterations):
            mutant = mutate(rng.choice(seeds), rng)
            with open(target, "wb") as f:
                f.write(mutant)
            try:
                rc = subprocess.run([agent, "validate", target], capture_output=True, timeout=5).returncode
            except subprocess.TimeoutExpired:
                rc = "timeout"
            if rc not in (0, 1):
                os.makedirs("bench/out", exist_ok=True)
                kept = f"bench/out/crash-{i}.yaml"
                with open(kept, "wb") as f:
                    f.write(mutant)
                print(f"iteration {i}: exit {rc}; input kept in {kept}")
                return 1
            counts[rc] += 1
    print(f"{iterations} mutants: {counts[0]} valid, {counts[1]} refused, 0 crashes or hangs")
    return 0

if __name__ == "__main__":
    sys.exit(main())
