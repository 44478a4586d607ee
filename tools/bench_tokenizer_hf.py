#!/usr/bin/env python3
"""Times Hugging Face `tokenizers` encoding a text file, for bench/bench_tokenizer.cpp to
compare against in the same run. Two modes, as in the C++ bench: "whole" encodes the text in
one call; "docs" splits it after every blank line ("\n\n") into ~1 KB documents and encodes
them with encode_batch (one thread). Prints one JSON line per mode: MB/s (cold = first call,
median and best of the timed repeats, 1 MB = 1e6 bytes), the id count and a checksum of the
ids (so the C++ side can check both produced the same ids before trusting the ratio).

Usage: python3 tools/bench_tokenizer_hf.py --tokenizer tokenizer.json --text input.txt
                                           [--min-seconds 3] [--max-repeats 20]
"""
import argparse
import json
import os
import statistics
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # single-threaded, like the C++ encode()

import tokenizers  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402


def checksum(ids) -> int:
    """Same as bench_tokenizer.cpp: h = h * 1000003 + id + 1, modulo 2^64."""
    h = 0
    for i in ids:
        h = (h * 1000003 + i + 1) & 0xFFFFFFFFFFFFFFFF
    return h


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--min-seconds", type=float, default=3.0)
    ap.add_argument("--max-repeats", type=int, default=20)
    args = ap.parse_args()

    tok = Tokenizer.from_file(args.tokenizer)
    with open(args.text, "rb") as f:
        raw = f.read()
    text = raw.decode("utf-8")

    parts = text.split("\n\n")
    docs = [p + "\n\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])

    def run_whole():
        return tok.encode(text, add_special_tokens=False).ids

    def run_docs():
        return [i for e in tok.encode_batch(docs, add_special_tokens=False) for i in e.ids]

    mb = len(raw) / 1e6
    for mode, run in (("docs", run_docs), ("whole", run_whole)):
        t0 = time.perf_counter()
        ids = run()  # also warms HF's word cache
        cold = time.perf_counter() - t0
        times, cpu_times = [], []  # wall; process CPU (on a shared machine: only our own work)
        start = time.perf_counter()
        while len(times) < args.max_repeats and (time.perf_counter() - start < args.min_seconds or len(times) < 3):
            t0, c0 = time.perf_counter(), time.process_time()
            run()
            cpu_times.append(time.process_time() - c0)
            times.append(time.perf_counter() - t0)
        print(json.dumps({"bench": "tokenizer_encode", "impl": "hf_tokenizers", "mode": mode,
                          "version": tokenizers.__version__, "bytes": len(raw), "docs": len(docs),
                          "cold_mb_per_s": mb / cold, "median_mb_per_s": mb / statistics.median(times),
                          "best_mb_per_s": mb / min(times), "cpu_median_mb_per_s": mb / statistics.median(cpu_times),
                          "repeats": len(times), "ids": len(ids),
                          "checksum": str(checksum(ids))}), flush=True)


if __name__ == "__main__":
    main()
