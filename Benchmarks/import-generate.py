#!/usr/bin/env python3
"""Writes a bulk-import file for `datarights import` (issue 17): DATASETS dataset lines, then about 1.5
derivations a dataset forming a DAG (each edge from an earlier dataset to a later one), with a few lines
deliberately bad, and prints what it wrote by kind of line.

Usage: import-generate.py FILE.csv DATASETS [SEED]

Bad lines, by what the registry (or the file's rules) should answer:
  - every 500th dataset has grade "platinum"      → 400 grade; its derivations are refused as referring to it
  - every 1000th derivation closes a cycle        → 422 lineage (an edge back from a descendant to its source)
  - every 2000th derivation names an unknown ref  → refused by the file's rules before sending
Deterministic for a seed. The datasets are a department's (a sharing category is required, R17).
"""
import csv
import random
import sys

path, count = sys.argv[1], int(sys.argv[2])
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 17
random.seed(seed)
columns = ["record", "ref", "title", "description", "grade", "piLevel", "individualsCovered", "region",
           "sharing.category", "sharing.text", "fingerprint", "format", "updateCycle", "sizeBytes", "tags",
           "targetRef", "sourceRef", "kind"]
regions = ["CN-BJ", "CN-SH", "CN-GD", "CN-ZJ", "CN-JS", "CN-SC", "CN-HB", "CN-FJ"]
tags = ["transport", "health", "energy", "finance", "weather", "agriculture", "education", "trade"]
written = {"dataset": 0, "derivation": 0, "bad grade": 0, "cycle": 0, "unknown ref": 0}
with open(path, "w", newline="") as out:
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for i in range(count):
        bad = i % 500 == 499
        written["bad grade" if bad else "dataset"] += 1
        row = {"record": "dataset", "ref": f"d{i}", "title": f"Dataset {i}, batch {i // 1000}",
               "description": f"Synthetic dataset {i} for the import benchmark", "grade": "platinum" if bad else random.choice(["general", "general", "important"]),
               "piLevel": "none", "individualsCovered": "0", "region": random.choice(regions),
               "sharing.category": "unconditional", "fingerprint": "%064x" % random.getrandbits(256),
               "format": random.choice(["csv", "parquet", "json"]), "updateCycle": random.choice(["daily", "monthly"]),
               "sizeBytes": str(random.randrange(1, 1 << 40)), "tags": ";".join(random.sample(tags, 2))}
        writer.writerow([row.get(c, "") for c in columns])
    edges = set()
    forward = []
    derivation = 0
    target_count = int(count * 1.5)
    while derivation < target_count:
        target = random.randrange(1, count)
        source = random.randrange(max(0, target - 5000), target)
        if (source, target) in edges:
            continue
        edges.add((source, target))
        derivation += 1
        kind = random.choice(["derived", "aggregated", "joined", "filtered", "sampled"])
        if derivation % 2000 == 0:
            written["unknown ref"] += 1
            writer.writerow(["derivation"] + [""] * 14 + [f"d{target}", "nowhere", kind])
        elif derivation % 1000 == 0:
            # An edge written before (s → t): s derived from t closes a cycle.
            s, t = random.choice(forward)
            written["cycle"] += 1
            writer.writerow(["derivation"] + [""] * 14 + [f"d{s}", f"d{t}", kind])
        else:
            written["derivation"] += 1
            forward.append((source, target))
            writer.writerow(["derivation"] + [""] * 14 + [f"d{target}", f"d{source}", kind])
print(" ".join(f"{k}={v}" for k, v in written.items()))
