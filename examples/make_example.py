"""Build ``examples/speech_with_noise.wav``: real recorded speech in realistic noise.

Speech: three studio prompts recorded by Allison Smith (US English, female),
shipped as 16 kHz G.722 files by Debian's ``asterisk-core-sounds-en-g722``,
trimmed and joined with short pauses.

Noise, all deterministic (fixed seed):

* babble: six long prompts by three *other* speakers (Canadian French,
  Italian, Russian Asterisk prompt sets), each started at a random offset,
  summed at equal level and given a synthetic room reverb so it sounds like
  a crowd in the background;
* pink noise (air conditioning / room tone);
* a little 50 Hz mains hum with two harmonics.

The noise is scaled so the whole-file SNR, ``10*log10(sum(clean**2) /
sum(noise**2))``, is 5 dB, then clean and noisy are scaled together so the
noisy peak is -3 dBFS and written as 16 kHz mono PCM_16.

Usage::

    apt-get install asterisk-core-sounds-en-g722 asterisk-core-sounds-fr-g722 \\
        asterisk-core-sounds-it-g722 asterisk-core-sounds-ru-g722
    pip install g722 numpy soundfile
    python examples/make_example.py [--clean-out /tmp/example_clean.wav]

This is a standalone script; the ``modelscope_frcrn`` package does not import it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

try:
    import G722  # the PyPI package "g722" installs the module "G722"
except ImportError:
    G722 = None

SAMPLE_RATE = 16_000
G722_BIT_RATE = 64_000
SOUNDS = Path("/usr/share/asterisk/sounds")

SPEECH_FILES = tuple(
    SOUNDS / "en_US_f_Allison" / f"{name}.g722"
    for name in ("conf-onlyperson", "vm-nobodyavail", "conf-waitforleader")
)
BABBLE_FILES = tuple(
    SOUNDS / voice / f"{name}.g722"
    for voice in ("fr_CA_f_June", "it_IT_m_Carlo", "ru_RU_f_IvrvoiceRU")
    for name in ("demo-congrats", "demo-instruct")
)
APT_PACKAGES = (
    "asterisk-core-sounds-en-g722",
    "asterisk-core-sounds-fr-g722",
    "asterisk-core-sounds-it-g722",
    "asterisk-core-sounds-ru-g722",
)

SEED = 16_000
SNR_DB = 5.0
PEAK_DBFS = -3.0
EDGE_S = 0.3  # silence before the first and after the last prompt
PAUSE_S = 0.35  # silence between prompts
PINK_DB = -6.0  # pink noise level relative to babble
HUM_DB = -20.0  # hum level relative to babble
REVERB_RT60_S = 0.5

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "speech_with_noise.wav"


def check_sources() -> None:
    """Exit with an install hint if the decoder or any prompt file is missing."""
    missing = [str(p) for p in SPEECH_FILES + BABBLE_FILES if not p.is_file()]
    problems = []
    if G722 is None:
        problems.append("the G.722 decoder is not installed:\n    pip install g722")
    if missing:
        problems.append(
            "Asterisk prompt files are missing:\n    "
            + "\n    ".join(missing)
            + "\n  install them with:\n    apt-get install "
            + " ".join(APT_PACKAGES)
        )
    if problems:
        sys.exit("make_example.py: cannot build the example:\n- " + "\n- ".join(problems))


def decode_g722(path: Path) -> np.ndarray:
    """Decode a raw 64 kbit/s G.722 file to float64 samples at 16 kHz in [-1, 1)."""
    codec = G722.G722(SAMPLE_RATE, G722_BIT_RATE, use_numpy=False)
    pcm = np.asarray(codec.decode(path.read_bytes()), dtype=np.int16)
    return pcm.astype(np.float64) / 32768.0


def trim_silence(x: np.ndarray, threshold_db: float = -45.0) -> np.ndarray:
    """Cut leading/trailing 10 ms frames quieter than ``threshold_db`` re the peak frame."""
    frame = SAMPLE_RATE // 100
    n_frames = len(x) // frame
    energy = np.mean(x[: n_frames * frame].reshape(n_frames, frame) ** 2, axis=1)
    loud = np.flatnonzero(energy > energy.max() * 10 ** (threshold_db / 10))
    return x[loud[0] * frame : (loud[-1] + 1) * frame]


def fade(x: np.ndarray, seconds: float = 0.01) -> np.ndarray:
    """Apply short linear fade-in/out so trimmed edges do not click."""
    n = int(seconds * SAMPLE_RATE)
    ramp = np.linspace(0.0, 1.0, n)
    y = x.copy()
    y[:n] *= ramp
    y[-n:] *= ramp[::-1]
    return y


def build_speech() -> np.ndarray:
    """Join the trimmed speech prompts with pauses and silent edges."""
    edge = np.zeros(int(EDGE_S * SAMPLE_RATE))
    pause = np.zeros(int(PAUSE_S * SAMPLE_RATE))
    parts = [edge]
    for i, path in enumerate(SPEECH_FILES):
        if i:
            parts.append(pause)
        parts.append(fade(trim_silence(decode_g722(path))))
    parts.append(edge)
    return np.concatenate(parts)


def unit_rms(x: np.ndarray) -> np.ndarray:
    """Scale ``x`` to an RMS of 1."""
    return x / np.sqrt(np.mean(x**2))


def reverb(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Convolve with an exponentially decaying noise impulse response (a simple room)."""
    t = np.arange(int(REVERB_RT60_S * SAMPLE_RATE)) / SAMPLE_RATE
    ir = rng.standard_normal(len(t)) * 10 ** (-3 * t / REVERB_RT60_S)
    n_fft = len(x) + len(ir) - 1
    wet = np.fft.irfft(np.fft.rfft(x, n_fft) * np.fft.rfft(ir, n_fft), n_fft)
    return wet[: len(x)]


