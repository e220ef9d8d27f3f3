#!/usr/bin/python3
"""Independent float32 reference for a speech LLM in the LLaMA-Omni2 layout
(Omni2Speech2SQwen2ForCausalLM / Omni2SpeechQwen2ForCausalLM, text output).

Written from docs/speech-llm.md (notes on the published LLaMA-Omni2 code,
github.com/ictnlp/LLaMA-Omni2 c8afa90, and openai-whisper v20231117); it does
not read or share anything with unum's C code.  It reuses the project's other
independent references by import:
  mel_ref.py     whisper log-mel (pad_or_trim, log_mel_spectrogram, filters)
  whisper_ref.py safetensors reader, the float32 torch Whisper encoder
                 (t_encoder) and the float64 numpy encoder (n_encoder)
  qwen2_ref.py   the float32 torch Qwen2 forward (TorchModel) and the float64
                 numpy incremental forward (numpy64_forward)
Run with Debian's /usr/bin/python3 (python3-torch, python3-numpy).

Pipeline (all float32, bf16/f16 weights widened exactly):
  audio   16 kHz mono 16-bit WAV, int16/32768, pad_or_trim to 480000 samples,
          log-mel (n_mels from the encoder's conv1), [n_mels, 3000]
  encoder openai AudioEncoder == HF WhisperEncoder: gelu(conv1), gelu(conv2
          stride 2), + positional embedding, pre-LN blocks (q scaled by
          head_dim^-0.5, key without bias, exact erf GELU), ln_post;
          LayerNorm eps 1e-5  -> [1500, d_enc]
          Weights: model.speech_encoder.* (openai names) in the checkpoint,
          with n_head = d_enc / 64 (every published Whisper size has
          head_dim 64).  If the checkpoint has no model.speech_encoder.*
          tensors, config "speech_encoder" must name a Hugging Face Whisper
          directory (relative to the model directory); its model.encoder.*
          tensors and encoder_attention_heads are used, its decoder ignored.
  projector (SpeechProjector "linear" = EncoderProjectorConcat, k =
          speech_encoder_ds_rate): drop the last T % k frames, view
          [T/k, d_enc*k] (k consecutive frames concatenated in time order),
          linear1, ReLU, linear2 -> [T/k, hidden]
  splice  every id -200 in --ids is replaced by the T/k projector rows
          (inputs_embeds; embed_tokens rows elsewhere), positions 0..L-1,
          causal attention over everything
  LLM     Qwen2 forward (qwen2_ref.TorchModel); logits for every position;
          greedy continuation feeding each argmax id back through
          embed_tokens.
  The splice is done by giving qwen2_ref's models an input-embedding table
  [embed_tokens; projector rows] (audio row j = id vocab_size + j) and an
  untied lm_head = the real (tied) embed_tokens / lm_head, so their forward
  code is reused unchanged.

CLI:
  speech_ref.py MODEL_DIR --wav WAV --out DIR [--ids "..."] [--greedy 8]
                [--check [--check-tol 1e-4]]
Writes into DIR (float32 little-endian raw):
  encoder_rows.f32   encoder rows 0, 15, 30, ..., (every 15th) [100 x d_enc]
  projector.f32      projector output [T/k x hidden]
  logits_slice.f32   [L x 64] logits at the indices in logits_index.txt
  logits_index.txt   151645 151643 then 62 ids from a 32-bit LCG
                     (x = x*1664525 + 1013904223 mod 2^32, seed 12345,
                     index = x % vocab, first update before first use,
                     duplicates skipped)
  logits_last.f32    full logits of the last position [vocab]
  argmax.txt         argmax of every position (L ints)
  greedy.txt         the greedy ids
  greedy_margins.txt per greedy step: token, runner-up, top1-top2 margin
  argmax_margins.txt per position: argmax, runner-up, top1-top2 margin
  ids.txt            the ids as given (with -200)
--check runs the whole chain again in float64 numpy (whisper_ref.n_encoder,
an explicit-loop projector, qwen2_ref.numpy64_forward token by token) and
fails unless max over rows of max|f32 - f64| / max|row64| <= tol for the
encoder, the projector and the logits (prompt and greedy positions), and the
greedy ids agree.
"""

