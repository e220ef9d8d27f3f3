#!/usr/bin/python3
"""Independent float32 reference for microsoft/VibeVoice-ASR (speech recognition).

Written from the published Python of microsoft/VibeVoice at e73d1e1 (see
docs/vibevoice.md for every fact with its file and line), not from unum's C:

  vibevoice/processor/audio_utils.py       AudioNormalizer
  vibevoice/processor/vibevoice_asr_processor.py   the prompt, ceil(samples/3200)
  vibevoice/modular/modular_vibevoice_tokenizer.py SConv1d, Block1D, TokenizerEncoder,
                                           the streaming cache
  vibevoice/modular/modeling_vibevoice_asr.py      encode_speech, the splice
  vibevoice/modular/modeling_vibevoice.py  SpeechConnector
  tests/reference/qwen2_ref.py             the Qwen2 decoder (the project's own
                                           reference of modeling_qwen2.py)

Run with Debian's /usr/bin/python3 (python3-torch, python3-numpy); transformers
is not used. The prompt is tokenized by node with @lenml/tokenizers
(tests/reference/vibevoice_prompt.mjs) on the Qwen tokenizer.json.

Pipeline:
  1. WAV (PCM 16-bit mono 24 kHz) -> int16/32768 float32.
  2. AudioNormalizer: gain 10^(-25/20) / (rms + 1e-6), then, if the peak
     exceeds 1, divide by (peak + 1e-6). numpy float32 arrays as published.
  3. Acoustic and semantic TokenizerEncoder (causal, constant zero padding):
     every SConv1d pads (k-1)*d - (s-1) zeros on the left and, for the ceil,
     extra zeros on the right; stem conv, then per stage i: strided conv
     (i > 0) and Block1D's (RMSNorm eps 1e-5 over channels -> depthwise conv
     k7 -> * gamma -> + residual; RMSNorm -> Linear 4C -> exact GELU ->
     Linear C -> * ffn_gamma -> + residual); no final norm; head conv k7.
     The latents [F x vae_dim] are the means.
     The published inference samples the acoustic latent:
     std_dist_type "gaussian" adds N(0, (fix_std/0.8)^2)-scaled noise per batch
     item (VibeVoiceTokenizerEncoderOutput.sample). This reference uses the
     MEAN (no noise), as a deterministic implementation must.
  4. Connectors: fc1 -> RMSNorm(eps 1e-6) -> fc2 for each, then the sum.
  5. Prompt ids as VibeVoiceASRProcessor builds them; the speech-pad
     (<|box_start|>) positions take the speech rows in order.
  6. The Qwen2 decoder (float32, qwen2_ref.TorchModel), untied lm_head.

--check-stream also runs the published streaming mode (per-conv caches of
(k-1)*d - (s-1) samples, segments of --segment-seconds, the final segment
padded for the ceil) and fails unless it equals the one-shot encoding within
--stream-tol (max abs difference relative to the largest value).
--check runs the decoder a second time in float64 numpy (qwen2_ref's
incremental forward) over the prompt and the greedy tokens.

Usage:
  vibevoice_ref.py MODEL_DIR --wav W.wav --out DIR [--greedy 8]
      [--check-stream --segment-seconds 1.6] [--check] [--npm build/npm]
"""

import argparse
import json
import math
import os
import struct
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qwen2_ref  # noqa: E402

SYSTEM_PROMPT = ("You are a helpful assistant that transcribes audio input into text "
                 "output in JSON format.")
SPEECH_START, SPEECH_END, SPEECH_PAD = "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>"
SPEECH_START_ID, SPEECH_END_ID, SPEECH_PAD_ID = 151646, 151647, 151648
SAMPLE_RATE = 24000


def die(msg):
    sys.stderr.write("vibevoice_ref: error: %s\n" % msg)
    sys.exit(1)


def log(msg):
    sys.stderr.write("vibevoice_ref: %s\n" % msg)


# ---------------------------------------------------------------------------
# input: WAV and config
# ---------------------------------------------------------------------------

