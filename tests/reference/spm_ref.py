#!/usr/bin/env python3
"""spm_ref.py TOKENIZER_JSON - goldens for a SentencePiece-style BPE
tokenizer.json (model.byte_fallback true: Llama's, MiniCPM's), written from
the semantics that the Hugging Face tokenizers library documents for its
parts, in plain Python and independent of unum's C:

  added tokens   split out of the raw text first, longest match at each
                 position (special ones only when special tokens are allowed)
  normalizer     run on each stretch between added tokens: Prepend(p) puts p
                 in front of a non-empty stretch, Replace(String a, b) swaps
                 every a for b, left to right
  pre-tokenizer  none, or Metaspace (space -> replacement; prepend it when the
                 scheme says so and the stretch does not already start with
                 it; with split, cut before each replacement)
  model BPE      each character is a symbol if the vocabulary has it, else its
                 UTF-8 bytes become <0xNN> symbols (byte_fallback); then the
                 adjacent pair with the lowest merge rank (leftmost on ties)
                 merges until none is left
  decoder        Replace(a, b) on each token, ByteFallback (runs of <0xNN>
                 tokens become their bytes; an invalid run becomes one U+FFFD
                 per byte), Fuse, Strip(content, start, 0)

Prints one JSON object per line: text, special (allowed or not), ids, and the
text decoded back from those ids."""
import json
import sys


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class Spm:
    def __init__(self, tj):
        model = tj["model"]
        assert model["type"] == "BPE" and model.get("byte_fallback") is True
        self.vocab = dict(model["vocab"])
        self.inv = {i: t for t, i in self.vocab.items()}
        self.ranks = {}
        for r, m in enumerate(model["merges"]):
            a, b = m.split(" ") if isinstance(m, str) else m
            self.ranks[(a, b)] = r  # a later duplicate would win, as in the library
        self.added = {a["content"]: a for a in tj.get("added_tokens") or []}
        for a in self.added.values():
            self.inv[a["id"]] = a["content"]
        self.norm = self._steps(tj.get("normalizer"), "normalizers")
        self.pre = tj.get("pre_tokenizer")
        self.dec = self._steps(tj.get("decoder"), "decoders")

    @staticmethod
    def _steps(node, key):
        if not node:
            return []
        if node["type"] == "Sequence":
            out = []
            for n in node[key]:
                out += Spm._steps(n, key)
            return out
        return [node]

    # ---------------------------------------------------------------- encode
    def split_added(self, text, special):
        """[(is_added, piece, offset)] in order."""
        out, i, start = [], 0, 0
        names = sorted(self.added, key=len, reverse=True)
        while i < len(text):
            hit = None
            for name in names:
                if self.added[name]["special"] and not special:
                    continue
                if text.startswith(name, i):
                    hit = name
                    break
            if hit is None:
                i += 1
                continue
            if i > start:
                out.append((False, text[start:i], start))
            out.append((True, hit, i))
            i += len(hit)
            start = i
        if start < len(text):
            out.append((False, text[start:], start))
        return out

    def normalize(self, s):
        for st in self.norm:
            if st["type"] == "Prepend":
                if s:
                    s = st["prepend"] + s
            elif st["type"] == "Replace":
                s = s.replace(st["pattern"]["String"], st["content"])
            else:
                raise ValueError("normalizer " + st["type"])
        return s

    def pre_tokenize(self, s, at_start):
        p = self.pre
        if not p:
            return [s]
        assert p["type"] == "Metaspace"
        rep = p.get("replacement", "\u2581")
        scheme = p.get("prepend_scheme")
        if scheme is None:
            scheme = "always" if p.get("add_prefix_space", True) else "never"
        s = s.replace(" ", rep)
        if not s.startswith(rep) and (scheme == "always" or (scheme == "first" and at_start)):
            s = rep + s
        if not p.get("split", True):
            return [s]
        pieces, cur = [], ""
        i = 0
        while i < len(s):
            if s.startswith(rep, i) and cur:
                pieces.append(cur)
                cur = ""
            if s.startswith(rep, i):
                cur += rep
                i += len(rep)
            else:
                cur += s[i]
                i += 1
        if cur:
            pieces.append(cur)
        return pieces

    def bpe(self, piece):
        syms = []
        for ch in piece:
            if ch in self.vocab:
                syms.append(ch)
            else:
                syms += ["<0x%02X>" % b for b in ch.encode("utf-8")]
        while True:
            best = None
            for i in range(len(syms) - 1):
                r = self.ranks.get((syms[i], syms[i + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            i = best[1]
            syms[i:i + 2] = [syms[i] + syms[i + 1]]
        return [self.vocab[s] for s in syms]

    def encode(self, text, special):
        ids = []
        for is_added, piece, off in self.split_added(text, special):
            if is_added:
                ids.append(self.added[piece]["id"])
                continue
            for p in self.pre_tokenize(self.normalize(piece), off == 0):
                ids += self.bpe(p)
        return ids

    # ---------------------------------------------------------------- decode
    def decode(self, ids):
        toks = [self.inv[i] for i in ids]
        strip = 0
        for st in self.dec:
            t = st["type"]
            if t == "Replace":
                a, b = st["pattern"]["String"], st["content"]
                toks = [x.replace(a, b) for x in toks]
            elif t == "ByteFallback":
                out, run = [], []

                def flush():
                    if run:
                        try:
                            out.append(bytes(run).decode("utf-8"))
                        except UnicodeDecodeError:
                            out.extend("\ufffd" * len(run))
                        run.clear()

                for x in toks:
                    if len(x) == 6 and x.startswith("<0x") and x.endswith(">"):
                        run.append(int(x[3:5], 16))
                    else:
                        flush()
                        out.append(x)
                flush()
                toks = out
            elif t == "Fuse":
                toks = ["".join(toks)]
            elif t == "Strip":
                c, start = st["content"], st["start"]
                assert st["stop"] == 0
                strip = start
                res = []
                for x in toks:
                    k = 0
                    while k < start and k < len(x) and x[k] == c:
                        k += 1
                    res.append(x[k:])
                toks = res
            else:
                raise ValueError("decoder " + t)
        return "".join(toks)


CASES = [
    ("hello world", False),
    ("the meeting starts at ten; we will talk about the report.", False),
    ("  two leading spaces", False),
    ("trailing spaces   ", False),
    ("many     spaces  between", False),
    (" ", False),
    ("line one\nline two\n\nend", False),
    ("tabs\tand\r\nreturns", False),
    ("\u4f1a\u8bae\u62a5\u544a \u8ba1\u5212", False),
    ("\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8", False),
    ("emoji \U0001F600 and \U0001F44D\U0001F3FD here", False),
    ("caf\u00e9 na\u0308ive", False),
    ("<0x41> is text, not a byte", False),
    ("a literal \u2581 metasymbol", False),
    ("<s>hello <|im_start|>user\nhi<|im_end|>", True),
    ("<s>hello <|im_start|>user\nhi<|im_end|>", False),
    ("<|im_start|>assistant\n the answer", True),
    ("x<s> y", True),
    ("HELLO World!? (quick) [brown] {fox}", False),
    ("0123456789 3.14 -42", False),
]


def main():
    sp = Spm(load(sys.argv[1]))
    for text, special in CASES:
        ids = sp.encode(text, special)
        line = {"text": text, "special": special, "ids": ids, "decoded": sp.decode(ids)}
        print(json.dumps(line, ensure_ascii=False))


if __name__ == "__main__":
    main()
