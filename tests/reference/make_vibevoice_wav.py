#!/usr/bin/python3
"""Writes tests/golden/vibevoice/speech24k.wav: the input of the VibeVoice-ASR
goldens (tests/reference/vibevoice_ref.py).

24 kHz mono 16-bit PCM, 175213 samples (7.3005 s). The length is not a
multiple of the speech tokenizer's hop (3200 samples), so the encoders' ceil
padding is exercised: ceil(175213 / 3200) = 55 frames (54.75 exact).

Content, all deterministic (numpy's PCG64 Generator seeded with 20240913):
  - 0.00-3.20 s  "speaker A": voiced syllables, f0 gliding 110 -> 150 Hz,
                 12 harmonics with a 1/h^1.2 spectral tilt and two formant
                 bumps (700 Hz, 1200 Hz), a 4 Hz syllable envelope;
  - 3.20-3.70 s  a pause: low noise only;
  - 3.70-7.30 s  "speaker B": the same voice model with f0 200 -> 260 Hz,
                 formants at 500 Hz and 1800 Hz, a 5 Hz syllable envelope;
  - everywhere   white noise at about -50 dBFS;
  - at 5.000 s   a 2 ms click of amplitude 0.9. After VibeVoice's -25 dBFS
                 RMS gain the click exceeds full scale, so the normalizer's
                 peak limiter (avoid_clipping) is exercised too.
The signal is scaled so that its RMS is about -31 dBFS, then quantized to
int16 by rounding (np.rint) and clipping to [-32768, 32767].

Usage: /usr/bin/python3 tests/reference/make_vibevoice_wav.py OUT.wav
"""
import struct
import sys

import numpy as np

SR = 24000
N = 175213


def voice(t, f0_from, f0_to, formants, syll_hz, rng):
    dur = t[-1] - t[0]
    f0 = f0_from + (f0_to - f0_from) * (t - t[0]) / dur
    f0 = f0 * (1.0 + 0.01 * np.sin(2 * np.pi * 5.5 * t))          # vibrato
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = np.zeros_like(t)
    for h in range(1, 13):
        fh = h * f0
        amp = h ** -1.2
        for fc in formants:
            amp = amp * (1.0 + 3.0 * np.exp(-((fh - fc) / 150.0) ** 2))
        x += amp * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
    env = 0.5 * (1.0 - np.cos(2 * np.pi * syll_hz * (t - t[0])))  # syllables
    return x * env ** 1.5


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: make_vibevoice_wav.py OUT.wav\n")
        return 2
    rng = np.random.Generator(np.random.PCG64(20240913))
    t = np.arange(N, dtype=np.float64) / SR
    x = np.zeros(N)
    a = t < 3.2
    x[a] = voice(t[a], 110.0, 150.0, (700.0, 1200.0), 4.0, rng)
    b = t >= 3.7
    x[b] = 0.8 * voice(t[b], 200.0, 260.0, (500.0, 1800.0), 5.0, rng)
    x *= 10 ** (-31 / 20) / np.sqrt(np.mean(x ** 2))
    x += 10 ** (-50 / 20) * rng.standard_normal(N)
    c = int(5.0 * SR)
    x[c:c + 48] = 0.9 * np.sign(np.sin(2 * np.pi * 500.0 * np.arange(48) / SR) + 1e-9)
    pcm = np.clip(np.rint(x * 32768.0), -32768, 32767).astype("<i2")
    with open(sys.argv[1], "wb") as f:
        data = pcm.tobytes()
        f.write(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE")
        f.write(b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, SR, SR * 2, 2, 16))
        f.write(b"data" + struct.pack("<I", len(data)) + data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
