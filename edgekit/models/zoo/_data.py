"""Synthetic inputs with the statistics of real ones, for calibrating and checking randomly initialised models.

- images: a "dead leaves" scene (occluding discs and boxes, each with its own colour and texture) over a
  1/f^alpha background, with a colour cast and a contrast per image, quantised to 8 bits like a decoded JPEG;
- MFCCs: a log-mel spectrogram (noise floor plus a spoken "word": an energy envelope of syllables and drifting
  formants; some clips end in zero padding), turned into MFCCs with TensorFlow's
  `mfccs_from_log_mel_spectrograms` scaling (DCT-II * 2 / sqrt(2M)): c0 spans about -124 (digital silence)
  to +20, the higher coefficients a few units;
- log-mel vectors: a machine-noise spectrogram in dB (tilt, harmonic peaks, slow fluctuation, per-bin noise),
  five consecutive frames concatenated as the DCASE 2020 / MLPerf Tiny anomaly-detection features are;
- token ids: [CLS] + Zipf-distributed word pieces + [SEP], then [PAD] with a 0 attention mask;
- inertial windows: 2.56 s of a waist-worn phone's 3-axis accelerometer (g, gravity included) and gyroscope
  (rad/s) at 50 Hz, one of the six UCI-HAR activities per window: gait harmonics at the step rate for the
  three walking kinds, a posture-dependent gravity direction with tremor and sway for the three static ones.

Every generator takes a numpy Generator, so callers choose the stream (calibration, evaluation, BN statistics).
"""
from __future__ import annotations