def babble(n: int, rng: np.random.Generator) -> np.ndarray:
    """Sum the babble prompts, each cyclically shifted by a random offset to length ``n``."""
    total = np.zeros(n)
    for path in BABBLE_FILES:
        talker = decode_g722(path)
        start = int(rng.integers(len(talker)))
        total += unit_rms(np.resize(np.roll(talker, -start), n))
    return unit_rms(reverb(total, rng))


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Pink (1/f power) noise with unit RMS, shaped in the frequency domain."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    spectrum[1:] /= np.sqrt(freqs[1:])
    spectrum[0] = 0.0
    return unit_rms(np.fft.irfft(spectrum, n))


def mains_hum(n: int, rng: np.random.Generator) -> np.ndarray:
    """50 Hz hum with weaker 100 Hz and 150 Hz harmonics, unit RMS."""
    t = np.arange(n) / SAMPLE_RATE
    hum = np.zeros(n)
    for k, amplitude in ((1, 1.0), (2, 0.5), (3, 0.25)):
        hum += amplitude * np.sin(2 * np.pi * 50 * k * t + rng.uniform(0, 2 * np.pi))
    return unit_rms(hum)


def build_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Babble + pink noise + hum, at their relative levels."""
    return (
        babble(n, rng)
        + 10 ** (PINK_DB / 20) * pink_noise(n, rng)
        + 10 ** (HUM_DB / 20) * mains_hum(n, rng)
    )


def mix(speech: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (noisy, clean) at ``SNR_DB``, both scaled so the noisy peak is ``PEAK_DBFS``."""
    noise = noise * np.sqrt(np.sum(speech**2) / np.sum(noise**2) / 10 ** (SNR_DB / 10))
    noisy = speech + noise
    gain = 10 ** (PEAK_DBFS / 20) / np.max(np.abs(noisy))
    return noisy * gain, speech * gain


def write_pcm16(path: Path, x: np.ndarray) -> None:
    """Write mono 16 kHz PCM_16 WAV."""
    pcm = np.round(x * 32767).astype(np.int16)
    sf.write(path, pcm, SAMPLE_RATE, subtype="PCM_16")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="noisy WAV to write (default: %(default)s)",
    )
    parser.add_argument(
        "--clean-out",
        type=Path,
        help="also write the clean speech reference (same length) here",
    )
    args = parser.parse_args(argv)

    check_sources()
    rng = np.random.default_rng(SEED)
    speech = build_speech()
    noisy, clean = mix(speech, build_noise(len(speech), rng))

    write_pcm16(args.output, noisy)
    print(f"wrote {args.output} ({len(noisy) / SAMPLE_RATE:.2f} s, SNR {SNR_DB:g} dB)")
    if args.clean_out is not None:
        write_pcm16(args.clean_out, clean)
        print(f"wrote {args.clean_out}")


if __name__ == "__main__":
    main()
