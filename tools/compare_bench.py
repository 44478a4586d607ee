#!/usr/bin/env python3
"""Compare two benchmark runs (JSON lines, one object per case, keyed by "name").

    tools/compare_bench.py BASE.jsonl NEW.jsonl [--metric gflops,gbps,median_ms] [--only SUBSTR]

For every case present in both files, prints each metric for BASE and NEW and the ratio
NEW/BASE. For a time metric (*_ms) a ratio below 1 is better; for a rate (gflops, gbps)
above 1 is better, and the "better" column says which way each row moved. Cases present in
only one file are listed at the end. Warns when the two files come from different CPUs or
thread counts: ratios are only meaningful on the same machine (STYLE.md section 9).
Lines that are not JSON objects (a table on the same stream, say) are skipped.
"""
import argparse
import json
import sys


def load(path):
    cases = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "name" in obj:
                cases[obj["name"]] = obj  # a later line with the same name wins
    return cases


def machine(cases):
    return {(c.get("cpu"), c.get("threads")) for c in cases.values()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base")
    ap.add_argument("new")
    ap.add_argument("--metric", default="gflops,gbps,median_ms",
                    help="comma-separated fields to compare (default: gflops,gbps,median_ms)")
    ap.add_argument("--only", default="", help="only cases whose name contains this")
    args = ap.parse_args()

    base, new = load(args.base), load(args.new)
    metrics = [m for m in args.metric.split(",") if m]
    if machine(base) != machine(new):
        print(f"warning: different machines: {sorted(machine(base), key=str)} vs {sorted(machine(new), key=str)}",
              file=sys.stderr)
    commits = lambda cs: sorted({str(c.get("commit")) for c in cs.values()})
    print(f"base: {args.base} (commit {', '.join(commits(base))})")
    print(f"new:  {args.new} (commit {', '.join(commits(new))})")

    names = [n for n in base if n in new and args.only in n]
    width = max([len(n) for n in names] + [4])
    header = f"{'case':<{width}}"
    for m in metrics:
        header += f" {m + ' base':>16} {m + ' new':>16} {'ratio':>7}"
    header += f" {'better':>7}"
    print(header)
    print("-" * len(header))
    for n in names:
        row = f"{n:<{width}}"
        verdict = ""
        for m in metrics:
            b, v = base[n].get(m), new[n].get(m)
            if isinstance(b, (int, float)) and isinstance(v, (int, float)) and b:
                r = v / b
                row += f" {b:16.4g} {v:16.4g} {r:7.3f}"
                if not verdict:  # the first metric both lines have decides
                    gain = 1 / r if m.endswith("_ms") else r
                    verdict = "new" if gain > 1.05 else "base" if gain < 1 / 1.05 else "~"
            else:
                row += f" {'-':>16} {'-':>16} {'-':>7}"
        row += f" {verdict:>7}"
        print(row)
    only_base = [n for n in base if n not in new and args.only in n]
    only_new = [n for n in new if n not in base and args.only in n]
    if only_base:
        print("only in base: " + ", ".join(only_base))
    if only_new:
        print("only in new:  " + ", ".join(only_new))
    return 0


if __name__ == "__main__":
    sys.exit(main())