import numpy as np

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def _one_over_f(r: np.random.Generator, shape: tuple[int, ...], size: int, alpha: np.ndarray) -> np.ndarray:
    """Fields of shape (*shape, size, size), amplitude spectrum ~ 1/f^alpha (alpha per leading index 0),
    standardised per field."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    f = np.sqrt(fx ** 2 + fy ** 2)
    f[0, 0] = 1.0 / size
    spec = np.fft.rfft2(r.standard_normal((*shape, size, size)))
    a = alpha.reshape((-1,) + (1,) * (len(shape) + 1))
    field = np.fft.irfft2(spec * f ** (-a), s=(size, size))
    field -= field.mean(axis=(-2, -1), keepdims=True)
    field /= field.std(axis=(-2, -1), keepdims=True) + 1e-12
    return field


def gray_images(r: np.random.Generator, n: int, size: int) -> np.ndarray:
    """(n, 1, size, size) float32 in [0, 1]: the luma (ITU-R BT.601 weights) of `natural_images`, 8-bit."""
    rgb = natural_images(r, n, size, scale="unit")
    luma = np.einsum("c,nchw->nhw", np.array([0.299, 0.587, 0.114], np.float32), rgb)[:, None]
    return (np.round(np.clip(luma, 0.0, 1.0) * 255.0) / 255.0).astype(np.float32)


def natural_images(r: np.random.Generator, n: int, size: int, scale: str = "imagenet") -> np.ndarray:
    """(n, 3, size, size) float32. scale: 'unit' -> [0, 1], 'pixels' -> [0, 255], 'imagenet' -> (x - mean) / std
    of [0, 1] pixels with the ImageNet channel statistics."""
    alpha = r.uniform(1.0, 1.5, n)
    # Luminance and two opponent-colour fields; chroma is smoother and weaker than luminance in natural scenes.
    lum = _one_over_f(r, (n,), size, alpha)
    chroma = _one_over_f(r, (n, 2), size, alpha + 0.3)
    opp = np.array([[1.0, 0.45, 0.15], [1.0, -0.1, -0.35], [1.0, -0.35, 0.3]])  # rows: R, G, B
    img = np.einsum("ck,nkhw->nchw", opp, np.concatenate([lum[:, None], 0.35 * chroma], 1))
    contrast = r.uniform(0.1, 0.28, (n, 1, 1, 1))
    cast = np.clip(r.normal([0.48, 0.46, 0.41], 0.08, (n, 3)), 0.15, 0.85)[:, :, None, None]
    img = cast + contrast * img
    # Dead leaves: a few occluding objects with sharp edges, flat colour plus their own fine texture.
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        for _ in range(int(r.integers(2, 9))):
            cy, cx = r.uniform(0, 1, 2)
            ry, rx = r.uniform(0.05, 0.35, 2)
            if r.random() < 0.5:
                mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
            else:
                mask = (np.abs(yy - cy) < ry) & (np.abs(xx - cx) < rx)
            colour = np.clip(r.normal(img[i].mean((1, 2)), 0.22), 0.02, 0.98)
            texture = 0.04 * r.standard_normal() * lum[(i + 1) % n]
            img[i][:, mask] = (colour[:, None] + texture[mask][None, :])
    img = np.round(np.clip(img, 0.0, 1.0) * 255.0) / 255.0  # 8-bit pixels
    img = img.astype(np.float32)
    if scale == "unit":
        return img
    if scale == "pixels":
        return np.round(img * 255.0).astype(np.float32)
    if scale == "imagenet":
        return ((img - IMAGENET_MEAN[:, None, None]) / IMAGENET_STD[:, None, None]).astype(np.float32)
    raise ValueError(f"unknown image scale {scale!r}")


def _smooth(x: np.ndarray, sigma: float, axis: int) -> np.ndarray:
    """Gaussian smoothing along one axis (reflect padding)."""
    radius = max(1, int(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k /= k.sum()
    x = np.moveaxis(x, axis, -1)
    pad = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(radius, radius)], mode="reflect")
    out = np.zeros_like(x)
    for j, w in enumerate(k):
        out += w * pad[..., j:j + x.shape[-1]]
    return np.moveaxis(out, -1, axis)


def log_mel_speech(r: np.random.Generator, n: int, frames: int = 49, mel_bins: int = 40,
                   silence_share: float = 0.25) -> np.ndarray:
    """(n, frames, mel_bins) natural-log mel magnitudes of a one-second clip with one spoken word (the MLPerf
    Tiny KWS front end: 30 ms Hann windows every 20 ms, 40 mel bins 20-4000 Hz, log(mel + 1e-6)); about a
    `silence_share` of the clips end in digital silence (zero padding), which sets the bottom of the range."""
    m = np.arange(mel_bins)[None, None, :] / (mel_bins - 1)
    floor = (r.uniform(-8.0, -4.5, (n, 1, 1)) - r.uniform(0.5, 2.0, (n, 1, 1)) * m
             + 0.4 * _smooth(r.standard_normal((n, frames, mel_bins)), 1.5, 2))
    # The word: 1-3 syllables inside the clip, a smooth energy envelope.
    env = np.zeros((n, frames, 1))
    for i in range(n):
        start = r.uniform(2, frames * 0.45)
        length = r.uniform(frames * 0.25, frames * 0.7)
        for _ in range(int(r.integers(1, 4))):
            c = start + r.uniform(0, length)
            w = r.uniform(2.0, 5.0)
            env[i, :, 0] += r.uniform(0.5, 1.0) * np.exp(-0.5 * ((np.arange(frames) - c) / w) ** 2)
    env = np.clip(env, 0, 1)
    # Formants: 3 spectral peaks whose positions drift slowly over time.
    speech = np.zeros((n, frames, mel_bins))
    for f, (lo, hi) in enumerate([(0.05, 0.3), (0.25, 0.6), (0.55, 0.9)]):
        drift = _smooth(r.standard_normal((n, frames, 1)), 4.0, 1) * 0.08
        centre = r.uniform(lo, hi, (n, 1, 1)) + drift
        width = r.uniform(0.04, 0.1, (n, 1, 1))
        speech += (3.0 - f) * np.exp(-0.5 * ((m - centre) / width) ** 2)
    level = r.uniform(-1.5, 2.5, (n, 1, 1))
    speech = level + speech - 1.5 * m + np.log(env + 1e-4)
    logmel = np.logaddexp(floor, speech) + 0.15 * r.standard_normal((n, frames, mel_bins))
    # Speech Commands clips shorter than a second are zero-padded: those frames are log(0 + 1e-6) in every bin.
    for i in np.flatnonzero(r.random(n) < silence_share):
        logmel[i, frames - int(r.integers(2, frames // 4)):] = np.log(1e-6)
    return logmel


def mfcc(r: np.random.Generator, n: int, frames: int = 49, coeffs: int = 10, mel_bins: int = 40) -> np.ndarray:
    """(n, frames, coeffs) float32 MFCCs: smooth along time, magnitude decaying along the coefficients."""
    logmel = log_mel_speech(r, n, frames, mel_bins)
    k = np.arange(coeffs)[:, None]
    j = np.arange(mel_bins)[None, :]
    dct = 2.0 * np.cos(np.pi * k * (2 * j + 1) / (2 * mel_bins)) / np.sqrt(2.0 * mel_bins)  # (coeffs, mel)
    return np.einsum("ntm,km->ntk", logmel, dct).astype(np.float32)


def log_mel_vectors(r: np.random.Generator, n: int, mel_bins: int = 128, frames: int = 5) -> np.ndarray:
    """(n, mel_bins * frames) float32: five consecutive log-mel frames (10 log10 of the power mel spectrogram,
    dB), frame after frame, as the DCASE 2020 task 2 baseline (MLPerf Tiny AD) vectorises them."""
    m = np.arange(mel_bins)[None, None, :] / (mel_bins - 1)
    level = r.uniform(-35.0, -15.0, (n, 1, 1))
    tilt = r.uniform(-35.0, -10.0, (n, 1, 1))
    spectrum = level + tilt * m + 3.0 * _smooth(r.standard_normal((n, 1, mel_bins)), 3.0, 2)
    for _ in range(6):  # harmonic peaks of the machine
        centre = r.uniform(0.02, 0.8, (n, 1, 1))
        width = r.uniform(0.004, 0.02, (n, 1, 1))
        spectrum = spectrum + r.uniform(3.0, 15.0, (n, 1, 1)) * np.exp(-0.5 * ((m - centre) / width) ** 2)
    slow = 1.5 * _smooth(r.standard_normal((n, frames, 1)), 2.0, 1)
    noise = (2.0 + 2.0 * (1 - m)) * r.standard_normal((n, frames, mel_bins))  # fewer FFT bins per low mel bin
    frames_db = spectrum + slow + noise
    return frames_db.reshape(n, frames * mel_bins).astype(np.float32)


def token_ids(r: np.random.Generator, n: int, length: int, vocab: int, cls: int = 101, sep: int = 102,
              pad: int = 0, first_word: int = 1996, min_len: int = 6, full: float = 0.25,
              ) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, attention_mask), both (n, length) int64. About a `full` share of rows fill the whole length;
    the others are [CLS] w1 .. wk [SEP] then [PAD] (mask 0). Words follow Zipf's law over the ids from
    `first_word` up (BERT's uncased vocabulary lists frequent words first: 1996 is 'the')."""
    ids = np.full((n, length), pad, np.int64)
    mask = np.zeros((n, length), np.int64)
    for i in range(n):
        k = length if r.random() < full else int(r.integers(min_len, length))
        words = first_word + (r.zipf(1.2, k - 2) - 1) % (vocab - first_word)
        ids[i, :k] = np.concatenate([[cls], words, [sep]])
        mask[i, :k] = 1
    return ids, mask


