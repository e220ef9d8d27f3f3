#!/usr/bin/python3
"""Independent reference of Whisper's decoding + long-form transcription.

Written for the unum project from the published openai/whisper code
(whisper/decoding.py, whisper/transcribe.py, whisper/tokenizer.py,
whisper/audio.py, whisper/utils.py; read at commit c0d2f624, June 2025).  It is
the project's own implementation of the same algorithm, not a copy; every part
names the published function it mirrors.  The model forward comes from
tests/reference/whisper_ref.py (float32 torch, transformers' modeling_whisper
layout), the log-mel from tests/reference/mel_ref.py.  Neither transformers,
tiktoken nor openai-whisper is used.  Run with Debian's /usr/bin/python3.

Usage:
  whisper_decode_ref.py MODEL_DIR WAV [--language xx] [--no-timestamps]
                        [--beam N] [--no-condition] [--check] -o OUT.json
  whisper_decode_ref.py --selftest      (unit cases for the segment splitting)

Fixed transcribe() options (openai defaults, except temperature):
  temperature = (0.0,) only -- no fallback to sampling, since a sampler's RNG
  cannot be matched by another program; needs_fallback is still evaluated and
  recorded per window.  compression_ratio_threshold 2.4, logprob_threshold
  -1.0, no_speech_threshold 0.6, condition_on_previous_text (unless
  --no-condition), no initial_prompt, clip_timestamps "0",
  word_timestamps off, suppress_tokens "-1" (= generation_config.json's
  suppress_tokens list), suppress_blank on, max_initial_timestamp 1.0,
  length_penalty None, patience None (1.0), fp16 off (float32 throughout).

Deliberate deviation (unum makes the same one): if processing a window would
leave `seek` unchanged (the last complete segment closes at <|0.00|>, e.g.
"<|0.00|> x <|0.00|><|0.02|> y"), openai/whisper would decode the same window
again with the same prompt forever; here seek advances by segment_size instead.
Windows where this happened carry "stuck_advance": true.

--check: for the first decoded window, and for the first window decoded with a
prompt, the logits of the first decoding step (every initial-token position,
computed through this file's KV-cache decoder) and the incremental logits of
steps 1 and 50 (of beam 0)
are compared with whisper_ref.t_decoder (float32, full recompute) and with
whisper_ref's float64 numpy path (n_encoder + NDecoder); it aborts on a
relative difference (max|diff| / max|ref|) above 1e-4, or if the raw argmax
of the last position differs from the float64 one.  Results go to "check".
The timestamp rules are always asserted on every decoded token sequence.
"""

import argparse
import json
import math
import os
import sys
import time
import wave
import zlib

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mel_ref  # noqa: E402
import whisper_ref as wr  # noqa: E402

# whisper/audio.py constants
SAMPLE_RATE = 16000
HOP_LENGTH = 160
CHUNK_LENGTH = 30
N_SAMPLES = CHUNK_LENGTH * SAMPLE_RATE      # 480000
N_FRAMES = N_SAMPLES // HOP_LENGTH          # 3000

# transcribe() defaults
COMPRESSION_RATIO_THRESHOLD = 2.4
LOGPROB_THRESHOLD = -1.0
NO_SPEECH_THRESHOLD = 0.6
MAX_INITIAL_TIMESTAMP = 1.0


def die(msg):
    sys.stderr.write("whisper_decode_ref: error: %s\n" % msg)
    sys.exit(1)


def log(msg):
    sys.stderr.write("whisper_decode_ref: %s\n" % msg)


# ---------------------------------------------------------------------------
# Tokenizer (mirrors whisper/tokenizer.py's Tokenizer properties + decode();
# the ids come from the HF files instead of tiktoken's special-token table)
# ---------------------------------------------------------------------------

