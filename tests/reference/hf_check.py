#!/usr/bin/env python3
"""hf_check.py - checks the project's goldens against Hugging Face itself.

Runs where transformers and tokenizers are installed (the GPU machine's
Python; Debian 12 ships neither). For each tiny preset it loads the generated
checkpoint with transformers' Qwen2ForCausalLM in float32, computes the
teacher-forced logits of tests/golden/P/prompt.ids and 16 greedy ids, and
compares them with the goldens of tests/reference/qwen2_ref.py (the
project's independent reference). It also encodes the tokenizer corpus with
the tokenizers library. Writes the transformers outputs under OUT/hf/ so they
can be committed beside the project's goldens, and exits 1 on a mismatch.

    python3 tests/reference/hf_check.py FIXTURES_DIR OUT_DIR [QWEN_TOKENIZER_JSON]
"""
import json
import os
import sys

import numpy as np
import torch

PRESETS = ["tiny-bf16", "tiny-untied-f32", "tiny-headdim-f16", "tiny-mqa-bf16", "tiny-sharded-bf16"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_model(path):
    from transformers import Qwen2ForCausalLM
    try:
        m = Qwen2ForCausalLM.from_pretrained(path, dtype=torch.float32, local_files_only=True)
    except TypeError:
        m = Qwen2ForCausalLM.from_pretrained(path, torch_dtype=torch.float32, local_files_only=True)
    m.eval()
    return m


def check_model(fixtures, out):
    ok = True
    for p in PRESETS:
        gdir = os.path.join(ROOT, "tests", "golden", p)
        ids = [int(x) for x in open(os.path.join(gdir, "prompt.ids")).read().split()]
        want = np.fromfile(os.path.join(gdir, "logits.f32"), dtype=np.float32)
        greedy_want = [int(x) for x in open(os.path.join(gdir, "greedy.ids")).read().split()]
        m = load_model(os.path.join(fixtures, p))
        with torch.no_grad():
            logits = m(torch.tensor([ids])).logits[0].float().numpy()
            seq = list(ids)
            for _ in range(16):
                nxt = int(m(torch.tensor([seq])).logits[0, -1].argmax())
                seq.append(nxt)
        got = logits.reshape(-1)
        want = want.reshape(logits.shape)
        rel = float(np.max(np.abs(logits - want).max(axis=1) / np.abs(want).max(axis=1)))
        greedy = seq[len(ids):]
        same = greedy == greedy_want
        print(f"hf_check: {p}: transformers vs project reference logits: max rel diff {rel:.3g}; "
              f"greedy ids {'identical' if same else 'DIFFER'}")
        ok &= rel < 1e-4 and same
        os.makedirs(os.path.join(out, "hf", p), exist_ok=True)
        got.astype(np.float32).tofile(os.path.join(out, "hf", p, "logits.f32"))
        with open(os.path.join(out, "hf", p, "greedy.ids"), "w") as f:
            f.write(" ".join(map(str, greedy)) + "\n")
    return ok


def check_tokenizer(tok_path, out):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(tok_path)
    plain = Tokenizer.from_file(tok_path)
    plain.encode_special_tokens = True  # special-token strings stay text
    bad = 0
    lines = open(os.path.join(ROOT, "tests", "golden", "tokenizer", "corpus.jsonl")).read().splitlines()
    for line in lines:
        case = json.loads(line)
        t = tok if case.get("special") else plain
        ids = t.encode(case["text"], add_special_tokens=False).ids
        if ids != case["ids"]:
            bad += 1
            if bad <= 5:
                print(f"hf_check: tokenizer differs on {case['text'][:60]!r}: {ids[:12]} vs {case['ids'][:12]}")
    print(f"hf_check: tokenizers library vs corpus goldens: {len(lines) - bad} of {len(lines)} identical")
    return bad == 0


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    fixtures, out = sys.argv[1], sys.argv[2]
    ok = check_model(fixtures, out)
    if len(sys.argv) > 3 and os.path.exists(sys.argv[3]):
        ok &= check_tokenizer(sys.argv[3], out)
    print("hf_check: " + ("all agree" if ok else "MISMATCH"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
