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
  adapters_ref.py merge --method M [--base DIR] [--t T] [--seed S] OUT_DIR MODEL[:W[:D]]...
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
MERGE_PLACEHOLDER = True

if __name__ == "__main__":
    main(sys.argv[1:])