def gpt2_bytes_to_unicode():
    """GPT-2's reversible byte <-> printable-unicode map (written from its
    definition: printable latin-1 ranges map to themselves, the other 68 byte
    values map to 256, 257, ... in increasing byte order)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + \
        list(range(0xAE, 0xFF + 1))
    table = {}
    extra = 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


class Tok(object):
    def __init__(self, model_dir, vocab_size):
        with open(os.path.join(model_dir, "tokenizer.json")) as f:
            tj = json.load(f)
        with open(os.path.join(model_dir, "generation_config.json")) as f:
            g = json.load(f)
        self.gen = g
        inv = {c: b for b, c in gpt2_bytes_to_unicode().items()}
        self.bytes = {}
        for s, i in tj["model"]["vocab"].items():
            try:
                self.bytes[int(i)] = bytes(inv[c] for c in s)
            except KeyError:
                die("vocab entry %r is not byte-level BPE" % s)
        added = {}
        for a in tj.get("added_tokens", []):
            added[a["content"]] = int(a["id"])
            # tiktoken decodes a special token to its literal text
            self.bytes[int(a["id"])] = a["content"].encode("utf-8")

        def need(name):
            if name not in added:
                die("tokenizer.json has no added token %s" % name)
            return added[name]

        self.eot = int(g["eos_token_id"])
        self.sot = int(g["decoder_start_token_id"])
        self.sot_prev = int(g["prev_sot_token_id"])
        self.no_timestamps = int(g["no_timestamps_token_id"])
        self.transcribe = int(g["task_to_id"]["transcribe"])
        self.translate = int(g["task_to_id"]["translate"])
        self.sot_lm = need("<|startoflm|>")
        self.no_speech = need("<|nospeech|>")
        self.timestamp_begin = need("<|0.00|>")
        self.is_multilingual = bool(g["is_multilingual"])
        for name, v in (("<|endoftext|>", self.eot), ("<|startoftranscript|>", self.sot),
                        ("<|startofprev|>", self.sot_prev), ("<|notimestamps|>", self.no_timestamps),
                        ("<|transcribe|>", self.transcribe), ("<|translate|>", self.translate)):
            if need(name) != v:
                die("generation_config id %d for %s disagrees with tokenizer.json %d"
                    % (v, name, need(name)))
        # Tokenizer.all_language_tokens / all_language_codes: language special
        # tokens in id order (model.num_languages of them)
        langs = sorted((int(i), k) for k, i in g["lang_to_id"].items())
        self.lang_ids = [i for i, _ in langs]
        self.lang_codes = [k.strip("<|>") for _, k in langs]
        self.num_languages = vocab_size - 51765 - int(self.is_multilingual)  # model.num_languages
        if self.num_languages != len(langs):
            die("vocab_size implies %d languages, generation_config has %d"
                % (self.num_languages, len(langs)))
        if self.timestamp_begin + 1501 != vocab_size:
            die("timestamps <|0.00|>..<|30.00|> do not end the vocabulary")
        # SuppressBlank: tokenizer.encode(" ") + [eot] == begin_suppress_tokens
        self.blank = [int(t) for t in g["begin_suppress_tokens"]]
        if self.bytes.get(self.blank[0]) != b" " or self.blank[1:] != [self.eot]:
            die("begin_suppress_tokens %r is not [encode(' '), eot]" % self.blank)
        self.vocab_size = vocab_size

    def lang_token(self, code):
        key = "<|%s|>" % code
        if key not in self.gen["lang_to_id"]:
            die("unknown language %r" % code)
        return int(self.gen["lang_to_id"][key])

    def sot_sequence(self, language, task="transcribe"):
        # Tokenizer.__post_init__: [sot] (+ language token) (+ task token);
        # get_tokenizer() gives an English-only model language=None, task=None
        if not self.is_multilingual:
            return [self.sot]
        return [self.sot, self.lang_token(language),
                self.transcribe if task == "transcribe" else self.translate]

    def decode(self, ids):
        # Tokenizer.decode: drop ids >= timestamp_begin, then tiktoken's
        # Encoding.decode = bytes.decode("utf-8", errors="replace")
        out = b""
        for t in ids:
            if t >= self.timestamp_begin:
                continue
            if t not in self.bytes:
                die("token id %d has no text" % t)
            out += self.bytes[t]
        return out.decode("utf-8", errors="replace")


def compression_ratio(text):
    # whisper/utils.py compression_ratio (zlib default level)
    b = text.encode("utf-8")
    return len(b) / len(zlib.compress(b))


# ---------------------------------------------------------------------------
# Model: whisper_ref weights + an incremental (KV-cached) float32 decoder with
# the same per-layer math as whisper_ref.t_decoder; the cache plays the role
# of decoding.py's PyTorchInference (first call: all initial tokens; later
# calls: only the newest token; rearrange_kv_cache for beam search).
# ---------------------------------------------------------------------------

class Model(object):
    def __init__(self, model_dir):
        self.cfg = wr.read_config(model_dir)
        self.W = wr.collect_weights(wr.load_all_tensors(model_dir), self.cfg)
        self.TW = wr.to_torch(self.W)
        self.D = self.TW["dec"]
        self.nh = self.cfg.decoder_attention_heads
        self.hd = self.cfg.d_model // self.nh
        self.n_text_ctx = self.cfg.max_target_positions
        self.n_audio_ctx = self.cfg.max_source_positions

    def encode(self, mel):
        return wr.t_encoder(mel, self.TW["enc"], self.cfg)

    def new_state(self, enc, batch):
        cross = []
        for L in self.D["layers"]:
            k = F.linear(enc, L["ca"]["kw"])
            v = F.linear(enc, L["ca"]["vw"], L["ca"]["vb"])
            cross.append((k, v))
        return {"cross": cross, "batch": batch,
                "self": [(None, None) for _ in self.D["layers"]], "len": 0}

    def _heads(self, x):  # [B, T, d] -> [B, nh, T, hd]
        b, t, _ = x.shape
        return x.view(b, t, self.nh, self.hd).transpose(1, 2)

    def _mix(self, q, k, v, mask):
        w = torch.matmul(q, k.transpose(-1, -2))
        if mask is not None:
            w = w + mask
        w = torch.softmax(w, dim=-1)
        o = torch.matmul(w, v)                                   # [B, nh, T, hd]
        b, _, t, _ = o.shape
        return o.transpose(1, 2).reshape(b, t, self.cfg.d_model)

    def step(self, state, new_ids):
        """new_ids: LongTensor [B, T] continuing every cached sequence.
        Returns final hidden states [B, T, d] (apply head() for logits)."""
        b, t = new_ids.shape
        p0 = state["len"]
        if p0 + t > self.n_text_ctx:
            die("decoder position %d > n_text_ctx %d" % (p0 + t, self.n_text_ctx))
        x = self.D["tok"][new_ids] + self.D["pos"][p0:p0 + t]
        mask = None
        if t > 1:
            mask = torch.full((t, p0 + t), torch.finfo(torch.float32).min)
            mask = torch.triu(mask, diagonal=p0 + 1)
        scale = self.hd ** -0.5
        for li, L in enumerate(self.D["layers"]):
            a = L["sa"]
            h = wr.t_ln(x, L["ln1"])
            q = F.linear(h, a["qw"], a["qb"]) * scale
            k = F.linear(h, a["kw"])
            v = F.linear(h, a["vw"], a["vb"])
            K, V = state["self"][li]
            K = k if K is None else torch.cat([K, k], dim=1)
            V = v if V is None else torch.cat([V, v], dim=1)
            state["self"][li] = (K, V)
            o = self._mix(self._heads(q), self._heads(K), self._heads(V), mask)
            x = x + F.linear(o, a["ow"], a["ob"])
            c = L["ca"]
            h = wr.t_ln(x, L["ln2"])
            q = F.linear(h, c["qw"], c["qb"]) * scale
            ck, cv = state["cross"][li]
            o = self._mix(self._heads(q), self._heads(ck.unsqueeze(0).expand(b, -1, -1)),
                          self._heads(cv.unsqueeze(0).expand(b, -1, -1)), None)
            x = x + F.linear(o, c["ow"], c["ob"])
            x = x + wr.t_mlp(wr.t_ln(x, L["ln3"]), L["mlp"])
        state["len"] = p0 + t
        return wr.t_ln(x, self.D["ln"])

    def head(self, h):
        return torch.matmul(h, self.D["head"].t())

    @staticmethod
    def rearrange(state, source_indices):
        # PyTorchInference.rearrange_kv_cache
        if source_indices != list(range(len(source_indices))):
            idx = torch.tensor(source_indices, dtype=torch.long)
            state["self"] = [(K[idx], V[idx]) for K, V in state["self"]]


# ---------------------------------------------------------------------------
# Logit filters (decoding.py SuppressBlank, SuppressTokens, ApplyTimestampRules)
# logits: float32 [B, V], modified in place; tokens: python lists of ids
# ---------------------------------------------------------------------------

class Filters(object):
    def __init__(self, tok, sample_begin, suppress, timestamps, max_initial_timestamp_index):
        self.tok = tok
        self.sample_begin = sample_begin
        self.suppress = suppress
        self.timestamps = timestamps
        self.max_init = max_initial_timestamp_index
        self.ts_gaps = []   # |logsumexp(ts logprobs) - max text logprob| per row

    def apply(self, logits, tokens):
        tok = self.tok
        ninf = -np.inf
        first = len(tokens[0]) == self.sample_begin
        # SuppressBlank.apply: first sampled position only
        if first:
            logits[:, tok.blank] = ninf
        # SuppressTokens.apply
        logits[:, self.suppress] = ninf
        if not self.timestamps:
            return
        # ApplyTimestampRules.apply
        tb = tok.timestamp_begin
        logits[:, tok.no_timestamps] = ninf
        for k, seq_all in enumerate(tokens):
            seq = seq_all[self.sample_begin:]
            last_ts = len(seq) >= 1 and seq[-1] >= tb
            penult_ts = len(seq) < 2 or seq[-2] >= tb
            if last_ts:
                if penult_ts:
                    logits[k, tb:] = ninf          # a pair just closed: text next
                else:
                    logits[k, :tok.eot] = ninf     # opened: no ordinary text
            ts = [t for t in seq if t >= tb]
            if ts:
                # non-decreasing; a new segment must start strictly later
                bound = ts[-1] if (last_ts and not penult_ts) else ts[-1] + 1
                logits[k, tb:bound] = ninf
        if first:
            logits[:, :tb] = ninf
            if self.max_init is not None:
                logits[:, tb + self.max_init + 1:] = ninf
        lp = F.log_softmax(logits.float(), dim=-1)
        for k in range(len(tokens)):
            ts_lp = torch.logsumexp(lp[k, tb:], dim=-1)
            text_max = lp[k, :tb].max()
            if math.isfinite(float(ts_lp)) and math.isfinite(float(text_max)):
                self.ts_gaps.append(abs(float(ts_lp) - float(text_max)))
            if ts_lp > text_max:
                logits[k, :tb] = ninf


def top2_margin(row):
    """top-1 minus top-2 of the finite entries of a filtered logit row (None
    when fewer than two are finite: the choice is forced)."""
    fin = row[torch.isfinite(row)]
    if fin.numel() < 2:
        return None
    v = torch.topk(fin, 2).values
    return float(v[0] - v[1])


# ---------------------------------------------------------------------------
# DecodingTask.run for one 30 s window (greedy at T=0, or beam search)
# ---------------------------------------------------------------------------

def decode_window(model, tok, enc, opts, language, prompt, check=None):
    n_ctx = model.n_text_ctx
    sample_len = n_ctx // 2                                   # DecodingTask.sample_len
    sot_seq = tok.sot_sequence(language)
    if opts.no_timestamps:                                    # sot_sequence_including_notimestamps
        sot_seq = sot_seq + [tok.no_timestamps]
    initial = list(sot_seq)
    if prompt:                                                # _get_initial_tokens
        initial = [tok.sot_prev] + prompt[-(n_ctx // 2 - 1):] + initial
    sample_begin = len(initial)
    sot_index = initial.index(tok.sot)

    # _get_suppress_tokens: "-1" -> non_speech_tokens (generation_config's
    # suppress_tokens) + transcribe, translate, sot, sot_prev, sot_lm, no_speech
    sup = set(int(t) for t in tok.gen["suppress_tokens"])
    sup.update([tok.transcribe, tok.translate, tok.sot, tok.sot_prev, tok.sot_lm, tok.no_speech])
    suppress = sorted(sup)
    # DecodingTask.__init__: precision = CHUNK_LENGTH / n_audio_ctx
    max_init = round(MAX_INITIAL_TIMESTAMP / (CHUNK_LENGTH / model.n_audio_ctx))
    if max_init != int(tok.gen.get("max_initial_timestamp_index", max_init)):
        die("max_initial_timestamp_index %s != %d" % (tok.gen["max_initial_timestamp_index"], max_init))
    filt = Filters(tok, sample_begin, suppress, not opts.no_timestamps, max_init)

    n_group = opts.beam or 1
    tokens = [list(initial) for _ in range(n_group)]
    sum_lp = torch.zeros(n_group, dtype=torch.float32)
    state = model.new_state(enc, n_group)
    no_speech_prob = float("nan")
    margins = []            # (step, margin) greedy: filtered top1-top2
    beam = BeamState(opts.beam, tok.eot) if opts.beam else None

    # DecodingTask._main_loop
    for i in range(sample_len):
        if i == 0:
            h = model.step(state, torch.tensor(tokens, dtype=torch.long))
            if check is not None:
                check(initial, model.head(h[0]), 0)
            # no_speech_prob: softmax of the logits at the sot position
            ps = torch.softmax(model.head(h[:, sot_index]).float(), dim=-1)
            no_speech_prob = float(ps[0, tok.no_speech])
            logits = model.head(h[:, -1])
        else:
            last = torch.tensor([[t[-1]] for t in tokens], dtype=torch.long)
            logits = model.head(model.step(state, last)[:, -1])
            if check is not None and i in CHECK_STEPS:
                check(tokens[0], logits[0:1].clone(), i)
        filt.apply(logits, tokens)
        if beam is None:
            # GreedyDecoder.update, temperature 0
            m = top2_margin(logits[0])
            if m is not None:
                margins.append((i, m))
            nxt = logits.argmax(dim=-1)
            lp = F.log_softmax(logits.float(), dim=-1)
            cur = lp[torch.arange(n_group), nxt]
            not_done = torch.tensor([t[-1] != tok.eot for t in tokens], dtype=torch.float32)
            sum_lp += cur * not_done
            for k in range(n_group):
                tokens[k].append(tok.eot if tokens[k][-1] == tok.eot else int(nxt[k]))
            completed = all(t[-1] == tok.eot for t in tokens)
        else:
            tokens, completed, src, m = beam.update(tokens, logits, sum_lp)
            if m is not None:
                margins.append((i, m))
            Model.rearrange(state, src)
        if completed or len(tokens[0]) > n_ctx:
            break

    # finalize + slice [sample_begin, first eot) + MaximumLikelihoodRanker
    if beam is None:
        cands = [t + [tok.eot] for t in tokens]               # GreedyDecoder.finalize
        cand_lp = [float(x) for x in sum_lp]
    else:
        cands, cand_lp = beam.finalize(tokens, sum_lp)
    sliced = [c[sample_begin:c.index(tok.eot)] for c in cands]
    scores = [lp / len(s) for s, lp in zip(sliced, cand_lp)]  # length_penalty None
    sel = int(np.argmax(scores))
    out = sliced[sel]
    slp = cand_lp[sel]
    text = tok.decode(out).strip()
    assert_timestamp_rules(tok, out, opts, max_init)
    return {
        "initial_tokens": initial, "tokens": out, "text": text,
        "sum_logprob": slp, "avg_logprob": slp / (len(out) + 1),
        "no_speech_prob": no_speech_prob, "temperature": 0.0,
        "compression_ratio": compression_ratio(text),
        "margins": margins, "ts_gaps": filt.ts_gaps, "steps": i + 1,
    }


class BeamState(object):
    """decoding.py BeamSearchDecoder (patience None -> 1.0, one audio)."""

    def __init__(self, beam_size, eot):
        self.beam_size = beam_size
        self.eot = eot
        self.max_candidates = round(beam_size * 1.0)
        self.finished = {}

    def update(self, tokens, logits, sum_lp):
        if len(tokens) % self.beam_size:
            die("beam lost rows: %d %% %d" % (len(tokens), self.beam_size))
        lp = F.log_softmax(logits.float(), dim=-1)
        scores, sources = {}, {}
        # STEP 1: candidates = top (beam_size + 1) of every beam; a repeated
        # sequence keeps its first dict position, later value/source win
        for j in range(self.beam_size):
            vals, ids = lp[j].topk(self.beam_size + 1)
            for v, t in zip(vals, ids):
                seq = tuple(tokens[j] + [int(t)])
                scores[seq] = (sum_lp[j] + v).item()          # float32 add
                sources[seq] = j
        # STEP 2: best-first (stable sort); eot-ended -> finished
        ranked = sorted(scores, key=scores.get, reverse=True)
        new_tokens, src, finished = [], [], {}
        margin = None
        for n, seq in enumerate(ranked):
            if seq[-1] == self.eot:
                finished[seq] = scores[seq]
            else:
                sum_lp[len(new_tokens)] = scores[seq]
                new_tokens.append(list(seq))
                src.append(sources[seq])
                if len(new_tokens) == self.beam_size:
                    # margin of the keep/drop decision: last kept vs next candidate
                    rest = [scores[s] for s in ranked[n + 1:] if s[-1] != self.eot]
                    if rest and math.isfinite(scores[seq]) and math.isfinite(rest[0]):
                        margin = scores[seq] - rest[0]
                    break
        for seq in sorted(finished, key=finished.get, reverse=True):
            if len(self.finished) >= self.max_candidates:
                break
            self.finished[seq] = finished[seq]
        completed = len(self.finished) >= self.max_candidates
        return new_tokens, completed, src, margin

    def finalize(self, tokens, sum_lp):
        seqs = self.finished
        if len(seqs) < self.beam_size:
            arr = sum_lp.numpy().copy()
            for j in list(np.argsort(arr))[::-1]:
                seqs[tuple(tokens[j] + [self.eot])] = float(arr[j])
                if len(seqs) >= self.beam_size:
                    break
        return [list(s) for s in seqs.keys()], list(seqs.values())


def assert_timestamp_rules(tok, out, opts, max_init):
    """Re-check, on the finished sequence, the constraints ApplyTimestampRules
    enforces (pairs, non-decreasing / strictly later new segment, initial
    timestamp limit); eot is not part of `out`."""
    tb = tok.timestamp_begin
    if opts.no_timestamps:
        if any(t >= tb for t in out):
            die("timestamp token sampled with --no-timestamps: %r" % out)
        return
    if not out or not tb <= out[0] <= tb + max_init:
        die("first sampled token is not a timestamp <= max initial: %r" % out[:3])
    for p in range(1, len(out)):
        t, seq = out[p], out[:p]
        last_ts = seq[-1] >= tb
        penult_ts = len(seq) < 2 or seq[-2] >= tb
        if last_ts and penult_ts and t >= tb:
            die("three timestamps / timestamp after a closed pair at %d: %r" % (p, out))
        if last_ts and not penult_ts and t < tok.eot:
            die("ordinary text right after an opening/closing timestamp at %d: %r" % (p, out))
        ts = [x for x in seq if x >= tb]
        if t >= tb and ts:
            bound = ts[-1] if (last_ts and not penult_ts) else ts[-1] + 1
            if t < bound:
                die("timestamp %d below bound %d at %d: %r" % (t, bound, p, out))


# ---------------------------------------------------------------------------
# audio + mel (audio.py log_mel_spectrogram(audio, n_mels, padding=N_SAMPLES))
# ---------------------------------------------------------------------------

def read_wav(path):
    with wave.open(path, "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getframerate() != SAMPLE_RATE:
            die("%s: need 16 kHz mono 16-bit PCM" % path)
        raw = w.readframes(w.getnframes())
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / np.float32(32768.0)


def whole_mel(audio, n_mels):
    x = torch.from_numpy(np.concatenate([audio, np.zeros(N_SAMPLES, dtype=np.float32)]))
    filt = torch.from_numpy(mel_ref.mel_filters(n_mels))
    return mel_ref.log_mel_spectrogram(x, filt)        # clamp max-8 over the padded whole


def pad_or_trim(m, length=N_FRAMES):
    if m.shape[-1] >= length:
        return m[:, :length]
    return F.pad(m, (0, length - m.shape[-1]))         # zeros, as audio.pad_or_trim


# ---------------------------------------------------------------------------
# decoding.detect_language (decoder on [sot], language tokens only)
# ---------------------------------------------------------------------------

def detect_language(model, tok, enc):
    st = model.new_state(enc, 1)
    logits = model.head(model.step(st, torch.tensor([[tok.sot]]))[:, 0])[0]
    mask = torch.ones(logits.shape[-1], dtype=torch.bool)
    mask[tok.lang_ids] = False
    logits[mask] = -np.inf
    best = int(logits.argmax())
    probs = logits.softmax(dim=-1)
    lp = {c: float(probs[i]) for i, c in zip(tok.lang_ids, tok.lang_codes)}
    code = max(lp, key=lp.get)          # transcribe(): max(probs, key=probs.get)
    if tok.lang_ids[tok.lang_codes.index(code)] != best:
        die("argmax and max-probability language disagree")
    top3 = sorted(lp.items(), key=lambda kv: kv[1], reverse=True)[:3]
    return code, top3


# ---------------------------------------------------------------------------
# --check: first-step logits vs whisper_ref's float32 and float64 paths
# ---------------------------------------------------------------------------

def make_checker(model, mel_np, enc, where):
    """Step 0: all initial-token rows; steps in CHECK_STEPS: the incremental
    (KV-cache) row of the newest token, before any logit filter."""
    memo = {}

    def check(ids, rows, step):
        if "enc64" not in memo:
            log("check: building float64 encoder (slow, pure numpy loops) ...")
            memo["enc64"] = wr.n_encoder(mel_np, model.W["enc"], model.cfg)
        enc64 = memo["enc64"]
        ref32 = wr.t_decoder(ids, enc, model.D, model.cfg)[-rows.shape[0]:]
        e32 = float((ref32 - rows).abs().max() / ref32.abs().max())
        eenc = float(np.abs(enc64 - enc.numpy()).max() / np.abs(enc64).max())
        nd = wr.NDecoder(enc64, model.W["dec"], model.cfg)
        rows64 = np.array([nd.step(t) for t in ids])[-rows.shape[0]:]
        e64 = float(np.abs(rows64 - rows.numpy()).max() / np.abs(rows64).max())
        same = int(np.argmax(rows64[-1])) == int(rows[-1].argmax())
        log("check %s step %d: %d tokens; KV-cache vs whisper_ref float32 full %.3g, "
            "encoder vs float64 %.3g, logits vs float64 %.3g, raw argmax agrees: %s"
            % (where, step, len(ids), e32, eenc, e64, same))
        if not (e32 <= 1e-4 and eenc <= 1e-4 and e64 <= 1e-4 and same):
            die("check FAILED")
        CHECK_RESULT.append({"window": where, "step": step, "tokens": len(ids),
                             "kv_vs_f32_full": e32, "encoder_vs_f64": eenc,
                             "logits_vs_f64": e64, "argmax_agrees": same})
    return check


CHECK_STEPS = (1, 50)
CHECK_RESULT = []


# ---------------------------------------------------------------------------
# transcribe.transcribe (seek loop, segments, prompt conditioning)
# ---------------------------------------------------------------------------

def split_window(tokens, tb, time_offset, segment_size, input_stride, time_precision):
    """transcribe()'s segment splitting for one decoded window.  Returns
    ([(start, end, tokens)], seek advance in mel frames) before the
    "instantaneous or blank segment" clearing and before the stuck-seek
    deviation."""
    segment_duration = segment_size * HOP_LENGTH / SAMPLE_RATE
    is_ts = [t >= tb for t in tokens]
    single_timestamp_ending = is_ts[-2:] == [False, True]
    # positions just after each pair of consecutive timestamp tokens
    consecutive = [i + 1 for i in range(len(tokens) - 1) if is_ts[i] and is_ts[i + 1]]
    pieces = []
    if consecutive:
        slices = list(consecutive)
        if single_timestamp_ending:
            slices.append(len(tokens))
        last_slice = 0
        for cs in slices:
            st = tokens[last_slice:cs]
            pieces.append((time_offset + (st[0] - tb) * time_precision,
                           time_offset + (st[-1] - tb) * time_precision, list(st)))
            last_slice = cs
        if single_timestamp_ending:
            advance = segment_size      # no speech after the last timestamp
        else:
            # drop the unfinished segment; seek to the last closing timestamp
            advance = (tokens[last_slice - 1] - tb) * input_stride
    else:
        duration = segment_duration
        ts = [t for t in tokens if t >= tb]
        if ts and ts[-1] != tb:
            duration = (ts[-1] - tb) * time_precision
        pieces.append((time_offset, time_offset + duration, list(tokens)))
        advance = segment_size
    return pieces, advance


def selftest():
    """Hand-worked cases for split_window (the random-weight fixtures never
    emit timestamp pairs, so the goldens alone do not exercise this)."""
    tb, T = 1000, lambda k: 1000 + k
    a, b, c = 1, 2, 3
    cases = [
        # two closed segments, then an unfinished one: seek to <|2.00|>
        ([T(0), a, T(50), T(60), b, T(100), T(120), c], 10.0, 3000,
         [(10.0, 11.0, [T(0), a, T(50)]), (11.2, 12.0, [T(60), b, T(100)])], 200),
        # single timestamp ending: last segment kept, seek += segment_size
        ([T(0), a, T(50), T(60), b, T(100)], 0.0, 1234,
         [(0.0, 1.0, [T(0), a, T(50)]), (1.2, 2.0, [T(60), b, T(100)])], 1234),
        # ends with a closed pair: the empty tail is not a segment
        ([T(0), a, T(50), T(60)], 0.0, 3000, [(0.0, 1.0, [T(0), a, T(50)])], 100),
        # no pair, one timestamp > 0: duration from it
        ([T(5), a, b], 30.0, 933, [(30.0, 30.1, [T(5), a, b])], 933),
        # no pair, only <|0.00|>: duration = segment duration
        ([T(0), a, b], 30.0, 933, [(30.0, 39.33, [T(0), a, b])], 933),
        # no timestamps at all
        ([a, b, c], 0.0, 3000, [(0.0, 30.0, [a, b, c])], 3000),
        # the stuck case: the only closed segment ends at <|0.00|> -> advance 0
        ([T(0), a, T(0), T(1), b], 0.0, 3000, [(0.0, 0.0, [T(0), a, T(0)])], 0),
    ]
    for toks, off, size, want, adv in cases:
        got, gadv = split_window(toks, tb, off, size, 2, 0.02)
        got = [(round(s, 2), round(e, 2), t) for s, e, t in got]
        if got != want or gadv != adv:
            die("selftest: split_window(%r) = %r, %r; want %r, %r" % (toks, got, gadv, want, adv))
    # ApplyTimestampRules on a toy vocabulary: text 0..9, eot 10, specials
    # 11..13, notimestamps 14, timestamps 15..24; sample_begin 1, max init 2
    class Toy(object):
        eot, no_timestamps, timestamp_begin, blank = 10, 14, 15, [0, 10]
    ts0 = 15

    def allowed(seq, logits=None):
        f = Filters(Toy, 1, [12], True, 2)
        if logits is None:      # text well above any timestamp mass (log 10 < 3)
            lg = torch.zeros(1, 25)
            lg[0, :15] = 3.0
        else:
            lg = logits.clone()
        f.apply(lg, [[99] + seq])
        return [i for i in range(25) if math.isfinite(float(lg[0, i]))]
    fcases = [
        ([], [15, 16, 17]),                                   # first: <= max initial ts
        ([ts0], list(range(0, 12)) + [13]),                   # after opening ts: text/eot/specials
        ([ts0, 3], list(range(0, 12)) + [13] + list(range(16, 25))),  # next ts > last
        ([ts0, 3, ts0 + 4], [10, 11, 13] + list(range(19, 25))),      # closing: no text, ts >= last
        ([ts0, 3, ts0 + 4, ts0 + 4], list(range(0, 12)) + [13]),      # pair closed: no ts
    ]
    for seq, want in fcases:
        got = allowed(seq)
        if got != want:
            die("selftest: timestamp rules after %r allow %r, want %r" % (seq, got, want))
    # timestamp mass above the best text token -> only timestamps (+ nothing else)
    lg = torch.zeros(1, 25)
    lg[0, 16:25] = 1.0
    if allowed([ts0, 3], lg) != list(range(16, 25)):
        die("selftest: logsumexp(timestamps) > max(text) rule")
    log("selftest OK (%d split_window cases, %d timestamp-rule cases)" % (len(cases), len(fcases) + 1))


def transcribe(model, tok, audio, opts):
    mel = whole_mel(audio, model.cfg.num_mel_bins)
    content_frames = mel.shape[-1] - N_FRAMES
    input_stride = N_FRAMES // model.n_audio_ctx                  # exact_div: 2
    if input_stride * model.n_audio_ctx != N_FRAMES:
        die("N_FRAMES not a multiple of n_audio_ctx")
    time_precision = input_stride * HOP_LENGTH / SAMPLE_RATE      # 0.02 s
    tb = tok.timestamp_begin
    info = {}

    language = opts.language
    if language is None:
        if not tok.is_multilingual:
            language = "en"
        else:
            seg = pad_or_trim(mel)
            code, top3 = detect_language(model, tok, model.encode(seg.numpy()))
            language = code
            info["language_probs_top3"] = [[c, p] for c, p in top3]
            log("detected language %s (top3 %s)" % (code, top3))

    seek = 0
    all_tokens, windows, segments = [], [], []
    prompt_reset_since = 0
    checks_left = {"plain": True, "prompted": True}   # --check: first window of each kind

    while seek < content_frames:                  # clip_timestamps "0" -> one clip
        time_offset = float(seek * HOP_LENGTH / SAMPLE_RATE)
        segment_size = min(N_FRAMES, content_frames - seek)
        mel_seg = pad_or_trim(mel[:, seek:seek + segment_size])
        mel_np = mel_seg.numpy()
        enc = model.encode(mel_np)
        prompt = all_tokens[prompt_reset_since:]
        check = None
        kind = "prompted" if prompt else "plain"
        if opts.check and checks_left[kind]:
            check = make_checker(model, mel_np, enc, "seek %d (%s)" % (seek, kind))
            checks_left[kind] = False
        t0 = time.time()

        # decode_with_fallback, temperatures (0.0,)
        res = decode_window(model, tok, enc, opts, language, prompt, check)
        needs_fallback = False
        if res["compression_ratio"] > COMPRESSION_RATIO_THRESHOLD:
            needs_fallback = True
        if res["avg_logprob"] < LOGPROB_THRESHOLD:
            needs_fallback = True
        if res["no_speech_prob"] > NO_SPEECH_THRESHOLD and res["avg_logprob"] < LOGPROB_THRESHOLD:
            needs_fallback = False                # silence

        mg = res["margins"]
        win = {
            "seek": seek, "time_offset": time_offset, "segment_size": segment_size,
            "initial_tokens": res["initial_tokens"], "tokens": res["tokens"],
            "text": res["text"],
            "sum_logprob": res["sum_logprob"], "avg_logprob": res["avg_logprob"],
            "no_speech_prob": res["no_speech_prob"], "temperature": res["temperature"],
            "compression_ratio": res["compression_ratio"],
            "needs_fallback": needs_fallback, "skipped": False,
            "steps": res["steps"],
            "min_margin": min(m for _, m in mg) if mg else None,
            "min_margin_step": min(mg, key=lambda x: x[1])[0] if mg else None,
            "min_ts_rule_gap": min(res["ts_gaps"]) if res["ts_gaps"] else None,
            "stuck_advance": False,
        }
        windows.append(win)
        log("window seek=%d: %d tokens, %d steps, avg_logprob %.4f, min_margin %s (%.1fs)"
            % (seek, len(res["tokens"]), res["steps"], res["avg_logprob"],
               win["min_margin"], time.time() - t0))

        # no voice activity check
        should_skip = res["no_speech_prob"] > NO_SPEECH_THRESHOLD
        if res["avg_logprob"] > LOGPROB_THRESHOLD:
            should_skip = False
        if should_skip:
            win["skipped"] = True
            seek += segment_size
            win["seek_after"] = seek
            continue

        previous_seek = seek
        tokens = res["tokens"]
        cur = []

        def new_segment(start, end, toks):
            return {"seek": previous_seek, "start": start, "end": end,
                    "text": tok.decode([t for t in toks if t < tok.eot]), "tokens": list(toks)}

        pieces, advance = split_window(tokens, tb, time_offset, segment_size,
                                       input_stride, time_precision)
        cur = [new_segment(st, en, tk) for st, en, tk in pieces]
        seek += advance

        # deliberate deviation (see module docstring): never leave seek unchanged
        if seek == previous_seek:
            win["stuck_advance"] = True
            seek = previous_seek + segment_size
        win["seek_after"] = seek

        for s in cur:
            if s["start"] == s["end"] or s["text"].strip() == "":
                s["text"] = ""
                s["tokens"] = []
        segments.extend(cur)
        for s in cur:
            all_tokens.extend(s["tokens"])
        if opts.no_condition or res["temperature"] > 0.5:
            prompt_reset_since = len(all_tokens)

    out_segs = [{"seek": s["seek"], "start": round(s["start"], 2), "end": round(s["end"], 2),
                 "text": s["text"], "tokens": s["tokens"]} for s in segments if s["text"] != ""]
    info["content_frames"] = content_frames
    info["text"] = tok.decode(all_tokens)          # transcribe()'s result["text"]
    return language, windows, out_segs, info


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("wav")
    ap.add_argument("--language")
    ap.add_argument("--no-timestamps", action="store_true")
    ap.add_argument("--beam", type=int, default=0)
    ap.add_argument("--no-condition", action="store_true")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--selftest", action="store_true",
                    help="only run the split_window unit cases")
    ap.add_argument("-o", "--output")
    if "--selftest" in sys.argv[1:]:
        selftest()
        return
    opts = ap.parse_args()
    if not opts.output:
        die("-o OUT.json is required")
    if opts.beam < 0:
        die("--beam must be positive")

    torch.set_grad_enabled(False)
    torch.set_num_threads(1)                 # deterministic float32 summation order
    t0 = time.time()
    model = Model(opts.model_dir)
    tok = Tok(opts.model_dir, model.cfg.vocab_size)
    if opts.language is not None:
        tok.lang_token(opts.language)
    audio = read_wav(opts.wav)
    language, windows, segs, info = transcribe(model, tok, audio, opts)

    doc = {
        "model": os.path.basename(os.path.normpath(opts.model_dir)),
        "audio": os.path.basename(opts.wav),
        "options": {
            "language": opts.language, "task": "transcribe",
            "without_timestamps": bool(opts.no_timestamps),
            "beam_size": opts.beam or None, "patience": None, "length_penalty": None,
            "temperature": [0.0], "condition_on_previous_text": not opts.no_condition,
            "compression_ratio_threshold": COMPRESSION_RATIO_THRESHOLD,
            "logprob_threshold": LOGPROB_THRESHOLD,
            "no_speech_threshold": NO_SPEECH_THRESHOLD,
            "max_initial_timestamp": MAX_INITIAL_TIMESTAMP,
            "suppress_tokens": "-1", "suppress_blank": True,
        },
        "language": language,
    }
    if "language_probs_top3" in info:
        doc["language_detected"] = True
        doc["language_probs_top3"] = info["language_probs_top3"]
    doc["content_frames"] = info["content_frames"]
    if CHECK_RESULT:
        doc["check"] = CHECK_RESULT
    doc["windows"] = windows
    doc["segments"] = segs
    doc["text"] = info["text"]
    with open(opts.output, "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False, allow_nan=False)
        f.write("\n")
    log("%s: language %s, %d windows, %d segments, %.1fs"
        % (opts.output, language, len(windows), len(segs), time.time() - t0))


if __name__ == "__main__":
    main()
