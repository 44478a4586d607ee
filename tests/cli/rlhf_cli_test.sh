#!/usr/bin/env bash
# The seed's section 4.5 `swift rlhf --rlhf_type grpo` command line, run verbatim as `vlm rlhf`
# with local paths (model, dataset, plugin, prompt file) on a tiny random model: it is accepted,
# trains, logs ms-swift's GRPO metrics and writes completions and a checkpoint.
# usage: rlhf_cli_test.sh VLM_BINARY
set -uo pipefail
vlm="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cd "$work"
passed=0; failed=0
ok()  { passed=$((passed + 1)); echo "ok: $1"; }
bad() { failed=$((failed + 1)); echo "FAILED: $1"; }

"$vlm" make-ocr-data --out data --n_train 4 --n_val 2 --seed 2 >/dev/null || bad "make-ocr-data"
"$vlm" init-model --out model --char_vocab true >/dev/null || bad "init-model"
echo 'The assistant thinks in <think> </think> and answers in <answer> </answer>.' > prompt.txt
echo '# the seed registers its reward here; vlm has it built in' > plugin.py

if "$vlm" rlhf \
    --rlhf_type grpo \
    --model model \
    --external_plugins plugin.py \
    --reward_funcs external_ocr_format format \
    --train_type lora \
    --use_vllm true \
    --vllm_device auto \
    --vllm_gpu_memory_utilization 0.5 \
    --vllm_max_model_len 1024 \
    --lora_rank 8 \
    --lora_alpha 32 \
    --target_modules all-linear \
    --torch_dtype bfloat16 \
    --dataset data/train.jsonl \
    --max_completion_length 64 \
    --num_train_epochs 1 \
    --per_device_train_batch_size 2 \
    --per_device_eval_batch_size 2 \
    --learning_rate 1e-5 \
    --gradient_accumulation_steps 1 \
    --eval_steps 100 \
    --save_steps 100 \
    --save_total_limit 2 \
    --logging_steps 5 \
    --max_length 2048 \
    --output_dir output_GRPO \
    --warmup_ratio 0.05 \
    --dataloader_num_workers 4 \
    --dataset_num_proc 4 \
    --num_generations 2 \
    --temperature 0.9 \
    --deepspeed zero2 \
    --system 'prompt.txt' \
    --log_completions true > out.txt 2> err.txt; then ok "seed 4.5 command line"; else bad "seed 4.5 command line: $(tail -2 err.txt)"; fi
log="$(ls output_GRPO/v0-*/logging.jsonl 2>/dev/null | head -1)"
if [ -n "$log" ] && grep -q '"reward"' "$log" && grep -q '"reward_std"' "$log" && grep -q '"rewards/external_ocr_format/mean"' "$log" \
   && grep -q '"rewards/format/mean"' "$log" && grep -q '"kl"' "$log" && grep -q '"frac_reward_zero_std"' "$log" \
   && grep -q '"completions/mean_length"' "$log" && grep -q '"timing/rollout_s"' "$log"; then ok "GRPO log fields"; else bad "GRPO log fields"; fi
[ -s "$(ls output_GRPO/v0-*/completions.jsonl 2>/dev/null | head -1)" ] && ok "completions.jsonl" || bad "completions.jsonl"
ls -d output_GRPO/v0-*/checkpoint-* >/dev/null 2>&1 && ok "checkpoint" || bad "checkpoint"
grep -q "vLLM\|vllm" err.txt && ok "vLLM flags mapped with a warning" || bad "no warning for vLLM flags"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
