#!/usr/bin/env python3
"""Checks the character-level tokenizer (include/vlm/data/char_tokenizer.hpp) against HF.

Writes the tokenizer with `vlm init-model --char_vocab true` (or uses --dir), then encodes 200
strings with HF `tokenizers` (Tokenizer.from_file) and with ours (`vlm tokenize --file`), and
compares the ids and the decoded text. The strings mix synthetic-OCR responses, the Chinese
prompt, chat-formatted sequences with special tokens and text outside the charset (which falls
back to byte tokens). If `transformers` is installed, also checks that AutoTokenizer loads the
folder and that apply_chat_template renders the Qwen2.5-VL prompt.

  python3 tools/check_char_tokenizer.py --vlm build-ocr/examples/vlm [--dir DIR] [--n 200]
Exit status 0 when everything agrees, 1 otherwise.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ¥$.:-/,% "
QUERY = "请识别图片中的文字"
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
            "<|image_pad|>", "<|video_pad|>", "<|vision_pad|>", "<tool_call>", "<|box_start|>"]
EXTRA = ["a", "z", "é", "發", "票", "😀", "\n", "\t", "  ", "：", "，", "中文", "'s", "?"]


def make_strings(n, seed=0):
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        kind = len(out) % 5
        if kind == 0:  # OCR-like response from the charset
            s = "".join(rng.choice(CHARSET) for _ in range(rng.randint(3, 12))).strip() or "0"
        elif kind == 1:  # prompt plus response
            s = QUERY + " " + "".join(rng.choice(CHARSET) for _ in range(rng.randint(1, 10)))
        elif kind == 2:  # a chat sequence as the template renders it
            resp = "".join(rng.choice(CHARSET) for _ in range(rng.randint(1, 12)))
            pads = "<|image_pad|>" * rng.randint(1, 4)
            s = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                 f"<|vision_start|>{pads}<|vision_end|>{QUERY}<|im_end|>\n<|im_start|>assistant\n{resp}<|im_end|>\n")
        elif kind == 3:  # anything: charset, prompt characters, specials, outside characters
            pool = list(CHARSET) + list(QUERY) + SPECIALS + EXTRA
            s = "".join(rng.choice(pool) for _ in range(rng.randint(1, 16)))
        else:  # digits and amounts
            s = rng.choice(["¥", "$", ""]) + str(rng.randint(0, 10**rng.randint(1, 7))) + rng.choice(["", ".5", ".08", "%"])
        out.append(s)
    return out


def ours(vlm, model_dir, text, tmp):
    path = os.path.join(tmp, "text.txt")
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    r = subprocess.run([vlm, "tokenize", "--model", model_dir, "--file", path], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"vlm tokenize failed: {r.stderr.strip()}")
    line = r.stdout.strip()
    return [int(x) for x in line.split(",")] if line else []


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vlm", required=True, help="the vlm program (build/examples/vlm)")
    ap.add_argument("--dir", help="a folder with the char tokenizer (default: made by vlm init-model --char_vocab true)")
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()

    from tokenizers import Tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.dir
        if not model_dir:
            model_dir = os.path.join(tmp, "model")
            subprocess.run([args.vlm, "init-model", "--out", model_dir, "--char_vocab", "true"], check=True,
                           stdout=subprocess.DEVNULL)
        hf = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        print(f"HF tokenizers loads it: vocab size {hf.get_vocab_size(with_added_tokens=True)}")
        bad = 0
        strings = make_strings(args.n)
        for s in strings:
            want = hf.encode(s, add_special_tokens=False).ids
            got = ours(args.vlm, model_dir, s, tmp)
            if got != want or hf.decode(want, skip_special_tokens=False) != s:
                bad += 1
                if bad <= 10:
                    print(f"MISMATCH {s!r}\n  hf:   {want}\n  ours: {got}\n  hf decode: {hf.decode(want, skip_special_tokens=False)!r}")
        single = all(len(hf.encode(c, add_special_tokens=False).ids) == 1 for c in set(CHARSET + QUERY))
        print(f"{len(strings) - bad}/{len(strings)} strings give identical ids; "
              f"every charset/prompt character is one HF token: {single}")
        ok = bad == 0 and single

        try:
            from transformers import AutoTokenizer
        except ImportError:
            print("transformers not installed; skipped the AutoTokenizer check")
        else:
            at = AutoTokenizer.from_pretrained(model_dir)
            msgs = [{"role": "user", "content": [{"type": "image", "image": "x.png"}, {"type": "text", "text": QUERY}]}]
            text = at.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
            want = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                    f"<|vision_start|><|image_pad|><|vision_end|>{QUERY}<|im_end|>\n<|im_start|>assistant\n")
            same = text == want and at.eos_token == "<|im_end|>" and at.pad_token == "<|endoftext|>"
            ids_same = at(text, add_special_tokens=False)["input_ids"] == ours(args.vlm, model_dir, text, tmp)
            print(f"transformers {type(at).__name__}: chat template renders the Qwen2.5-VL prompt: {same}; "
                  f"ids equal ours: {ids_same}")
            ok = ok and same and ids_same
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
