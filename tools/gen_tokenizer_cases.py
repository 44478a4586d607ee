#!/usr/bin/env python3
"""Writes tests/data/tokenizer/extra_cases.jsonl: random strings (mixed scripts, whitespace
runs, digits, emoji, combining marks, special tokens) encoded and decoded by the Hugging Face
`tokenizers` library, plus random id sequences decoded by it (byte tokens that cut characters
in half, special tokens), for tests/tokenizer to compare against.

Usage: python3 tools/gen_tokenizer_cases.py [--tokenizer tests/data/tokenizer/tokenizer.json]
                                             [--out tests/data/tokenizer/extra_cases.jsonl]
Lines: {"meta": {...}} first, then {"name", "text", "ids", "decoded",
"decoded_skip_special_tokens"} (encode cases) or the same without "text" (decode cases).
JSON is written ASCII-only so that U+2028/U+0085 in strings survive line-based tools.
"""
import argparse
import json
import random
import unicodedata
from pathlib import Path

import tokenizers
from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parent.parent
SEED = 20240613

WORDS = ["the", "The", "hello", "world", "don't", "I'M", "we'll", "they'RE", "it's", "you'd",
         "ſ's", "'s", "'S", "'ll", "Qwen2.5-VL", "tokenizer", "naïve", "café", "Ångström",
         "中文", "车服务公司", "模型", "日本語", "テキスト", "한국어", "Привет", "мир", "Ελληνικά",
         "مرحبا", "שלום", "हिन्दी", "ภาษาไทย", "Tiếng Việt", "ǅ", "ﬁ", "Ⅻ", "①", "½", "²",
         "x²", "İstanbul", "ß", "ẞ", "ꙮ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𠀀𠀁", "a\u0301", "e\u0300\u0323", "\u1100\u1161\u11a8",
         "A\u030a", "\u212b", "\u0958", "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f",
         "http://example.com/a?b=c&d=1", "foo_bar", "fooBar", "x=1;y=2", "#include", "<div>",
         "\"quoted\"", "(paren)", "[1, 2, 3]", "{'a': 1}", "$100.00", "3.14159", "1e-5",
         "2024-06-13", "12:30", "+49 30 1234", "--flag", "...", "!!!", "?!", "—", "–", "…",
         "«»", "„“", "、", "。", "！", "：", "·", "•", "™", "©", "°C", "€", "¥", "₹"]
EMOJI = ["👍", "👨\u200d👩\u200d👧", "👍🏽", "🇩🇪", "❤️", "✅", "🤖", "😀😃😄", "🏳️\u200d🌈", "1️⃣",
         "\U0001FAE0", "🧑🏿\u200d💻"]
SPACES = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\r", " \n ", "\u00a0", "\u3000",
          "\u2028", "\u2029", "\u0085", "\u180e", "\u200b", "\ufeff", "\u2009", "\u202f",
          "\x0b", "\x0c", "\x1c", "\x1f", "\t \t", "    \n", " " * 17]
DIGITS = ["0", "7", "42", "123456789", "٣٤٥", "०१२", "１２３", "3.0", "1,000,000"]
SPECIAL = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|vision_start|>", "<|image_pad|>",
           "<|vision_end|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|im_end",
           "<|im_start|", "<|", "|>", "<think>", "<|box_start|>(1,2)<|box_end|>"]
CONTROL = ["\x00", "\x01", "\x7f", "\x1b[0m", "\ufffd", "\U0010fffd", "\ue000", "\ufffe"]


def random_text(rng: random.Random) -> str:
    pools = [(WORDS, 10), (SPACES, 5), (DIGITS, 3), (EMOJI, 2), (SPECIAL, 1.5), (CONTROL, 0.5)]
    n = rng.choice([1, 2, 3, 5, 8, 13, 30, 60])
    parts = []
    for _ in range(n):
        pool = rng.choices([p for p, _ in pools], weights=[w for _, w in pools])[0]
        parts.append(rng.choice(pool))
        if rng.random() < 0.5:
            parts.append(" ")
    return "".join(parts)


def random_codepoints(rng: random.Random) -> str:
    """Arbitrary code points (no surrogates): exercises \\p{L}/\\p{N}/\\s edges of the regex."""
    out = []
    for _ in range(rng.randint(1, 40)):
        block = rng.choice([(0x20, 0x7f), (0x80, 0x800), (0x800, 0x3000), (0x3000, 0xa000),
                            (0xa000, 0xd800), (0xe000, 0x10000), (0x10000, 0x30000)])
        out.append(chr(rng.randrange(*block)))
    return "".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenizer", default=str(ROOT / "tests/data/tokenizer/tokenizer.json"))
    ap.add_argument("--out", default=str(ROOT / "tests/data/tokenizer/extra_cases.jsonl"))
    ap.add_argument("--count", type=int, default=200, help="random mixed-text cases")
    args = ap.parse_args()

    tok = Tokenizer.from_file(args.tokenizer)
    rng = random.Random(SEED)
    texts = [("empty", ""), ("long_spaces", " " * 3000 + "x"), ("long_word", "ab" * 2000),
             ("long_digits", "9" * 1000), ("long_newlines", "\n" * 500 + " end"),
             ("long_punct", "-=" * 700), ("nfd_paragraph", unicodedata.normalize(
                 "NFD", "Ça mène à l'école élémentaire; Ωμέγα; Việt Nam; 한국어 텍스트"))]
    texts += [(f"mixed_{i:03d}", random_text(rng)) for i in range(args.count)]
    texts += [(f"codepoints_{i:02d}", random_codepoints(rng)) for i in range(40)]

    vocab_size = tok.get_vocab_size(with_added_tokens=True)
    special_ids = [tok.token_to_id(s) for s in ["<|im_start|>", "<|im_end|>", "<|endoftext|>",
                                                 "<|image_pad|>", "<tool_call>"]]
    n_enc = n_dec = 0
    with open(args.out, "w", encoding="ascii") as f:
        meta = {"generator": "tools/gen_tokenizer_cases.py", "tokenizers": tokenizers.__version__,
                "seed": SEED, "tokenizer": Path(args.tokenizer).name,
                "call": "encode(text, add_special_tokens=False); decode(ids, skip_special_tokens)"}
        f.write(json.dumps({"meta": meta}) + "\n")
        for name, text in texts:
            ids = tok.encode(text, add_special_tokens=False).ids
            f.write(json.dumps({"name": name, "text": text, "ids": ids,
                                "decoded": tok.decode(ids, skip_special_tokens=False),
                                "decoded_skip_special_tokens": tok.decode(ids, skip_special_tokens=True)}) + "\n")
            n_enc += 1
        # Decode-only: random ids, including raw byte tokens (0..255) that split characters.
        for i in range(60):
            ids = []
            for _ in range(rng.randint(1, 12)):
                r = rng.random()
                ids.append(rng.randrange(256) if r < 0.4 else rng.choice(special_ids) if r < 0.55
                           else rng.randrange(vocab_size))
            f.write(json.dumps({"name": f"decode_{i:02d}", "ids": ids,
                                "decoded": tok.decode(ids, skip_special_tokens=False),
                                "decoded_skip_special_tokens": tok.decode(ids, skip_special_tokens=True)}) + "\n")
            n_dec += 1
    print(f"wrote {n_enc} encode and {n_dec} decode cases to {args.out} (tokenizers {tokenizers.__version__})")


if __name__ == "__main__":
    main()
