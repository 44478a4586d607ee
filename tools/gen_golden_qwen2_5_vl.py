#!/usr/bin/env python3
"""Golden data for vlm's Qwen2.5-VL with tied word embeddings (tests/models/test_qwen2_5_vl_tied.cpp).

Runs the real transformers Qwen2_5_VLForConditionalGeneration (eager attention, CPU) on a tiny
random config and writes tests/data/qwen2_5_vl/tiny_tied/:
  config.json, model.safetensors   save_pretrained output; tie_word_embeddings=true, so the file
                                   has no lm_head.weight (checked below). Weights are stored as
                                   bf16 (like the published checkpoints, and half the size); the
                                   f32 goldens come from the model loaded back in f32, i.e. from
                                   exactly the values on disk.
  cases/<name>.safetensors         inputs (input_ids, attention_mask, pixel_values, image_grid_thw;
                                   pixel_values from the processor rounded to bf16, stored as BF16)
                                   and outputs (logits, image_embeds, position_ids, rope_deltas,
                                   hidden_states_0..N, vision_window_index, vision_cu_window_seqlens)
  cases/one_image_bf16.safetensors the model loaded with torch_dtype=bfloat16 on one_image's
                                   inputs: logits and image_embeds (stored as F32)
  cases.json                       versions, seed, config, per-case shapes and image grids

Differences from tests/data/qwen2_5_vl/tiny on purpose: tied lm_head, 3 text layers, vision
hidden 32 (!= text hidden 64, so the merger maps 4*32 -> 64), random biases and norm weights
(HF's init leaves them 0 / 1, which would hide a bias or norm-weight bug).
pixel_values come from the real Qwen2VLImageProcessor on synthetic PIL images (fixed seed).

Usage: python3 tools/gen_golden_qwen2_5_vl.py [out_dir]
"""
import json
import os
import sys

import numpy as np
from PIL import Image

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "qwen2_5_vl", "tiny_tied")

SEED = 1234
VISION_START, VISION_END, IMAGE_PAD, PAD = 1009, 1010, 1012, 1000

CONFIG = {
    "architectures": ["Qwen2_5_VLForConditionalGeneration"],
    "attention_dropout": 0.0,
    "bos_token_id": 1000,
    "eos_token_id": 1002,
    "hidden_act": "silu",
    "hidden_size": 64,
    "image_token_id": IMAGE_PAD,
    "initializer_range": 0.05,
    "intermediate_size": 128,
    "max_position_embeddings": 4096,
    "max_window_layers": 3,
    "model_type": "qwen2_5_vl",
    "num_attention_heads": 4,
    "num_hidden_layers": 3,
    "num_key_value_heads": 2,
    "rms_norm_eps": 1e-06,
    "rope_scaling": {"mrope_section": [2, 3, 3], "rope_type": "default", "type": "default"},
    "rope_theta": 1000000.0,
    "sliding_window": 4096,
    "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
    "use_cache": True,
    "use_sliding_window": False,
    "video_token_id": 1013,
    "vision_config": {
        "depth": 4,
        "fullatt_block_indexes": [1, 3],
        "hidden_act": "silu",
        "hidden_size": 32,
        "in_channels": 3,
        "intermediate_size": 64,
        "model_type": "qwen2_5_vl",
        "num_heads": 2,
        "out_hidden_size": 64,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "tokens_per_second": 2,
        "window_size": 56,
    },
    "vision_end_token_id": VISION_END,
    "vision_start_token_id": VISION_START,
    "vision_token_id": 1011,
    "vocab_size": 1024,
}


