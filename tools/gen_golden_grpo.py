#!/usr/bin/env python3
"""Golden data for the numerical core of GRPO (include/vlm/rl/advantages.hpp, grpo_loss.hpp).

Writes tests/data/grpo/:
  loss_<case>.safetensors    inputs of GRPOTrainer._compute_loss (per_token_logps, old/ref
                             log-probs, advantages, completion_mask), the loss, TRL's logged
                             metrics and torch autograd's d loss / d per_token_logps; options
                             in the safetensors metadata
  per_token_logps.safetensors  logits [B, T, V], ids, temperature; selective_log_softmax of
                             logits / T and d <r, logps> / d logits
  advantages.safetensors     rewards -> advantages and the reward metrics, per case
  manifest.json              versions, seed, which code produced each value

Where the values come from:
  * loss, grpo / bnpo / dr_grpo (and delta): the real `trl.GRPOTrainer._compute_loss` of TRL
    0.19.1 (the newest TRL that installs beside transformers 4.51.3), called on a stand-in
    `self` whose _get_per_token_logps returns a leaf tensor, so autograd gives d loss / d logps.
    The torch reproduction below is checked against it to 1e-6 for every such case.
  * loss, dapo: not in TRL 0.19.1; the torch reproduction of TRL 0.22.2
    trl/trainer/grpo_trainer.py `_compute_loss` (lines 1541-1662: `normalizer =
    num_items_in_batch / num_processes; loss = (per_token_loss * completion_mask).sum() /
    normalizer`; metrics via masked_batch_mean with completion_mask.sum().clamp(min=1)).
  * advantages: torch reproduction of TRL 0.22.2 grpo_trainer.py `_generate_and_score_completions`
    lines 1395-1454 (scale_rewards group | batch | none; is_std_zero = isclose(std, 0); reward =
    mean of group means; reward_std = mean of the std used); TRL 0.19.1 lines 1254-1303 are
    the same with the boolean scale_rewards (True = group, False = none).
  * per_token_logps: trl.trainer.utils.selective_log_softmax (TRL 0.19.1) of logits / temperature
    (GRPOTrainer._get_per_token_logps, line 872).
Usage: python3 tools/gen_golden_grpo.py   (torch; trl==0.19.1 optional: without it every value
comes from the reproduction and the manifest says so). A venv that keeps transformers 4.51.3:
  python3 -m venv --system-site-packages /tmp/trlvenv
  echo transformers==4.51.3 > /tmp/c.txt && /tmp/trlvenv/bin/pip install -c /tmp/c.txt trl==0.19.1
"""
import json
import os
import types
from collections import defaultdict

import torch
from safetensors.torch import save_file

try:
    import trl
    from trl import GRPOTrainer
    from trl.trainer.utils import selective_log_softmax
    TRL_VERSION = trl.__version__
except Exception:  # noqa: BLE001 - any import failure means: reproduce
    trl = None
    TRL_VERSION = None

    def selective_log_softmax(logits, index):  # TRL 0.19.1 trl/trainer/utils.py, f32 branch
        selected = torch.gather(logits, dim=-1, index=index.unsqueeze(-1)).squeeze(-1)
        return selected - torch.stack([torch.logsumexp(lg, dim=-1) for lg in logits])

SEED = 20250601
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "grpo")
os.makedirs(root, exist_ok=True)
gen = torch.Generator().manual_seed(SEED)


def randn(*shape):
    return torch.randn(*shape, generator=gen, dtype=torch.float32)


