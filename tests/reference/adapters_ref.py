#!/usr/bin/python3
"""Independent numpy reference for LoRA adapters and checkpoint merges.

Written from the published semantics, not from unum's C:

- PEFT (huggingface/peft, tuners/lora): a LoRA adapter directory holds
  adapter_config.json and adapter_model.safetensors; for every targeted
  nn.Linear module KEY of the base model ("model.layers.N.self_attn.q_proj")
  the file holds base_model.model.KEY.lora_A.weight [r, in] and
  ...lora_B.weight [out, r]; the merged weight is W + scale * B @ A with
  scale = lora_alpha / r, or lora_alpha / sqrt(r) when use_rslora.
  target_modules as a list matches a module whose name equals an entry or
  ends with "." + entry; as a string it is a regular expression the whole
  name must match.  rank_pattern / alpha_pattern: the first key k (in the
  file's order) for which re.match(r"(.*\\.)?(k)$", KEY) succeeds gives the
  module's r / lora_alpha.  A user scale multiplies the update (PEFT's
  set_scale / add_weighted_adapter with one adapter).

Commands:
  adapters_ref.py bake BASE_DIR OUT_DIR ADAPTER[:SCALE]...
      writes OUT_DIR: BASE_DIR's config and tokenizer files and
      model.safetensors (float32) with every adapter merged in, in order.
  adapters_ref.py merge --method M [--base DIR] [--t T] [--seed S] -o OUT_DIR MODEL[:W[:D]]...
      mergekit's methods (see merge_tensor below), float32 output.
"""

import json
import math
import os
import re
import shutil
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qwen2_ref import load_weights, read_safetensors  # noqa: E402

MODULES = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]
COPIED = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"]


def die(msg):
    sys.stderr.write("adapters_ref: error: %s\n" % msg)
    sys.exit(1)


def write_safetensors(path, tensors):
    header, off, blobs = {}, 0, []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f4")
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def write_model(src_dir, out_dir, tensors):
    os.makedirs(out_dir, exist_ok=True)
    for n in COPIED:
        if os.path.exists(os.path.join(src_dir, n)):
            shutil.copy(os.path.join(src_dir, n), os.path.join(out_dir, n))
    write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors)


def split_spec(spec):
    """DIR[:A[:B]] -> (DIR, [numbers])"""
    parts = spec.split(":")
    nums = []
    while len(parts) > 1:
        try:
            nums.insert(0, float(parts[-1]))
        except ValueError:
            break
        parts.pop()
    return ":".join(parts), nums


# ---------------------------------------------------------------- LoRA

def targeted(cfg, key):
    t = cfg["target_modules"]
    if isinstance(t, str):
        return t == "all-linear" or re.fullmatch(t, key) is not None
    return any(key == e or key.endswith("." + e) for e in t)


def pattern(pat, key, default):
    for k, v in (pat or {}).items():
        if re.match(r"(.*\.)?(%s)$" % k, key):
            return v
    return default


def bake(base_dir, out_dir, specs):
    W = load_weights(base_dir)
    n_layers = json.load(open(os.path.join(base_dir, "config.json")))["num_hidden_layers"]
    for spec in specs:
        adir, nums = split_spec(spec)
        user = nums[0] if nums else 1.0
        cfg = json.load(open(os.path.join(adir, "adapter_config.json")))
        if cfg.get("peft_type") != "LORA" or cfg.get("use_dora"):
            die("%s: not a plain LoRA adapter" % adir)
        T = read_safetensors(os.path.join(adir, "adapter_model.safetensors"))
        used = set()
        for i in range(n_layers):
            for m in MODULES:
                key = "model.layers.%d.%s" % (i, m)
                if not targeted(cfg, key):
                    continue
                r = pattern(cfg.get("rank_pattern"), key, cfg["r"])
                alpha = pattern(cfg.get("alpha_pattern"), key, cfg["lora_alpha"])
                scale = alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r
                A = T["base_model.model.%s.lora_A.weight" % key].astype(np.float64)
                B = T["base_model.model.%s.lora_B.weight" % key].astype(np.float64)
                used |= {"base_model.model.%s.lora_A.weight" % key,
                         "base_model.model.%s.lora_B.weight" % key}
                w = W[key + ".weight"]
                if A.shape != (r, w.shape[1]) or B.shape != (w.shape[0], r):
                    die("%s: %s: shapes %s %s do not fit %s" % (adir, key, A.shape, B.shape, w.shape))
                W[key + ".weight"] = (w.astype(np.float64) + user * scale * (B @ A)).astype(np.float32)
        if used != set(T):
            die("%s: tensors not accounted for: %s" % (adir, sorted(set(T) - used)[:3]))
    write_model(base_dir, out_dir, W)


def main(argv):
    if len(argv) >= 3 and argv[0] == "bake":
        bake(argv[1], argv[2], argv[3:])
    elif argv and argv[0] == "merge":
        merge_main(argv[1:])
    else:
        die(__doc__)


