#!/usr/bin/python3
"""Cross-checks tests/reference/vibevoice_ref.py against the published
VibeVoice speech tokenizer code itself, when a copy of microsoft/VibeVoice is
at hand (it is not needed by the tests or by the goldens).

  vibevoice_pubcheck.py VIBEVOICE_SRC MODEL_DIR GOLDEN_DIR

VIBEVOICE_SRC is a checkout of microsoft/VibeVoice (e73d1e1). The published
vibevoice/modular/modular_vibevoice_tokenizer.py and configuration_vibevoice.py
are imported as they are; transformers, which they import but which is not
installed here, is replaced by minimal stand-ins: PretrainedConfig stores its
keyword arguments, PreTrainedModel is torch.nn.Module with a config, and
ACT2FN["gelu"] is torch.nn.GELU() (exact erf GELU, as transformers'
GELUActivation). The check then
  - builds VibeVoiceAcousticTokenizerModel / VibeVoiceSemanticTokenizerModel
    from MODEL_DIR/config.json and compares every tensor name and shape of
    their state_dict with the checkpoint (the acoustic decoder is built in
    full by the published code; the fixture holds a few of its tensors);
  - loads the checkpoint's weights and encodes GOLDEN_DIR/audio_norm.f32 in
    one shot and in the published streaming mode (1.6 s segments), and
    compares both with GOLDEN_DIR/{acoustic,semantic}_mean.f32.
Fails (exit 1) on any name/shape mismatch or a relative difference > 1e-5.
"""
import importlib.util
import json
import logging
import os
import sys
import types

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qwen2_ref  # noqa: E402


def die(msg):
    sys.stderr.write("vibevoice_pubcheck: error: %s\n" % msg)
    sys.exit(1)


def stub_transformers():
    names = ["", ".models", ".models.auto", ".configuration_utils", ".utils", ".modeling_utils",
             ".activations", ".models.qwen2", ".models.qwen2.configuration_qwen2"]
    mods = {n: types.ModuleType("transformers" + n) for n in names}
    for n, m in mods.items():
        sys.modules["transformers" + n] = m

    class Config(object):
        def __init__(self, **kw):
            self.__dict__.update(kw)

    class Model(torch.nn.Module):
        def __init__(self, config=None):
            super().__init__()
            self.config = config

    class Auto(object):
        @staticmethod
        def register(*a):
            pass

    class Log(object):
        get_logger = staticmethod(logging.getLogger)

    mods[".models.auto"].AutoModel = Auto
    mods[".configuration_utils"].PretrainedConfig = Config
    mods[".utils"].logging = Log
    mods[".modeling_utils"].PreTrainedModel = Model
    mods[".activations"].ACT2FN = {"gelu": torch.nn.GELU()}
    mods[".models.qwen2.configuration_qwen2"].Qwen2Config = Config


def load_published(src):
    d = os.path.join(src, "vibevoice", "modular")
    pkg = types.ModuleType("vv_published")
    pkg.__path__ = [d]
    sys.modules["vv_published"] = pkg
    out = {}
    for name in ("configuration_vibevoice", "modular_vibevoice_tokenizer"):
        path = os.path.join(d, name + ".py")
        if not os.path.exists(path):
            die("%s missing" % path)
        spec = importlib.util.spec_from_file_location("vv_published." + name, path)
        m = importlib.util.module_from_spec(spec)
        sys.modules["vv_published." + name] = m
        spec.loader.exec_module(m)
        out[name] = m
    return out["configuration_vibevoice"], out["modular_vibevoice_tokenizer"]


def main():
    if len(sys.argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    src, model_dir, gold = sys.argv[1:]
    torch.set_grad_enabled(False)
    torch.set_num_threads(1)
    stub_transformers()
    cfgmod, tok = load_published(src)
    with open(os.path.join(model_dir, "config.json")) as f:
        c = json.load(f)
    W = qwen2_ref.load_weights(model_dir)
    audio = np.fromfile(os.path.join(gold, "audio_norm.f32"), dtype="<f4")
    x = torch.from_numpy(audio)[None, None]
    worst = 0.0
    for which, cls, ccls in (
            ("acoustic", tok.VibeVoiceAcousticTokenizerModel, cfgmod.VibeVoiceAcousticTokenizerConfig),
            ("semantic", tok.VibeVoiceSemanticTokenizerModel, cfgmod.VibeVoiceSemanticTokenizerConfig)):
        tc = dict(c[which + "_tokenizer_config"])
        tc.pop("model_type", None)
        model = cls(ccls(**tc)).eval()
        pre = "model.%s_tokenizer." % which
        mine = {k[len(pre):]: v for k, v in W.items() if k.startswith(pre)}
        sd = model.state_dict()
        extra = sorted(set(mine) - set(sd))
        absent = sorted(n for n in set(sd) - set(mine) if not n.startswith("decoder."))
        if extra or absent:
            die("%s: names only in the checkpoint %s, only in the published module %s"
                % (which, extra[:5], absent[:5]))
        for k in mine:
            if list(sd[k].shape) != list(mine[k].shape):
                die("%s: %s is %s in the checkpoint, %s in the published module"
                    % (which, k, list(mine[k].shape), list(sd[k].shape)))
        model.load_state_dict({k: torch.from_numpy(v) for k, v in mine.items()}, strict=False)
        one = model.encode(x).mean[0].numpy()
        cache, seg, outs = tok.VibeVoiceTokenizerStreamingCache(), 38400, []
        starts = list(range(0, x.shape[-1], seg))
        for n, s in enumerate(starts):
            outs.append(model.encode(x[..., s:s + seg], cache=cache, sample_indices=torch.arange(1),
                                     use_cache=True, is_final_chunk=(n == len(starts) - 1)).mean)
        stream = torch.cat(outs, 1)[0].numpy()
        ref = np.fromfile(os.path.join(gold, "%s_mean.f32" % which), dtype="<f4")
        if ref.size != one.size or stream.shape != one.shape:
            die("%s: shapes %s (one-shot), %s (streaming), golden %d values"
                % (which, one.shape, stream.shape, ref.size))
        ref = ref.reshape(one.shape)
        scale = float(np.abs(ref).max())
        r1 = float(np.abs(one - ref).max()) / scale
        r2 = float(np.abs(stream - ref).max()) / scale
        worst = max(worst, r1, r2)
        sys.stderr.write("vibevoice_pubcheck: %s %d names match; published one-shot vs golden %.3g, "
                         "published streaming vs golden %.3g\n" % (which, len(mine), r1, r2))
    if worst > 1e-5:
        die("the published encoder and the goldens differ (%.3g)" % worst)
    sys.stderr.write("vibevoice_pubcheck: OK\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
