#!/usr/bin/python3
"""mel_ref.py - independent reference for engine/mel.c (Whisper's log-mel).

Written from openai/whisper's published whisper/audio.py
(log_mel_spectrogram, pad_or_trim) using torch.stft exactly as it does, with
the mel filterbank computed in numpy from librosa.filters.mel's formula
(Slaney mel scale, Slaney area normalisation), which is what whisper's
mel_filters.npz holds. No code is shared with the C implementation.

Usage: /usr/bin/python3 tests/reference/mel_ref.py [OUTDIR]
(default tests/golden/mel). Needs espeak-ng, python3-torch, python3-numpy.
Writes 16 kHz 16-bit inputs (speech16k.wav, synth16k.wav) and float32
little-endian row-major goldens [n_mels x frames]; see README.md there."""
import os
import subprocess
import sys
import tempfile
import wave

import numpy as np
import torch

SR, N_FFT, HOP, N_SAMPLES = 16000, 400, 160, 480000


# --- librosa.filters.mel(sr, n_fft, n_mels), htk=False, norm="slaney" ------
def hz_to_mel(f):
    f = np.asanyarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-300) / min_log_hz) / logstep, mels)


def mel_to_hz(m):
    m = np.asanyarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * m
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), freqs)


def mel_filters(n_mels, sr=SR, n_fft=N_FFT):
    fftfreqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=np.float32)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
    weights *= enorm[:, np.newaxis]
    return weights


# --- whisper/audio.py --------------------------------------------------------
def pad_or_trim(array, length=N_SAMPLES):
    if array.shape[-1] > length:
        return array[..., :length]
    return torch.nn.functional.pad(array, [0, length - array.shape[-1]])


def log_mel_spectrogram(audio, filters):
    window = torch.hann_window(N_FFT)
    stft = torch.stft(audio, N_FFT, HOP, window=window, return_complex=True)
    magnitudes = stft[..., :-1].abs() ** 2
    mel_spec = filters @ magnitudes
    log_spec = torch.clamp(mel_spec, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    log_spec = (log_spec + 4.0) / 4.0
    return log_spec


# --- inputs ------------------------------------------------------------------
def fft_resample(x, sr_in, sr_out):
    """Band-limited resampling by zero-padding/truncating the spectrum."""
    n_out = int(round(len(x) * sr_out / sr_in))
    X = np.fft.rfft(x)
    Y = np.zeros(n_out // 2 + 1, dtype=complex)
    k = min(len(X), len(Y))
    Y[:k] = X[:k]
    return np.fft.irfft(Y, n_out) * (n_out / len(x))


def write_wav16(path, x):
    q = np.clip(np.round(x * 32768.0), -32768, 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(q.tobytes())
    return q.astype(np.float32) / 32768.0  # exactly what a WAV reader returns


def make_speech():
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "s.wav")
        subprocess.run(["espeak-ng", "-w", p, "Hello unum, this is a test."], check=True)
        with wave.open(p, "rb") as w:
            assert w.getsampwidth() == 2 and w.getnchannels() == 1
            sr = w.getframerate()
            x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64) / 32768
    y = fft_resample(x, sr, SR)
    return y[: int(2.5 * SR)] * 0.9


def make_synth():
    rng = np.random.default_rng(1234)
    t = lambda s: np.arange(int(s * SR)) / SR
    sine = 0.5 * np.sin(2 * np.pi * 440 * t(0.5)) + 0.2 * np.sin(2 * np.pi * 3000 * t(0.5))
    tc = t(0.5)
    chirp = 0.4 * np.sin(2 * np.pi * (100 * tc + (7000 - 100) / (2 * 0.5) * tc**2))
    noise = 0.1 * rng.standard_normal(int(0.5 * SR))
    z = np.zeros(int(0.25 * SR))
    return np.concatenate([sine, z, chirp, z, noise])


def save(path, a):
    np.ascontiguousarray(a, dtype="<f4").tofile(path)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/golden/mel"
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    filt = {n: mel_filters(n) for n in (80, 128)}
    for n in (80, 128):
        save(os.path.join(out, f"filters{n}.f32"), filt[n])
    for name, sig in (("speech", make_speech()), ("synth", make_synth())):
        x = write_wav16(os.path.join(out, f"{name}16k.wav"), sig)
        audio = torch.from_numpy(x)
        for n in (80, 128):
            m = log_mel_spectrogram(audio, torch.from_numpy(filt[n])).numpy()
            assert m.shape == (n, len(x) // HOP), m.shape
            save(os.path.join(out, f"{name}.mel{n}.f32"), m)
            print(f"{name}.mel{n}: {m.shape[1]} frames, range {m.min():.4f}..{m.max():.4f}")
    # pad_or_trim to 30 s: 3000 frames; past the speech every frame is the
    # clamp value, so only the first 300 frames are stored
    x = write_wav16(os.path.join(out, "speech16k.wav"), make_speech())
    m = log_mel_spectrogram(pad_or_trim(torch.from_numpy(x)), torch.from_numpy(filt[80])).numpy()
    assert m.shape == (80, 3000)
    tail = m[:, 300:]
    assert np.all(tail == tail.flat[0]), "frames past 300 are not constant"
    save(os.path.join(out, "speech.30s.mel80.first300.f32"), m[:, :300])
    print(f"speech.30s.mel80: 3000 frames, frames 300.. all {tail.flat[0]:.6f}")


if __name__ == "__main__":
    main()
