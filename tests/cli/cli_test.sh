#!/usr/bin/env bash
# End-to-end checks of the vlm program on a small random model with the real Qwen2 tokenizer:
# every subcommand runs, and bad input exits 2 with a one-line reason naming the problem.
# usage: cli_test.sh VLM_BINARY TEST_DATA_DIR
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"
vlm="$1"; data="$2"
expect_ok() { local name="$1"; shift; if out="$("$@" 2>&1)"; then ok "$name"; else bad "$name: $out"; fi; }
# expect_fail NAME TEXT CMD...: exit code 2 and stderr containing TEXT, on one line.
expect_fail() {
  local name="$1" text="$2"; shift 2
  err="$("$@" 2>&1 >/dev/null)"; rc=$?
  if [ "$rc" = 2 ] && [[ "$err" == *"$text"* ]] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ]; then ok "$name"
  else bad "$name (rc=$rc): $err"; fi
}

model="$work/model"
expect_ok "init-model" "$vlm" init-model --out "$model" --tokenizer "$data/tokenizer" --seed 3
img="$data/qwen2_5_vl/images/img_150x97.png"

# infer: image + prompt, greedy, timings line on stderr
out="$("$vlm" infer --model "$model" --image "$img" --prompt "请识别图片中的文字" --max_new_tokens 4 --temperature 0 2>"$work/err")" \
  && grep -q "prefill" "$work/err" && grep -q "decode" "$work/err" && ok "infer image+prompt" || bad "infer image+prompt: $(cat "$work/err")"
# the dash spelling is an alias
expect_ok "infer --max-new-tokens alias" "$vlm" infer --model "$model" --prompt hi --max-new-tokens 2
# same seed, same sampled answer
a="$("$vlm" infer --model "$model" --prompt hi --max_new_tokens 6 --temperature 1.5 --seed 5 2>/dev/null)"
b="$("$vlm" infer --model "$model" --prompt hi --max_new_tokens 6 --temperature 1.5 --seed 5 2>/dev/null)"
[ "$a" = "$b" ] && ok "seeded sampling reproducible" || bad "seeded sampling differs: '$a' vs '$b'"

# --messages in the seed's shape, with a data: URL image and per-image pixel limits
b64="$(base64 -w0 "$img")"
cat >"$work/messages.json" <<JSON
[{"role": "system", "content": "You are a helpful assistant."},
 {"role": "user", "content": [{"type": "image", "image": "data:image/png;base64,$b64", "min_pixels": 3136, "max_pixels": 50176},
                              {"type": "text", "text": "Describe this image."}]}]
JSON
expect_ok "infer --messages (data URL)" "$vlm" infer --model "$model" --messages "$work/messages.json" --max_new_tokens 3

# --val_dataset: seed's OCR rows, batched, results written atomically
cp "$img" "$work/a.png"
printf '%s\n' '{"query": "识别文字", "response": "在2日内到有效", "image_path": "a.png"}' \
               '{"query": "识别文字", "response": "等:¥476.0", "images": ["a.png"]}' \
               '{"query": "no image", "response": "x"}' > "$work/val.jsonl"
if "$vlm" infer --model "$model" --val_dataset "$work/val.jsonl" --result_path "$work/res.jsonl" --max_batch_size 2 --max_new_tokens 3 >/dev/null 2>&1 \
   && [ "$(wc -l < "$work/res.jsonl")" = 3 ] && grep -q '"labels":"在2日内到有效"' "$work/res.jsonl" && grep -q '"response"' "$work/res.jsonl"; then
  ok "infer --val_dataset"; else bad "infer --val_dataset"; fi

# tokenize / decode round trip
ids="$("$vlm" tokenize --model "$model" --text "等:¥476.0 hello")"
[ "$("$vlm" tokenize --model "$model" --decode "$ids")" = "等:¥476.0 hello" ] && ok "tokenize round trip" || bad "tokenize round trip ($ids)"

# bad input: exit 2, one line, names the problem
expect_fail "unknown flag" "unknown flag --bogus" "$vlm" infer --model "$model" --prompt hi --bogus 1
expect_fail "missing image" "nope.png" "$vlm" infer --model "$model" --image "$work/nope.png" --prompt hi
echo "not an image" > "$work/broken.png"
expect_fail "unreadable image" "broken.png" "$vlm" infer --model "$model" --image "$work/broken.png" --prompt hi
expect_fail "http image" "http" "$vlm" infer --model "$model" --image https://example.com/a.png --prompt hi
mkdir -p "$work/notok" && cp "$model/config.json" "$model/model.safetensors" "$work/notok/"
expect_fail "missing tokenizer.json" "tokenizer.json" "$vlm" infer --model "$work/notok" --prompt hi
echo '[{"role": "user", "content": 5}]' > "$work/badmsg.json"
expect_fail "malformed messages" "content" "$vlm" infer --model "$model" --messages "$work/badmsg.json"
long="$(printf 'a %.0s' $(seq 1 5000))"
expect_fail "prompt past the context limit" "context limit" "$vlm" infer --model "$model" --prompt "$long"
printf '%s\n' '{"query": "ok", "image_path": "a.png"}' '{"query": ' > "$work/badval.jsonl"
expect_fail "malformed jsonl line" "badval.jsonl:2" "$vlm" infer --model "$model" --val_dataset "$work/badval.jsonl" --result_path "$work/r.jsonl"
expect_fail "bad number" "expects an integer" "$vlm" infer --model "$model" --prompt hi --max_new_tokens many
expect_fail "forward ids outside vocab" "outside the vocabulary" "$vlm" forward --model "$model" --input_ids 1,999999 --out "$work/f.st"

# forward --prompt writes the tensors
expect_ok "forward --prompt" "$vlm" forward --model "$model" --image "$img" --prompt "读" --out "$work/f.safetensors"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
