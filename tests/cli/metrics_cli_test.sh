#!/usr/bin/env bash
# End-to-end checks of `vlm eval` and `vlm reward` (no model needed): numbers on small files,
# swift's flag spellings, a plugin .so, and bad input exiting 2 with a one-line reason.
# usage: metrics_cli_test.sh VLM_BINARY TEST_DATA_DIR [REWARD_PLUGIN_SO]
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"
vlm="$1"; data="$2"; plugin="${3:-}"
# expect_out NAME TEXT CMD...: exit 0 and stdout containing TEXT.
expect_out() {
  local name="$1" text="$2"; shift 2
  if out="$("$@" 2>"$work/stderr")" && [[ "$out" == *"$text"* ]]; then ok "$name"
  else bad "$name: $out $(cat "$work/stderr")"; fi
}
# expect_fail NAME TEXT CMD...: exit code 2 and stderr containing TEXT, on one line.
expect_fail() {
  local name="$1" text="$2"; shift 2
  err="$("$@" 2>&1 >/dev/null)"; rc=$?
  if [ "$rc" = 2 ] && [[ "$err" == *"$text"* ]] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ]; then ok "$name"
  else bad "$name (rc=$rc): $err"; fi
}

# eval: rows as `vlm infer --val_dataset` writes them
printf '%s\n' '{"query": "q", "response": "在2日内到有效", "labels": "在2日内到有效", "finish_reason": "stop"}' \
              '{"query": "q", "response": "等:¥478.0", "labels": "等:¥476.0", "finish_reason": "stop"}' > "$work/res.jsonl"
expect_out "eval text_acc" "text_acc: 0.937500" "$vlm" eval --result_path "$work/res.jsonl"
expect_out "eval exact match ± se" "exact_match: 0.500000 ± 0.353553" "$vlm" eval --result-path "$work/res.jsonl"
expect_out "eval n" "n: 2" "$vlm" eval --result_path "$work/res.jsonl" --out "$work/summary.json"
grep -q '"exact_match_se": 0.3535' "$work/summary.json" && grep -q '"n": 2' "$work/summary.json" \
  && ok "eval --out writes the JSON summary" || bad "eval --out: $(cat "$work/summary.json" 2>&1)"
expect_out "eval --per_row" '"distance":1' "$vlm" eval --result_path "$work/res.jsonl" --per_row
printf '%s\n' '{"pred": "中国", "solution": "中国"}' > "$work/sol.jsonl"
expect_out "eval custom keys" "exact_match: 1.000000" "$vlm" eval --result_path "$work/sol.jsonl" --response_key pred

# reward: the seed's OCR reward in both modes plus swift's format reward, space-separated list
printf '%s\n' '{"completion": "<think>看</think><answer>中国</answer>", "solution": "中国"}' \
              '{"completion": "<answer></answer>", "solution": "防御"}' \
              '{"completion": "<answer>防御</answer> {\"confidence\": 95}", "solution": "防御", "keyword": "防"}' > "$work/comp.jsonl"
out="$("$vlm" reward --reward_funcs external_ocr_format format --input "$work/comp.jsonl" 2>/dev/null)"
[ "$(printf '%s\n' "$out" | sed -n 1p)" = '{"external_ocr_format":1.0,"format":1.0,"reward":2.0}' ] \
  && [ "$(printf '%s\n' "$out" | sed -n 2p)" = '{"external_ocr_format":0.0,"format":0.0,"reward":0.0}' ] \
  && [ "$(printf '%s\n' "$out" | sed -n 3p)" = '{"external_ocr_format":0.95,"format":0.0,"reward":0.95}' ] \
  && ok "reward true mode + format" || bad "reward true mode + format: $out"
out="$("$vlm" reward --reward-funcs external_ocr_format,format --ocr-mode literal --reward_weights 1 0.5 --input "$work/comp.jsonl" 2>/dev/null)"
[ "$(printf '%s\n' "$out" | sed -n 1p)" = '{"external_ocr_format":0.0,"format":1.0,"reward":0.5}' ] \
  && [ "$(printf '%s\n' "$out" | sed -n 2p)" = '{"external_ocr_format":1.0,"format":0.0,"reward":1.0}' ] \
  && ok "reward literal mode + weights" || bad "reward literal mode + weights: $out"
if [ -n "$plugin" ]; then
  expect_out "reward --external_plugins" '"plugin_keyword":1.0' "$vlm" reward --external_plugins "$plugin" \
    --reward_funcs plugin_keyword accuracy --input "$work/comp.jsonl"
fi

# bad input: exit 2, one line, names the problem
expect_fail "eval missing file" "nope.jsonl" "$vlm" eval --result_path "$work/nope.jsonl"
printf '%s\n' '{"response": "a", "labels": "a"}' '{"response": ' > "$work/bad.jsonl"
expect_fail "eval malformed line" "bad.jsonl:2" "$vlm" eval --result_path "$work/bad.jsonl"
printf '%s\n' '{"response": "a"}' > "$work/nolabel.jsonl"
expect_fail "eval missing labels" "'labels', 'solution'" "$vlm" eval --result_path "$work/nolabel.jsonl"
expect_fail "eval unknown flag" "unknown flag --bogus" "$vlm" eval --result_path "$work/res.jsonl" --bogus 1
expect_fail "reward unknown function" "unknown reward function 'cosine'" "$vlm" reward --reward_funcs cosine --input "$work/comp.jsonl"
expect_fail "reward bad ocr mode" "unknown --ocr_mode 'fast'" "$vlm" reward --reward_funcs external_ocr_format --ocr_mode fast --input "$work/comp.jsonl"
expect_fail "reward weight count" "2 reward weights for 1" "$vlm" reward --reward_funcs format --reward_weights 1 2 --input "$work/comp.jsonl"
expect_fail "reward bad weight" "expects numbers" "$vlm" reward --reward_funcs format --reward_weights x --input "$work/comp.jsonl"
printf '%s\n' '{"text": "a"}' > "$work/nocomp.jsonl"
expect_fail "reward missing completion" "nocomp.jsonl:1" "$vlm" reward --reward_funcs format --input "$work/nocomp.jsonl"
expect_fail "reward missing plugin" "libnope.so" "$vlm" reward --reward_funcs format --external_plugins "$work/libnope.so" --input "$work/comp.jsonl"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