# ---- advantages: TRL 0.22.2 grpo_trainer.py lines 1395-1454 --------------------------------
def trl_advantages(rewards, num_generations, scale_rewards):
    mean_grouped_rewards = rewards.view(-1, num_generations).mean(dim=1)
    mean_grouped_rewards = mean_grouped_rewards.repeat_interleave(num_generations, dim=0)
    advantages = rewards - mean_grouped_rewards
    if scale_rewards in ["group", "none"]:
        std_rewards = rewards.view(-1, num_generations).std(dim=1)
        std_rewards = std_rewards.repeat_interleave(num_generations, dim=0)
    elif scale_rewards == "batch":
        std_rewards = rewards.std().expand_as(rewards)
    else:
        raise ValueError(scale_rewards)
    is_std_zero = torch.isclose(std_rewards, torch.zeros_like(std_rewards))
    if scale_rewards != "none":
        advantages = advantages / (std_rewards + 1e-4)
    metrics = {
        "reward": mean_grouped_rewards.mean().item(),
        "reward_std": std_rewards.mean().item(),
        "frac_reward_zero_std": is_std_zero.float().mean().item(),
    }
    return advantages, metrics


# ---- loss: torch reproduction of TRL _compute_loss (0.19.1; dapo and metric clamp from 0.22.2)
def reproduce_loss(lp, old, ref, adv, mask, o):
    old = lp.detach() if old is None else old
    coef_1 = torch.exp(lp - old)
    coef_2 = torch.clamp(coef_1, 1 - o["epsilon"], 1 + o["epsilon_high"])
    if o["delta"] is not None:
        coef_1 = torch.clamp(coef_1, max=o["delta"])
    per_token_loss = -torch.min(coef_1 * adv.unsqueeze(1), coef_2 * adv.unsqueeze(1))
    if o["beta"] != 0.0:
        per_token_kl = torch.exp(ref - lp) - (ref - lp) - 1
        per_token_loss = per_token_loss + o["beta"] * per_token_kl
    m = mask.float()
    lt = o["loss_type"]
    if lt == "grpo":
        loss = ((per_token_loss * m).sum(-1) / m.sum(-1).clamp(min=1.0)).mean()
    elif lt == "bnpo":
        loss = (per_token_loss * m).sum() / m.sum().clamp(min=1.0)
    elif lt == "dr_grpo":
        loss = (per_token_loss * m).sum() / (per_token_loss.size(0) * o["max_completion_length"])
    elif lt == "dapo":
        loss = (per_token_loss * m).sum() / (o["num_items_in_batch"] / o["num_processes"])
    else:
        raise ValueError(lt)
    count = m.sum().clamp(min=1.0)
    metrics = {}
    if o["beta"] != 0.0:
        metrics["kl"] = ((per_token_kl * m).sum() / count).item()
    low = (coef_1 < 1 - o["epsilon"]) & (adv.unsqueeze(1) < 0)
    high = (coef_1 > 1 + o["epsilon_high"]) & (adv.unsqueeze(1) > 0)
    metrics["clip_ratio/low_mean"] = ((low * m).sum() / count).item()
    metrics["clip_ratio/high_mean"] = ((high * m).sum() / count).item()
    metrics["clip_ratio/region_mean"] = (((low | high) * m).sum() / count).item()
    return loss, metrics


def trl_loss(lp_leaf, old, ref, adv, mask, o):
    """Runs the real GRPOTrainer._compute_loss on a stand-in trainer."""
    metrics = {"train": defaultdict(list)}
    B, T = mask.shape
    fake = types.SimpleNamespace(
        beta=o["beta"], epsilon_low=o["epsilon"], epsilon_high=o["epsilon_high"], loss_type=o["loss_type"],
        max_completion_length=o["max_completion_length"], args=types.SimpleNamespace(delta=o["delta"]),
        model=types.SimpleNamespace(training=True), _metrics=metrics,
        accelerator=types.SimpleNamespace(gather=lambda x: x.reshape(1)),
        _get_per_token_logps=lambda model, ids, am, keep, *a, **k: lp_leaf)
    inputs = {
        "prompt_ids": torch.zeros(B, 2, dtype=torch.long), "prompt_mask": torch.ones(B, 2, dtype=torch.long),
        "completion_ids": torch.zeros(B, T, dtype=torch.long), "completion_mask": mask,
        "advantages": adv, "old_per_token_logps": old, "ref_per_token_logps": ref,
    }
    loss = GRPOTrainer._compute_loss(fake, None, inputs)
    return loss, {k: v[-1] for k, v in metrics["train"].items()}


