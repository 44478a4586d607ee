#!/usr/bin/env bash
# The seed's section 4.5 `swift rlhf --rlhf_type grpo` command line, run verbatim as `vlm rlhf`
# with local paths (model, dataset, plugin, prompt file) on a tiny random model: it is accepted,
# trains, logs ms-swift's GRPO metrics and writes completions and a checkpoint. Then a run with
# gradient accumulation, num_iterations 2 and the seed's think_answer row preprocessing is
# resumed from its checkpoint-2 and must log the same steps 3-4 (and rotate its checkpoints).
# usage: rlhf_cli_test.sh VLM_BINARY
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"
vlm="$(abs_path "$1")"
cd "$work"

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

# Resume: 4 steps saving every 2; then again from checkpoint-2 (a killed run's restart). The
# built-in rewards are all 0 on a random model's text, so the run also scores completion lengths
# with the test reward plugin (built beside test_rl) to make the compared numbers non-trivial.
plugin="$(cd "$(dirname "$vlm")/.." && pwd)/tests/libvlm_test_reward_plugin.so"
[ -f "$plugin" ] || bad "no $plugin (build the vlm_test_reward_plugin target, e.g. with test_rl)"
resume_run() {
  "$vlm" rlhf --rlhf_type grpo --model model --dataset data/train.jsonl --dataset_preprocess think_answer \
    --external_plugins "$plugin" --reward_funcs format plugin_length --reward_weights 1 0.1 \
    --max_completion_length 16 --max_steps 4 --save_steps 2 --logging_steps 1 \
    --per_device_train_batch_size 2 --gradient_accumulation_steps 2 --num_generations 2 --num_iterations 2 \
    --learning_rate 1e-2 --lora_dropout 0 --output_dir output_resume --log_completions true --quiet true "$@"
}
if resume_run > resume1.txt 2> resume1.err; then ok "GA 2, num_iterations 2, think_answer"; else bad "GA 2 run: $(tail -2 resume1.err)"; fi
run="$(ls -d output_resume/v0-* 2>/dev/null | head -1)"
grep -q 'Output the thinking process in <think> </think> and final answer (number) in <answer> </answer> tags.' "$run/completions.jsonl" 2>/dev/null \
  && ok "think_answer query in the prompts" || bad "think_answer query in the prompts"
cp "$run/logging.jsonl" logging_uninterrupted.jsonl 2>/dev/null
fields() { sed -n 3,4p "$1" | grep -o '"\(loss\|reward\|kl\|grad_norm\|learning_rate\)":[^,]*'; }
if resume_run --resume_from_checkpoint "$run/checkpoint-2" --save_total_limit 1 > resume2.txt 2> resume2.err; then ok "resume_from_checkpoint"; else bad "resume: $(tail -2 resume2.err)"; fi
[ "$(wc -l < "$run/logging.jsonl")" = 4 ] && ok "resumed logging.jsonl has 4 records" || bad "resumed logging.jsonl: $(wc -l < "$run/logging.jsonl") records"
if fields logging_uninterrupted.jsonl | grep -q '"loss":[-0-9.e]*[1-9]' \
   && [ "$(fields logging_uninterrupted.jsonl)" = "$(fields "$run/logging.jsonl")" ]; then
  ok "steps 3-4 log the same loss, reward, kl after resume"
else bad "steps 3-4 differ after resume"; fi
[ -d "$run/checkpoint-4" ] && [ ! -d "$run/checkpoint-2" ] && ok "save_total_limit 1 rotation" || bad "save_total_limit 1 rotation"
"$vlm" rlhf --model model --dataset data/train.jsonl --dataset_preprocess nope --max_steps 1 --quiet true > /dev/null 2> bad_pre.err
grep -q "unknown dataset preprocessor 'nope'" bad_pre.err && ok "unknown --dataset_preprocess names the known ones" || bad "unknown --dataset_preprocess: $(tail -1 bad_pre.err)"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
