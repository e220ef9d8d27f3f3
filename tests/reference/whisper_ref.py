#!/usr/bin/python3
"""Independent float32 reference for Hugging Face transformers'
WhisperForConditionalGeneration forward pass (encoder + teacher-forced decoder).

This is the project's own reference implementation, written from the published
transformers model code (src/transformers/models/whisper/modeling_whisper.py);
it does NOT import transformers (not available here).  Run it with Debian's
python3 (/usr/bin/python3), which has python3-torch and python3-numpy.

Model math (mirrors modeling_whisper.py, eager attention path, eval mode):
  encoder (input_features [n_mels, 2*max_source_positions]; HF rejects any
  other frame count):
    x = gelu(conv1(mel))       Conv1d(n_mels, d, kernel 3, stride 1, padding 1)
    x = gelu(conv2(x))         Conv1d(d, d, kernel 3, stride 2, padding 1)
    x = x^T + embed_positions[:T]                  # [T, d], T = max_source_positions
    per layer (pre-LN, LayerNorm eps 1e-5):
      x += out_proj(attn(self_attn_layer_norm(x)))  # no mask
      x += fc2(gelu(fc1(final_layer_norm(x))))
    x = layer_norm(x)
  attention (WhisperAttention): q = q_proj(h) * head_dim**-0.5 (bias),
    k = k_proj(kv) (NO bias), v = v_proj(kv) (bias), per head
    softmax(q k^T + mask) v, heads concatenated, out_proj (bias).
  decoder:
    x = embed_tokens[ids] + embed_positions[0:S]   (scale_embedding false)
    per layer:
      x += self_attn(self_attn_layer_norm(x))            causal, mask = finfo.min
      x += encoder_attn(encoder_attn_layer_norm(x), kv = encoder output)
      x += fc2(gelu(fc1(final_layer_norm(x))))
    x = layer_norm(x)
  logits = x proj_out^T, proj_out tied to embed_tokens (an explicit
  proj_out.weight is used when present and tie_word_embeddings is false).
  gelu is ACT2FN["gelu"] = exact erf gelu.

CLI:
  whisper_ref.py MODEL_DIR --mel MEL.f32 --ids "a b c" --encoder-out ENC.f32
                 --logits OUT.f32 [--greedy N --greedy-out FILE]
                 [--margins-out FILE] [--check [--check-tol TOL]]

  --mel          raw float32 little-endian [num_mel_bins x frames] row-major
                 (frames contiguous); frames must be 2*max_source_positions.
  --encoder-out  encoder last_hidden_state, float32 [max_source_positions x d].
  --logits       teacher-forced logits for every decoder position,
                 float32 [len(ids) x vocab_size].
  --greedy N     greedy (argmax) continuation of N tokens after the ids,
                 recomputing the full decoder sequence each step (encoder
                 output fixed); written space-separated on one line.
  --margins-out  per greedy step: step, token, runner-up, top1, top2, margin.
  --check        also run an independently written float64 numpy forward
                 (conv as explicit sums over taps, explicit per-head loops,
                 token-by-token decoder with a KV cache) and fail unless the
                 encoder output and all logits (prompt + greedy positions)
                 agree to max|diff|/max|value| <= --check-tol (default 1e-5)
                 and the greedy tokens are identical.

Any inconsistency in the checkpoint (missing/unexpected tensors, bad shapes,
unsupported dtypes or config values) or in the inputs is a hard error.
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F


def die(msg):
    sys.stderr.write("whisper_ref: error: %s\n" % msg)
    sys.exit(1)


def log(msg):
    sys.stderr.write("whisper_ref: %s\n" % msg)


# ---------------------------------------------------------------------------
# safetensors (8-byte LE header length, JSON header, raw little-endian data)
# ---------------------------------------------------------------------------

def st_load(path):
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        die("%s: shorter than 8 bytes" % path)
    hlen = struct.unpack("<Q", blob[:8])[0]
    if hlen > len(blob) - 8:
        die("%s: header length %d past end of file (%d bytes)" % (path, hlen, len(blob)))
    try:
        hdr = json.loads(blob[8:8 + hlen].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        die("%s: header is not JSON: %s" % (path, e))
    base = 8 + hlen
    tensors = {}
    for name, meta in hdr.items():
        if name == "__metadata__":
            continue
        dt = meta.get("dtype")
        shape = tuple(int(s) for s in meta["shape"])
        b0, b1 = (int(o) for o in meta["data_offsets"])
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        width = {"F32": 4, "BF16": 2, "F16": 2}.get(dt)
        if width is None:
            die("%s: %s: dtype %r not supported (F32/BF16/F16 only)" % (path, name, dt))
        if b0 < 0 or b1 < b0 or base + b1 > len(blob) or b1 - b0 != count * width:
            die("%s: %s: offsets [%d, %d) do not fit shape %s of %s"
                % (path, name, b0, b1, shape, dt))
        raw = blob[base + b0:base + b1]
        if dt == "F32":
            a = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        elif dt == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float32)  # exact widening
        else:  # BF16: the top 16 bits of a float32
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << np.uint32(16)).view(np.float32)
        tensors[name] = np.ascontiguousarray(a.reshape(shape))
    return tensors


def load_all_tensors(model_dir):
    idx = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            wmap = json.load(f)["weight_map"]
        out = {}
        for shard in sorted(set(wmap.values())):
            for k, v in st_load(os.path.join(model_dir, shard)).items():
                if k in out:
                    die("tensor %s appears in two shards" % k)
                if wmap.get(k) != shard:
                    die("tensor %s is in %s but the index says %r" % (k, shard, wmap.get(k)))
                out[k] = v
        lost = sorted(set(wmap) - set(out))
        if lost:
            die("index names tensors that no shard has: %s" % lost[:8])
        return out
    one = os.path.join(model_dir, "model.safetensors")
    if not os.path.exists(one):
        die("%s has no model.safetensors(.index.json)" % model_dir)
    return st_load(one)


# ---------------------------------------------------------------------------
# config + weights
# ---------------------------------------------------------------------------

class Config(object):
    pass


def read_config(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        c = json.load(f)
    if c.get("model_type", "whisper") != "whisper":
        die("model_type %r is not whisper" % c.get("model_type"))
    a = c.get("architectures")
    if a is not None and not any(x.startswith("Whisper") for x in a):
        die("architectures %r is not a Whisper model" % a)
    cfg = Config()
    for key in ("d_model", "encoder_layers", "decoder_layers", "encoder_attention_heads",
                "decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim",
                "num_mel_bins", "max_source_positions", "max_target_positions",
                "vocab_size", "decoder_start_token_id"):
        if key not in c:
            die("config.json lacks %s" % key)
        setattr(cfg, key, int(c[key]))
    for h in (cfg.encoder_attention_heads, cfg.decoder_attention_heads):
        if cfg.d_model % h:
            die("d_model %d not divisible by %d heads" % (cfg.d_model, h))
    if c.get("activation_function", "gelu") != "gelu":
        die("activation_function %r not supported (only exact gelu)" % c.get("activation_function"))
    if c.get("scale_embedding", False):
        die("scale_embedding=true not supported by this reference")
    cfg.tie = bool(c.get("tie_word_embeddings", True))
    return cfg


def collect_weights(t, cfg):
    """Validate names and shapes; return a nested dict of float32 numpy arrays."""
    d = cfg.d_model
    used = set()

    def get(name, shape):
        if name not in t:
            die("missing tensor %s" % name)
        if tuple(t[name].shape) != tuple(shape):
            die("%s has shape %s, expected %s" % (name, tuple(t[name].shape), tuple(shape)))
        used.add(name)
        return t[name]

    def ln(p):
        return {"w": get(p + ".weight", (d,)), "b": get(p + ".bias", (d,))}

    def attn(p):
        return {"qw": get(p + ".q_proj.weight", (d, d)), "qb": get(p + ".q_proj.bias", (d,)),
                "kw": get(p + ".k_proj.weight", (d, d)),
                "vw": get(p + ".v_proj.weight", (d, d)), "vb": get(p + ".v_proj.bias", (d,)),
                "ow": get(p + ".out_proj.weight", (d, d)), "ob": get(p + ".out_proj.bias", (d,))}

    def mlp(p, ff):
        return {"w1": get(p + ".fc1.weight", (ff, d)), "b1": get(p + ".fc1.bias", (ff,)),
                "w2": get(p + ".fc2.weight", (d, ff)), "b2": get(p + ".fc2.bias", (d,))}

    for p in ("model.encoder", "model.decoder"):
        for proj in ("self_attn", "encoder_attn"):
            for i in range(max(cfg.encoder_layers, cfg.decoder_layers)):
                kb = "%s.layers.%d.%s.k_proj.bias" % (p, i, proj)
                if kb in t:
                    die("%s present: Whisper's k_proj has no bias" % kb)

    W = {"enc": {}, "dec": {}}
    e = W["enc"]
    e["c1w"] = get("model.encoder.conv1.weight", (d, cfg.num_mel_bins, 3))
    e["c1b"] = get("model.encoder.conv1.bias", (d,))
    e["c2w"] = get("model.encoder.conv2.weight", (d, d, 3))
    e["c2b"] = get("model.encoder.conv2.bias", (d,))
    e["pos"] = get("model.encoder.embed_positions.weight", (cfg.max_source_positions, d))
    e["layers"] = []
    for i in range(cfg.encoder_layers):
        p = "model.encoder.layers.%d" % i
        e["layers"].append({"ln1": ln(p + ".self_attn_layer_norm"), "sa": attn(p + ".self_attn"),
                            "ln2": ln(p + ".final_layer_norm"), "mlp": mlp(p, cfg.encoder_ffn_dim)})
    e["ln"] = ln("model.encoder.layer_norm")

    dd = W["dec"]
    dd["tok"] = get("model.decoder.embed_tokens.weight", (cfg.vocab_size, d))
    dd["pos"] = get("model.decoder.embed_positions.weight", (cfg.max_target_positions, d))
    dd["layers"] = []
    for i in range(cfg.decoder_layers):
        p = "model.decoder.layers.%d" % i
        dd["layers"].append({"ln1": ln(p + ".self_attn_layer_norm"), "sa": attn(p + ".self_attn"),
                             "ln2": ln(p + ".encoder_attn_layer_norm"), "ca": attn(p + ".encoder_attn"),
                             "ln3": ln(p + ".final_layer_norm"), "mlp": mlp(p, cfg.decoder_ffn_dim)})
    dd["ln"] = ln("model.decoder.layer_norm")
    if "proj_out.weight" in t and not cfg.tie:
        dd["head"] = get("proj_out.weight", (cfg.vocab_size, d))
    else:
        if "proj_out.weight" in t:
            # tied checkpoint that also stores the copy: it must equal embed_tokens
            pw = get("proj_out.weight", (cfg.vocab_size, d))
            if not np.array_equal(pw, dd["tok"]):
                die("tie_word_embeddings but proj_out.weight != embed_tokens")
        dd["head"] = dd["tok"]
    extra = sorted(set(t) - used)
    if extra:
        die("unexpected tensors: %s" % extra[:10])
    return W


# ---------------------------------------------------------------------------
# float32 torch forward (the reference)
# ---------------------------------------------------------------------------

def _tt(a):
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def to_torch(obj):
    if isinstance(obj, dict):
        return {k: to_torch(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_torch(v) for v in obj]
    return _tt(obj)


def t_ln(x, p):
    return F.layer_norm(x, (x.shape[-1],), p["w"], p["b"], eps=1e-5)


def t_attn(h, kv, p, nh, mask):
    """h [Tq, d], kv [Tk, d]; HF WhisperAttention (bsz 1) with an additive mask."""
    tq, d = h.shape
    hd = d // nh
    q = F.linear(h, p["qw"], p["qb"]) * (hd ** -0.5)
    k = F.linear(kv, p["kw"])
    v = F.linear(kv, p["vw"], p["vb"])
    q = q.view(tq, nh, hd).transpose(0, 1)          # [nh, Tq, hd]
    k = k.view(-1, nh, hd).transpose(0, 1)          # [nh, Tk, hd]
    v = v.view(-1, nh, hd).transpose(0, 1)
    w = torch.bmm(q, k.transpose(1, 2))
    if mask is not None:
        w = w + mask
    w = torch.softmax(w, dim=-1)
    o = torch.bmm(w, v).transpose(0, 1).reshape(tq, d)
    return F.linear(o, p["ow"], p["ob"])


def t_mlp(x, p):
    return F.linear(F.gelu(F.linear(x, p["w1"], p["b1"])), p["w2"], p["b2"])


def t_encoder(mel, E, cfg):
    x = _tt(mel).unsqueeze(0)                                        # [1, n_mels, 2T]
    x = F.gelu(F.conv1d(x, E["c1w"], E["c1b"], stride=1, padding=1))
    x = F.gelu(F.conv1d(x, E["c2w"], E["c2b"], stride=2, padding=1))
    x = x[0].transpose(0, 1)                                         # [T, d]
    x = x + E["pos"][:x.shape[0]]
    for L in E["layers"]:
        x = x + t_attn(t_ln(x, L["ln1"]), t_ln(x, L["ln1"]), L["sa"], cfg.encoder_attention_heads, None)
        x = x + t_mlp(t_ln(x, L["ln2"]), L["mlp"])
    return t_ln(x, E["ln"])


def t_decoder(ids, enc, D, cfg):
    s = len(ids)
    x = D["tok"][torch.tensor(ids, dtype=torch.long)] + D["pos"][:s]
    mask = torch.full((s, s), torch.finfo(torch.float32).min)
    mask = torch.triu(mask, diagonal=1)                              # 0 on/below diagonal
    for L in D["layers"]:
        h = t_ln(x, L["ln1"])
        x = x + t_attn(h, h, L["sa"], cfg.decoder_attention_heads, mask)
        x = x + t_attn(t_ln(x, L["ln2"]), enc, L["ca"], cfg.decoder_attention_heads, None)
        x = x + t_mlp(t_ln(x, L["ln3"]), L["mlp"])
    x = t_ln(x, D["ln"])
    return x @ D["head"].t()


# ---------------------------------------------------------------------------
# float64 numpy forward (validation only; written separately)
# ---------------------------------------------------------------------------

_erf = np.frompyfunc(math.erf, 1, 1)


def n_gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))


def n_layernorm(x, p):
    w = p["w"].astype(np.float64)
    b = p["b"].astype(np.float64)
    out = np.empty_like(x)
    for r in range(x.shape[0]):
        row = x[r]
        mu = row.sum() / row.size
        var = ((row - mu) ** 2).sum() / row.size
        out[r] = (row - mu) / math.sqrt(var + 1e-5) * w + b
    return out


def n_conv(x, w, b, stride):
    """x [c_in, n]; w [c_out, c_in, 3]; padding 1: y[:, t] = b + sum_j w[:,:,j] x[:, s*t + j - 1]."""
    w = w.astype(np.float64)
    c_in, n = x.shape
    n_out = (n + 2 - 3) // stride + 1
    y = np.tile(b.astype(np.float64)[:, None], (1, n_out))
    for t in range(n_out):
        for j in range(3):
            src = stride * t + j - 1
            if 0 <= src < n:
                y[:, t] += w[:, :, j] @ x[:, src]
    return y


def n_linear(x, w, b=None):
    y = x @ w.astype(np.float64).T
    return y if b is None else y + b.astype(np.float64)


def n_encoder(mel, E, cfg):
    nh = cfg.encoder_attention_heads
    d = cfg.d_model
    hd = d // nh
    x = n_gelu(n_conv(mel.astype(np.float64), E["c1w"], E["c1b"], 1))
    x = n_gelu(n_conv(x, E["c2w"], E["c2b"], 2))
    x = x.T + E["pos"][:x.shape[1]].astype(np.float64)
    T = x.shape[0]
    for L in E["layers"]:
        h = n_layernorm(x, L["ln1"])
        a = L["sa"]
        q = n_linear(h, a["qw"], a["qb"]) / math.sqrt(hd)
        k = n_linear(h, a["kw"])
        v = n_linear(h, a["vw"], a["vb"])
        o = np.zeros((T, d))
        for head in range(nh):
            sl = slice(head * hd, (head + 1) * hd)
            for r in range(T):
                sc = k[:, sl] @ q[r, sl]
                sc = np.exp(sc - sc.max())
                o[r, sl] = (sc / sc.sum()) @ v[:, sl]
        x = x + n_linear(o, a["ow"], a["ob"])
        h = n_layernorm(x, L["ln2"])
        m = L["mlp"]
        x = x + n_linear(n_gelu(n_linear(h, m["w1"], m["b1"])), m["w2"], m["b2"])
    return n_layernorm(x, E["ln"])


class NDecoder(object):
    """Token-at-a-time float64 decoder with a self-attention KV cache."""

    def __init__(self, enc, D, cfg):
        self.D, self.cfg = D, cfg
        self.nh = cfg.decoder_attention_heads
        self.hd = cfg.d_model // self.nh
        self.pos = 0
        self.kcache = [[] for _ in D["layers"]]
        self.vcache = [[] for _ in D["layers"]]
        # cross-attention keys/values: computed once from the encoder output
        self.ck = [n_linear(enc, L["ca"]["kw"]) for L in D["layers"]]
        self.cv = [n_linear(enc, L["ca"]["vw"], L["ca"]["vb"]) for L in D["layers"]]

    def _mix(self, q, K, V):
        out = np.zeros(self.cfg.d_model)
        for head in range(self.nh):
            sl = slice(head * self.hd, (head + 1) * self.hd)
            sc = K[:, sl] @ q[sl] / math.sqrt(self.hd)
            sc = np.exp(sc - sc.max())
            out[sl] = (sc / sc.sum()) @ V[:, sl]
        return out

    def step(self, tok):
        D = self.D
        if self.pos >= self.cfg.max_target_positions:
            die("decoder position %d >= max_target_positions" % self.pos)
        x = D["tok"][tok].astype(np.float64) + D["pos"][self.pos].astype(np.float64)
        x = x[None, :]
        for li, L in enumerate(D["layers"]):
            a = L["sa"]
            h = n_layernorm(x, L["ln1"])
            self.kcache[li].append(n_linear(h, a["kw"])[0])
            self.vcache[li].append(n_linear(h, a["vw"], a["vb"])[0])
            q = n_linear(h, a["qw"], a["qb"])[0]
            o = self._mix(q, np.array(self.kcache[li]), np.array(self.vcache[li]))
            x = x + n_linear(o[None, :], a["ow"], a["ob"])
            c = L["ca"]
            h = n_layernorm(x, L["ln2"])
            q = n_linear(h, c["qw"], c["qb"])[0]
            o = self._mix(q, self.ck[li], self.cv[li])
            x = x + n_linear(o[None, :], c["ow"], c["ob"])
            m = L["mlp"]
            h = n_layernorm(x, L["ln3"])
            x = x + n_linear(n_gelu(n_linear(h, m["w1"], m["b1"])), m["w2"], m["b2"])
        self.pos += 1
        x = n_layernorm(x, D["ln"])
        return (x @ D["head"].astype(np.float64).T)[0]


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

def top2(row):
    order = np.argsort(-row, kind="stable")
    return int(order[0]), int(order[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("--mel", required=True)
    ap.add_argument("--ids", required=True)
    ap.add_argument("--encoder-out", required=True)
    ap.add_argument("--logits", required=True)
    ap.add_argument("--greedy", type=int, default=0)
    ap.add_argument("--greedy-out")
    ap.add_argument("--margins-out")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--check-tol", type=float, default=1e-5)
    args = ap.parse_args()
    if args.greedy and not args.greedy_out:
        die("--greedy needs --greedy-out")

    torch.set_grad_enabled(False)
    torch.set_num_threads(1)        # deterministic float32 summation order

    cfg = read_config(args.model_dir)
    W = collect_weights(load_all_tensors(args.model_dir), cfg)
    TW = to_torch(W)

    try:
        ids = [int(s) for s in args.ids.split()]
    except ValueError:
        die("--ids must be space-separated integers")
    if not ids:
        die("--ids is empty")
    for i in ids:
        if not 0 <= i < cfg.vocab_size:
            die("id %d outside [0, %d)" % (i, cfg.vocab_size))
    if len(ids) + max(args.greedy - 1, 0) > cfg.max_target_positions:
        die("%d ids + %d greedy steps exceed max_target_positions %d"
            % (len(ids), args.greedy, cfg.max_target_positions))

    frames = 2 * cfg.max_source_positions
    raw = np.fromfile(args.mel, dtype="<f4")
    if raw.size != cfg.num_mel_bins * frames:
        die("%s holds %d floats; expected num_mel_bins x 2*max_source_positions = %d x %d"
            % (args.mel, raw.size, cfg.num_mel_bins, frames))
    mel = raw.astype(np.float32).reshape(cfg.num_mel_bins, frames)
    if not np.all(np.isfinite(mel)):
        die("mel has non-finite values")

    enc = t_encoder(mel, TW["enc"], cfg)
    if tuple(enc.shape) != (cfg.max_source_positions, cfg.d_model):
        die("encoder output shape %s" % (tuple(enc.shape),))
    logits = t_decoder(ids, enc, TW["dec"], cfg)
    enc_np = enc.numpy().astype("<f4")
    logits_np = logits.numpy().astype("<f4")
    if not (np.all(np.isfinite(enc_np)) and np.all(np.isfinite(logits_np))):
        die("non-finite values in the float32 forward")
    enc_np.tofile(args.encoder_out)
    logits_np.tofile(args.logits)
    log("encoder [%d x %d] -> %s; logits [%d x %d] -> %s"
        % (enc_np.shape[0], enc_np.shape[1], args.encoder_out,
           logits_np.shape[0], logits_np.shape[1], args.logits))

    seq = list(ids)
    greedy, margins, greedy_rows = [], [], []
    for step in range(args.greedy):
        row = t_decoder(seq, enc, TW["dec"], cfg)[-1].numpy()
        a, b = top2(row)
        greedy.append(a)
        greedy_rows.append(row.copy())
        margins.append((step, a, b, float(row[a]), float(row[b]), float(row[a] - row[b])))
        seq.append(a)
    if args.greedy:
        with open(args.greedy_out, "w") as f:
            f.write(" ".join(str(g) for g in greedy) + "\n")
        log("greedy %d: %s (min margin %.6g)"
            % (args.greedy, " ".join(map(str, greedy)), min(m[5] for m in margins)))
    if args.margins_out:
        with open(args.margins_out, "w") as f:
            f.write("# step token runner_up top1 top2 margin\n")
            for m in margins:
                f.write("%d %d %d %.7g %.7g %.7g\n" % m)

    if args.check:
        ref_enc = n_encoder(mel, W["enc"], cfg)
        e_err = np.abs(ref_enc - enc_np.astype(np.float64)).max() / np.abs(ref_enc).max()
        # decoder: feed prompt + greedy tokens one at a time (KV cache), using the
        # float64 encoder output (fully independent of the torch path).
        dec = NDecoder(ref_enc, W["dec"], cfg)
        rows64 = [dec.step(t) for t in ids]
        ref_greedy = []
        for step in range(args.greedy):
            g = top2(rows64[-1])[0]          # rows64[len(ids)-1+step] predicts step
            ref_greedy.append(g)
            if step + 1 < args.greedy:
                rows64.append(dec.step(g))
        L64 = np.array(rows64[:len(ids)])
        l_err = np.abs(L64 - logits_np.astype(np.float64)).max() / np.abs(L64).max()
        # greedy-step rows (float32 full recompute vs float64 incremental)
        g_err = 0.0
        for step in range(args.greedy):
            r64 = rows64[len(ids) - 1 + step]
            g_err = max(g_err, np.abs(r64 - greedy_rows[step]).max() / np.abs(r64).max())
        log("check: encoder max|diff|/max|enc| = %.3g; logits max|diff|/max|logit| = %.3g "
            "(prompt); %.3g (greedy steps); float64 greedy %s"
            % (e_err, l_err, g_err, " ".join(map(str, ref_greedy))))
        bad = []
        if not e_err <= args.check_tol:
            bad.append("encoder rel err %.3g > %g" % (e_err, args.check_tol))
        if not l_err <= args.check_tol:
            bad.append("logits rel err %.3g > %g" % (l_err, args.check_tol))
        if not g_err <= args.check_tol:
            bad.append("greedy-step logits rel err %.3g > %g" % (g_err, args.check_tol))
        if ref_greedy != greedy:
            bad.append("greedy tokens differ: float32 %s vs float64 %s" % (greedy, ref_greedy))
        if bad:
            die("check FAILED: " + "; ".join(bad))
        log("check OK (tol %g)" % args.check_tol)


if __name__ == "__main__":
    main()
