#!/usr/bin/python3
"""Independent float32 reference for Hugging Face transformers' Qwen2ForCausalLM.

This is the project's own reference implementation, written from the published
transformers model code (src/transformers/models/qwen2/modeling_qwen2.py); it
does NOT import transformers (not available here).  Run it with Debian's
python3 (/usr/bin/python3), which has python3-torch and python3-numpy.

Model math (mirrors modeling_qwen2.py, eager attention path):
  x = embed_tokens[ids]
  per layer:
    h = RMSNorm(x)                    # float32: x * rsqrt(mean(x^2) + eps) * w
    q,k,v = h Wq^T + bq, h Wk^T + bk, h Wv^T + bv     (o_proj has no bias)
    RoPE: inv_freq = 1 / theta^(arange(0,hd,2)/hd); emb = cat(f, f);
          q' = q*cos + rotate_half(q)*sin, rotate_half(x) = cat(-x2, x1)
    GQA via repeat_kv (q head h uses kv head h // (nh/nkv))
    attn = softmax(q k^T / sqrt(hd) + causal_mask) v ; x += attn Wo^T
    x += down(silu(gate(RMSNorm(x))) * up(RMSNorm(x)))
  logits = RMSNorm(x) lm_head^T   (lm_head = embed_tokens if tie_word_embeddings)

CLI:
  qwen2_ref.py MODEL_DIR --ids "1 2 3" --logits OUT.f32
               [--greedy N --greedy-out FILE] [--margins-out FILE] [--check]

  --logits      teacher-forced logits for every prompt position, raw float32
                little-endian, [T x vocab] row-major.
  --greedy N    greedy (argmax) continuation of N tokens, recomputing the full
                sequence each step; written space-separated on one line.
  --margins-out per greedy step: step, token, top1 logit, top2 logit, margin.
  --check       also run an independently written float64 numpy forward
                (incremental, per-token with a KV cache, explicit per-head loops)
                over prompt+greedy tokens and fail unless it agrees with the
                float32 torch result (max |diff| / max |logit| <= --check-tol)
                and reproduces the same greedy tokens.

Any inconsistency in the checkpoint (missing/unexpected tensors, bad shapes,
unsupported dtypes or config features) is a hard error.
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch


def die(msg):
    sys.stderr.write("qwen2_ref: error: %s\n" % msg)
    sys.exit(1)


def warn(msg):
    sys.stderr.write("qwen2_ref: warning: %s\n" % msg)


# ---------------------------------------------------------------------------
# safetensors reader (json + numpy only)
# ---------------------------------------------------------------------------

_ST_DTYPES = {
    "F32": (np.dtype("<f4"), 4),
    "F16": (np.dtype("<f2"), 2),
    "BF16": (np.dtype("<u2"), 2),
}


def read_safetensors(path):
    """Return {name: np.float32 array} for one .safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        die("%s: too short for a safetensors file" % path)
    (hlen,) = struct.unpack("<Q", blob[:8])
    if 8 + hlen > len(blob):
        die("%s: header length %d exceeds file size %d" % (path, hlen, len(blob)))
    try:
        header = json.loads(blob[8:8 + hlen].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        die("%s: bad JSON header: %s" % (path, e))
    data = memoryview(blob)[8 + hlen:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = info.get("dtype")
        if dt not in _ST_DTYPES:
            die("%s: tensor %s has unsupported dtype %r" % (path, name, dt))
        npdt, isz = _ST_DTYPES[dt]
        shape = [int(s) for s in info["shape"]]
        begin, end = [int(o) for o in info["data_offsets"]]
        n = 1
        for s in shape:
            n *= s
        if end - begin != n * isz or begin < 0 or end > len(data):
            die("%s: tensor %s: data_offsets %s inconsistent with shape %s dtype %s "
                "(data size %d)" % (path, name, [begin, end], shape, dt, len(data)))
        raw = np.frombuffer(data[begin:end], dtype=npdt, count=n)
        if dt == "BF16":
            arr = (raw.astype(np.uint32) << 16).view(np.float32)
        else:
            arr = raw.astype(np.float32)
        out[name] = np.array(arr.reshape(shape), dtype=np.float32, copy=True)
    return out


def load_weights(model_dir):
    single = os.path.join(model_dir, "model.safetensors")
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            wmap = json.load(f)["weight_map"]
        weights = {}
        for fname in sorted(set(wmap.values())):
            part = read_safetensors(os.path.join(model_dir, fname))
            for name, arr in part.items():
                if name in weights:
                    die("tensor %s appears in more than one shard" % name)
                if wmap.get(name) != fname:
                    die("tensor %s found in %s but index maps it to %r"
                        % (name, fname, wmap.get(name)))
                weights[name] = arr
        missing = [n for n in wmap if n not in weights]
        if missing:
            die("index lists tensors missing from shards: %s" % missing[:10])
        return weights
    if os.path.exists(single):
        return read_safetensors(single)
    die("%s: neither model.safetensors nor model.safetensors.index.json" % model_dir)


# ---------------------------------------------------------------------------
# config
# ---------------------------------------------------------------------------

class Cfg(object):
    pass


def load_config(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        c = json.load(f)
    arch = c.get("architectures")
    if arch is not None and "Qwen2ForCausalLM" not in arch:
        die("config architectures %r is not Qwen2ForCausalLM" % arch)
    if c.get("model_type", "qwen2") != "qwen2":
        die("config model_type %r is not qwen2" % c.get("model_type"))
    cfg = Cfg()
    for k in ("vocab_size", "hidden_size", "intermediate_size",
              "num_hidden_layers", "num_attention_heads"):
        if k not in c:
            die("config.json lacks %s" % k)
        setattr(cfg, k, int(c[k]))
    # Defaults below are Qwen2Config's.
    kv = c.get("num_key_value_heads")
    cfg.num_key_value_heads = int(kv) if kv is not None else cfg.num_attention_heads
    hd = c.get("head_dim")
    if hd is None:
        if cfg.hidden_size % cfg.num_attention_heads:
            die("hidden_size not divisible by num_attention_heads and no head_dim")
        hd = cfg.hidden_size // cfg.num_attention_heads
    cfg.head_dim = int(hd)
    if cfg.head_dim % 2:
        die("head_dim %d is odd" % cfg.head_dim)
    if cfg.num_attention_heads % cfg.num_key_value_heads:
        die("num_attention_heads %d not a multiple of num_key_value_heads %d"
            % (cfg.num_attention_heads, cfg.num_key_value_heads))
    cfg.rms_norm_eps = float(c.get("rms_norm_eps", 1e-6))
    theta = c.get("rope_theta")
    rp = c.get("rope_parameters")
    if theta is None and isinstance(rp, dict):
        theta = rp.get("rope_theta")
        if rp.get("rope_type", "default") != "default":
            die("rope_parameters.rope_type %r not supported" % rp.get("rope_type"))
    cfg.rope_theta = float(theta if theta is not None else 10000.0)
    rs = c.get("rope_scaling")
    if rs is not None and rs.get("rope_type", rs.get("type", "default")) != "default":
        die("rope_scaling %r not supported by this reference" % rs)
    if c.get("partial_rotary_factor", 1.0) != 1.0:
        die("partial_rotary_factor not supported")
    if c.get("use_sliding_window", False):
        die("use_sliding_window=true not supported by this reference")
    lt = c.get("layer_types")
    if lt is not None and any(t != "full_attention" for t in lt):
        die("layer_types other than full_attention not supported: %r" % lt)
    act = c.get("hidden_act", "silu")
    if act != "silu":
        die("hidden_act %r not supported (only silu)" % act)
    cfg.tie_word_embeddings = bool(c.get("tie_word_embeddings", False))
    return cfg


# ---------------------------------------------------------------------------
# weights -> validated per-layer structure
# ---------------------------------------------------------------------------

def organize(weights, cfg):
    H, I, V = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size
    nh, nkv, hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    used = set()

    def get(name, shape):
        if name not in weights:
            die("checkpoint lacks tensor %s" % name)
        a = weights[name]
        if list(a.shape) != list(shape):
            die("tensor %s has shape %s, expected %s" % (name, list(a.shape), list(shape)))
        used.add(name)
        return a

    W = {"embed": get("model.embed_tokens.weight", (V, H)),
         "norm": get("model.norm.weight", (H,)),
         "layers": []}
    for i in range(cfg.num_hidden_layers):
        p = "model.layers.%d." % i
        W["layers"].append({
            "ln1": get(p + "input_layernorm.weight", (H,)),
            "ln2": get(p + "post_attention_layernorm.weight", (H,)),
            "wq": get(p + "self_attn.q_proj.weight", (nh * hd, H)),
            "bq": get(p + "self_attn.q_proj.bias", (nh * hd,)),
            "wk": get(p + "self_attn.k_proj.weight", (nkv * hd, H)),
            "bk": get(p + "self_attn.k_proj.bias", (nkv * hd,)),
            "wv": get(p + "self_attn.v_proj.weight", (nkv * hd, H)),
            "bv": get(p + "self_attn.v_proj.bias", (nkv * hd,)),
            "wo": get(p + "self_attn.o_proj.weight", (H, nh * hd)),
            "wg": get(p + "mlp.gate_proj.weight", (I, H)),
            "wu": get(p + "mlp.up_proj.weight", (I, H)),
            "wd": get(p + "mlp.down_proj.weight", (H, I)),
        })
    if cfg.tie_word_embeddings:
        W["lm_head"] = W["embed"]
        if "lm_head.weight" in weights:
            used.add("lm_head.weight")
            if not np.array_equal(weights["lm_head.weight"], W["embed"]):
                warn("tie_word_embeddings=true but lm_head.weight differs from "
                     "embed_tokens; using embed_tokens (as transformers does)")
    else:
        W["lm_head"] = get("lm_head.weight", (V, H))
    extra = sorted(set(weights) - used)
    if extra:
        die("checkpoint has unexpected tensors: %s" % extra[:10])
    return W


# ---------------------------------------------------------------------------
# float32 torch forward (structure of modeling_qwen2.py, eager attention)
# ---------------------------------------------------------------------------

def _rms_norm_t(x, w, eps):
    x = x.to(torch.float32)
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


def _rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _repeat_kv(x, n_rep):
    # x: [nkv, T, hd] -> [nkv*n_rep, T, hd]
    if n_rep == 1:
        return x
    nkv, T, hd = x.shape
    return x[:, None, :, :].expand(nkv, n_rep, T, hd).reshape(nkv * n_rep, T, hd)


class TorchModel(object):
    def __init__(self, W, cfg):
        self.cfg = cfg
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
        self.embed = t(W["embed"])
        self.norm = t(W["norm"])
        self.lm_head = self.embed if cfg.tie_word_embeddings else t(W["lm_head"])
        self.layers = [{k: t(v) for k, v in L.items()} for L in W["layers"]]
        hd = cfg.head_dim
        self.inv_freq = 1.0 / (cfg.rope_theta ** (
            torch.arange(0, hd, 2, dtype=torch.int64).to(torch.float32) / hd))

    @torch.no_grad()
    def forward(self, ids):
        """ids: list of ints -> float32 logits tensor [T, vocab]."""
        cfg = self.cfg
        nh, nkv, hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        eps = cfg.rms_norm_eps
        T = len(ids)
        x = self.embed[torch.tensor(ids, dtype=torch.int64)]            # [T, H]
        pos = torch.arange(T, dtype=torch.int64).to(torch.float32)
        freqs = (self.inv_freq[:, None] @ pos[None, :]).transpose(0, 1)  # [T, hd/2]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()                                   # [T, hd]
        mask = torch.full((T, T), float("-inf")).triu(1)
        scaling = hd ** -0.5
        F = torch.nn.functional
        for L in self.layers:
            res = x
            h = _rms_norm_t(x, L["ln1"], eps)
            q = F.linear(h, L["wq"], L["bq"]).view(T, nh, hd).transpose(0, 1)
            k = F.linear(h, L["wk"], L["bk"]).view(T, nkv, hd).transpose(0, 1)
            v = F.linear(h, L["wv"], L["bv"]).view(T, nkv, hd).transpose(0, 1)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            k = _repeat_kv(k, nh // nkv)
            v = _repeat_kv(v, nh // nkv)
            att = torch.matmul(q, k.transpose(1, 2)) * scaling + mask
            att = F.softmax(att, dim=-1, dtype=torch.float32)
            o = torch.matmul(att, v).transpose(0, 1).reshape(T, nh * hd)
            x = res + F.linear(o, L["wo"])
            res = x
            h = _rms_norm_t(x, L["ln2"], eps)
            x = res + F.linear(F.silu(F.linear(h, L["wg"])) * F.linear(h, L["wu"]), L["wd"])
        x = _rms_norm_t(x, self.norm, eps)
        return F.linear(x, self.lm_head)


# ---------------------------------------------------------------------------
# second, independently written float64 numpy forward (incremental, KV cache)
# ---------------------------------------------------------------------------

def numpy64_forward(W, cfg, ids):
    """Per-token decode with a KV cache, explicit per-head loops, float64."""
    nh, nkv, hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    group = nh // nkv
    half = hd // 2
    eps = cfg.rms_norm_eps
    d = lambda a: np.asarray(a, dtype=np.float64)
    E = d(W["embed"])
    LM = E if cfg.tie_word_embeddings else d(W["lm_head"])
    NW = d(W["norm"])
    layers = [{k: d(v) for k, v in L.items()} for L in W["layers"]]
    freq = np.array([cfg.rope_theta ** (-(2.0 * i) / hd) for i in range(half)])

    def rms(x, w):
        return w * (x / math.sqrt(float(np.dot(x, x)) / x.shape[0] + eps))

    def rope(vec, p):
        ang = p * freq
        c, s = np.cos(ang), np.sin(ang)
        a, b = vec[:half], vec[half:]
        return np.concatenate([a * c - b * s, b * c + a * s])

    kcache = [[[] for _ in range(nkv)] for _ in layers]
    vcache = [[[] for _ in range(nkv)] for _ in layers]
    out = np.zeros((len(ids), cfg.vocab_size))
    for p, tok in enumerate(ids):
        x = E[tok].copy()
        for li, L in enumerate(layers):
            h = rms(x, L["ln1"])
            q = L["wq"].dot(h) + L["bq"]
            k = L["wk"].dot(h) + L["bk"]
            v = L["wv"].dot(h) + L["bv"]
            for g in range(nkv):
                kcache[li][g].append(rope(k[g * hd:(g + 1) * hd], p))
                vcache[li][g].append(v[g * hd:(g + 1) * hd].copy())
            o = np.zeros(nh * hd)
            for head in range(nh):
                g = head // group
                qh = rope(q[head * hd:(head + 1) * hd], p)
                K = np.array(kcache[li][g])          # [p+1, hd]
                Vm = np.array(vcache[li][g])
                sc = K.dot(qh) / math.sqrt(hd)
                sc = np.exp(sc - sc.max())
                sc /= sc.sum()
                o[head * hd:(head + 1) * hd] = sc.dot(Vm)
            x = x + L["wo"].dot(o)
            h = rms(x, L["ln2"])
            gt = L["wg"].dot(h)
            up = L["wu"].dot(h)
            x = x + L["wd"].dot(gt / (1.0 + np.exp(-gt)) * up)
        out[p] = LM.dot(rms(x, NW))
    return out


# ---------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------

def top2(row):
    order = np.argsort(-row, kind="stable")
    return int(order[0]), float(row[order[0]]), int(order[1]), float(row[order[1]])


def greedy(model, ids, n):
    seq = list(ids)
    steps = []
    for _ in range(n):
        row = model.forward(seq)[-1].numpy()
        t1, v1, t2, v2 = top2(row)
        am = int(np.argmax(row))
        if am != t1:
            die("internal: argmax/top2 disagree")
        steps.append((t1, v1, t2, v2))
        seq.append(t1)
    return steps


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("--ids", required=True, help='space-separated token ids, e.g. "1 2 3"')
    ap.add_argument("--logits", required=True, help="output: raw float32 LE [T x vocab]")
    ap.add_argument("--greedy", type=int, default=0, help="number of greedy tokens")
    ap.add_argument("--greedy-out", help="output: greedy ids, space-separated")
    ap.add_argument("--margins-out", help="output: per-step top1/top2 margins")
    ap.add_argument("--check", action="store_true",
                    help="cross-check against the float64 numpy forward")
    ap.add_argument("--check-tol", type=float, default=1e-5,
                    help="max |diff| / max |logit| allowed by --check")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)

    torch.set_num_threads(a.threads)
    if a.greedy and not a.greedy_out:
        die("--greedy needs --greedy-out")
    if a.greedy < 0:
        die("--greedy must be >= 0")
    try:
        ids = [int(t) for t in a.ids.split()]
    except ValueError:
        die("--ids must be space-separated integers")
    if not ids:
        die("--ids is empty")

    cfg = load_config(a.model_dir)
    for t in ids:
        if not 0 <= t < cfg.vocab_size:
            die("token id %d out of range [0, %d)" % (t, cfg.vocab_size))
    W = organize(load_weights(a.model_dir), cfg)
    model = TorchModel(W, cfg)

    logits = model.forward(ids).numpy()
    if not np.all(np.isfinite(logits)):
        die("non-finite logits")
    np.ascontiguousarray(logits, dtype="<f4").tofile(a.logits)

    steps = greedy(model, ids, a.greedy) if a.greedy else []
    gen = [s[0] for s in steps]
    if a.greedy:
        with open(a.greedy_out, "w") as f:
            f.write(" ".join(str(t) for t in gen) + "\n")
    if a.margins_out:
        with open(a.margins_out, "w") as f:
            f.write("# step token top1_logit runner_up runner_up_logit margin\n")
            for i, (t1, v1, t2, v2) in enumerate(steps):
                f.write("%d %d %.6f %d %.6f %.6g\n" % (i, t1, v1, t2, v2, v1 - v2))
    if steps:
        m = min(s[1] - s[3] for s in steps)
        sys.stderr.write("qwen2_ref: greedy %d tokens, min top1-top2 margin %.6g\n"
                         % (len(steps), m))

    if a.check:
        full = ids + gen
        ref64 = numpy64_forward(W, cfg, full)
        t32 = model.forward(full).numpy().astype(np.float64)
        scale = max(float(np.abs(ref64).max()), 1e-30)
        rel = float(np.abs(t32 - ref64).max()) / scale
        prel = float(np.abs(logits.astype(np.float64) - ref64[:len(ids)]).max()) / scale
        sys.stderr.write("qwen2_ref: check: float32 torch vs float64 numpy: max|diff|/max|logit| "
                         "= %.3g (full seq), %.3g (prompt-only forward vs incremental)\n"
                         % (rel, prel))
        if rel > a.check_tol or prel > a.check_tol:
            die("float32 torch and float64 numpy forwards disagree (tol %g)" % a.check_tol)
        for i, t in enumerate(gen):
            am = int(np.argmax(ref64[len(ids) - 1 + i]))
            if am != t:
                die("greedy step %d: float32 chose %d, float64 chose %d" % (i, t, am))
        sys.stderr.write("qwen2_ref: check OK\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
