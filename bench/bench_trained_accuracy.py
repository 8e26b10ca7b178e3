"""On-device top-1 of trained zoo families, FP32 vs static INT8 (and mixed precision where INT8 loses > 1 point).

    .venv/bin/python bench/bench_trained_accuracy.py [--models a,b] [--targets emu-phone,...] [--workdir /tmp/acc]
        [--resume [--rerun int8,mixed]]   # keep measured cells; --rerun measures those variants again

The zoo's INT8 cosines (docs/zoo.md) were measured on randomly initialised weights. This bench trains small
versions of the weak families on data available offline and measures top-1 on the device, through the real CLI:

- vision (MobileNetV2 1.0 and 0.35, MobileNetV3-Small, EfficientNet-B0): the zoo's own classes
  (edgekit/models/zoo/*.py, unchanged structure) with a 10-class head, on scikit-learn's digits upsampled from 8x8
  to 32x32 (bilinear), replicated to 3 channels and normalised with the training split's mean/std. Split: the
  stratified 80/20 split of edgekit.models.digits.load_digits_split (1,437 train / 360 held-out test).
- audio (the zoo's kws_gru, GRU 154 units over 49x10 MFCCs, 12 classes): a synthetic keyword set made here from
  waveforms (one-second clips at 16 kHz: each of 10 "words" is 1-3 harmonic syllables with their own pitch
  contours; plus "silence" and "unknown" = random syllables), with pitch, tempo, onset and level jitter and
  noise at -3..15 dB SNR, turned into MFCCs with numpy only (30 ms Hann windows every 20 ms, 512-point FFT, 40 mel
  bands 20-4000 Hz, log, DCT-II to 10 coefficients), then per-coefficient mean/variance normalised with the
  training split's statistics. Train and test clips come from disjoint random streams.

Training is seeded (torch and numpy) on the host CPU; weights are cached in ~/.cache/edgekit/trained/ (or
$EDGEKIT_TRAINED_DIR), keyed by model name and a hash of the training settings, with the data sets as .npz.
Each (model, target) cell then runs, as subprocesses:

    .venv/bin/edgekit compile bench/bench_trained_accuracy.py:<model> -t <target> [--quantize int8 |
        --recipe mixed.toml] --calibration <cache>/<data>_train.npz -o <workdir>/...
    .venv/bin/edgekit bench <artifact> -t <target> --eval <cache>/<data>_test.npz --runs 3 --warmup 1 --json

and reads `accuracy.top1` / `accuracy.samples` from the report: top-1 computed from the outputs the device
returned (ExecuTorch .pte on emu-phone, LiteRT .tflite on emu-rpi4-x86, C firmware under QEMU on emu-cortex-m4).
INT8 is what `edgekit compile --quantize int8` does (static, per-channel weights, 256 calibration samples of the
training split). Where INT8 drops more than --max-drop points, the mixed-precision recipe (an `int8` step with
`min_cosine`, edgekit/compress/mixed.py) is compiled and benched too, with the layers it kept float.

Writes bench/results/trained_accuracy.json (or --out).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("EDGEKIT_TRAINED_DIR", Path.home() / ".cache" / "edgekit" / "trained"))
SEED = 0
SIZE = 32  # digits upsampled to SIZE x SIZE

# ---- data -----------------------------------------------------------------------------------------------------


def _digits_arrays() -> dict[str, np.ndarray]:
    """The digits split (1,437 / 360, stratified, seed 0) as (N, 3, 32, 32) float32 normalised with the training
    split's mean and std."""
    from edgekit.models.digits import load_digits_split
    split = load_digits_split(test_fraction=0.2, seed=SEED, size=SIZE)
    mean, std = float(split.x_train.mean()), float(split.x_train.std())
    prep = lambda x: np.repeat((x - mean) / std, 3, axis=1).astype(np.float32).copy(order="C")  # noqa: E731
    return {"x_train": prep(split.x_train), "y_train": split.y_train, "x_test": prep(split.x_test),
            "y_test": split.y_test}


SR, CLIP, WIN, HOP, NFFT, MELS, COEFFS = 16000, 16000, 480, 320, 512, 40, 10
KWS_CLASSES = 12  # 0 silence, 1 unknown, 2..11 keywords