CASES = [
    # name, B (= prompts * G), G, T, options, old?, zero-std groups, scale_rewards
    dict(name="grpo_mu1_beta0", P=2, G=4, T=11, loss_type="grpo", beta=0.0, old=False, scale="group"),
    dict(name="grpo_beta004_epshigh", P=3, G=3, T=9, loss_type="grpo", beta=0.04, epsilon_high=0.28, old=True,
         zero_group=1, scale="group"),
    dict(name="bnpo_beta004", P=2, G=4, T=13, loss_type="bnpo", beta=0.04, old=True, scale="group"),
    dict(name="bnpo_delta", P=2, G=3, T=8, loss_type="bnpo", beta=0.0, old=True, delta=1.3, scale="none"),
    dict(name="dr_grpo_epshigh", P=2, G=4, T=10, loss_type="dr_grpo", beta=0.0, epsilon_high=0.28, old=True,
         max_completion_length=16, scale="batch"),
    dict(name="dr_grpo_beta01_mu1", P=2, G=2, T=7, loss_type="dr_grpo", beta=0.1, old=False,
         max_completion_length=12, scale="group"),
    dict(name="dapo_beta004", P=2, G=4, T=9, loss_type="dapo", beta=0.04, epsilon_high=0.28, old=True,
         num_items_factor=3.0, num_processes=2, scale="group"),
    dict(name="grpo_empty_row", P=2, G=3, T=6, loss_type="grpo", beta=0.04, old=True, empty_row=True,
         zero_group=0, scale="group"),
]

manifest = {
    "seed": SEED, "torch": torch.__version__, "trl": TRL_VERSION,
    "note": "see the docstring of tools/gen_golden_grpo.py for the source of each value",
    "loss_cases": [], "advantage_cases": [],
}

for c in CASES:
    B, G, T = c["P"] * c["G"], c["G"], c["T"]
    o = {
        "loss_type": c["loss_type"], "beta": c["beta"], "epsilon": 0.2,
        "epsilon_high": c.get("epsilon_high", 0.2), "delta": c.get("delta"),
        "max_completion_length": c.get("max_completion_length", T),
    }
    # Completion masks: right padding after a random length in [1, T] (EOS included before it).
    lengths = torch.randint(1, T + 1, (B,), generator=gen)
    lengths[0] = T
    if c.get("empty_row"):
        lengths[1] = 0
    mask = (torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)).long()
    # Rewards -> advantages through the TRL formula (some groups all equal).
    rewards = torch.randint(0, 4, (B,), generator=gen).float() * 0.5 + randn(B) * 0.3
    if "zero_group" in c:
        g = c["zero_group"]
        rewards[g * G:(g + 1) * G] = 0.75
    adv, _ = trl_advantages(rewards, G, c["scale"])
    # Log-probs of sampled tokens: negative, a few near 0.
    lp = -(randn(B, T).abs() * 1.5 + 0.01)
    old = lp + randn(B, T) * 0.25 if c["old"] else None
    ref = lp + randn(B, T) * 0.3 if c["beta"] != 0.0 else None
    if o["loss_type"] == "dapo":
        o["num_items_in_batch"] = float(mask.sum().item()) * c["num_items_factor"]
        o["num_processes"] = c["num_processes"]

    lp_leaf = lp.clone().requires_grad_(True)
    loss_rep, metrics_rep = reproduce_loss(lp_leaf, old, ref, adv, mask, o)
    source = "torch reproduction of TRL 0.22.2 _compute_loss"
    if trl is not None and o["loss_type"] != "dapo":
        lp_trl = lp.clone().requires_grad_(True)
        loss, metrics = trl_loss(lp_trl, old, ref, adv, mask, o)
        loss.backward()
        grad = lp_trl.grad
        assert abs(loss.item() - loss_rep.item()) <= 1e-6 * max(1.0, abs(loss.item())), (c["name"], loss, loss_rep)
        for k, v in metrics_rep.items():
            tk = k
            assert abs(metrics[tk] - v) <= 1e-6, (c["name"], k, metrics[tk], v)
        lp_leaf.grad = None
        loss_rep.backward()
        assert torch.allclose(grad, lp_leaf.grad, rtol=1e-6, atol=1e-9), c["name"]
        source = f"trl {TRL_VERSION} GRPOTrainer._compute_loss"
    else:
        loss, metrics = loss_rep, metrics_rep
        loss.backward()
        grad = lp_leaf.grad

    t = {
        "per_token_logps": lp, "advantages": adv.contiguous(), "completion_mask": mask,
        "rewards": rewards, "loss": loss.detach().reshape(1), "grad_per_token_logps": grad.contiguous(),
    }
    if old is not None:
        t["old_per_token_logps"] = old
    if ref is not None:
        t["ref_per_token_logps"] = ref
    for k in ["kl", "clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/region_mean"]:
        if k in metrics:
            t["metric." + k.replace("/", ".")] = torch.tensor([metrics[k]], dtype=torch.float32)
    meta = {k: ("none" if v is None else str(v)) for k, v in o.items()}
    meta.update(num_generations=str(G), scale_rewards=c["scale"], source=source)
    save_file({k: v.contiguous() for k, v in t.items()}, os.path.join(root, f"loss_{c['name']}.safetensors"),
              metadata=meta)
    manifest["loss_cases"].append({"name": c["name"], "B": B, "T": T, **meta})
    print(f"{c['name']}: loss {loss.item():.6g}  {source}  metrics {metrics}")