import argparse
import json
import os
import sys
import wave

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mel_ref  # noqa: E402
import qwen2_ref  # noqa: E402
import whisper_ref  # noqa: E402

SPEECH_TOKEN_INDEX = -200
DEFAULT_IDS = "151644 872 198 -200 198 3838 374 1493 30 151645 198 151644 77091 198"


def die(msg):
    sys.stderr.write("speech_ref: error: %s\n" % msg)
    sys.exit(1)


def log(msg):
    sys.stderr.write("speech_ref: %s\n" % msg)


# ---------------------------------------------------------------------------
# config
# ---------------------------------------------------------------------------

def read_config(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        c = json.load(f)
    mt = c.get("model_type")
    if mt not in ("omni2_speech2s_qwen2", "omni2_speech_qwen2"):
        die("model_type %r is not an LLaMA-Omni2 Qwen2 model" % mt)
    if "whisper" not in str(c.get("speech_encoder_type", "")).lower():
        die("speech_encoder_type %r is not whisper" % c.get("speech_encoder_type"))
    if c.get("speech_projector_type") != "linear":
        die("speech_projector_type %r is not linear" % c.get("speech_projector_type"))
    for k in ("speech_encoder_ds_rate", "speech_encoder_hidden_size", "speech_encoder"):
        if k not in c:
            die("config.json lacks %s" % k)
    # qwen2_ref.load_config insists on model_type qwen2 / Qwen2ForCausalLM; give
    # it the same dict with those two keys neutralised (everything else is
    # validated there exactly as for a plain Qwen2 checkpoint).
    tmp = dict(c)
    tmp["model_type"] = "qwen2"
    tmp["architectures"] = ["Qwen2ForCausalLM"]
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(tmp, f)
        qcfg = qwen2_ref.load_config(d)
    qcfg.ds_rate = int(c["speech_encoder_ds_rate"])
    qcfg.enc_hidden = int(c["speech_encoder_hidden_size"])
    qcfg.speech_encoder = c["speech_encoder"]
    return qcfg


class EncCfg(object):
    pass


# ---------------------------------------------------------------------------
# encoder weights -> whisper_ref's nested dict (c1w, c1b, c2w, c2b, pos,
# layers[{ln1, sa, ln2, mlp}], ln)
# ---------------------------------------------------------------------------

def _getter(t, used):
    def get(name, shape):
        if name not in t:
            die("missing tensor %s" % name)
        if tuple(t[name].shape) != tuple(shape):
            die("%s has shape %s, expected %s" % (name, tuple(t[name].shape), tuple(shape)))
        used.add(name)
        return t[name]
    return get


def openai_encoder(t, prefix, d):
    """openai-whisper AudioEncoder names under prefix (model.speech_encoder.)."""
    used = set()
    get = _getter(t, used)
    names = [k for k in t if k.startswith(prefix)]
    if prefix + "conv1.weight" not in t:
        die("no %sconv1.weight" % prefix)
    n_mels = t[prefix + "conv1.weight"].shape[1]
    n_ctx = t[prefix + "positional_embedding"].shape[0] if prefix + "positional_embedding" in t else 0
    if n_ctx == 0:
        die("missing %spositional_embedding" % prefix)
    n_layer = 0
    while (prefix + "blocks.%d.attn_ln.weight" % n_layer) in t:
        n_layer += 1
    if d % 64:
        die("encoder width %d is not a multiple of 64 (head_dim 64)" % d)
    E = {"c1w": get(prefix + "conv1.weight", (d, n_mels, 3)), "c1b": get(prefix + "conv1.bias", (d,)),
         "c2w": get(prefix + "conv2.weight", (d, d, 3)), "c2b": get(prefix + "conv2.bias", (d,)),
         "pos": get(prefix + "positional_embedding", (n_ctx, d)), "layers": []}

    def ln(p):
        return {"w": get(p + ".weight", (d,)), "b": get(p + ".bias", (d,))}

    for i in range(n_layer):
        p = prefix + "blocks.%d." % i
        if p + "attn.key.bias" in t:
            die("%sattn.key.bias present: Whisper's key has no bias" % p)
        E["layers"].append({
            "ln1": ln(p + "attn_ln"),
            "sa": {"qw": get(p + "attn.query.weight", (d, d)), "qb": get(p + "attn.query.bias", (d,)),
                   "kw": get(p + "attn.key.weight", (d, d)),
                   "vw": get(p + "attn.value.weight", (d, d)), "vb": get(p + "attn.value.bias", (d,)),
                   "ow": get(p + "attn.out.weight", (d, d)), "ob": get(p + "attn.out.bias", (d,))},
            "ln2": ln(p + "mlp_ln"),
            "mlp": {"w1": get(p + "mlp.0.weight", (t[p + "mlp.0.weight"].shape[0], d)),
                    "b1": get(p + "mlp.0.bias", (t[p + "mlp.0.weight"].shape[0],)),
                    "w2": get(p + "mlp.2.weight", (d, t[p + "mlp.0.weight"].shape[0])),
                    "b2": get(p + "mlp.2.bias", (d,))}})
    E["ln"] = ln(prefix + "ln_post")
    extra = sorted(set(names) - used)
    if extra:
        die("unexpected encoder tensors: %s" % extra[:10])
    ec = EncCfg()
    ec.d_model, ec.encoder_attention_heads = d, d // 64
    ec.num_mel_bins, ec.max_source_positions, ec.layers = n_mels, n_ctx, n_layer
    ec.source = "openai names %s* in the checkpoint" % prefix
    return E, ec


def hf_encoder(wdir):
    """HF WhisperForConditionalGeneration directory: model.encoder.* only."""
    wc = whisper_ref.read_config(wdir)
    t = whisper_ref.load_all_tensors(wdir)
    d, ff = wc.d_model, wc.encoder_ffn_dim
    used = set()
    get = _getter(t, used)

    def ln(p):
        return {"w": get(p + ".weight", (d,)), "b": get(p + ".bias", (d,))}

    E = {"c1w": get("model.encoder.conv1.weight", (d, wc.num_mel_bins, 3)),
         "c1b": get("model.encoder.conv1.bias", (d,)),
         "c2w": get("model.encoder.conv2.weight", (d, d, 3)),
         "c2b": get("model.encoder.conv2.bias", (d,)),
         "pos": get("model.encoder.embed_positions.weight", (wc.max_source_positions, d)),
         "layers": []}
    for i in range(wc.encoder_layers):
        p = "model.encoder.layers.%d" % i
        if p + ".self_attn.k_proj.bias" in t:
            die("%s.self_attn.k_proj.bias present: Whisper's k_proj has no bias" % p)
        E["layers"].append({
            "ln1": ln(p + ".self_attn_layer_norm"),
            "sa": {"qw": get(p + ".self_attn.q_proj.weight", (d, d)), "qb": get(p + ".self_attn.q_proj.bias", (d,)),
                   "kw": get(p + ".self_attn.k_proj.weight", (d, d)),
                   "vw": get(p + ".self_attn.v_proj.weight", (d, d)), "vb": get(p + ".self_attn.v_proj.bias", (d,)),
                   "ow": get(p + ".self_attn.out_proj.weight", (d, d)), "ob": get(p + ".self_attn.out_proj.bias", (d,))},
            "ln2": ln(p + ".final_layer_norm"),
            "mlp": {"w1": get(p + ".fc1.weight", (ff, d)), "b1": get(p + ".fc1.bias", (ff,)),
                    "w2": get(p + ".fc2.weight", (d, ff)), "b2": get(p + ".fc2.bias", (d,))}})
    E["ln"] = ln("model.encoder.layer_norm")
    extra = sorted(k for k in set(t) - used if k.startswith("model.encoder."))
    if extra:
        die("unexpected encoder tensors in %s: %s" % (wdir, extra[:10]))
    ec = EncCfg()
    ec.d_model, ec.encoder_attention_heads = d, wc.encoder_attention_heads
    ec.num_mel_bins, ec.max_source_positions, ec.layers = wc.num_mel_bins, wc.max_source_positions, wc.encoder_layers
    ec.source = "HF Whisper directory %s (model.encoder.*)" % wdir
    return E, ec


def load_model(model_dir):
    cfg = read_config(model_dir)
    t = qwen2_ref.load_weights(model_dir)
    enc_prefix = "model.speech_encoder."
    proj_prefix = "model.speech_projector."
    skip_prefix = "speech_generator."           # TTS: never feeds back into text
    if any(k.startswith(enc_prefix) for k in t):
        E, ec = openai_encoder(t, enc_prefix, cfg.enc_hidden)
    else:
        wdir = os.path.join(model_dir, cfg.speech_encoder)
        if not os.path.isfile(os.path.join(wdir, "config.json")):
            die("no %s* tensors and speech_encoder %r is not a HF Whisper directory"
                % (enc_prefix, cfg.speech_encoder))
        E, ec = hf_encoder(wdir)
    if ec.d_model != cfg.enc_hidden:
        die("encoder width %d != speech_encoder_hidden_size %d" % (ec.d_model, cfg.enc_hidden))
    k, H = cfg.ds_rate, cfg.hidden_size
    used = set()
    get = _getter(t, used)
    inner = t.get(proj_prefix + "linear1.weight", np.zeros((0, 0))).shape[0]
    P = {"w1": get(proj_prefix + "linear1.weight", (inner, ec.d_model * k)),
         "b1": get(proj_prefix + "linear1.bias", (inner,)),
         "w2": get(proj_prefix + "linear2.weight", (H, inner)),
         "b2": get(proj_prefix + "linear2.bias", (H,))}
    extra = sorted(x for x in t if x.startswith(proj_prefix) and x not in used)
    if extra:
        die("unexpected projector tensors: %s" % extra)
    backbone = {n: a for n, a in t.items()
                if not (n.startswith(enc_prefix) or n.startswith(proj_prefix) or n.startswith(skip_prefix))}
    W = qwen2_ref.organize(backbone, cfg)       # strict: anything else is an error
    return cfg, E, ec, P, W


# ---------------------------------------------------------------------------
# audio
# ---------------------------------------------------------------------------

def read_wav(path):
    with wave.open(path, "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getframerate() != mel_ref.SR:
            die("%s: need 16 kHz mono 16-bit PCM (got %d ch, %d bytes, %d Hz)"
                % (path, w.getnchannels(), w.getsampwidth(), w.getframerate()))
        raw = w.readframes(w.getnframes())
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / np.float32(32768.0)


def log_mel(audio, n_mels):
    x = mel_ref.pad_or_trim(torch.from_numpy(audio))
    m = mel_ref.log_mel_spectrogram(x, torch.from_numpy(mel_ref.mel_filters(n_mels)))
    return m.numpy().astype(np.float32)


# ---------------------------------------------------------------------------
# projector
# ---------------------------------------------------------------------------

def t_projector(x, P, k):
    """x [T, d] float32 torch -> [T//k, H] (EncoderProjectorConcat)."""
    T, d = x.shape
    r = T % k
    if r:
        x = x[:-r]
    x = x.contiguous().view(T // k, d * k)
    h = F.relu(F.linear(x, torch.from_numpy(P["w1"]), torch.from_numpy(P["b1"])))
    return F.linear(h, torch.from_numpy(P["w2"]), torch.from_numpy(P["b2"]))


def n_projector(x, P, k):
    """float64 numpy, explicit frame concatenation."""
    T, d = x.shape
    n = T // k
    w1, b1 = P["w1"].astype(np.float64), P["b1"].astype(np.float64)
    w2, b2 = P["w2"].astype(np.float64), P["b2"].astype(np.float64)
    out = np.zeros((n, w2.shape[0]))
    for j in range(n):
        row = np.concatenate([x[j * k + f] for f in range(k)])   # frames 5j..5j+k-1
        h = w1.dot(row) + b1
        h = np.where(h > 0.0, h, 0.0)
        out[j] = w2.dot(h) + b2
    return out


# ---------------------------------------------------------------------------
# splice: extended input table, audio row j = id vocab + j
# ---------------------------------------------------------------------------

def spliced_ids(ids, n_audio, vocab):
    n_ph = sum(1 for i in ids if i == SPEECH_TOKEN_INDEX)
    if n_ph != 1:
        die("ids must hold exactly one %d placeholder (one clip); got %d" % (SPEECH_TOKEN_INDEX, n_ph))
    out = []
    for i in ids:
        if i == SPEECH_TOKEN_INDEX:
            out.extend(vocab + j for j in range(n_audio))
        elif 0 <= i < vocab:
            out.append(i)
        else:
            die("id %d outside [0, %d)" % (i, vocab))
    return out


def spliced_weights(W, cfg, audio_rows):
    W2 = dict(W)
    W2["embed"] = np.concatenate([W["embed"], audio_rows], axis=0)
    W2["lm_head"] = W["lm_head"]          # organize() set it (= embed when tied)
    c2 = qwen2_ref.Cfg()
    c2.__dict__.update(cfg.__dict__)
    c2.tie_word_embeddings = False
    return W2, c2


def lcg_indices(vocab, n=64):
    idx = [151645, 151643]
    for v in idx:
        if not 0 <= v < vocab:
            die("index %d outside vocab %d" % (v, vocab))
    x = 12345
    while len(idx) < n:
        x = (x * 1664525 + 1013904223) & 0xFFFFFFFF
        v = x % vocab
        if v not in idx:
            idx.append(v)
    return idx


def rowrel(a32, a64):
    """max over rows of max|a32 - a64| / max|a64 row|."""
    a32 = np.asarray(a32, dtype=np.float64).reshape(a64.shape[0], -1)
    a64 = a64.reshape(a64.shape[0], -1)
    num = np.abs(a32 - a64).max(axis=1)
    den = np.maximum(np.abs(a64).max(axis=1), 1e-30)
    return float((num / den).max())


def top2(row):
    order = np.argsort(-row, kind="stable")
    return int(order[0]), int(order[1])


def save(path, a):
    a = np.ascontiguousarray(a, dtype="<f4")
    if not np.all(np.isfinite(a)):
        die("non-finite values for %s" % path)
    a.tofile(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("--wav", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ids", default=DEFAULT_IDS)
    ap.add_argument("--greedy", type=int, default=8)
    ap.add_argument("--row-stride", type=int, default=15)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--check-tol", type=float, default=1e-4)
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    torch.set_num_threads(1)              # deterministic float32 summation order

    try:
        ids = [int(s) for s in a.ids.split()]
    except ValueError:
        die("--ids must be space-separated integers")

    cfg, E, ec, P, W = load_model(a.model_dir)
    log("encoder: %s; d %d, %d layers, %d heads, %d mels; projector k=%d %s->%s; LLM hidden %d"
        % (ec.source, ec.d_model, ec.layers, ec.encoder_attention_heads, ec.num_mel_bins,
           cfg.ds_rate, P["w1"].shape[::-1], P["w2"].shape[::-1], cfg.hidden_size))

    audio = read_wav(a.wav)
    mel = log_mel(audio, ec.num_mel_bins)
    if mel.shape != (ec.num_mel_bins, 2 * ec.max_source_positions):
        die("mel shape %s, encoder wants %d x %d" % (mel.shape, ec.num_mel_bins, 2 * ec.max_source_positions))
    log("audio %d samples -> mel %s" % (audio.size, mel.shape))

    # --- float32 reference -------------------------------------------------
    enc = whisper_ref.t_encoder(mel, whisper_ref.to_torch(E), ec)           # [1500, d]
    proj = t_projector(enc, P, cfg.ds_rate)                                 # [300, H]
    enc_np, proj_np = enc.numpy(), proj.numpy()
    full = spliced_ids(ids, proj_np.shape[0], cfg.vocab_size)
    W2, c2 = spliced_weights(W, cfg, proj_np)
    model = qwen2_ref.TorchModel(W2, c2)
    logits = model.forward(full).numpy()                                    # [L, V]
    L = len(full)
    seq = list(full)
    greedy, margins, grows = [], [], []
    for step in range(a.greedy):
        row = model.forward(seq)[-1].numpy()
        t1, t2 = top2(row)
        greedy.append(t1)
        grows.append(row.copy())
        margins.append((step, t1, t2, float(row[t1]), float(row[t2]), float(row[t1] - row[t2])))
        seq.append(t1)
    if greedy and not np.array_equal(grows[0], logits[-1]):
        d0 = float(np.abs(grows[0] - logits[-1]).max())
        log("note: greedy step 0 row differs from the prompt forward's last row by %.3g" % d0)

    # --- write goldens -------------------------------------------------------
    os.makedirs(a.out, exist_ok=True)
    o = lambda n: os.path.join(a.out, n)
    rows = list(range(0, enc_np.shape[0], a.row_stride))
    save(o("encoder_rows.f32"), enc_np[rows])
    save(o("projector.f32"), proj_np)
    idx = lcg_indices(cfg.vocab_size)
    save(o("logits_slice.f32"), logits[:, idx])
    with open(o("logits_index.txt"), "w") as f:
        f.write(" ".join(map(str, idx)) + "\n")
    save(o("logits_last.f32"), logits[-1])
    am = [int(np.argmax(r)) for r in logits]
    with open(o("argmax.txt"), "w") as f:
        f.write(" ".join(map(str, am)) + "\n")
    with open(o("greedy.txt"), "w") as f:
        f.write(" ".join(map(str, greedy)) + "\n")
    with open(o("greedy_margins.txt"), "w") as f:
        f.write("# step token runner_up top1 top2 margin\n")
        for m in margins:
            f.write("%d %d %d %.7g %.7g %.7g\n" % m)
    with open(o("ids.txt"), "w") as f:
        f.write(" ".join(map(str, ids)) + "\n")
    pm = []
    for r in logits:
        t1, t2 = top2(r)
        pm.append(float(r[t1] - r[t2]))
    with open(o("argmax_margins.txt"), "w") as f:
        f.write("# position argmax runner_up top1-top2 margin\n")
        for i, r in enumerate(logits):
            t1, t2 = top2(r)
            f.write("%d %d %d %.7g\n" % (i, t1, t2, float(r[t1] - r[t2])))
    log("encoder rows %d x %d, projector %s, logits %d x %d; greedy %s (min margin %.4g); "
        "min prompt argmax margin %.4g at position %d"
        % (len(rows), enc_np.shape[1], proj_np.shape, L, logits.shape[1], " ".join(map(str, greedy)),
           min(m[5] for m in margins) if margins else float("nan"), min(pm), int(np.argmin(pm))))

    # --- float64 cross-check -------------------------------------------------
    if a.check:
        enc64 = whisper_ref.n_encoder(mel, E, ec)
        proj64 = n_projector(enc64, P, cfg.ds_rate)
        W64, c64 = spliced_weights(W, cfg, proj64)
        full_g = full + greedy[:-1] if greedy else full
        rows64 = qwen2_ref.numpy64_forward(W64, c64, full_g)                # [L + g - 1, V]
        e_err = rowrel(enc_np, enc64)
        p_err = rowrel(proj_np, proj64)
        l_err = rowrel(logits, rows64[:L])
        g_err = max([rowrel(grows[s][None, :], rows64[L - 1 + s][None, :]) for s in range(len(grows))] or [0.0])
        g64 = [int(np.argmax(rows64[L - 1 + s])) for s in range(len(greedy))]
        am64 = [int(np.argmax(r)) for r in rows64[:L]]
        n_am = sum(1 for x, y in zip(am, am64) if x != y)
        log("check (float32 torch vs float64 numpy, max over rows of max|diff|/max|row|): "
            "encoder %.3g, projector %.3g, logits %.3g (prompt), %.3g (greedy steps); "
            "argmax disagreements %d/%d; float64 greedy %s"
            % (e_err, p_err, l_err, g_err, n_am, L, " ".join(map(str, g64))))
        # splice sanity: rows before the first audio row see only text, so they
        # must equal a plain Qwen2 forward over the text prefix.
        pre = ids[:ids.index(SPEECH_TOKEN_INDEX)]
        if pre:
            plain = qwen2_ref.TorchModel(W, cfg).forward(pre).numpy()
            s_err = float(np.abs(plain - logits[:len(pre)]).max())
            log("check: text prefix (%d ids) vs plain Qwen2 forward: max|diff| %.3g" % (len(pre), s_err))
            if s_err > 1e-5 * max(float(np.abs(plain).max()), 1.0):
                die("spliced prefix logits differ from the plain forward")
        bad = [n for n, v in (("encoder", e_err), ("projector", p_err), ("logits", l_err),
                              ("greedy-step logits", g_err)) if not v <= a.check_tol]
        if g64 != greedy:
            bad.append("greedy ids (f64 %s)" % g64)
        if n_am:
            bad.append("%d prompt argmax disagreements" % n_am)
        if bad:
            die("check FAILED (tol %g): %s" % (a.check_tol, ", ".join(bad)))
        log("check OK (tol %g)" % a.check_tol)
    return 0


if __name__ == "__main__":
    sys.exit(main())
