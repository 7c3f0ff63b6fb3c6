"""Build the clean-speech and noise sources for training the default FRCRN model.

Everything comes from packages installable with apt/pip, decoded and generated
deterministically (fixed seed), and written as 16 kHz mono FLAC (PCM_16)::

    OUT/clean_train/<speaker>/*.flac   recorded prompts of the training speakers
    OUT/clean_test/<speaker>/*.flac    recorded prompts of the held-out speaker(s)
    OUT/noise_train/*.flac             music on hold excerpts + synthetic noises
    OUT/noise_test/*.flac              other music on hold track + synthetic noises
    OUT/manifest.json                  what was written (speakers, durations, sizes)

Speech: the Asterisk core prompt sets recorded at 16 kHz (G.722), one folder per
speaker. Prompts are trimmed of leading/trailing silence, prompts shorter than
0.5 s or longer than 20 s are skipped, and each speaker is filled up to a byte
budget so that the whole OUT folder stays under 40 MB. The Russian speaker is
held out for test only (unseen speaker and unseen language); the Spanish set is
recorded by the same speaker as the English one (Allison) and is not used.

Noise: Asterisk music on hold (split by track), and synthetic white, pink,
brown, mains hum (50 and 60 Hz), babble (train babble from training speakers
only, test babble from the test speaker only), bursts (clicks and thumps) and
fan noise. No noise file is in both splits.

Usage::

    apt-get install asterisk-core-sounds-en-g722 asterisk-core-sounds-fr-g722 \\
        asterisk-core-sounds-it-g722 asterisk-core-sounds-ru-g722 \\
        asterisk-moh-opsound-g722
    pip install g722 numpy scipy soundfile
    python recipes/default_model/build_sources.py --out DIR

Standalone: it imports nothing from ``modelscope_frcrn``.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

try:
    import numpy as np
    import soundfile as sf
    from scipy import signal
except ImportError:  # reported by check_sources()
    np = sf = signal = None  # type: ignore[assignment]

try:
    import G722  # the PyPI package "g722" installs the module "G722"
except ImportError:
    G722 = None

SAMPLE_RATE = 16_000
G722_BIT_RATE = 64_000
SEED = 20_240_601
SOUNDS = Path("/usr/share/asterisk/sounds")
MOH = Path("/usr/share/asterisk/moh")

TRAIN_SPEAKERS = ("en_US_f_Allison", "fr_CA_f_June", "it_IT_m_Carlo")
TEST_SPEAKERS = ("ru_RU_f_IvrvoiceRU",)
MOH_TRAIN = ("macroform-cold_day", "macroform-robot_dity", "macroform-the_simplicity",
             "manolo_camp-morning_coffee")
MOH_TEST = ("reno_project-system",)

APT_PACKAGES = ("asterisk-core-sounds-en-g722", "asterisk-core-sounds-fr-g722",
                "asterisk-core-sounds-it-g722", "asterisk-core-sounds-ru-g722",
                "asterisk-moh-opsound-g722")
PIP_PACKAGES = ("g722", "numpy", "scipy", "soundfile")

MIN_PROMPT_S = 0.5
MAX_PROMPT_S = 20.0
TRIM_DB = -45.0  # frames quieter than this re the loudest 10 ms frame are silence
TRIM_PAD_S = 0.05  # silence kept before/after the speech
MB = 1_000_000
SPEECH_BUDGET = {"train": 25.5 * MB, "test": 4.5 * MB}  # FLAC bytes per split
MOH_EXCERPT_S = {"train": 30.0, "test": 20.0}
MOH_EXCERPTS_PER_TRACK = {"train": 1, "test": 2}
NOISE_RMS_DBFS = -30.0  # synthetic noise level (mixing rescales anyway)
FLAC_LEVEL = 1.0  # soundfile compression_level: 1.0 is the strongest


@dataclass
class Clip:
    """One FLAC-encoded clip ready to write."""
    name: str
    data: bytes
    seconds: float


# ---------------------------------------------------------------- sources
def check_sources() -> None:
    """Exit with the exact install commands if a module or package is missing."""
    problems: List[str] = []
    if np is None or sf is None or signal is None or G722 is None:
        problems.append("Python modules are missing; install them with:\n    pip install "
                        + " ".join(PIP_PACKAGES))
    dirs = [SOUNDS / s for s in TRAIN_SPEAKERS + TEST_SPEAKERS]
    missing = [str(d) for d in dirs if not any(d.glob("*.g722"))]
    missing += [str(MOH / f"{t}.g722") for t in MOH_TRAIN + MOH_TEST
                if not (MOH / f"{t}.g722").is_file()]
    if missing:
        problems.append("Asterisk sound files are missing:\n    " + "\n    ".join(missing)
                        + "\n  install them with:\n    apt-get install " + " ".join(APT_PACKAGES))
    if problems:
        sys.exit("build_sources.py: cannot build the sources:\n- " + "\n- ".join(problems))


def decode_g722(path: Path) -> np.ndarray:
    """Decode a raw 64 kbit/s G.722 file to float64 samples at 16 kHz in [-1, 1)."""
    codec = G722.G722(SAMPLE_RATE, G722_BIT_RATE, use_numpy=False)
    pcm = np.asarray(codec.decode(path.read_bytes()), dtype=np.int16)
    return pcm.astype(np.float64) / 32768.0


def prompt_paths(speaker: str) -> List[Path]:
    """All prompts of a speaker, each group in a seeded random order: sentence prompts
    first, then the sub-folders (digits, letters, ...), which are mostly single words."""
    root = SOUNDS / speaker
    rng = np.random.default_rng(SEED)
    groups = (sorted(root.glob("*.g722")), sorted(root.glob("*/**/*.g722")))
    return [group[i] for group in groups for i in rng.permutation(len(group))]


# ---------------------------------------------------------------- audio helpers
def trim_silence(x: np.ndarray, threshold_db: float = TRIM_DB) -> np.ndarray:
    """Cut leading/trailing 10 ms frames quieter than ``threshold_db`` re the peak frame."""
    frame = SAMPLE_RATE // 100
    n_frames = len(x) // frame
    if n_frames == 0:
        return x[:0]
    energy = np.mean(x[: n_frames * frame].reshape(n_frames, frame) ** 2, axis=1)
    if energy.max() <= 0:
        return x[:0]
    loud = np.flatnonzero(energy > energy.max() * 10 ** (threshold_db / 10))
    pad = int(TRIM_PAD_S * SAMPLE_RATE)
    return x[max(0, loud[0] * frame - pad): min(len(x), (loud[-1] + 1) * frame + pad)]


def fade(x: np.ndarray, seconds: float = 0.01) -> np.ndarray:
    """Short linear fade-in/out so cut edges do not click."""
    n = min(int(seconds * SAMPLE_RATE), len(x) // 2)
    ramp = np.linspace(0.0, 1.0, n)
    y = x.copy()
    y[:n] *= ramp
    y[len(y) - n:] *= ramp[::-1]
    return y


def encode_flac(x: np.ndarray) -> bytes:
    """Encode float samples in [-1, 1] as 16 kHz mono FLAC PCM_16 (clipped, not wrapped)."""
    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)
    buffer = io.BytesIO()
    sf.write(buffer, pcm, SAMPLE_RATE, format="FLAC", subtype="PCM_16",
             compression_level=FLAC_LEVEL)
    return buffer.getvalue()


def make_clip(name: str, x: np.ndarray) -> Clip:
    return Clip(name, encode_flac(x), len(x) / SAMPLE_RATE)


def unit_rms(x: np.ndarray) -> np.ndarray:
    return x / max(float(np.sqrt(np.mean(x ** 2))), 1e-12)


def at_level(x: np.ndarray, rms_dbfs: float = NOISE_RMS_DBFS, peak: float = 0.99) -> np.ndarray:
    """Scale to ``rms_dbfs`` RMS, lowered if needed so the peak stays below ``peak``."""
    y = unit_rms(x) * 10 ** (rms_dbfs / 20)
    top = float(np.max(np.abs(y)))
    return y * (peak / top) if top > peak else y


def bandpass(x: np.ndarray, low: Optional[float], high: Optional[float], order: int = 4
             ) -> np.ndarray:
    """Butterworth low-, high- or band-pass filter (``None`` leaves that edge open)."""
    if low and high:
        sos = signal.butter(order, [low, high], "bandpass", fs=SAMPLE_RATE, output="sos")
    elif low:
        sos = signal.butter(order, low, "highpass", fs=SAMPLE_RATE, output="sos")
    else:
        sos = signal.butter(order, high, "lowpass", fs=SAMPLE_RATE, output="sos")
    return signal.sosfilt(sos, x)


def spectral_noise(n: int, rng: np.random.Generator, exponent: float) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f**exponent (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    spectrum[1:] /= freqs[1:] ** (exponent / 2)
    spectrum[0] = 0.0
    x = np.fft.irfft(spectrum, n)
    return bandpass(x, 20.0, None, order=2) if exponent else x


# ---------------------------------------------------------------- speech
def speech_clips(speaker: str, budget_bytes: float) -> List[Clip]:
    """Trimmed prompts of one speaker, in ``prompt_paths`` order, until ``budget_bytes`` of FLAC."""
    clips: List[Clip] = []
    used = 0
    for path in prompt_paths(speaker):
        x = trim_silence(decode_g722(path))
        if not MIN_PROMPT_S <= len(x) / SAMPLE_RATE <= MAX_PROMPT_S:
            continue
        rel = path.relative_to(SOUNDS / speaker).with_suffix("")
        clip = make_clip("-".join(rel.parts), fade(x))
        if used + len(clip.data) > budget_bytes:
            break
        clips.append(clip)
        used += len(clip.data)
    return clips


# ---------------------------------------------------------------- noise
def white(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(n)


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    return spectral_noise(n, rng, 1.0)


def brown(n: int, rng: np.random.Generator) -> np.ndarray:
    return spectral_noise(n, rng, 2.0)


def hum(n: int, rng: np.random.Generator, mains_hz: float) -> np.ndarray:
    """Mains hum: fundamental plus decaying (odd-emphasised) harmonics, slight drift, hiss."""
    t = np.arange(n) / SAMPLE_RATE
    drift = 1 + 0.002 * np.sin(2 * np.pi * rng.uniform(0.05, 0.2) * t)
    x = np.zeros(n)
    for k in range(1, 8):
        amplitude = (1.0 if k % 2 else 0.5) / k
        x += amplitude * np.sin(2 * np.pi * mains_hz * k * t * drift + rng.uniform(0, 2 * np.pi))
    return unit_rms(x) + 0.01 * rng.standard_normal(n)


def babble(n: int, rng: np.random.Generator, speakers: Sequence[str]) -> np.ndarray:
    """Sum of 4-8 prompts (longer than 2 s) of ``speakers``, each looped from a random offset."""
    pool = [p for s in speakers for p in sorted((SOUNDS / s).glob("*.g722"))
            if p.stat().st_size > 2 * G722_BIT_RATE // 8]
    chosen = rng.choice(len(pool), size=int(rng.integers(4, 9)), replace=False)
    total = np.zeros(n)
    for i in chosen:
        talker = trim_silence(decode_g722(pool[i]))
        start = int(rng.integers(len(talker)))
        total += unit_rms(np.resize(np.roll(talker, -start), n)) * rng.uniform(0.5, 1.0)
    return total


def bursts(n: int, rng: np.random.Generator) -> np.ndarray:
    """Non-stationary events on a quiet floor: clicks and door-like thumps at random times."""
    x = 0.002 * pink(n, rng)
    for _ in range(int(rng.integers(8, 20) * n / SAMPLE_RATE / 10)):
        start = int(rng.integers(n))
        if rng.random() < 0.5:  # click: a few ms of high-passed noise
            length = int(rng.uniform(0.002, 0.01) * SAMPLE_RATE)
            event = bandpass(rng.standard_normal(length), 1500.0, None, order=2)
            decay_s = length / SAMPLE_RATE / 3
        else:  # thump: low-passed noise decaying over 50-300 ms
            length = int(rng.uniform(0.15, 0.6) * SAMPLE_RATE)
            event = bandpass(rng.standard_normal(length), None, rng.uniform(150.0, 600.0))
            decay_s = rng.uniform(0.05, 0.3)
        envelope = np.exp(-np.arange(length) / SAMPLE_RATE / decay_s)
        event = unit_rms(event * envelope) * rng.uniform(0.3, 1.0)
        end = min(n, start + length)
        x[start:end] += event[: end - start]
    return x


def fan(n: int, rng: np.random.Generator) -> np.ndarray:
    """Fan: band-limited noise with a blade-pass tone, harmonics and slow modulation."""
    t = np.arange(n) / SAMPLE_RATE
    broadband = bandpass(rng.standard_normal(n), rng.uniform(60, 150), rng.uniform(1500, 4000))
    blade_hz = rng.uniform(80, 250)
    tones = sum(np.sin(2 * np.pi * blade_hz * k * t + rng.uniform(0, 2 * np.pi)) / k
                for k in (1, 2, 3))
    wobble = 1 + 0.15 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t)
    return unit_rms(broadband) * wobble + 0.3 * unit_rms(tones)


def synthetic_kinds(split: str) -> Dict[str, Callable[[int, np.random.Generator], np.ndarray]]:
    """The synthetic noise generators; babble uses only the speakers of ``split``."""
    speakers = TRAIN_SPEAKERS if split == "train" else TEST_SPEAKERS
    return {
        "white": white,
        "pink": pink,
        "brown": brown,
        "hum50": lambda n, rng: hum(n, rng, 50.0),
        "hum60": lambda n, rng: hum(n, rng, 60.0),
        "babble": lambda n, rng: babble(n, rng, speakers),
        "bursts": bursts,
        "fan": fan,
    }


def synthetic_clips(split: str, rng: np.random.Generator, per_kind: int) -> List[Clip]:
    """``per_kind`` files of 10-30 s for each synthetic noise kind."""
    clips = []
    for kind, make in synthetic_kinds(split).items():
        for i in range(per_kind):
            n = int(rng.uniform(10.0, 15.0 if split == "test" else 20.0) * SAMPLE_RATE)
            clips.append(make_clip(f"synth-{kind}-{i:02d}", at_level(make(n, rng))))
    return clips


def music_clips(split: str, rng: np.random.Generator) -> List[Clip]:
    """Excerpts (random start, faded edges) of the music-on-hold tracks of ``split``."""
    clips = []
    length = int(MOH_EXCERPT_S[split] * SAMPLE_RATE)
    for track in MOH_TRAIN if split == "train" else MOH_TEST:
        x = decode_g722(MOH / f"{track}.g722")
        for i in range(MOH_EXCERPTS_PER_TRACK[split]):
            start = int(rng.integers(0, max(1, len(x) - length)))
            clips.append(make_clip(f"moh-{track}-{i:02d}", fade(x[start:start + length], 0.05)))
    return clips


# ---------------------------------------------------------------- output
def write_clips(folder: Path, clips: Sequence[Clip]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for clip in clips:
        (folder / f"{clip.name}.flac").write_bytes(clip.data)


def summary(clips: Sequence[Clip]) -> Dict[str, float]:
    return {"files": len(clips), "hours": round(sum(c.seconds for c in clips) / 3600, 4),
            "megabytes": round(sum(len(c.data) for c in clips) / MB, 3)}


def build(out: Path) -> dict:
    """Build all four folders under ``out`` and return the manifest."""
    rng = np.random.default_rng(SEED)
    manifest: dict = {"sample_rate": SAMPLE_RATE, "seed": SEED, "splits": {}}
    for split, speakers in (("train", TRAIN_SPEAKERS), ("test", TEST_SPEAKERS)):
        per_speaker = SPEECH_BUDGET[split] / len(speakers)
        entry = {}
        for speaker in speakers:
            clips = speech_clips(speaker, per_speaker)
            write_clips(out / f"clean_{split}" / speaker, clips)
            entry[speaker] = summary(clips)
        manifest["splits"][f"clean_{split}"] = entry
    for split in ("train", "test"):
        clips = music_clips(split, rng) + synthetic_clips(split, rng, 2 if split == "train" else 1)
        write_clips(out / f"noise_{split}", clips)
        manifest["splits"][f"noise_{split}"] = {"total": summary(clips),
                                                "files": sorted(c.name for c in clips)}
    return manifest


def folder_megabytes(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / MB


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    check_sources()
    started = time.monotonic()
    for name in ("clean_train", "clean_test", "noise_train", "noise_test"):
        shutil.rmtree(args.out / name, ignore_errors=True)
    manifest = build(args.out)
    manifest["folder_megabytes"] = {p.name: round(folder_megabytes(p), 3)
                                    for p in sorted(args.out.iterdir()) if p.is_dir()}
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = folder_megabytes(args.out)
    for name, megabytes in manifest["folder_megabytes"].items():
        print(f"{name:12s} {megabytes:7.2f} MB")
    for name, entry in manifest["splits"].items():
        if name.startswith("clean"):
            hours = sum(e["hours"] for e in entry.values())
            print(f"{name:12s} {hours:.3f} h speech, speakers: {', '.join(entry)}")
        else:
            print(f"{name:12s} {entry['total']['files']} files, {entry['total']['hours']:.3f} h")
    print(f"total        {total:7.2f} MB in {time.monotonic() - started:.0f} s")
    if total > 40.0:
        sys.exit(f"build_sources.py: {args.out} is {total:.1f} MB, over the 40 MB limit")


if __name__ == "__main__":
    main()