def read_wav(path):
    """PCM 16-bit mono WAV -> (float32 samples int16/32768, rate). Hostile input:
    every chunk size is checked against the file."""
    with open(path, "rb") as f:
        b = f.read()
    if len(b) < 12 or b[:4] != b"RIFF" or b[8:12] != b"WAVE":
        die("%s: not a RIFF/WAVE file" % path)
    pos, fmt, data = 12, None, None
    while pos + 8 <= len(b):
        cid, size = b[pos:pos + 4], struct.unpack("<I", b[pos + 4:pos + 8])[0]
        body = pos + 8
        if size > len(b) - body:
            die("%s: chunk %r of %d bytes runs past the end of the file" % (path, cid, size))
        if cid == b"fmt ":
            if size < 16:
                die("%s: fmt chunk too short (%d bytes)" % (path, size))
            fmt = struct.unpack("<HHIIHH", b[body:body + 16])
        elif cid == b"data":
            data = b[body:body + size]
        pos = body + size + (size & 1)
    if fmt is None or data is None:
        die("%s: missing fmt or data chunk" % path)
    tag, ch, rate, _, align, bits = fmt
    if tag != 1 or ch != 1 or bits != 16 or align != 2:
        die("%s: need PCM 16-bit mono (format %d, %d channels, %d bits)" % (path, tag, ch, bits))
    if len(data) % 2:
        die("%s: odd data size %d" % (path, len(data)))
    pcm = np.frombuffer(data, dtype="<i2")
    return pcm.astype(np.float32) / np.float32(32768.0), rate


def normalize_audio(audio, target_db=-25.0, eps=1e-6):
    """AudioNormalizer.__call__ (audio_utils.py): float32 numpy as published."""
    audio = np.asarray(audio, dtype=np.float32)
    rms = np.sqrt(np.mean(audio ** 2))
    scalar = 10 ** (target_db / 20) / (rms + eps)
    audio = audio * scalar
    max_val = np.max(np.abs(audio))
    limit = max_val + eps if max_val > 1.0 else 1.0
    return (audio / limit).astype(np.float32), float(rms), float(scalar), float(limit)


class TokCfg(object):
    pass


def tokenizer_config(c, which):
    t = c.get(which)
    if not isinstance(t, dict):
        die("config.json lacks %s" % which)
    need = {"causal": True, "channels": 1, "conv_bias": True, "conv_norm": "none",
            "pad_mode": "constant", "disable_last_norm": True, "layernorm": "RMSNorm",
            "mixer_layer": "depthwise_conv", "layernorm_elementwise_affine": True}
    for k, v in need.items():
        if t.get(k, v) != v:
            die("%s.%s is %r; this reference supports only %r" % (which, k, t.get(k), v))
    for k in ("vae_dim", "encoder_n_filters", "encoder_depths", "encoder_ratios"):
        if k not in t:
            die("config.json: %s lacks %s" % (which, k))
    tc = TokCfg()
    tc.eps = float(t.get("layernorm_eps", 1e-5))
    tc.vae_dim = int(t["vae_dim"])
    tc.n_filters = int(t["encoder_n_filters"])
    d = t["encoder_depths"]
    tc.depths = [int(x) for x in d.split("-")] if isinstance(d, str) else [int(x) for x in d]
    tc.ratios = list(reversed([int(x) for x in t["encoder_ratios"]]))  # TokenizerEncoder reverses
    if len(tc.depths) != len(tc.ratios) + 1:
        die("%s: %d depths for %d ratios (need one more)" % (which, len(tc.depths), len(tc.ratios)))
    tc.hop = int(np.prod(tc.ratios))
    tc.fix_std = float(t.get("fix_std", 0))
    tc.std_dist_type = t.get("std_dist_type", "none")
    return tc


# ---------------------------------------------------------------------------
# the speech tokenizer encoder (TokenizerEncoder), float32 torch
# ---------------------------------------------------------------------------