# ---- per_token_logps: selective_log_softmax(logits / temperature, ids) ---------------------
B, T, V, temperature = 3, 5, 97, 0.9
logits = (randn(B, T, V) * 3.0).requires_grad_(True)
ids = torch.randint(0, V, (B, T), generator=gen)
logps = selective_log_softmax(logits / temperature, ids)
r = randn(B, T)
(logps * r).sum().backward()
save_file({"logits": logits.detach(), "ids": ids, "logps": logps.detach(), "r": r, "grad_logits": logits.grad},
          os.path.join(root, "per_token_logps.safetensors"), metadata={"temperature": str(temperature)})
manifest["per_token_logps"] = {"B": B, "T": T, "V": V, "temperature": temperature,
                               "source": "trl.trainer.utils.selective_log_softmax" if trl else "reproduction"}

# ---- advantages ------------------------------------------------------------------------------
adv_t, adv_meta = {}, {}
ADV = [
    ("group_g4", 4, 3, "group", None), ("batch_g4", 4, 3, "batch", None), ("none_g4", 4, 3, "none", None),
    ("group_g2", 2, 5, "group", None), ("group_g8_binary", 8, 2, "group", "binary"),
    ("group_zero_std", 3, 3, "group", "equal"), ("batch_g16", 16, 1, "batch", None),
]
for i, (name, G, P, scale, kind) in enumerate(ADV):
    if kind == "binary":
        rw = torch.randint(0, 2, (G * P,), generator=gen).float()
    else:
        rw = randn(G * P) * 1.7 + 0.4
    if kind == "equal":
        rw[0:G] = 1.0
        rw[2 * G:3 * G] = 0.1  # 0.1 is not exact in binary: mean of equal floats must still give 0
    a, m = trl_advantages(rw, G, scale)
    adv_t[f"{name}.rewards"] = rw
    adv_t[f"{name}.advantages"] = a
    adv_t[f"{name}.metrics"] = torch.tensor([m["reward"], m["reward_std"], m["frac_reward_zero_std"]])
    adv_meta[f"{name}.num_generations"] = str(G)
    adv_meta[f"{name}.scale_rewards"] = scale
    manifest["advantage_cases"].append({"name": name, "num_generations": G, "num_prompts": P, "scale_rewards": scale})
adv_meta["cases"] = ",".join(n for n, *_ in ADV)
adv_meta["metrics"] = "reward,reward_std,frac_reward_zero_std"
save_file(adv_t, os.path.join(root, "advantages.safetensors"), metadata=adv_meta)

with open(os.path.join(root, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=2, sort_keys=True)
    f.write("\n")
print("wrote", os.path.normpath(root))
