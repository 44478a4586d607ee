#!/usr/bin/env python3
"""Reference data for vlm's Qwen2.5-VL image preprocessing (tests/models/test_preprocess.cpp).

Runs the real implementations on synthetic images generated here (fixed seed):
  - transformers' Qwen2VLImageProcessor (slow / PIL) -> pixel_values, image_grid_thw
  - Pillow Image.resize(BICUBIC) on its own (L1 byte-exact checks, scale sweep, 1-px strips)
  - qwen-vl-utils fetch_image + the processor (the seed's two-step path)
  - qwen-vl-utils to_rgb, PIL convert("RGB"), and transformers' newer convert_to_rgb
    (alpha composite over white; copied below because 4.51.3 still does a plain convert)
  - torch.nn.functional.interpolate(bicubic, antialias=True) on float32 (HF fast processor on GPU)
    and on uint8 (PyTorch's native CPU kernel; recorded only for information)
  - the two normalisation arithmetics (HF slow numpy path, HF fast fused torch path) as 3x256 tables
  - Pillow's JPEG decode of one JPEG (stb_image is not guaranteed to agree byte for byte)
Writes tests/data/qwen2_5_vl/preprocess/{*.png,*.jpg,expected.safetensors,cases.json}.

qwen-vl-utils imports torchvision at module level (for video only); when torchvision is absent a
placeholder module is installed so fetch_image (pure PIL) can run unchanged.

Usage: python3 tools/gen_golden_preprocess.py [out_dir]
"""
import json
import os
import sys
import types

import numpy as np
from PIL import Image

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "qwen2_5_vl", "preprocess")


def import_qwen_vl_utils():
    try:
        import torchvision  # noqa: F401
    except ImportError:
        tv = types.ModuleType("torchvision")
        tv.__version__ = "0.0.0-placeholder"
        tv.io = types.ModuleType("torchvision.io")
        tv.transforms = types.ModuleType("torchvision.transforms")

        class InterpolationMode:  # only referenced by the video code path
            BICUBIC = "bicubic"
            BILINEAR = "bilinear"
        tv.transforms.InterpolationMode = InterpolationMode
        sys.modules.update({"torchvision": tv, "torchvision.io": tv.io, "torchvision.transforms": tv.transforms})
    import qwen_vl_utils.vision_process as vp
    return vp


def hf_convert_to_rgb_composite(image):
    """transformers main's image_transforms.convert_to_rgb (composite over white)."""
    if image.mode == "RGB":
        return image
    image_rgba = image.convert("RGBA")
    background = Image.new("RGBA", image_rgba.size, (255, 255, 255))
    alpha_composite = Image.alpha_composite(background, image_rgba)
    return alpha_composite.convert("RGB")


