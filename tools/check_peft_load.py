#!/usr/bin/env python3
"""Checks that an adapter folder written by vlm loads in PEFT and gives the expected logits.

usage: VLM_KEEP_ADAPTER=/tmp/ours build/tests/test_train "[lora]"
       python3 tools/check_peft_load.py /tmp/ours
Loads tests/data/qwen2_5_vl/tiny with transformers, applies the adapter with
PeftModel.from_pretrained, runs the train_ocr inputs and compares the logits with the ones
torch + peft produced for the same adapter (tests/data/lora/step.safetensors).
"""
import os
import sys

import torch
from peft import PeftModel
from safetensors.numpy import load_file
from transformers import Qwen2_5_VLForConditionalGeneration

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data")
adapter = sys.argv[1]
base = Qwen2_5_VLForConditionalGeneration.from_pretrained(
    os.path.join(root, "qwen2_5_vl", "tiny"), torch_dtype=torch.float32, attn_implementation="eager")
model = PeftModel.from_pretrained(base, adapter).eval()
inputs = load_file(os.path.join(root, "qwen2_5_vl", "inputs", "train_ocr.safetensors"))
batch = {k: torch.from_numpy(inputs[k]) for k in ["input_ids", "attention_mask", "pixel_values", "image_grid_thw"]}
with torch.no_grad():
    logits = model(**batch).logits.numpy()
ref = load_file(os.path.join(root, "lora", "step.safetensors"))["logits"]
err = abs(logits - ref).max() / abs(ref).max()
print(f"peft loaded {adapter}: logits max relative error vs reference {err:.3g}")
sys.exit(0 if err <= 1e-5 else 1)