class Conv(object):
    """SConv1d, causal, constant padding, no conv norm."""

    def __init__(self, name, w, b, stride=1, groups=1, dilation=1):
        self.name, self.w, self.b = name, w, b
        self.k = w.shape[2]
        self.stride, self.groups, self.dilation = stride, groups, dilation
        self.padding_total = (self.k - 1) * dilation - (stride - 1)
        self.context = self.padding_total                     # the streaming cache length

    def extra_padding(self, length):
        """get_extra_padding_for_conv1d: right zeros so that the last window fits (ceil)."""
        n_frames = (length - self.k + self.padding_total) / self.stride + 1
        ideal = (math.ceil(n_frames) - 1) * self.stride + (self.k - self.padding_total)
        return ideal - length

    def conv(self, x):
        return F.conv1d(x, self.w, self.b, stride=self.stride, dilation=self.dilation,
                        groups=self.groups)

    def oneshot(self, x):
        extra = self.extra_padding(x.shape[-1])
        return self.conv(F.pad(x, (self.padding_total, extra), mode="constant", value=0.0))

    def stream(self, x, cache, final):
        """_forward_streaming: cached context (zeros at first) + x, no left
        padding; the final chunk is padded on the right for the ceil."""
        st = cache.get(self.name)
        if st is None:
            st = torch.zeros(x.shape[0], x.shape[1], self.context)
        xc = torch.cat([st, x], dim=2) if st.shape[2] > 0 else x
        if final:
            extra = self.extra_padding(xc.shape[-1])
            if extra > 0:
                xc = F.pad(xc, (0, extra), mode="constant", value=0.0)
        y = self.conv(xc)
        if self.context > 0:
            cache[self.name] = xc[:, :, max(xc.shape[2] - self.context, 0):]
        return y


def rms_norm_channels(x, w, eps):
    """ConvRMSNorm: normalize over channels at each time step. x [B, C, T]."""
    xt = x.transpose(1, 2).float()
    y = xt * torch.rsqrt(xt.pow(2).mean(-1, keepdim=True) + eps)
    return (y * w).transpose(1, 2)


class Encoder(object):
    def __init__(self, W, prefix, tc, used):
        def get(name, shape):
            full = prefix + name
            if full not in W:
                die("checkpoint lacks tensor %s" % full)
            a = W[full]
            if list(a.shape) != list(shape):
                die("tensor %s has shape %s, expected %s" % (full, list(a.shape), list(shape)))
            used.add(full)
            return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))

        self.tc = tc
        nf = tc.n_filters
        self.down = []
        p = "downsample_layers.0.0.conv.conv."
        self.down.append(Conv(prefix + p, get(p + "weight", (nf, 1, 7)), get(p + "bias", (nf,))))
        for i, r in enumerate(tc.ratios):
            cin, cout = nf * 2 ** i, nf * 2 ** (i + 1)
            p = "downsample_layers.%d.0.conv.conv." % (i + 1)
            self.down.append(Conv(prefix + p, get(p + "weight", (cout, cin, 2 * r)),
                                  get(p + "bias", (cout,)), stride=r))
        self.stages = []
        for i, depth in enumerate(tc.depths):
            c = nf * 2 ** i
            blocks = []
            for j in range(depth):
                p = "stages.%d.%d." % (i, j)
                m = p + "mixer.conv.conv.conv."
                blocks.append({
                    "norm": get(p + "norm.weight", (c,)),
                    "ffn_norm": get(p + "ffn_norm.weight", (c,)),
                    "gamma": get(p + "gamma", (c,)),
                    "ffn_gamma": get(p + "ffn_gamma", (c,)),
                    "mixer": Conv(prefix + m, get(m + "weight", (c, 1, 7)), get(m + "bias", (c,)),
                                  groups=c),
                    "w1": get(p + "ffn.linear1.weight", (4 * c, c)),
                    "b1": get(p + "ffn.linear1.bias", (4 * c,)),
                    "w2": get(p + "ffn.linear2.weight", (c, 4 * c)),
                    "b2": get(p + "ffn.linear2.bias", (c,)),
                })
            self.stages.append(blocks)
        ctop = nf * 2 ** (len(tc.depths) - 1)
        p = "head.conv.conv."
        self.head = Conv(prefix + p, get(p + "weight", (tc.vae_dim, ctop, 7)),
                         get(p + "bias", (tc.vae_dim,)))

    def forward(self, audio, cache=None, final=False):
        """audio [B, T] -> latents [B, F, vae_dim] (the mean)."""
        run = (lambda conv, x: conv.oneshot(x)) if cache is None else \
            (lambda conv, x: conv.stream(x, cache, final))
        eps = self.tc.eps
        x = audio.unsqueeze(1)
        for i, blocks in enumerate(self.stages):
            x = run(self.down[i], x)
            for B in blocks:
                h = rms_norm_channels(x, B["norm"], eps)
                h = run(B["mixer"], h)
                x = x + h * B["gamma"].unsqueeze(-1)
                h = rms_norm_channels(x, B["ffn_norm"], eps).permute(0, 2, 1)
                h = F.linear(F.gelu(F.linear(h, B["w1"], B["b1"])), B["w2"], B["b2"])
                x = x + h.permute(0, 2, 1) * B["ffn_gamma"].unsqueeze(-1)
        # disable_last_norm: no final norm
        x = run(self.head, x)
        return x.permute(0, 2, 1)


