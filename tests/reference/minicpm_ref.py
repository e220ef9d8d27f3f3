#!/usr/bin/python3
"""Independent float32 reference for MiniCPMForCausalLM (openbmb's modeling_minicpm.py).

The project's own reference, written from the published remote code that the
MiniCPM checkpoints ship (modeling_minicpm.py and configuration_minicpm.py of
openbmb/MiniCPM4-8B, MiniCPM4.1-8B, and the MiniCPM-2B era copy in
github.com/OpenBMB/MiniCPM at commit b7e02fd, model/); it does not import
transformers or that code.  Run it with Debian's python3 (/usr/bin/python3:
python3-torch, python3-numpy).  The safetensors reader is qwen2_ref.py's; the
model math below is separate.

Model math (mirrors modeling_minicpm.py, eager attention path):
  x = embed_tokens[ids] * scale_emb                    (MiniCPMModel.forward)
  per layer (MiniCPMDecoderLayer.forward), with s = scale_depth / sqrt(L):
    h = RMSNorm(x)                    float32: x * rsqrt(mean(x^2) + eps) * w
    q,k,v = h Wq^T, h Wk^T, h Wv^T    (bias only when attention_bias: refused)
    RoPE from the cos/sin cache built once for max_position_embeddings rows:
      inv_freq = 1 / theta^(arange(0,hd,2)/hd)
      plain:     freqs = outer(t, inv_freq)
      longrope:  ext = long_factor if max_position_embeddings >
                       original_max_position_embeddings else short_factor
                 freqs = outer(t, 1/ext) * inv_freq
                 cos, sin *= sqrt(1 + ln(max_pos/orig) / ln(orig))
      q' = q*cos + rotate_half(q)*sin, the same for k
    GQA via repeat_kv; attn = softmax(q k^T / sqrt(hd) + causal) v
    x = x + (attn Wo^T) * s
    x = x + down(silu(gate(RMSNorm(x))) * up(RMSNorm(x))) * s
  logits = lm_head(RMSNorm(x) / (hidden_size / dim_model_base))
  lm_head = embed_tokens when tie_word_embeddings (MiniCPMConfig's default: true)

CLI (as qwen2_ref.py):
  minicpm_ref.py MODEL_DIR --ids "1 2 3" --logits OUT.f32
                 [--greedy N --greedy-out FILE] [--margins-out FILE] [--check]
  --check also runs a float64 numpy forward, token by token with a KV cache and
  the angles computed per position (no cache table), and fails unless it agrees
  (max |diff| / max |logit| <= --check-tol) and picks the same greedy tokens.
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qwen2_ref import load_weights, top2  # noqa: E402  (file reading only)


def die(msg):
    sys.stderr.write("minicpm_ref: error: %s\n" % msg)
    sys.exit(1)


class Cfg(object):
    pass


def load_config(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        c = json.load(f)
    if c.get("model_type") != "minicpm":
        die("config model_type %r is not minicpm" % c.get("model_type"))
    cfg = Cfg()
    for k in ("vocab_size", "hidden_size", "intermediate_size",
              "num_hidden_layers", "num_attention_heads"):
        if k not in c:
            die("config.json lacks %s" % k)
        setattr(cfg, k, int(c[k]))
    # defaults are MiniCPMConfig's
    kv = c.get("num_key_value_heads")
    cfg.nkv = int(kv) if kv is not None else cfg.num_attention_heads
    cfg.hd = cfg.hidden_size // cfg.num_attention_heads
    cfg.eps = float(c.get("rms_norm_eps", 1e-6))
    cfg.theta = float(c.get("rope_theta", 10000.0))
    cfg.max_pos = int(c.get("max_position_embeddings", 2048))
    cfg.scale_emb = float(c.get("scale_emb", 1))
    cfg.scale_depth = float(c.get("scale_depth", 1))
    cfg.dim_model_base = float(c.get("dim_model_base", 1))
    cfg.tied = bool(c.get("tie_word_embeddings", True))
    if c.get("attention_bias", False):
        die("attention_bias true is not covered by this reference")
    if c.get("hidden_act", "silu") != "silu":
        die("hidden_act %r not supported" % c.get("hidden_act"))
    rs = c.get("rope_scaling")
    cfg.rope = None
    if rs is not None:
        kind = rs.get("rope_type", rs.get("type"))
        if kind != "longrope":
            die("rope_scaling type %r not covered by this reference" % kind)
        cfg.rope = (list(map(float, rs["short_factor"])), list(map(float, rs["long_factor"])),
                    int(rs["original_max_position_embeddings"]))
    return cfg


def organize(w, cfg):
    L, D, F, V = cfg.num_hidden_layers, cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size
    qd, kvd = cfg.num_attention_heads * cfg.hd, cfg.nkv * cfg.hd
    used = set()

    def get(name, shape):
        if name not in w:
            die("missing tensor %s" % name)
        if list(w[name].shape) != list(shape):
            die("tensor %s has shape %s, want %s" % (name, list(w[name].shape), shape))
        used.add(name)
        return w[name]

    W = {"embed": get("model.embed_tokens.weight", [V, D]), "norm": get("model.norm.weight", [D])}
    W["head"] = W["embed"] if cfg.tied else get("lm_head.weight", [V, D])
    W["layers"] = []
    for i in range(L):
        p = "model.layers.%d." % i
        W["layers"].append({
            "ln1": get(p + "input_layernorm.weight", [D]),
            "q": get(p + "self_attn.q_proj.weight", [qd, D]),
            "k": get(p + "self_attn.k_proj.weight", [kvd, D]),
            "v": get(p + "self_attn.v_proj.weight", [kvd, D]),
            "o": get(p + "self_attn.o_proj.weight", [D, qd]),
            "ln2": get(p + "post_attention_layernorm.weight", [D]),
            "gate": get(p + "mlp.gate_proj.weight", [F, D]),
            "up": get(p + "mlp.up_proj.weight", [F, D]),
            "down": get(p + "mlp.down_proj.weight", [D, F]),
        })
    extra = [n for n in w if n not in used and not (cfg.tied and n == "lm_head.weight")]
    if extra:
        die("unexpected tensors: %s" % extra[:10])
    return W


# ---------------------------------------------------------------------------
# float32 torch forward, full sequence
# ---------------------------------------------------------------------------

def cos_sin_cache(cfg):
    """The cache MiniCPMRotaryEmbedding / MiniCPMLongRoPE build at init."""
    dim = cfg.hd
    inv_freq = 1.0 / (cfg.theta ** (torch.arange(0, dim, 2).float() / dim))
    t = torch.arange(cfg.max_pos, dtype=torch.float32)
    if cfg.rope is None:
        freqs = torch.outer(t, inv_freq)
        factor = 1.0
    else:
        short, long_, orig = cfg.rope
        scale = cfg.max_pos / orig
        factor = math.sqrt(1 + math.log(scale) / math.log(orig))
        ext = torch.tensor(long_ if cfg.max_pos > orig else short, dtype=torch.float32)
        freqs = torch.mul(torch.outer(t, 1.0 / ext), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos() * factor, emb.sin() * factor


def rms(x, w, eps):
    var = x.pow(2).mean(-1, keepdim=True)
    return x * torch.rsqrt(var + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class TorchModel(object):
    def __init__(self, W, cfg):
        self.cfg = cfg
        self.W = {k: (torch.from_numpy(v) if k != "layers" else
                      [{n: torch.from_numpy(a) for n, a in l.items()} for l in v])
                  for k, v in W.items()}
        self.cos, self.sin = cos_sin_cache(cfg)

    def forward(self, ids):
        c, W = self.cfg, self.W
        T, H, K, hd = len(ids), c.num_attention_heads, c.nkv, c.hd
        if T > c.max_pos:
            die("sequence longer than max_position_embeddings")
        s = c.scale_depth / math.sqrt(c.num_hidden_layers)
        x = W["embed"][torch.tensor(ids)] * c.scale_emb
        cos, sin = self.cos[:T][None], self.sin[:T][None]
        mask = torch.full((T, T), float("-inf")).triu(1)
        for l in W["layers"]:
            h = rms(x, l["ln1"], c.eps)
            q = (h @ l["q"].T).view(T, H, hd).transpose(0, 1)
            k = (h @ l["k"].T).view(T, K, hd).transpose(0, 1)
            v = (h @ l["v"].T).view(T, K, hd).transpose(0, 1)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            k = k.repeat_interleave(H // K, dim=0)
            v = v.repeat_interleave(H // K, dim=0)
            a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd) + mask, dim=-1) @ v
            x = x + (a.transpose(0, 1).reshape(T, H * hd) @ l["o"].T) * s
            h = rms(x, l["ln2"], c.eps)
            g = h @ l["gate"].T
            x = x + ((torch.nn.functional.silu(g) * (h @ l["up"].T)) @ l["down"].T) * s
        h = rms(x, W["norm"], c.eps)
        return (h / (c.hidden_size / c.dim_model_base)) @ W["head"].T


# ---------------------------------------------------------------------------
# float64 numpy forward, token by token with a KV cache
# ---------------------------------------------------------------------------

def numpy64_forward(W, cfg, ids):
    c = cfg
    H, K, hd, half = c.num_attention_heads, c.nkv, c.hd, c.hd // 2
    s = c.scale_depth / math.sqrt(c.num_hidden_layers)
    inv = np.array([c.theta ** (-2.0 * i / hd) for i in range(half)])
    factor = 1.0
    if c.rope is not None:
        short, long_, orig = c.rope
        inv = inv / np.array(long_ if c.max_pos > orig else short, dtype=np.float64)
        factor = math.sqrt(1 + math.log(c.max_pos / orig) / math.log(orig))
    L = [{n: a.astype(np.float64) for n, a in l.items()} for l in W["layers"]]
    emb, head, norm = (W[n].astype(np.float64) for n in ("embed", "head", "norm"))
    kc = [[] for _ in L]
    vc = [[] for _ in L]
    out = []

    def rn(x, w):
        return x / math.sqrt(float(np.mean(x * x)) + c.eps) * w

    def rot(vec, p):
        r = np.empty_like(vec)
        for i in range(half):
            a = p * inv[i]
            cs, sn = math.cos(a) * factor, math.sin(a) * factor
            lo, hi = vec[i], vec[i + half]
            r[i], r[i + half] = lo * cs - hi * sn, hi * cs + lo * sn
        return r

    for p, t in enumerate(ids):
        x = emb[t] * c.scale_emb
        for j, l in enumerate(L):
            h = rn(x, l["ln1"])
            q, k, v = l["q"] @ h, l["k"] @ h, l["v"] @ h
            kc[j].append(np.concatenate([rot(k[g * hd:(g + 1) * hd], p) for g in range(K)]))
            vc[j].append(v)
            att = np.zeros(H * hd)
            for hh in range(H):
                g = hh // (H // K)
                qh = rot(q[hh * hd:(hh + 1) * hd], p)
                sc = np.array([qh @ kk[g * hd:(g + 1) * hd] for kk in kc[j]]) / math.sqrt(hd)
                pr = np.exp(sc - sc.max())
                pr /= pr.sum()
                att[hh * hd:(hh + 1) * hd] = sum(pi * vv[g * hd:(g + 1) * hd]
                                                 for pi, vv in zip(pr, vc[j]))
            x = x + (l["o"] @ att) * s
            h = rn(x, l["ln2"])
            g_ = l["gate"] @ h
            x = x + (l["down"] @ (g_ / (1 + np.exp(-g_)) * (l["up"] @ h))) * s
        out.append(head @ (rn(x, norm) / (c.hidden_size / c.dim_model_base)))
    return np.array(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("--ids", required=True)
    ap.add_argument("--logits", required=True)
    ap.add_argument("--greedy", type=int, default=0)
    ap.add_argument("--greedy-out")
    ap.add_argument("--margins-out")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--check-tol", type=float, default=1e-5)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    ids = [int(t) for t in a.ids.split()]
    cfg = load_config(a.model_dir)
    if not ids or any(not 0 <= t < cfg.vocab_size for t in ids):
        die("--ids must be token ids in [0, %d)" % cfg.vocab_size)
    W = organize(load_weights(a.model_dir), cfg)
    model = TorchModel(W, cfg)
    with torch.no_grad():
        logits = model.forward(ids).numpy()
        if not np.all(np.isfinite(logits)):
            die("non-finite logits")
        np.ascontiguousarray(logits, dtype="<f4").tofile(a.logits)
        seq, steps = list(ids), []
        for _ in range(a.greedy):
            t1, v1, t2, v2 = top2(model.forward(seq)[-1].numpy())
            steps.append((t1, v1, t2, v2))
            seq.append(t1)
        gen = [st[0] for st in steps]
        if a.greedy:
            with open(a.greedy_out, "w") as f:
                f.write(" ".join(str(t) for t in gen) + "\n")
        if a.margins_out:
            with open(a.margins_out, "w") as f:
                f.write("# step token top1_logit runner_up runner_up_logit margin\n")
                for i, (t1, v1, t2, v2) in enumerate(steps):
                    f.write("%d %d %.6f %d %.6f %.6g\n" % (i, t1, v1, t2, v2, v1 - v2))
        if a.check:
            full = ids + gen
            ref64 = numpy64_forward(W, cfg, full)
            t32 = model.forward(full).numpy().astype(np.float64)
            scale = max(float(np.abs(ref64).max()), 1e-30)
            rel = float(np.abs(t32 - ref64).max()) / scale
            sys.stderr.write("minicpm_ref: check: float32 torch vs float64 numpy: "
                             "max|diff|/max|logit| = %.3g (full seq)\n" % rel)
            if rel > a.check_tol:
                die("float32 torch and float64 numpy forwards disagree (tol %g)" % a.check_tol)
            for i, t in enumerate(gen):
                if int(np.argmax(ref64[len(ids) - 1 + i])) != t:
                    die("greedy step %d: float32 and float64 disagree" % i)
            sys.stderr.write("minicpm_ref: check OK\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