# ---------------------------------------------------------------- merges
#
# mergekit (arcee-ai/mergekit, merge_methods/): every tensor on its own, with
# base b, models x_i, weights w_i, densities d_i, task vectors t_i = x_i - b
# (float32, as mergekit subtracts in the checkpoint's dtype).
#   linear: sum w_i x_i / sum w_i.
#   task_arithmetic: b + sum w_i t_i (normalize off).
#   ties: t_i keeps its int(d_i n) largest |entries| (sparsify "magnitude",
#     no rescale); weighted w_i t_i; majority sign = sign of the sum (>= 0 is
#     +); mask = sign(w_i t_i) == majority; b + sum(w t mask) / sum(w mask),
#     a zero divisor replaced by 1.
#   dare_ties: t_i keeps each entry with probability d_i ("random"
#     sparsification), rescaled by 1/d_i; the ties mask; not normalized.
#   dare_linear: the same drop and rescale, b + sum w_i t_i.
#   slerp: base and one model, flattened, each normalized when its norm > 1e-8;
#     |dot| > 0.9995: lerp; else sin((1-t)a)/sin(a) b + sin(ta)/sin(a) x.
# DARE's Bernoulli draws cannot be torch's; unum documents its generator
# (docs/adapters.md): per tensor and model i (0-based), state =
# seed ^ fnv1a64(name) ^ ((i+1) * 0x9e3779b97f4a7c15 mod 2^64), one splitmix64
# draw per entry in row-major order, u = (draw >> 11) / 2^53, kept iff u < d_i.

M64 = (1 << 64) - 1


def fnv1a64(s):
    h = 1469598103934665603
    for ch in s.encode():
        h = ((h ^ ch) * 1099511628211) & M64
    return h


def splitmix_stream(state, n):
    """n splitmix64 outputs from state, vectorized (uint64 arithmetic wraps)."""
    with np.errstate(over="ignore"):
        k = np.arange(1, n + 1, dtype=np.uint64)
        z = np.uint64(state) + k * np.uint64(0x9e3779b97f4a7c15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xbf58476d1ce4e5b9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94d049bb133111eb)
        return z ^ (z >> np.uint64(31))


def dare_keep(seed, name, i, n, density):
    state = (seed ^ fnv1a64(name) ^ (((i + 1) * 0x9e3779b97f4a7c15) & M64)) & M64
    u = (splitmix_stream(state, n) >> np.uint64(11)).astype(np.float64) / 2.0 ** 53
    return u < density


def merge_tensor(method, name, b, xs, ws, ds, t, seed):
    shape = xs[0].shape
    if method == "linear":
        return sum(w * x.astype(np.float64) for w, x in zip(ws, xs)) / sum(ws)
    if method == "slerp":
        v0, v1 = b.astype(np.float64).ravel(), xs[0].astype(np.float64).ravel()
        n0, n1 = np.linalg.norm(v0), np.linalg.norm(v1)
        u0 = v0 / n0 if n0 > 1e-8 else v0
        u1 = v1 / n1 if n1 > 1e-8 else v1
        dot = np.sum(u0 * u1)
        if abs(dot) > 0.9995:
            return ((1 - t) * v0 + t * v1).reshape(shape)
        a = math.acos(dot)
        return ((math.sin(a - a * t) / math.sin(a)) * v0 + (math.sin(a * t) / math.sin(a)) * v1).reshape(shape)
    tvs = []
    for i, (x, d) in enumerate(zip(xs, ds)):
        tv = (x.astype(np.float32) - b.astype(np.float32)).ravel()
        if d < 1 and method == "ties":
            k = int(d * tv.size)
            order = np.argsort(-np.abs(tv), kind="stable")
            mask = np.zeros(tv.size, bool)
            mask[order[:k]] = True
            tv = np.where(mask, tv, 0)
        if d < 1 and method in ("dare_ties", "dare_linear"):
            tv = np.where(dare_keep(seed, name, i, tv.size, d), tv / np.float32(d), 0)
        tvs.append(tv.astype(np.float64))
    wd = np.stack([w * tv for w, tv in zip(ws, tvs)])
    W = np.array(ws, dtype=np.float64)[:, None] * np.ones_like(wd)
    if method in ("task_arithmetic", "dare_linear"):
        mixed = wd.sum(0)
    else:
        majority = np.where(wd.sum(0) >= 0, 1.0, -1.0)
        mask = np.sign(wd) == majority
        mixed = (wd * mask).sum(0)
        if method == "ties":
            div = (W * mask).sum(0)
            div[div == 0] = 1
            mixed = mixed / div
    return (b.astype(np.float64).ravel() + mixed).reshape(shape)


def merge_main(argv):
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--method", required=True)
    ap.add_argument("--base")
    ap.add_argument("--t", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", dest="out", required=True)
    ap.add_argument("models", nargs="+")
    a = ap.parse_args(argv)
    specs = [split_spec(m) for m in a.models]
    dirs = [d for d, _ in specs]
    ws = [n[0] if n else 1.0 for _, n in specs]
    ds = [n[1] if len(n) > 1 else 1.0 for _, n in specs]
    xs = [load_weights(d) for d in dirs]
    B = load_weights(a.base) if a.base else None
    out = {}
    for name in (B or xs[0]):
        out[name] = merge_tensor(a.method, name, B[name] if B else None, [x[name] for x in xs],
                                 ws, ds, a.t, a.seed).astype(np.float32)
    write_model(a.base or dirs[0], a.out, out)

if __name__ == "__main__":
    main(sys.argv[1:])