def encode_streaming(enc, audio, segment_samples):
    """encode_speech's long-audio path: segments [start, start+seg), one cache
    per encoder across segments, the last segment marked final."""
    cache = {}
    starts = list(range(0, audio.shape[1], segment_samples))
    outs = []
    for n, s in enumerate(starts):
        chunk = audio[:, s:min(s + segment_samples, audio.shape[1])]
        outs.append(enc.forward(chunk, cache=cache, final=(n == len(starts) - 1)))
    return torch.cat(outs, dim=1), len(starts)


# ---------------------------------------------------------------------------
# connectors
# ---------------------------------------------------------------------------

def connector(W, name, din, D, used):
    def get(n, shape):
        full = "model.%s.%s" % (name, n)
        if full not in W:
            die("checkpoint lacks tensor %s" % full)
        if list(W[full].shape) != list(shape):
            die("tensor %s has shape %s, expected %s" % (full, list(W[full].shape), list(shape)))
        used.add(full)
        return torch.from_numpy(np.ascontiguousarray(W[full], dtype=np.float32))
    P = {"w1": get("fc1.weight", (D, din)), "b1": get("fc1.bias", (D,)),
         "nw": get("norm.weight", (D,)),
         "w2": get("fc2.weight", (D, D)), "b2": get("fc2.bias", (D,))}

    def run(x):
        h = F.linear(x, P["w1"], P["b1"])
        var = h.float().pow(2).mean(-1, keepdim=True)           # LlamaRMSNorm, eps 1e-6
        h = P["nw"] * (h * torch.rsqrt(var + 1e-6))
        return F.linear(h, P["w2"], P["b2"])
    return run


# ---------------------------------------------------------------------------
# prompt
# ---------------------------------------------------------------------------

def prompt_parts(n_samples, hop):
    n_frames = math.ceil(n_samples / hop)
    dur = n_samples / SAMPLE_RATE
    suffix = ("This is a %.2f seconds audio, please transcribe it with these keys: " % dur
              + ", ".join(["Start time", "End time", "Speaker ID", "Content"]))
    system = "<|im_start|>system\n" + SYSTEM_PROMPT + "<|im_end|>\n"
    user_content = SPEECH_START + SPEECH_PAD * n_frames + SPEECH_END + "\n" + suffix
    user = "<|im_start|>user\n" + user_content + "<|im_end|>\n"
    return system, user, n_frames