def synthetic_rgb(w, h, rng):
    """Gradients, stripes, blocks and noise, so resizing and normalisation see real structure."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * x / max(w - 1, 1)
    g = 127.5 + 127.5 * np.sin(x / 2.7 + y / 4.1)
    b = 255 * y / max(h - 1, 1)
    img = np.stack([r, g, b], -1)
    blocks = (x // 9 + y // 6) % 2 == 0
    img[blocks] = 255 - img[blocks]
    img += rng.normal(0, 20, img.shape)
    return Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), "RGB")


def main():
    import torch
    import transformers
    from safetensors.torch import load_file, save_file
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2VLImageProcessor

    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    os.makedirs(os.path.join(OUT, "cases"), exist_ok=True)

    # ---- model: random init, then random biases / norm weights, rounded to bf16, saved -------------
    cfg = Qwen2_5_VLConfig(**{k: v for k, v in CONFIG.items() if k != "architectures"})
    cfg.architectures = CONFIG["architectures"]
    cfg._attn_implementation = "eager"
    cfg.vision_config._attn_implementation = "eager"
    model = Qwen2_5_VLForConditionalGeneration(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.normal_(0.0, 0.05)
            elif "norm" in name or "ln_q" in name:  # RMSNorm weights (text norms, vision norm1/2, merger ln_q)
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            p.copy_(p.bfloat16().float())
    assert model.lm_head.weight is model.model.embed_tokens.weight, "lm_head is not tied"
    model.to(torch.bfloat16).save_pretrained(OUT, safe_serialization=True)
    stored = load_file(os.path.join(OUT, "model.safetensors"))
    assert "lm_head.weight" not in stored, "tied checkpoint must not contain lm_head.weight"
    assert all(t.dtype == torch.bfloat16 for t in stored.values())
    n_params = sum(t.numel() for t in stored.values())

    def load(dtype):
        m = Qwen2_5_VLForConditionalGeneration.from_pretrained(OUT, torch_dtype=dtype, attn_implementation="eager")
        assert m.lm_head.weight.data_ptr() == m.model.embed_tokens.weight.data_ptr()
        return m.eval()

    m32, m16 = load(torch.float32), load(torch.bfloat16)

    # ---- inputs ------------------------------------------------------------------------------------
    def processor(max_pixels):
        return Qwen2VLImageProcessor(min_pixels=3136, max_pixels=max_pixels)

    def pixels(images, max_pixels=23520):
        out = processor(max_pixels)(images=images, return_tensors="pt")
        # Rounded to bf16 (what a bf16 model sees anyway) and stored as BF16: half the bytes; every
        # golden, f32 and bf16, is computed from these exact values.
        return out["pixel_values"].float().bfloat16(), out["image_grid_thw"].long()

    def text(n):
        return [int(t) for t in rng.integers(0, 1000, n)]

    def image_run(grid):
        t, h, w = (int(v) for v in grid)
        return [VISION_START] + [IMAGE_PAD] * (t * h * w // 4) + [VISION_END]

    def batch(rows):
        """Left-pads token rows to one length: input_ids [B, L], attention_mask [B, L]."""
        L = max(len(r) for r in rows)
        ids = torch.full((len(rows), L), PAD, dtype=torch.long)
        mask = torch.zeros((len(rows), L), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, L - len(r):] = torch.tensor(r)
            mask[i, L - len(r):] = 1
        return ids, mask

    cases = {}
    # one image: 80x50 -> 84x56 resized -> grid (1, 4, 6): 2x3 merge units, windows of 2x2 -> 1 full + 1 partial
    pv, g = pixels([synthetic_rgb(80, 50, rng)])
    ids, am = batch([text(5) + image_run(g[0]) + text(7)])
    cases["one_image"] = dict(desc="one 80x50 image, grid (1,4,6)", input_ids=ids, attention_mask=am,
                              pixel_values=pv, image_grid_thw=g, images=[[80, 50]])
    # two images of different sizes: 60x45 -> grid (1,4,4); 45x75 -> grid (1,6,4)
    pv, g = pixels([synthetic_rgb(60, 45, rng), synthetic_rgb(45, 75, rng)])
    ids, am = batch([text(3) + image_run(g[0]) + text(4) + image_run(g[1]) + text(6)])
    cases["two_images"] = dict(desc="60x45 image (grid 1,4,4) and 45x75 image (grid 1,6,4)", input_ids=ids,
                               attention_mask=am, pixel_values=pv, image_grid_thw=g, images=[[60, 45], [45, 75]])
    # text only
    ids, am = batch([text(13)])
    cases["text_only"] = dict(desc="13 random text tokens", input_ids=ids, attention_mask=am, images=[])
    # left-padded batch of 2: row 0 text only (long), row 1 (padded) holds an image 60x45 -> grid (1,4,4)
    pv, g = pixels([synthetic_rgb(60, 45, rng)])
    ids, am = batch([text(20), text(2) + image_run(g[0]) + text(5)])
    cases["batch_left_pad"] = dict(desc="batch of 2, left padding; row 0 text only, row 1 padded with one image",
                                   input_ids=ids, attention_mask=am, pixel_values=pv, image_grid_thw=g,
                                   images=[[60, 45]])
    # larger odd-sized image: 250x170 with max_pixels 30000 -> 196x140 -> grid (1,10,14):
    # 5x7 merge units in 2x2-unit windows -> 3x4 = 12 windows, partial in both directions
    pv, g = pixels([synthetic_rgb(250, 170, rng)], max_pixels=30000)
    ids, am = batch([text(4) + image_run(g[0]) + text(6)])
    cases["large_image"] = dict(desc="250x170 image, max_pixels 30000, grid (1,10,14): 12 windows, partial ones",
                                input_ids=ids, attention_mask=am, pixel_values=pv, image_grid_thw=g,
                                images=[[250, 170]], max_pixels=30000)

    # ---- outputs -----------------------------------------------------------------------------------
    def run(m, c):
        kw = dict(input_ids=c["input_ids"], attention_mask=c["attention_mask"])
        if "pixel_values" in c:
            kw.update(pixel_values=c["pixel_values"], image_grid_thw=c["image_grid_thw"])
        with torch.no_grad():
            out = m(**kw, output_hidden_states=True, return_dict=True)
            pos, deltas = m.get_rope_index(c["input_ids"], c.get("image_grid_thw"), None, None, c["attention_mask"])
            emb = None
            if "pixel_values" in c:
                pvx = c["pixel_values"].type(m.visual.dtype)
                emb = m.visual(pvx, grid_thw=c["image_grid_thw"])
        return out, pos, deltas.reshape(-1), emb

    manifest = {
        "config": "tiny_tied",
        "generator": "tools/gen_golden_qwen2_5_vl.py",
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "attn_implementation": "eager",
        "device": "cpu",
        "seed": SEED,
        "weights": {"file": "model.safetensors", "dtype": "bfloat16", "n_params": n_params,
                    "has_lm_head_weight": False, "note": "f32 cases use these bf16 values upcast to f32"},
        "image_processor": {"class": "Qwen2VLImageProcessor", "min_pixels": 3136, "max_pixels": 23520},
        "cases": {},
    }

    def entry(tensors):
        return {k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")} for k, v in tensors.items()}

    for name, c in cases.items():
        out, pos, deltas, emb = run(m32, c)
        t = {"input_ids": c["input_ids"], "attention_mask": c["attention_mask"],
             "logits": out.logits.float(), "position_ids": pos.long(), "rope_deltas": deltas.long()}
        for i, h in enumerate(out.hidden_states):
            t[f"hidden_states_{i}"] = h.float()
        if emb is not None:
            t["pixel_values"] = c["pixel_values"]  # BF16
            t["image_grid_thw"] = c["image_grid_thw"]
            t["image_embeds"] = emb.float()
            widx, cu = m32.visual.get_window_index(c["image_grid_thw"])
            cu = torch.unique_consecutive(torch.tensor(cu, dtype=torch.int32))
            t["vision_window_index"] = widx.long()
            t["vision_cu_window_seqlens"] = cu
        # The f32 model and the rope index agree (what the forward used).
        assert torch.equal(m32.rope_deltas.reshape(-1), deltas)
        t = {k: v.contiguous() for k, v in t.items()}
        save_file(t, os.path.join(OUT, "cases", name + ".safetensors"))
        mask = c["attention_mask"].bool()
        lg = out.logits[mask]
        top2 = lg.topk(2, -1).values
        manifest["cases"][name] = {
            "description": c["desc"], "file": f"cases/{name}.safetensors",
            "images_wxh": c["images"], "max_pixels": c.get("max_pixels", 23520),
            "image_grid_thw": c["image_grid_thw"].tolist() if "image_grid_thw" in c else [],
            "min_top1_top2_margin": float((top2[:, 0] - top2[:, 1]).min()),
            "tensors": entry(t),
        }

    # ---- bf16 case ---------------------------------------------------------------------------------
    c = cases["one_image"]
    out16, _, _, emb16 = run(m16, c)
    out32 = load_file(os.path.join(OUT, "cases", "one_image.safetensors"))
    t = {"logits": out16.logits.float().contiguous(), "image_embeds": emb16.float().contiguous()}
    save_file(t, os.path.join(OUT, "cases", "one_image_bf16.safetensors"))
    rel = float((out16.logits.float() - out32["logits"]).abs().max() / out32["logits"].abs().max())
    top1 = float((out16.logits.float().argmax(-1) == out32["logits"].argmax(-1)).float().mean())
    manifest["cases"]["one_image_bf16"] = {
        "description": "one_image inputs, model loaded with torch_dtype=torch.bfloat16 (eager); outputs stored as F32",
        "file": "cases/one_image_bf16.safetensors", "inputs_file": "cases/one_image.safetensors",
        "torch_bf16_vs_f32_logits_rel_err": rel, "torch_bf16_vs_f32_top1_agreement": top1,
        "tensors": entry(t),
    }
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(OUT) for fn in fns)
    print(f"wrote {OUT}: {total / 1e6:.2f} MB; torch bf16 vs f32 logits rel err {rel:.3g}, top-1 agreement {top1:.3f}")


if __name__ == "__main__":
    main()