def _word_prototypes() -> list[list[tuple[float, float, float]]]:
    """10 keywords, each 1-3 syllables (start Hz, end Hz, seconds), fixed by seed."""
    r = np.random.default_rng([7, SEED])
    words = []
    for _ in range(10):
        syl = []
        for _ in range(int(r.integers(1, 4))):
            f0 = r.uniform(140, 420)
            syl.append((f0, f0 * r.uniform(0.7, 1.45), r.uniform(0.10, 0.28)))
        words.append(syl)
    return words


def _syllable(r: np.random.Generator, f_start: float, f_end: float, dur: float) -> np.ndarray:
    n = max(int(dur * SR), 16)
    f = np.linspace(f_start, f_end, n)
    phase = 2 * np.pi * np.cumsum(f) / SR
    # Harmonics with random weights (a crude vocal tract: the formant emphasis changes per utterance).
    tone = sum(r.uniform(0.2, 1.0) / h * np.sin(h * phase + r.uniform(0, 2 * np.pi)) for h in range(1, 7))
    return tone * np.hanning(n)


def _clip(r: np.random.Generator, label: int, words: list) -> np.ndarray:
    x = np.zeros(CLIP)
    if label != 0:
        if label == 1:  # unknown: random syllables not from the keyword set
            syls = [(f0 := r.uniform(140, 420), f0 * r.uniform(0.7, 1.45), r.uniform(0.10, 0.28))
                    for _ in range(int(r.integers(1, 4)))]
        else:
            syls = words[label - 2]
        pitch, tempo = r.uniform(0.9, 1.1), r.uniform(0.85, 1.15)
        t = int(r.uniform(0.05, 0.35) * SR)
        for fs, fe, d in syls:
            s = _syllable(r, fs * pitch, fe * pitch, d * tempo)
            end = min(CLIP, t + len(s))
            x[t:end] += s[:end - t]
            t = end + int(r.uniform(0.02, 0.08) * SR)
            if t >= CLIP:
                break
        x /= np.sqrt(np.mean(x ** 2)) + 1e-9
    noise = r.standard_normal(CLIP)
    noise = np.cumsum(noise) * 0.02 + noise  # some low-frequency weight
    noise /= np.sqrt(np.mean(noise ** 2))
    snr_db = r.uniform(-3, 15)
    x = x + noise * (10 ** (-snr_db / 20) if label != 0 else r.uniform(0.05, 1.0))
    return x * r.uniform(0.05, 0.5)


def _mel_bank() -> np.ndarray:
    hz2mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    mel2hz = lambda m: 700 * (10 ** (m / 2595) - 1)  # noqa: E731
    pts = mel2hz(np.linspace(hz2mel(20), hz2mel(4000), MELS + 2))
    bins = np.fft.rfftfreq(NFFT, 1 / SR)
    bank = np.zeros((MELS, len(bins)))
    for i in range(MELS):
        lo, c, hi = pts[i:i + 3]
        bank[i] = np.clip(np.minimum((bins - lo) / (c - lo), (hi - bins) / (hi - c)), 0, None)
    return bank


def mfcc(audio: np.ndarray) -> np.ndarray:
    """(n, 16000) -> (n, 49, 10) MFCCs: 30 ms Hann windows every 20 ms, |FFT 512|^2, 40 mel bands, log, DCT-II."""
    frames = 1 + (CLIP - WIN) // HOP
    idx = np.arange(WIN)[None, :] + HOP * np.arange(frames)[:, None]
    spec = np.abs(np.fft.rfft(audio[:, idx] * np.hanning(WIN), NFFT)) ** 2
    logmel = np.log(spec @ _mel_bank().T + 1e-6)
    k, j = np.arange(COEFFS)[:, None], np.arange(MELS)[None, :]
    dct = 2.0 * np.cos(np.pi * k * (2 * j + 1) / (2 * MELS)) / np.sqrt(2.0 * MELS)
    return np.einsum("ntm,km->ntk", logmel, dct)