def tokenize(parts, npm):
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vibevoice_prompt.mjs")
    try:
        r = subprocess.run(["node", script, npm], input=json.dumps(parts).encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    except OSError as e:
        die("cannot run node: %s" % e)
    if r.returncode:
        die("vibevoice_prompt.mjs failed: %s" % r.stderr.decode(errors="replace"))
    return json.loads(r.stdout)


# ---------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------

def decoder_cfg(dc):
    if dc.get("model_type") != "qwen2":
        die("decoder_config.model_type %r is not qwen2" % dc.get("model_type"))
    c = qwen2_ref.Cfg()
    for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
              "num_attention_heads", "num_key_value_heads"):
        if k not in dc:
            die("decoder_config lacks %s" % k)
        setattr(c, k, int(dc[k]))
    c.head_dim = int(dc.get("head_dim", c.hidden_size // c.num_attention_heads))
    c.rms_norm_eps = float(dc.get("rms_norm_eps", 1e-6))
    c.rope_theta = float(dc.get("rope_theta", 10000.0))
    c.tie_word_embeddings = bool(dc.get("tie_word_embeddings", False))
    if dc.get("use_sliding_window", False) or dc.get("rope_scaling") or dc.get("use_mrope"):
        die("decoder_config: sliding window, rope scaling and mrope are not supported")
    return c


def top2(row):
    o = np.argsort(-row, kind="stable")
    return int(o[0]), float(row[o[0]]), int(o[1]), float(row[o[1]])


def save(path, a):
    a = np.ascontiguousarray(a, dtype="<f4")
    if not np.all(np.isfinite(a)):
        die("non-finite values for %s" % path)
    a.tofile(path)
    return a.shape


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("--wav", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--greedy", type=int, default=8)
    ap.add_argument("--npm", default="build/npm", help="npm prefix with @lenml/tokenizers")
    ap.add_argument("--check-stream", action="store_true")
    ap.add_argument("--segment-seconds", type=float, default=1.6)
    ap.add_argument("--stream-tol", type=float, default=1e-5)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--check-tol", type=float, default=1e-4)
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    torch.set_num_threads(1)
    os.makedirs(a.out, exist_ok=True)

    with open(os.path.join(a.model_dir, "config.json")) as f:
        c = json.load(f)
    if c.get("model_type") != "vibevoice":
        die("config.json model_type %r is not vibevoice" % c.get("model_type"))
    at, st = tokenizer_config(c, "acoustic_tokenizer_config"), tokenizer_config(c, "semantic_tokenizer_config")
    if at.hop != st.hop:
        die("acoustic hop %d != semantic hop %d" % (at.hop, st.hop))
    if c.get("acoustic_vae_dim", at.vae_dim) != at.vae_dim or \
            c.get("semantic_vae_dim", st.vae_dim) != st.vae_dim:
        die("acoustic_vae_dim/semantic_vae_dim disagree with the tokenizer configs")
    with open(os.path.join(a.model_dir, "preprocessor_config.json")) as f:
        pc = json.load(f)
    if pc.get("speech_tok_compress_ratio", 3200) != at.hop:
        die("preprocessor speech_tok_compress_ratio %r != encoder hop %d"
            % (pc.get("speech_tok_compress_ratio"), at.hop))
    if pc.get("target_sample_rate", 24000) != SAMPLE_RATE:
        die("target_sample_rate %r is not 24000" % pc.get("target_sample_rate"))
    if not isinstance(c.get("decoder_config"), dict):
        die("config.json lacks decoder_config")
    cfg = decoder_cfg(c["decoder_config"])
    D, V = cfg.hidden_size, cfg.vocab_size

    W = qwen2_ref.load_weights(a.model_dir)
    used = set()
    acoustic = Encoder(W, "model.acoustic_tokenizer.encoder.", at, used)
    semantic = Encoder(W, "model.semantic_tokenizer.encoder.", st, used)
    a_conn = connector(W, "acoustic_connector", at.vae_dim, D, used)
    s_conn = connector(W, "semantic_connector", st.vae_dim, D, used)
    lm = {("model." + k[len("model.language_model."):]): v for k, v in W.items()
          if k.startswith("model.language_model.")}
    if "lm_head.weight" in W:
        lm["lm_head.weight"] = W["lm_head.weight"]
    LW = qwen2_ref.organize(lm, cfg)   # dies on missing/extra decoder tensors
    used.update(k for k in W if k.startswith("model.language_model.") or k == "lm_head.weight")
    skipped = sorted(k for k in W if k not in used)
    bad = [k for k in skipped if not k.startswith("model.acoustic_tokenizer.decoder.")]
    if bad:
        die("checkpoint has unexpected tensors: %s" % bad[:10])
    log("%d tensors, %d acoustic decoder tensors skipped" % (len(W), len(skipped)))

    # 1-2. audio
    raw, rate = read_wav(a.wav)
    if rate != SAMPLE_RATE:
        die("%s: %d Hz; this reference takes 24 kHz input (no resampler)" % (a.wav, rate))
    audio, rms, gain, limit = normalize_audio(raw, float(pc.get("target_dB_FS", -25)),
                                              float(pc.get("eps", 1e-6)))
    log("wav: %d samples (%.4f s); rms %.6g, gain %.6g, peak limit divisor %.6g"
        % (len(raw), len(raw) / SAMPLE_RATE, rms, gain, limit))
    shapes = {}
    shapes["audio_norm.f32"] = save(os.path.join(a.out, "audio_norm.f32"), audio)

    # 3-4. encoders and connectors
    x = torch.from_numpy(audio).unsqueeze(0)
    a_mean = acoustic.forward(x)[0]
    s_mean = semantic.forward(x)[0]
    n_frames = math.ceil(len(audio) / at.hop)
    if a_mean.shape[0] != n_frames or s_mean.shape[0] != n_frames:
        die("encoders gave %d/%d frames, expected ceil(%d/%d) = %d"
            % (a_mean.shape[0], s_mean.shape[0], len(audio), at.hop, n_frames))
    a_feat, s_feat = a_conn(a_mean), s_conn(s_mean)
    speech = a_feat + s_feat
    for name, t in (("acoustic_mean", a_mean), ("semantic_mean", s_mean),
                    ("acoustic_conn", a_feat), ("semantic_conn", s_feat),
                    ("speech_embeds", speech)):
        shapes[name + ".f32"] = save(os.path.join(a.out, name + ".f32"), t.numpy())
    log("frames F = %d; |acoustic mean| max %.4g, |semantic mean| max %.4g, |speech| max %.4g"
        % (n_frames, float(a_mean.abs().max()), float(s_mean.abs().max()),
           float(speech.abs().max())))

    if a.check_stream:
        seg = int(a.segment_seconds * SAMPLE_RATE)
        if seg <= 0:
            die("--segment-seconds must be positive")
        if seg % at.hop:
            log("warning: segment of %d samples is not a multiple of %d; the published "
                "streaming mode then differs from one-shot encoding" % (seg, at.hop))
        worst = 0.0
        for name, enc, ref in (("acoustic", acoustic, a_mean), ("semantic", semantic, s_mean)):
            sm, nseg = encode_streaming(enc, x, seg)
            sm = sm[0]
            if sm.shape != ref.shape:
                die("streaming %s gave %s, one-shot %s" % (name, list(sm.shape), list(ref.shape)))
            rel = float((sm - ref).abs().max()) / max(float(ref.abs().max()), 1e-30)
            worst = max(worst, rel)
            log("stream check %s: %d segments of %d samples, max|stream - oneshot|/max = %.3g"
                % (name, nseg, seg, rel))
        if worst > a.stream_tol:
            die("streaming and one-shot encodings differ (%.3g > %g)" % (worst, a.stream_tol))

    # 5. prompt
    system, user, nf = prompt_parts(len(audio), at.hop)
    sys_ids, user_ids = tokenize([system, user], a.npm)
    ids = sys_ids + user_ids
    with open(os.path.join(a.out, "prompt.txt"), "w") as f:
        f.write(system + user)
    with open(os.path.join(a.out, "ids.txt"), "w") as f:
        f.write(" ".join(str(i) for i in ids) + "\n")
    pads = [i for i, t in enumerate(ids) if t == SPEECH_PAD_ID]
    if len(pads) != nf or pads != list(range(pads[0], pads[0] + nf)):
        die("prompt has %d speech pads (want %d, contiguous)" % (len(pads), nf))
    if ids[pads[0] - 1] != SPEECH_START_ID or ids[pads[-1] + 1] != SPEECH_END_ID:
        die("speech pads are not framed by %d ... %d" % (SPEECH_START_ID, SPEECH_END_ID))
    if max(ids) >= V:
        die("prompt id %d outside the vocabulary %d" % (max(ids), V))
    log("prompt: %d ids (system %d, user %d); speech pads at %d..%d"
        % (len(ids), len(sys_ids), len(user_ids), pads[0], pads[-1]))

    # 6. splice and decode: speech row j is id V + j of an extended input table
    W2 = dict(LW)
    W2["embed"] = np.concatenate([LW["embed"], speech.numpy()], axis=0)
    cfg2 = qwen2_ref.Cfg()
    cfg2.__dict__.update(cfg.__dict__)
    cfg2.tie_word_embeddings = False
    spliced = list(ids)
    for j, p in enumerate(pads):
        spliced[p] = V + j
    model = qwen2_ref.TorchModel(W2, cfg2)
    logits = model.forward(spliced).numpy()
    if logits.shape != (len(ids), V):
        die("logits shape %s" % (logits.shape,))
    positions = [pads[0], pads[-1], len(ids) - 1]
    with open(os.path.join(a.out, "logits_index.txt"), "w") as f:
        f.write(" ".join(str(p) for p in positions) + "\n")
    shapes["logits_slice.f32"] = save(os.path.join(a.out, "logits_slice.f32"), logits[positions])
    shapes["logits_last.f32"] = save(os.path.join(a.out, "logits_last.f32"), logits[-1])

    seq, steps = list(spliced), []
    for _ in range(a.greedy):
        row = model.forward(seq)[-1].numpy()
        steps.append(top2(row))
        seq.append(steps[-1][0])
    gen = [s[0] for s in steps]
    with open(os.path.join(a.out, "greedy.txt"), "w") as f:
        f.write(" ".join(str(t) for t in gen) + "\n")
    with open(os.path.join(a.out, "greedy_margins.txt"), "w") as f:
        f.write("# step token top1_logit runner_up runner_up_logit margin\n")
        for i, (t1, v1, t2, v2) in enumerate(steps):
            f.write("%d %d %.6f %d %.6f %.6g\n" % (i, t1, v1, t2, v2, v1 - v2))
    if steps:
        log("greedy %s; min top1-top2 margin %.4g" % (gen, min(s[1] - s[3] for s in steps)))

    if a.check:
        ref64 = qwen2_ref.numpy64_forward(W2, cfg2, seq)
        scale = np.maximum(np.abs(ref64).max(axis=1), 1e-30)
        t32 = model.forward(seq).numpy().astype(np.float64)
        rel = float((np.abs(t32 - ref64).max(axis=1) / scale).max())
        log("check: float32 torch vs float64 numpy decoder, max row |diff|/max = %.3g" % rel)
        if rel > a.check_tol:
            die("float32 and float64 decoders disagree (%.3g > %g)" % (rel, a.check_tol))
        for i, t in enumerate(gen):
            if int(np.argmax(ref64[len(ids) - 1 + i])) != t:
                die("greedy step %d: float64 disagrees" % i)
        log("check OK")

    for k in sorted(shapes):
        log("wrote %s %s" % (k, list(shapes[k])))
    log("V = %d, hidden = %d, prompt length %d, logits positions %s" % (V, D, len(ids), positions))
    return 0


if __name__ == "__main__":
    sys.exit(main())