def synthetic_rgb(w, h, rng, noise=24):
    """Gradients, a sine pattern, hard-edged blocks and some noise: exercises over/undershoot."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * x / max(w - 1, 1)
    g = 127.5 + 127.5 * np.sin(x / 3.1 + y / 5.3)
    b = 255 * y / max(h - 1, 1)
    img = np.stack([r, g, b], -1)
    blocks = ((x // 7 + y // 5) % 2 == 0)
    img[blocks] = 255 - img[blocks]
    img += rng.normal(0, noise, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def main():
    import torch
    import transformers
    from transformers import Qwen2VLImageProcessor
    from transformers.image_transforms import normalize, rescale
    import PIL
    vp = import_qwen_vl_utils()
    import importlib.metadata as md

    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20250701)
    tensors = {}
    cases = {}

    def save_png(name, arr, mode=None):
        Image.fromarray(arr, mode).save(os.path.join(OUT, name), optimize=True)
        return Image.open(os.path.join(OUT, name))

    # ---- input images --------------------------------------------------------------------
    img_97x61 = save_png("rgb_97x61.png", synthetic_rgb(97, 61, rng))
    img_9x13 = save_png("rgb_9x13.png", synthetic_rgb(9, 13, rng))
    img_1000x40 = save_png("rgb_1000x40.png", synthetic_rgb(1000, 40, rng, noise=0))
    img_700x500 = save_png("rgb_700x500.png", synthetic_rgb(700, 500, rng, noise=0))
    rgba = synthetic_rgb(64, 48, rng)
    alpha = np.tile(np.linspace(0, 255, 64).round().astype(np.uint8), (48, 1))
    alpha[:8] = 0      # fully transparent band (Pillow keeps the white canvas there)
    alpha[-8:] = 255   # fully opaque band
    img_rgba = save_png("rgba_64x48.png", np.dstack([rgba, alpha]), "RGBA")
    grey = synthetic_rgb(50, 70, rng)[..., 1]
    img_grey = save_png("grey_50x70.png", grey, "L")
    img_la = save_png("grey_alpha_45x33.png",
                      np.dstack([synthetic_rgb(45, 33, rng)[..., 0],
                                 np.tile(np.linspace(255, 0, 45).round().astype(np.uint8), (33, 1))]), "LA")
    for im in (img_97x61, img_9x13, img_1000x40, img_700x500, img_rgba, img_grey, img_la):
        im.load()

    # ---- processor cases -----------------------------------------------------------------
    def processor_case(name, pil_rgb, file, conversion, min_px, max_px, store_pixels=True, fetch=None):
        """pil_rgb: the RGB image the processor sees (after qwen-vl-utils if fetch is set)."""
        proc = Qwen2VLImageProcessor(min_pixels=min_px, max_pixels=max_px)
        out = proc(images=[pil_rgb], return_tensors="np")
        grid = out["image_grid_thw"].astype(np.int64)
        t, gh, gw = grid[0].tolist()
        # Same resize call as the processor's _preprocess (transformers.image_transforms.resize).
        from transformers.image_transforms import resize as hf_resize
        from transformers.image_utils import PILImageResampling
        arr = np.array(pil_rgb)
        if (arr.shape[0], arr.shape[1]) != (gh * 14, gw * 14):
            arr = hf_resize(arr, (gh * 14, gw * 14), resample=PILImageResampling.BICUBIC)
        tensors[f"{name}.resized"] = np.ascontiguousarray(arr.astype(np.uint8))
        tensors[f"{name}.image_grid_thw"] = grid
        if store_pixels:
            tensors[f"{name}.pixel_values"] = out["pixel_values"].astype(np.float32)
        cases[name] = {"image": file, "rgb_conversion": conversion, "min_pixels": min_px, "max_pixels": max_px,
                       "grid_thw": [t, gh, gw], "has_pixel_values": store_pixels,
                       "resized_hw": [gh * 14, gw * 14]}
        if fetch is not None:
            cases[name]["qwen_vl_utils"] = fetch

    processor_case("odd_97x61", img_97x61, "rgb_97x61.png", "plain_convert", 3136, 6272)
    processor_case("wide_1000x40", img_1000x40, "rgb_1000x40.png", "plain_convert", 3136, 23520,
                   store_pixels=False)
    processor_case("large_700x500", img_700x500, "rgb_700x500.png", "plain_convert", 3136, 23520)
    processor_case("rgba_composite", hf_convert_to_rgb_composite(img_rgba), "rgba_64x48.png",
                   "alpha_composite_white", 3136, 6272)
    processor_case("rgba_plain", img_rgba.convert("RGB"), "rgba_64x48.png", "plain_convert", 3136, 6272,
                   store_pixels=False)
    processor_case("grey", hf_convert_to_rgb_composite(img_grey), "grey_50x70.png", "alpha_composite_white",
                   3136, 6272)
    processor_case("grey_alpha_composite", hf_convert_to_rgb_composite(img_la), "grey_alpha_45x33.png",
                   "alpha_composite_white", 3136, 6272, store_pixels=False)

    # Seed path: qwen-vl-utils fetch_image (its to_rgb + Pillow resize), then the processor.
    def fetch(name, file, ele, min_px, max_px, store_pixels=True):
        pil = Image.open(os.path.join(OUT, file))
        first = vp.fetch_image(dict(ele, image=pil))
        if first.size[0] * first.size[1] <= 20000:  # keep the data small; the final resize is checked anyway
            tensors[f"{name}.fetch_image"] = np.array(first)
        processor_case(name, first, file, "qwen_vl_utils", min_px, max_px, store_pixels,
                       fetch={k: v for k, v in ele.items()})
        cases[name]["fetch_image_hw"] = [first.size[1], first.size[0]]

    fetch("two_step_700x500", "rgb_700x500.png", {}, 3136, 6272)
    fetch("two_step_9x13", "rgb_9x13.png", {}, 3136, 6272)
    fetch("two_step_97x61_limits", "rgb_97x61.png", {"min_pixels": 12544, "max_pixels": 50176}, 3136, 6272)
    fetch("two_step_97x61_resized", "rgb_97x61.png", {"resized_height": 100, "resized_width": 150}, 3136, 6272,
          store_pixels=False)
    fetch("two_step_rgba", "rgba_64x48.png", {}, 3136, 6272, store_pixels=False)
    fetch("two_step_grey_alpha", "grey_alpha_45x33.png", {}, 3136, 6272, store_pixels=False)

    # Conversions of the alpha images, byte for byte.
    tensors["rgba.alpha_composite_white"] = np.array(hf_convert_to_rgb_composite(img_rgba))
    tensors["rgba.qwen_vl_utils"] = np.array(vp.to_rgb(img_rgba))
    tensors["rgba.plain_convert"] = np.array(img_rgba.convert("RGB"))
    tensors["grey_alpha.alpha_composite_white"] = np.array(hf_convert_to_rgb_composite(img_la))
    tensors["grey_alpha.qwen_vl_utils"] = np.array(vp.to_rgb(img_la))
    tensors["grey_alpha.plain_convert"] = np.array(img_la.convert("RGB"))

    # ---- Pillow-only resize sweep (L1) -----------------------------------------------------
    src = synthetic_rgb(61, 47, rng, noise=40)
    save_png("sweep_61x47.png", src)
    sweep = []
    sizes = [(18, 14), (30, 23), (59, 46), (61, 47), (63, 48), (134, 103), (61, 20), (140, 47), (1, 47),
             (61, 1), (7, 300), (200, 3)]
    for (w, h) in sizes:
        tensors[f"sweep.{w}x{h}"] = np.array(Image.fromarray(src).resize((w, h), Image.BICUBIC))
        # Pillow <= 12 always ran the horizontal pass first; two single-axis resizes reproduce it
        # (each pass is the same code in every version). Stored where the order matters.
        classic = Image.fromarray(src).resize((w, src.shape[0]), Image.BICUBIC).resize((w, h), Image.BICUBIC)
        if not np.array_equal(np.array(classic), tensors[f"sweep.{w}x{h}"]):
            tensors[f"sweep_horizontal_first.{w}x{h}"] = np.array(classic)
        sweep.append([w, h])
    strip = synthetic_rgb(1, 40, rng, noise=40)
    save_png("strip_1x40.png", strip)
    for (w, h) in [(3, 17), (1, 97), (5, 40)]:
        tensors[f"strip.{w}x{h}"] = np.array(Image.fromarray(strip).resize((w, h), Image.BICUBIC))

    # ---- torch antialias bicubic (HF fast processor's resize) ------------------------------
    import torch.nn.functional as F
    x = torch.from_numpy(src).permute(2, 0, 1)[None]
    aa = []
    for (w, h) in [(18, 14), (30, 23), (59, 46), (134, 103), (61, 20), (140, 47)]:
        yf = F.interpolate(x.float(), size=(h, w), mode="bicubic", antialias=True, align_corners=False)
        yf = yf.clamp(0, 255).round().to(torch.uint8)[0].permute(1, 2, 0).contiguous().numpy()
        yu = F.interpolate(x, size=(h, w), mode="bicubic", antialias=True, align_corners=False)
        yu = yu[0].permute(1, 2, 0).contiguous().numpy()
        tensors[f"torch_aa_float.{w}x{h}"] = yf
        tensors[f"torch_aa_uint8.{w}x{h}"] = yu
        aa.append([w, h])

    # ---- normalisation tables --------------------------------------------------------------
    mean, std, rf = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711], 1 / 255
    u = np.tile(np.arange(256, dtype=np.uint8)[None, :, None], (4, 1, 3))  # HWC image of all values
    fmt = "channels_last"
    slow = normalize(rescale(u, rf, input_data_format=fmt), mean, std, input_data_format=fmt)
    tensors["normalize.hf_slow"] = np.ascontiguousarray(slow[0].T.astype(np.float32))
    mt = torch.tensor(mean) * (1.0 / rf)
    st = torch.tensor(std) * (1.0 / rf)
    fast = (torch.arange(256).float()[None, :] - mt[:, None]) / st[:, None]
    tensors["normalize.hf_fast"] = fast.numpy().astype(np.float32)

    # ---- JPEG decode -----------------------------------------------------------------------
    Image.fromarray(synthetic_rgb(64, 48, rng, noise=10)).save(os.path.join(OUT, "photo_64x48.jpg"), quality=85)
    tensors["jpeg.pillow_rgb"] = np.array(Image.open(os.path.join(OUT, "photo_64x48.jpg")).convert("RGB"))

    from safetensors.numpy import save_file
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, os.path.join(OUT, "expected.safetensors"))
    manifest = {
        "generator": "tools/gen_golden_preprocess.py",
        "pillow_pass_order": "pillow13" if int(PIL.__version__.split(".")[0]) >= 13 else "horizontal_first",
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__,
                     "pillow": PIL.__version__, "numpy": np.__version__,
                     "qwen_vl_utils": md.version("qwen-vl-utils")},
        "image_processor": "Qwen2VLImageProcessor (slow, PIL BICUBIC), patch 14, temporal 2, merge 2, CLIP mean/std",
        "note": "resized = uint8 image the processor patchifies; fetch_image = qwen-vl-utils output; "
                "alpha_composite_white = transformers main convert_to_rgb (4.51.3 itself does plain convert)",
        "cases": cases,
        "sweep_source": "sweep_61x47.png", "sweep_sizes_wh": sweep,
        "strip_source": "strip_1x40.png", "strip_sizes_wh": [[3, 17], [1, 97], [5, 40]],
        "torch_aa_sizes_wh": aa,
    }
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"wrote {len(tensors)} tensors, {len(cases)} processor cases, {total / 1e6:.2f} MB in {OUT}")


if __name__ == "__main__":
    main()
