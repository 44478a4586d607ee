#!/usr/bin/env python3
"""Extra reward cases for tests/rl (not golden: generated here with the seed's own code).

The class below is MultiModalAccuracyORMGuopei copied verbatim from the seed's GRPO section 4.4
(only `ORM` is an empty base and math_verify is stubbed to raise, as in golden/README.md part C),
so `literal` mode can be checked on what the golden subset lacks: fullwidth colon, exponent,
negative, Unicode digits, IGNORECASE, Unicode whitespace in strip/\\s, random strings.
format_cases.jsonl: ms-swift's Format regex, evaluated by Python's re.

usage: python3 gen_extra_cases.py   (writes extra_seed_cases.jsonl, format_cases.jsonl here)
"""
import json, os, random, re, sys, types
from typing import List

mv = types.ModuleType("math_verify")
def _raise(*a, **k): raise RuntimeError("math_verify stubbed")
mv.parse = mv.verify = _raise
sys.modules["math_verify"] = mv

class ORM: pass

class MultiModalAccuracyORMGuopei(ORM):
    def __init__(self, important_chars="0123456789¥$", important_weight=2.0):
        self.important_chars = set(important_chars)
        self.important_weight = important_weight

    def calculate_cer(self, reference, hypothesis):
        if not reference:
            return 1.0 if hypothesis else 0.0
        dp = [[0] * (len(hypothesis) + 1) for _ in range(len(reference) + 1)]
        for i in range(len(reference) + 1):
            dp[i][0] = i
        for j in range(len(hypothesis) + 1):
            dp[0][j] = j
        operations = []
        for i in range(1, len(reference) + 1):
            for j in range(1, len(hypothesis) + 1):
                if reference[i-1] == hypothesis[j-1]:
                    dp[i][j] = dp[i-1][j-1]
                else:
                    deletion = dp[i-1][j] + 1
                    insertion = dp[i][j-1] + 1
                    substitution = dp[i-1][j-1] + 1
                    min_op = min(deletion, insertion, substitution)
                    dp[i][j] = min_op
                    if min_op == deletion:
                        operations.append(("delete", reference[i-1], i-1))
                    elif min_op == insertion:
                        operations.append(("insert", hypothesis[j-1], j-1))
                    else:
                        operations.append(("substitute", reference[i-1], i-1))
        weighted_errors = 0
        for op, char, _ in operations:
            if char in self.important_chars:
                weighted_errors += self.important_weight
            else:
                weighted_errors += 1
        total_chars = len(reference)
        return weighted_errors / total_chars if total_chars > 0 else 0.0

    def extract_confidence(self, content):
        try:
            confidence_pattern = r'"confidence"\s*:\s*(\d+\.\d+|\d+)'
            confidence_matches = re.findall(confidence_pattern, content)
            if confidence_matches:
                confidences = [float(match) for match in confidence_matches]
                return sum(confidences) / len(confidences)
            alt_pattern = r'(?:置信度|confidence)\s*(?::|:)\s*(\d+\.\d+|\d+)'
            alt_matches = re.findall(alt_pattern, content, re.IGNORECASE)
            if alt_matches:
                confidences = [float(match) for match in alt_matches]
                return sum(confidences) / len(confidences)
        except Exception:
            pass
        return 1.0

    def __call__(self, completions, solution, **kwargs) -> List[float]:
        rewards = []
        from math_verify import parse, verify
        for content, sol in zip(completions, solution):
            reward = 0.0
            try:
                answer = parse(content)
                if float(verify(answer, parse(sol))) > 0:
                    reward = 1.0
            except Exception:
                pass
            if reward == 0.0:
                try:
                    sol_match = re.search(r'<answer>(.*?)</answer>', sol)
                    ground_truth = sol_match.group(1).strip() if sol_match else sol.strip()
                    content_match = re.search(r'<answer>(.*?)</answer>', content)
                    student_answer = content_match.group(1).strip() if content_match else content.strip()
                    confidence = self.extract_confidence(content)
                    cer = self.calculate_cer(ground_truth, student_answer)
                    reward = max(0.0, (1.0 - cer) * confidence)
                except Exception as e:
                    pass
            rewards.append(reward)
        return rewards