# UCI-HAR's activities, in its label order; the first three are gaits.
ACTIVITIES = ("walking", "walking_upstairs", "walking_downstairs", "sitting", "standing", "laying")
# Per gait: step rate (Hz) and vertical acceleration amplitude (g) ranges, body rotation (rad/s).
_GAITS = {0: ((1.6, 2.1), (0.25, 0.45), 0.6), 1: ((1.3, 1.7), (0.2, 0.4), 0.5), 2: ((1.8, 2.3), (0.4, 0.75), 0.9)}
# Gravity direction in the phone's frame per posture (UCI-HAR: a waist-mounted phone, x along the body's axis).
_POSTURES = {3: (0.75, 0.25, 0.6), 4: (0.98, 0.1, 0.15), 5: (0.05, 0.35, 0.93)}


def imu_windows(r: np.random.Generator, n: int, length: int = 128, rate: float = 50.0,
                activities: np.ndarray | None = None) -> np.ndarray:
    """(n, 6, length) float32: total acceleration x, y, z in g (gravity included) then angular velocity x, y, z in
    rad/s, sampled at `rate` Hz (UCI-HAR: 128 samples = 2.56 s at 50 Hz). Each window is one activity (uniform
    over ACTIVITIES unless `activities` gives them): a gait is a step-rate fundamental plus harmonics (the heel
    strike makes the vertical axis peaky), a stride-rate sway and trunk rotation, all with their own phases; a
    posture is a gravity direction (tilted a little per window) with slow sway and physiological tremor. Every
    window gets sensor noise (MEMS-like: 0.01 g, 0.01 rad/s) and a small accelerometer offset."""
    acts = r.integers(0, len(ACTIVITIES), n) if activities is None else np.asarray(activities)
    t = np.arange(length) / rate
    out = np.zeros((n, 6, length))
    for i, a in enumerate(acts):
        if a in _GAITS:
            (f_lo, f_hi), (a_lo, a_hi), rot = _GAITS[int(a)]
            f = r.uniform(f_lo, f_hi) * (1 + 0.02 * _smooth(r.standard_normal(length), 10.0, 0))  # cadence drift
            phase = 2 * np.pi * np.cumsum(f) / rate + r.uniform(0, 2 * np.pi)
            amp = r.uniform(a_lo, a_hi)
            vertical = amp * (np.cos(phase) + 0.5 * np.cos(2 * phase + r.uniform(0, 2 * np.pi))
                              + 0.25 * np.cos(3 * phase + r.uniform(0, 2 * np.pi)))
            forward = 0.4 * amp * np.cos(phase + r.uniform(0, 2 * np.pi))
            lateral = 0.3 * amp * np.cos(0.5 * phase + r.uniform(0, 2 * np.pi))  # stride = two steps
            gravity = np.array([1.0, 0.0, 0.0])
            dyn = np.stack([vertical, lateral, forward])
            gyro = rot * r.uniform(0.6, 1.2) * np.stack([
                0.3 * np.cos(0.5 * phase + r.uniform(0, 2 * np.pi)),
                np.cos(0.5 * phase + r.uniform(0, 2 * np.pi)),
                0.6 * np.cos(phase + r.uniform(0, 2 * np.pi))])
        else:
            gravity = np.array(_POSTURES[int(a)])
            dyn = 0.02 * _smooth(r.standard_normal((3, length)), 8.0, 1)
            gyro = 0.05 * _smooth(r.standard_normal((3, length)), 6.0, 1)
            tremor = r.uniform(6.0, 10.0)  # Hz, physiological tremor
            dyn = dyn + r.uniform(0.002, 0.01) * np.sin(2 * np.pi * tremor * t + r.uniform(0, 2 * np.pi))
        gravity = gravity + r.normal(0.0, 0.08, 3)  # how this window's phone sits
        gravity /= np.linalg.norm(gravity)
        out[i, :3] = gravity[:, None] + dyn + r.normal(0.0, 0.02, (3, 1))
        out[i, 3:] = gyro
    out[:, :3] += 0.01 * r.standard_normal((n, 3, length))
    out[:, 3:] += 0.01 * r.standard_normal((n, 3, length))
    return out.astype(np.float32)