def _kws_arrays(n_train: int = 2400, n_test: int = 480) -> dict[str, np.ndarray]:
    words = _word_prototypes()
    out = {}
    for split, n, stream in (("train", n_train, 0), ("test", n_test, 1)):
        r = np.random.default_rng([stream, 11, SEED])
        y = np.arange(n) % KWS_CLASSES  # balanced
        r.shuffle(y)
        out[f"x_{split}"] = mfcc(np.stack([_clip(r, int(c), words) for c in y]))
        out[f"y_{split}"] = y.astype(np.int64)
    mean, std = out["x_train"].mean(axis=(0, 1)), out["x_train"].std(axis=(0, 1))  # CMVN, training statistics
    for split in ("train", "test"):
        out[f"x_{split}"] = ((out[f"x_{split}"] - mean) / std).astype(np.float32).copy(order="C")
    return out


DATASETS: dict[str, Callable[[], dict[str, np.ndarray]]] = {"digits32": _digits_arrays, "kws_synth": _kws_arrays}


def dataset(name: str) -> dict[str, np.ndarray]:
    """The data set, made once and cached as <cache>/<name>_{train,test}.npz (x, y)."""
    paths = {s: CACHE / f"{name}_{s}.npz" for s in ("train", "test")}
    if not all(p.exists() for p in paths.values()):
        arrays = DATASETS[name]()
        CACHE.mkdir(parents=True, exist_ok=True)
        for s, p in paths.items():
            tmp = p.with_suffix(".tmp.npz")
            np.savez(tmp, x=arrays[f"x_{s}"], y=arrays[f"y_{s}"])
            os.replace(tmp, p)
    out: dict[str, np.ndarray] = {}
    for s, p in paths.items():
        with np.load(p) as z:
            out[f"x_{s}"], out[f"y_{s}"] = z["x"], z["y"]
    return out


# ---- models ---------------------------------------------------------------------------------------------------


def _mobilenet_v2(width: float) -> Callable[[], nn.Module]:
    def make() -> nn.Module:
        from edgekit.models.zoo.mobilenet_v2 import MobileNetV2
        return MobileNetV2(classes=10, width=width)
    return make


def _mobilenet_v3_small() -> nn.Module:
    from edgekit.models.zoo.mobilenet_v3_small import MobileNetV3Small
    return MobileNetV3Small(classes=10)


def _efficientnet_b0() -> nn.Module:
    from edgekit.models.zoo.efficientnet_b0 import EfficientNetB0
    return EfficientNetB0(classes=10)


def _kws_gru() -> nn.Module:
    from edgekit.models.zoo.kws_gru import GRUKWS
    return GRUKWS(classes=KWS_CLASSES)


# name -> (zoo family it stands for, constructor, data set, epochs, learning rate, the targets it runs on)
MODELS: dict[str, dict[str, Any]] = {
    "mobilenet_v2": dict(zoo="mobilenet_v2", make=_mobilenet_v2(1.0), data="digits32", epochs=6, lr=3e-3,
                         note="zoo MobileNetV2 width 1.0, 10 classes, 32x32x3 input"),
    "mobilenet_v2_w035": dict(zoo="mobilenet_v2", make=_mobilenet_v2(0.35), data="digits32", epochs=6, lr=3e-3,
                              note="zoo MobileNetV2 width 0.35 (MCU-sized), 10 classes, 32x32x3 input"),
    "mobilenet_v3_small": dict(zoo="mobilenet_v3_small", make=_mobilenet_v3_small, data="digits32", epochs=6,
                               lr=3e-3, note="zoo MobileNetV3-Small, 10 classes, 32x32x3 input"),
    "efficientnet_b0": dict(zoo="efficientnet_b0", make=_efficientnet_b0, data="digits32", epochs=6, lr=3e-3,
                            note="zoo EfficientNet-B0, 10 classes, 32x32x3 input"),
    "kws_gru": dict(zoo="kws_gru", make=_kws_gru, data="kws_synth", epochs=20, lr=5e-3, batch=128,
                    note="zoo kws_gru (GRU 154 units, 49x10 MFCCs), 12 classes"),
}
TARGETS = ("emu-phone", "emu-rpi4-x86", "emu-cortex-m4")
BATCH = 64
DEFAULT_MODELS = ("kws_gru", "mobilenet_v2_w035", "mobilenet_v3_small", "efficientnet_b0")  # mobilenet_v2 (1.0): opt-in


def _settings_key(name: str) -> str:
    spec = MODELS[name]
    text = json.dumps({k: v for k, v in spec.items() if k != "make"}, sort_keys=True) + f"|{SEED}|{SIZE}|v1"
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def weights_path(name: str) -> Path:
    return CACHE / f"{name}-{_settings_key(name)}.pt"


