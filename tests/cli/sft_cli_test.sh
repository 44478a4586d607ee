#!/usr/bin/env bash
# The seed's section 3 loop with vlm: synthetic OCR data, a tiny model, the seed's `swift sft`
# command line (section 3.3) run verbatim as `vlm sft` with local paths, `vlm export
# --merge_lora true`, `vlm infer --val_dataset` on the merged model, `vlm eval`.
# usage: sft_cli_test.sh VLM_BINARY
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"
vlm="$(abs_path "$1")"
cd "$work"

"$vlm" make-ocr-data --out data --n_train 32 --n_val 8 --seed 1 >/dev/null && ok "make-ocr-data" || bad "make-ocr-data"
"$vlm" init-model --out model --char_vocab true --seed 1 >/dev/null && ok "init-model --char_vocab" || bad "init-model"

# Seed 3.3, verbatim but for the model and data paths (32 rows, GA 16: 2 optimizer steps).
if "$vlm" sft \
    --model model \
    --dataset data/train.jsonl \
    --train_type lora \
    --torch_dtype bfloat16 \
    --num_train_epochs 1 \
    --per_device_train_batch_size 1 \
    --per_device_eval_batch_size 1 \
    --learning_rate 1e-4 \
    --lora_rank 8 \
    --lora_alpha 32 \
    --target_modules all-linear \
    --freeze_vit true \
    --gradient_accumulation_steps 16 \
    --eval_steps 50 \
    --save_steps 50 \
    --save_total_limit 5 \
    --logging_steps 5 \
    --max_length 2048 \
    --output_dir output_ocr \
    --warmup_ratio 0.05 \
    --dataloader_num_workers 4 > sft.out 2> sft.err; then ok "seed 3.3 command line"; else bad "seed 3.3 command line: $(tail -3 sft.err)"; fi
log="$(ls output_ocr/v0-*/logging.jsonl 2>/dev/null | head -1)"
if [ -n "$log" ] && grep -q '"loss"' "$log" && grep -q '"token_acc"' "$log" && grep -q '"grad_norm"' "$log" && grep -q '"learning_rate"' "$log" \
   && grep -q '"memory(GiB)"' "$log" && grep -q '"train_speed(iter/s)"' "$log" && grep -q '"epoch"' "$log" && grep -q '"global_step/max_steps":"2/2"' "$log" \
   && grep -q '"percentage"' "$log" && grep -q '"elapsed_time"' "$log" && grep -q '"remaining_time"' "$log"; then ok "logging.jsonl fields"; else bad "logging.jsonl fields"; fi
ckpt="$(ls -d output_ocr/v0-*/checkpoint-2 2>/dev/null)"
[ -f "$ckpt/adapter_model.safetensors" ] && [ -f "$ckpt/adapter_config.json" ] && ok "checkpoint-2 adapter" || bad "checkpoint-2 adapter"

# swift export --adapters ... --merge_lora true
"$vlm" export --adapters "$ckpt" --merge_lora true >/dev/null && [ -f "$ckpt-merged/model.safetensors" ] && [ -f "$ckpt-merged/tokenizer.json" ] \
  && ok "export --merge_lora" || bad "export --merge_lora"
"$vlm" infer --model "$ckpt-merged" --val_dataset data/val.jsonl --result_path result.jsonl --max_batch_size 4 --max_new_tokens 12 --temperature 0 >/dev/null 2>&1 \
  && [ "$(wc -l < result.jsonl)" = 8 ] && ok "infer --val_dataset on the merged model" || bad "infer on the merged model"
# swift infer --adapters: merged in memory, the same greedy answers as the exported merge.
"$vlm" infer --adapters "$ckpt" --val_dataset data/val.jsonl --result_path result_adapters.jsonl --max_batch_size 4 --max_new_tokens 12 \
    --temperature 0 >/dev/null 2>&1 && python3 - result.jsonl result_adapters.jsonl <<'PY' && ok "infer --adapters = merged model" || bad "infer --adapters"
import json, sys
a, b = ([json.loads(l)["response"] for l in open(p)] for p in sys.argv[1:3])
assert len(a) == 8 and a == b, (a, b)
PY
"$vlm" eval --result_path result.jsonl > eval.out 2>&1 && grep -q "text_acc" eval.out && ok "eval" || bad "eval: $(cat eval.out)"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
