#!/usr/bin/env bash
# `vlm demo` end to end at toy size (a few steps of each stage): every stage runs, the report
# holds every number the closing table prints, and a second run with the same seed gives the
# same numbers (the timings aside). Also `vlm prepare-ocr-data` on the demo's LabelTrain.txt
# reproduces its train/val split. usage: demo_cli_test.sh VLM_BINARY
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"
vlm="$(abs_path "$1")"
cd "$work"

run_demo() { "$vlm" demo --out "$1" --n_train 96 --n_val 12 --sft_steps 6 --grpo_steps 2 --seed 5 >"$1.out" 2>"$1.err"; }
if run_demo a; then ok "demo runs"; else bad "demo exit code $? ($(tail -1 a.err))"; fi
for f in summary.json report.md sft_loss.svg sft_token_acc.svg sft_learning_rate.svg grpo_reward.svg; do
  [ -s "a/report/$f" ] && ok "report/$f" || bad "report/$f missing"
done
[ "$(ls a/report/images/*.png 2>/dev/null | wc -l)" = 6 ] && ok "6 sample images" || bad "sample images"
grep -q "stage" a.out && grep -q "grpo-final" a.out && ok "closing table printed" || bad "closing table"
python3 - a/report/summary.json <<'PY' && ok "summary.json has every stage and metric" || bad "summary.json content"
import json, sys
s = json.load(open(sys.argv[1]))
stages = ["init", "sft-early", "sft", "grpo-early", "grpo-final"]
assert list(s["stages"]) == stages, s["stages"].keys()
for st in stages:
    for k in ["text_acc", "cer", "exact_match", "exact_match_se", "train_seconds", "generation_tokens_per_s"]:
        assert k in s["stages"][st], (st, k)
    assert 0 <= s["stages"][st]["text_acc"] <= 1
assert s["sft_steps"] == 6 and s["grpo_steps"] == 2
assert s["sft_throughput"]["train_gflops"] > 0
PY
grep -q "| sft |" a/report/report.md && grep -q "svg" a/report/report.md && ok "report.md table and plots" || bad "report.md"

# Same seed, same numbers (timings and speeds aside).
run_demo b || bad "second demo run"
python3 - a/report/summary.json b/report/summary.json <<'PY' && ok "same seed -> same numbers" || bad "rerun differs"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for st in a["stages"]:
    for k in ["text_acc", "cer", "exact_match"]:
        assert a["stages"][st][k] == b["stages"][st][k], (st, k, a["stages"][st][k], b["stages"][st][k])
PY
cmp -s a/sft/logging.jsonl b/sft/logging.jsonl || python3 - a/sft/logging.jsonl b/sft/logging.jsonl <<'PY' && ok "same SFT losses" || bad "SFT losses differ"
import json, sys
la, lb = ([json.loads(l) for l in open(p)] for p in sys.argv[1:3])
assert [r.get("loss") for r in la] == [r.get("loss") for r in lb]
PY

# prepare-ocr-data: the seed's script on the demo's label file gives the demo's own split.
"$vlm" prepare-ocr-data --label_file a/data/LabelTrain.txt --img_dir images --n_train 96 --out_dir split >/dev/null &&
  cmp -s split/train.jsonl a/data/train.jsonl && cmp -s split/val.jsonl a/data/val.jsonl &&
  ok "prepare-ocr-data reproduces the split" || bad "prepare-ocr-data"
"$vlm" prepare-ocr-data --label_file missing.txt --img_dir x >/dev/null 2>err.txt; rc=$?
[ $rc = 2 ] && grep -q "missing.txt" err.txt && ok "prepare-ocr-data: missing label file exits 2" || bad "prepare-ocr-data missing file (rc $rc)"
"$vlm" demo --minutes 0 >/dev/null 2>err.txt; rc=$?
[ $rc = 2 ] && grep -q "minutes" err.txt && ok "demo --minutes 0 exits 2" || bad "demo bad flag (rc $rc)"

echo "passed $passed, failed $failed"
[ "$failed" = 0 ]