def seed_row(orm, tag, completion, solution):
    sm = re.search(r'<answer>(.*?)</answer>', solution)
    cm = re.search(r'<answer>(.*?)</answer>', completion)
    gt = sm.group(1).strip() if sm else solution.strip()
    ans = cm.group(1).strip() if cm else completion.strip()
    return {"tag": tag, "completion": completion, "solution": solution,
            "seed_reward": orm([completion], [solution])[0],
            "seed_extracted_ground_truth": gt, "seed_extracted_answer": ans,
            "seed_confidence": orm.extract_confidence(completion),
            "seed_calculate_cer": orm.calculate_cer(gt, ans)}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    orm = MultiModalAccuracyORMGuopei()
    hand = [
        ("conf_fullwidth_colon", "<answer>中</answer> 置信度：0.8", "中"),
        ("conf_exponent", "<answer>中</answer> confidence: 9e-1", "中"),
        ("conf_negative", "<answer>中</answer> confidence: -0.5", "中"),
        ("conf_json_negative", '<answer>中</answer> {"confidence": -0.5}', "中"),
        ("conf_upper", "<answer>中</answer> CONFIDENCE: 0.5", "中"),
        ("conf_mixed_case_space", "<answer>中</answer> Confidence :\t0.7", "中"),
        ("conf_dotted_capital_i", "<answer>中</answer> confİdence: 0.4", "中"),
        ("conf_dotless_i", "<answer>中</answer> confıdence: 0.3", "中"),
        ("conf_json_upper_ignored", '<answer>中</answer> {"CONFIDENCE": 0.3}', "中"),
        ("conf_fullwidth_digits", "<answer>中</answer> confidence: ０.５", "中"),
        ("conf_arabic_indic", "<answer>中</answer> confidence: ٠٫٥ confidence: ٠.٢", "中"),
        ("conf_ideographic_space", "<answer>中</answer> confidence:\u30000.6", "中"),
        ("conf_trailing_dot", "<answer>中</answer> confidence: 1.", "中"),
        ("conf_leading_dot", "<answer>中</answer> confidence: .5", "中"),
        ("conf_zh_space", "<answer>中</answer> 置信度 : 0.25", "中"),
        ("conf_json_three", '{"confidence": 0.1} {"confidence": 0.2} {"confidence": 0.4}<answer>中</answer>', "中"),
        ("conf_percent_json", '<answer>防御</answer> {"confidence": 95}', "防御"),
        ("strip_ideographic_space", "<answer>\u3000中国\u00a0</answer>", "中国"),
        ("strip_unit_separator", "\x1f中国\x1c", "中国"),
        ("answer_newline_then_good", "<answer>a\nb</answer><answer>中国</answer>", "中国"),
        ("answer_unclosed_then_closed", "<answer>x <answer>中</answer>", "中"),
        ("answer_nested_close", "<answer><answer>1</answer></answer>", "1"),
        ("answer_empty_solution_tagged", "<answer>中国</answer>", "<answer> </answer>"),
        ("literal_empty_answer_digits", "<think>x</think><answer></answer>", "¥476.0"),
        ("literal_digit_sub", "等:¥478.0", "等:¥476.0"),
        ("literal_three_digits", "478", "476"),
        ("english_line", "Total: $12.50", "Total: $12.50"),
        ("supplementary_plane", "𠀋𠀋", "𠀋"),
    ]
    rng = random.Random(20240601)
    alphabet = list("中国学历要求0123456789¥$.:a ") + ["\n", "\u3000"]
    for k in range(40):
        ref = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 7)))
        hyp = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 7)))
        if rng.random() < 0.4:
            hyp = "<answer>" + hyp + "</answer>"
        if rng.random() < 0.3:
            hyp += ' {"confidence": %s}' % rng.choice(["0.5", "1", "0.25", "42", "0.125"])
        hand.append(("random_%d" % k, hyp, ref))
    with open(os.path.join(here, "extra_seed_cases.jsonl"), "w", encoding="utf-8") as f:
        for i, (tag, c, s) in enumerate(hand):
            row = {"id": i + 1, **seed_row(orm, tag, c, s)}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")

    fmt = re.compile(r'^<think>.*?</think>\s*<answer>.*?</answer>(?![\s\S])', re.DOTALL | re.MULTILINE)
    cases = [
        "<think>x</think><answer>y</answer>", "<think></think><answer></answer>",
        "<think>a\nb</think>\n\n<answer>c\nd</answer>", "<think>x</think><answer>y</answer>\n",
        " <think>x</think><answer>y</answer>", "<think>x</think>z<answer>y</answer>",
        "<think>x</think>\u3000<answer>y</answer>", "<think>x</think>\x1c<answer>y</answer>",
        "<think>x</think><answer>y</answer></answer>", "<think>x</think></think> <answer>y</answer>",
        "<think>x</think><answer></answer>", "<think></think><answer>", "<think></answer>",
        "<THINK>x</THINK><answer>y</answer>", "<think>x</think> <answer>y</answer>tail",
        "<think>x</think><answer>y</answer><answer>z</answer>", "<think><answer>a</answer></think><answer>b</answer>",
        "<think>x</think><answer></answer>", "", "<answer>y</answer>", "<think>x</think>",
        "<think>x<think>y</think>\t<answer>z</answer>", "<think>x</think><answer>y</answer >",
    ]
    toks = ["<think>", "</think>", "<answer>", "</answer>", " ", "\n", "a", "中", "\u3000", "<", ">", "/"]
    while len(cases) < 400:
        n = rng.randint(0, 8)
        parts = [rng.choice(toks) for _ in range(n)]
        if rng.random() < 0.6:  # bias towards near-valid shapes
            parts = ["<think>"] + parts[: n // 2] + ["</think>"] + parts[n // 2:] + ["<answer>", rng.choice(toks), "</answer>"]
            if rng.random() < 0.3: parts.append(rng.choice(toks))
        cases.append("".join(parts))
    with open(os.path.join(here, "format_cases.jsonl"), "w", encoding="utf-8") as f:
        for c in cases:
            f.write(json.dumps({"completion": c, "format": 1.0 if fmt.match(c) else 0.0}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
