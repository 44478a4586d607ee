#!/usr/bin/env python3
"""Golden data for LoRA: one SFT step of the tiny Qwen2.5-VL checkpoint with a PEFT adapter.

Loads tests/data/qwen2_5_vl/tiny with transformers, wraps it with peft (r=8, alpha=32,
dropout 0, ms-swift's all-linear regex for the LLM), gives lora_B random values (at PEFT's
init B = 0, so dL/dA would be 0 and the test could not see a wrong A gradient), runs the
train_ocr case with labels, and writes
  tests/data/lora/adapter/            the adapter as peft.save_pretrained writes it
  tests/data/lora/step.safetensors    loss, logits, and the gradients of every lora_A/lora_B
Usage: python3 tools/gen_golden_lora.py   (needs torch, transformers==4.51.3, peft==0.15.2)
"""
import json
import os

import torch
from peft import LoraConfig, get_peft_model
from safetensors.numpy import load_file, save_file
from transformers import Qwen2_5_VLForConditionalGeneration

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data")
out_dir = os.path.join(root, "lora")
os.makedirs(out_dir, exist_ok=True)

torch.manual_seed(0)
model = Qwen2_5_VLForConditionalGeneration.from_pretrained(
    os.path.join(root, "qwen2_5_vl", "tiny"), torch_dtype=torch.float32, attn_implementation="eager")
target = r"^(model(?=\.).*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj))$"
config = LoraConfig(r=8, lora_alpha=32, lora_dropout=0.0, target_modules=target, bias="none", task_type="CAUSAL_LM")
model = get_peft_model(model, config)
gen = torch.Generator().manual_seed(1)
with torch.no_grad():
    for name, p in model.named_parameters():
        if "lora_B" in name:
            p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
model.train()

inputs = load_file(os.path.join(root, "qwen2_5_vl", "inputs", "train_ocr.safetensors"))
batch = {k: torch.from_numpy(inputs[k]) for k in ["input_ids", "attention_mask", "pixel_values", "image_grid_thw", "labels"]}
out = model(**batch)
out.loss.backward()

tensors = {"loss": out.loss.detach().reshape(1).numpy(), "logits": out.logits.detach().numpy()}
n = 0
for name, p in model.named_parameters():
    if p.grad is not None:
        key = name.replace(".default", "")
        tensors["grad." + key] = p.grad.numpy().copy()
        n += 1
save_file(tensors, os.path.join(out_dir, "step.safetensors"))
adapter_dir = os.path.join(out_dir, "adapter")
model.save_pretrained(adapter_dir)
# Keep the repo free of machine paths and of peft's generated model card.
with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
    cfg = json.load(f)
cfg["base_model_name_or_path"] = "qwen2_5_vl/tiny"
with open(os.path.join(adapter_dir, "adapter_config.json"), "w") as f:
    json.dump(cfg, f, indent=2, sort_keys=True)
if os.path.exists(os.path.join(adapter_dir, "README.md")):
    os.remove(os.path.join(adapter_dir, "README.md"))
with open(os.path.join(out_dir, "manifest.json"), "w") as f:
    import peft, transformers
    json.dump({"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
               "loss": float(out.loss), "lora_grads": n, "target_modules": target, "r": 8, "lora_alpha": 32,
               "lora_B": "randn * 0.05, generator seed 1", "case": "train_ocr"}, f, indent=1)
print("loss", float(out.loss), "grads", n)
