#!/usr/bin/python3
"""Independent dequantizer for GPTQ and AWQ checkpoints (numpy only).

Written from the published format descriptions, not from unum's C:

  GPTQ (AutoGPTQ / GPTQModel, quant_method "gptq"): for a Linear of
  in_features K and out_features N with b bits (p = 32 // b values per int32):
    qweight int32 [K // p, N]   input k of output n sits in word [k // p, n],
                                bits b*(k % p) .. b*(k % p)+b-1
    qzeros  int32 [G, N // p]   zero of output n in group g in word [g, n // p],
                                bits b*(n % p) ..; checkpoint_format "gptq"
                                stores zero - 1, "gptq_v2" the zero itself
    scales  fp16  [G, N]
    g_idx   int32 [K]           the group of each input (act-order permutes it)
    W[n, k] = scales[g_idx[k], n] * (q[k, n] - zero[g_idx[k], n])

  AWQ (AutoAWQ, quant_method "awq", version "gemm", 4 bits):
    qweight int32 [K, N // 8]   output 8c + order[i] of input k in nibble i of
                                word [k, c], order = (0, 2, 4, 6, 1, 3, 5, 7)
    qzeros  int32 [K // G, N // 8]  the same packing, zeros stored as is
    scales  fp16  [K // G, N]
    W[n, k] = scales[k // G, n] * (q[k, n] - zero[k // G, n])

Usage:
  quant_ref.py QDIR TWIN       check that every tensor of the float32 twin
                               equals QDIR's, quantized layers dequantized here
  quant_ref.py QDIR --dump NAME OUT.f32   write one dequantized layer [N x K]
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "I32": np.int32}
AWQ_ORDER = (0, 2, 4, 6, 1, 3, 5, 7)


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        a = np.frombuffer(data[b:end], dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
        if e["dtype"] == "BF16":
            a = (a.astype(np.uint32) << 16).view(np.float32)
        out[name] = a
    return out


def unpack_along_rows(words, bits):
    """int32 [R, C] packed along R: -> uint32 [R * p, C]."""
    p, mask = 32 // bits, (1 << bits) - 1
    w = words.view(np.uint32)
    parts = [(w >> np.uint32(bits * j)) & np.uint32(mask) for j in range(p)]
    return np.stack(parts, axis=1).reshape(w.shape[0] * p, w.shape[1])


def unpack_along_cols(words, bits, order=None):
    """int32 [R, C] packed along C: -> uint32 [R, C * p]; order[i] is the
    column offset that slot i holds (natural order when None)."""
    p, mask = 32 // bits, (1 << bits) - 1
    w = words.view(np.uint32)
    out = np.zeros((w.shape[0], w.shape[1], p), dtype=np.uint32)
    for i in range(p):
        out[:, :, order[i] if order else i] = (w >> np.uint32(bits * i)) & np.uint32(mask)
    return out.reshape(w.shape[0], w.shape[1] * p)


def dequant_gptq(t, prefix, qc):
    bits = qc["bits"]
    q = unpack_along_rows(t[prefix + ".qweight"], bits).astype(np.int64)  # [K, N]
    z = unpack_along_cols(t[prefix + ".qzeros"], bits).astype(np.int64)  # [G, N]
    if qc.get("checkpoint_format", "gptq") != "gptq_v2":
        z = z + 1
    s = t[prefix + ".scales"].astype(np.float32)
    K = q.shape[0]
    g = t.get(prefix + ".g_idx")
    if g is None:
        gs = qc["group_size"] if qc["group_size"] > 0 else K
        g = np.arange(K) // gs
    g = g.astype(np.int64)
    w = s[g, :] * (q - z[g, :]).astype(np.float32)  # [K, N]
    return np.ascontiguousarray(w.T)


def dequant_awq(t, prefix, qc):
    q = unpack_along_cols(t[prefix + ".qweight"], 4, AWQ_ORDER).astype(np.int64)  # [K, N]
    z = unpack_along_cols(t[prefix + ".qzeros"], 4, AWQ_ORDER).astype(np.int64)  # [G, N]
    s = t[prefix + ".scales"].astype(np.float32)
    K = q.shape[0]
    gs = qc["group_size"] if qc["group_size"] > 0 else K
    g = np.arange(K) // gs
    w = s[g, :] * (q - z[g, :]).astype(np.float32)
    return np.ascontiguousarray(w.T)


def dequantize(qdir):
    """All tensors of QDIR as float32, quantized layers as prefix.weight."""
    cfg = json.load(open(qdir + "/config.json"))
    qc = cfg["quantization_config"]
    t = read_safetensors(qdir + "/model.safetensors")
    out = {}
    for name in t:
        if name.endswith(".qweight"):
            prefix = name[: -len(".qweight")]
            f = dequant_gptq if qc["quant_method"] == "gptq" else dequant_awq
            out[prefix + ".weight"] = f(t, prefix, qc)
        elif not name.endswith((".qzeros", ".scales", ".g_idx")):
            out[name] = t[name].astype(np.float32)
    return out


def main():
    if len(sys.argv) == 5 and sys.argv[2] == "--dump":
        dequantize(sys.argv[1])[sys.argv[3]].astype(np.float32).tofile(sys.argv[4])
        return 0
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    mine = dequantize(sys.argv[1])
    twin = read_safetensors(sys.argv[2] + "/model.safetensors")
    if sorted(mine) != sorted(twin):
        print("tensor names differ: %s" % sorted(set(mine) ^ set(twin)), file=sys.stderr)
        return 1
    for name in sorted(twin):
        a, b = mine[name], twin[name].astype(np.float32)
        if a.shape != b.shape or not np.array_equal(a, b):
            bad = np.abs(a - b).max() if a.shape == b.shape else "shape %s vs %s" % (a.shape, b.shape)
            print("%s: dequantized differs from the twin (%s)" % (name, bad), file=sys.stderr)
            return 1
    print("quant_ref: %s: %d tensors equal to the twin" % (sys.argv[1], len(twin)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