def _augment(x: torch.Tensor, g: torch.Generator, data: str) -> torch.Tensor:
    if data == "digits32":  # random shifts of up to 2 pixels (of 32)
        dx, dy = (int(v) for v in torch.randint(-2, 3, (2,), generator=g))
        return torch.roll(x, shifts=(dy, dx), dims=(2, 3))
    return x


def train(name: str, threads: int = 1) -> dict[str, Any]:
    """Train `name` (seeded) on its data set's training split; save the weights; return the host figures."""
    from edgekit.models.zoo._common import calibrate_batchnorm
    spec = MODELS[name]
    arrays = dataset(spec["data"])
    torch.set_num_threads(threads)
    torch.manual_seed(SEED)
    g = torch.Generator().manual_seed(SEED)
    model = spec["make"]()
    x, y = torch.from_numpy(arrays["x_train"]), torch.from_numpy(arrays["y_train"])
    batch = spec.get("batch", BATCH)
    steps = spec["epochs"] * -(-len(x) // batch)
    opt = torch.optim.AdamW(model.parameters(), lr=spec["lr"], weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=spec["lr"], total_steps=steps, pct_start=0.2)
    t0 = time.perf_counter()
    model.train()
    for epoch in range(spec["epochs"]):
        perm = torch.randperm(len(x), generator=g)
        total = 0.0
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            loss = nn.functional.cross_entropy(model(_augment(x[idx], g, spec["data"])), y[idx])
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        print(f"  {name} epoch {epoch + 1}/{spec['epochs']}: loss {total / len(x):.4f}", flush=True)
    # Exact batch-norm statistics of the final weights over the training split (BN layers with momentum 0.01,
    # as MobileNetV3's, lag behind after a few hundred steps).
    with torch.no_grad():
        calibrate_batchnorm(model, [(x[i:i + 256],) for i in range(0, len(x), 256)])
    model.eval()
    train_s = time.perf_counter() - t0
    host = {"train_s": round(train_s, 1), "epochs": spec["epochs"], "train_samples": len(x),
            "params": sum(p.numel() for p in model.parameters()),
            "host_fp32_top1_train": _top1(model, arrays["x_train"], arrays["y_train"]),
            "host_fp32_top1_test": _top1(model, arrays["x_test"], arrays["y_test"])}
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = weights_path(name).with_suffix(".tmp")
    torch.save({"state_dict": model.state_dict(), "host": host}, tmp)
    os.replace(tmp, weights_path(name))
    return host


def _top1(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        pred = torch.cat([model(torch.from_numpy(x[i:i + 256])).argmax(1) for i in range(0, len(x), 256)])
    return round(100.0 * float((pred.numpy() == y).mean()), 2)


def load_trained(name: str) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """The CLI's factory contract: (trained model in eval mode, one held-out test sample as the example)."""
    spec = MODELS[name]
    path = weights_path(name)
    if not path.exists():
        raise FileNotFoundError(f"{path}: run bench/bench_trained_accuracy.py first (it trains {name})")
    model = spec["make"]()
    model.load_state_dict(torch.load(path, map_location="cpu")["state_dict"])
    model.eval()
    with np.load(CACHE / f"{spec['data']}_test.npz") as z:
        example = torch.from_numpy(np.array(z["x"][:1], order="C", copy=True))
    return model, (example,)


# Factories for `edgekit compile bench/bench_trained_accuracy.py:<name>`.
def mobilenet_v2():
    return load_trained("mobilenet_v2")


def mobilenet_v2_w035():
    return load_trained("mobilenet_v2_w035")


def mobilenet_v3_small():
    return load_trained("mobilenet_v3_small")


def efficientnet_b0():
    return load_trained("efficientnet_b0")


def kws_gru():
    return load_trained("kws_gru")


# ---- compile and bench through the CLI ------------------------------------------------------------------------

EDGEKIT = ROOT / ".venv" / "bin" / "edgekit"


def _run(args: list[str], timeout: float) -> tuple[int, str, str, float]:
    t0 = time.perf_counter()
    # One intra-op thread: on a busy shared host an OpenMP region waits on its second thread (docs of
    # edgekit/compress/observers.py); the results do not depend on it, the wall time does, by up to 50x here.
    env = {**os.environ, "EDGEKIT_TRAINED_DIR": str(CACHE), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    try:
        p = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
        return p.returncode, p.stdout, p.stderr, time.perf_counter() - t0
    except subprocess.TimeoutExpired as e:
        return 124, e.stdout or "", f"timed out after {timeout:.0f} s", time.perf_counter() - t0


def _cmd_str(args: list[str]) -> str:
    return " ".join(shlex.quote(str(a)).replace(str(ROOT) + "/", "") for a in args)


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:400] if lines else ""


def compile_and_bench(name: str, target: str, variant: str, workdir: Path, recipe: Path | None,
                      timeout: float, reuse: bool = False) -> dict[str, Any]:
    spec = MODELS[name]
    art = workdir / f"{name}--{target}--{variant}"
    data = CACHE / spec["data"]
    comp = [str(EDGEKIT), "compile", f"bench/bench_trained_accuracy.py:{name}", "--target", target]
    if variant == "int8":
        comp += ["--quantize", "int8"]
    elif variant == "mixed":
        comp += ["--recipe", str(recipe)]
    if variant != "fp32":
        comp += ["--calibration", f"{data}_train.npz"]
    comp += ["-o", str(art), "--force"]
    cell: dict[str, Any] = {"compile_command": _cmd_str(comp)}
    done = art / "manifest.json"
    if reuse and done.exists() and done.stat().st_mtime > weights_path(name).stat().st_mtime:
        # --resume: the artifact of this very command (the folder names model, target and variant; -o writes it
        # atomically, so a manifest means a finished compile) made after the weights were saved.
        rc, out, err, secs = 0, "", "", 0.0
        cell["compile_reused"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(done.stat().st_mtime))
    else:
        rc, out, err, secs = _run(comp, timeout)
        cell["compile_s"] = round(secs, 1)
    if rc != 0:
        cell.update(status="compile failed", exit_code=rc, error=_last_line(err) or _last_line(out))
        return cell
    manifest = json.loads((art / "manifest.json").read_text())
    numerics = manifest.get("numerics") or {}
    cell["host_cosine_vs_fp32"] = numerics.get("cosine_vs_fp32", numerics.get("cosine"))
    if manifest.get("mixed_precision"):
        mp = manifest["mixed_precision"]
        cell["mixed_precision"] = {k: mp.get(k) for k in ("kept_float", "cosine_all_int8", "cosine", "file_cosine",
                                                          "graph_reached", "reached", "rounds", "cost")}
    bench = [str(EDGEKIT), "bench", str(art), "--target", target, "--eval", f"{data}_test.npz",
             "--runs", "3", "--warmup", "1", "--timeout", "600", "--json"]
    cell["bench_command"] = _cmd_str(bench)
    rc, out, err, secs = _run(bench, timeout)
    cell["bench_s"] = round(secs, 1)
    if rc != 0:
        cell.update(status="bench failed", exit_code=rc, error=_last_line(err) or _last_line(out))
        return cell
    report = json.loads(out)
    acc = report.get("accuracy") or {}
    fid = (report.get("fidelity") or {}).get("vs_float") or {}
    runtime = report.get("runtime") or {}
    cell.update(status="ok", top1=acc.get("top1"), samples=acc.get("samples"),
                device_cosine_vs_fp32=fid.get("cosine"), size_bytes=(report.get("artifact") or {}).get("size_bytes"),
                runtime=f"{runtime.get('name')} {runtime.get('version')}".strip(),
                compute_dtype=(report.get("artifact") or {}).get("compute_dtype"))
    return cell


def _top1_pct(cell: dict[str, Any]) -> float | None:
    """The report's accuracy.top1 (a fraction) in percent."""
    v = cell.get("top1")
    return None if v is None else round(100.0 * v, 2)


def _fill_mcu_fp32(entry: dict[str, Any]) -> None:
    """MCU rows (INT8 only) take the FP32 top-1 of the same weights and test set on the phone (else the Pi)."""
    for source in ("emu-phone", "emu-rpi4-x86"):
        fp32 = entry["targets"].get(source, {}).get("cells", {}).get("fp32", {})
        if fp32.get("status") != "ok":
            continue
        for target, row in entry["targets"].items():
            if target.startswith("emu-cortex-m") and row.get("fp32_top1") is None:
                a, b = _top1_pct(fp32), row.get("int8_top1")
                row.update(fp32_top1=a, fp32_from=f"{source} (the MCU runs INT8 only)",
                           drop_points=None if b is None else round(a - b, 2))


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def markdown(doc: dict[str, Any]) -> str:
    """The docs/zoo.md table from a results file: one row per model x target."""
    rows = ["| model (trained) | target (runtime) | test samples | FP32 top-1 | INT8 top-1 | drop (points) | "
            "mixed precision: top-1, drop, layers kept float |", "|---|---|---|---|---|---|---|"]
    for name, entry in doc["models"].items():
        for target, row in entry["targets"].items():
            cells = row["cells"]
            i8 = cells.get("int8", {})
            if i8.get("status") != "ok":
                why = i8.get("error", i8.get("status", "")).split(" (supported:")[0].removeprefix("edgekit: error: ")
                rows.append(f"| {name} | {target} | - | - | - | - | INT8 {i8.get('status')}: {why} |")
                continue
            fp32 = _fmt(row.get("fp32_top1")) + (f" ({row['fp32_from'].split()[0]})" if row.get("fp32_from") else "")
            mixed = "not needed" if row.get("drop_points") is not None and "mixed" not in cells else "-"
            if "mixed" in cells:
                mc = cells["mixed"]
                if mc.get("status") == "ok":
                    kept = (mc.get("mixed_precision") or {}).get("kept_float") or []
                    mixed = (f"{_fmt(row.get('mixed_top1'))}, {_fmt(row.get('mixed_drop_points'))}, "
                             f"{len(kept)} kept float{': ' if kept else ''}{', '.join(f'`{k}`' for k in kept)}")
                else:
                    mixed = f"{mc.get('status')}: {mc.get('error', '')}"
            runtime = i8.get("runtime", "").removesuffix(" None")
            rows.append(f"| {name} | {target} ({runtime}) | {i8.get('samples')} | {fp32} | "
                        f"{_fmt(row.get('int8_top1'))} | {_fmt(row.get('drop_points'))} | {mixed} |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS), help=f"of {', '.join(MODELS)}")
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--workdir", default="/tmp/acc", help="artifacts go here (scratch)")
    ap.add_argument("--max-drop", type=float, default=1.0, help="points: above it, mixed precision is tried")
    ap.add_argument("--mixed-cosine", type=float, default=0.999, help="min_cosine of the mixed-precision recipe")
    ap.add_argument("--retrain", action="store_true", help="train again even if cached weights exist")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per compile or bench")
    ap.add_argument("--out", type=Path, default=None, help="default bench/results/trained_accuracy.json")
    ap.add_argument("--resume", action="store_true",
                    help="keep the cells the results file already has (same weights, status ok); run the rest")
    ap.add_argument("--rerun", default="", help="with --resume: variants (fp32,int8,mixed) compiled and benched "
                    "again even if kept, e.g. after a fix to the INT8 path")
    ap.add_argument("--table", action="store_true", help="print the markdown table of the results file (filling MCU rows' FP32 from the phone's "
                         "where a parallel run wrote them first); run nothing")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import RESULTS, write_result
    from results_io import machine
    if args.table:
        path = args.out or RESULTS / "trained_accuracy.json"
        doc = json.loads(path.read_text())
        before = json.dumps(doc)
        for entry in doc["models"].values():  # runs in parallel may have written the MCU row before the phone's
            _fill_mcu_fp32(entry)
        if json.dumps(doc) != before:
            path.write_text(json.dumps(doc, indent=2) + "\n")
        print(markdown(doc))
        return

    names = [m for m in args.models.split(",") if m]
    targets = [t for t in args.targets.split(",") if t]
    rerun = {v for v in args.rerun.split(",") if v}
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    recipe = workdir / f"mixed-{args.mixed_cosine}.toml"
    recipe.write_text(f'[[step]]\nmethod = "int8"\nmin_cosine = {args.mixed_cosine}\n')

    out = args.out or RESULTS / "trained_accuracy.json"
    command = " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])

    def previous(name: str) -> dict[str, Any]:
        """The results file's entry for `name`, when it was made with the same weights (else {})."""
        models = json.loads(out.read_text()).get("models", {}) if out.exists() else {}
        entry = models.get(name, {})
        return entry if entry.get("weights") == str(weights_path(name)).replace(str(Path.home()), "~") else {}

    for name in names:
        spec = MODELS[name]
        arrays = dataset(spec["data"])
        if args.retrain or not weights_path(name).exists():
            print(f"training {name}", flush=True)
            host = train(name)
        else:
            host = torch.load(weights_path(name), map_location="cpu")["host"]
        print(f"{name}: host FP32 top-1 {host['host_fp32_top1_test']} % on {len(arrays['y_test'])} held-out",
              flush=True)
        prev = {} if args.retrain else previous(name)
        entry: dict[str, Any] = {"zoo_model": spec["zoo"], "definition": spec["note"], "data": spec["data"],
                                 "weights": str(weights_path(name)).replace(str(Path.home()), "~"),
                                 "train_samples": len(arrays["y_train"]), "test_samples": len(arrays["y_test"]),
                                 "host": host, "targets": dict(prev.get("targets", {})),
                                 "runs": [*prev.get("runs", []), {"command": command,
                                                                  "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}]}
        for target in targets:
            old = entry["targets"].get(target, {}).get("cells", {}) if args.resume else {}
            old = {k: v for k, v in old.items() if k not in rerun}
            cells: dict[str, Any] = {}
            for variant in ("fp32", "int8") if not target.startswith("emu-cortex-m") else ("int8",):
                if old.get(variant, {}).get("status") == "ok":
                    cells[variant] = old[variant]
                    print(f"  {name} / {target} / {variant}: kept from the results file (--resume)", flush=True)
                    continue
                print(f"  {name} / {target} / {variant} ...", flush=True)
                cells[variant] = compile_and_bench(name, target, variant, workdir, None, args.timeout,
                                                   args.resume and variant not in rerun)
                print(f"    {cells[variant]['status']}: top-1 {cells[variant].get('top1')} "
                      f"{cells[variant].get('error', '')}", flush=True)
            row: dict[str, Any] = {"cells": cells}
            # The MCU has no FP32 kernels: its INT8 is compared with the phone's FP32 (same model, same test set).
            fp32 = cells.get("fp32") or entry["targets"].get("emu-phone", {}).get("cells", {}).get("fp32", {})
            if target.startswith("emu-cortex-m"):
                row["fp32_from"] = "emu-phone (the MCU runs INT8 only)"
            a, b = _top1_pct(fp32), _top1_pct(cells["int8"])
            row.update(fp32_top1=a, int8_top1=b, drop_points=None if a is None or b is None else round(a - b, 2))
            # Mixed precision keeps float layers: the MCU has no float kernels and refuses it (README), so not there.
            if (row["drop_points"] is not None and row["drop_points"] > args.max_drop
                    and not target.startswith("emu-cortex-m")):
                if old.get("mixed", {}).get("status") == "ok":
                    cells["mixed"] = old["mixed"]
                else:
                    print(f"  {name} / {target} / mixed (min_cosine {args.mixed_cosine}) ...", flush=True)
                    cells["mixed"] = compile_and_bench(name, target, "mixed", workdir, recipe, args.timeout,
                                                      args.resume and "mixed" not in rerun)
                m = _top1_pct(cells["mixed"])
                row.update(mixed_top1=m, mixed_drop_points=None if m is None else round(a - m, 2),
                           mixed_recipe=recipe.read_text())
                print(f"    {cells['mixed']['status']}: top-1 {m} {cells['mixed'].get('error', '')}", flush=True)
            entry["targets"][target] = row
            # Written after every target; other runs' models (and this model's other targets) are kept.
            models = json.loads(out.read_text()).get("models", {}) if out.exists() else {}
            entry["targets"] = {**previous(name).get("targets", {}), **entry["targets"]}
            _fill_mcu_fp32(entry)
            models[name] = entry
            write_result("trained_accuracy", {
                "what": "on-device top-1 (%) of trained zoo families, FP32 vs static INT8 (edgekit compile "
                        "--quantize int8, 256 calibration samples of the training split), measured with edgekit "
                        "bench --eval on the held-out split; mixed precision (int8 step with min_cosine) where INT8 "
                        f"drops > {args.max_drop} points",
                "host_machine": machine(), "models": models}, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
