"""Build broad clean-speech and noise sources (many voices, languages, recording chains).

Everything comes from Debian packages (``apt-get download`` + ``dpkg-deb -x`` into a
cache folder, nothing is installed) and is decoded, checked and written
deterministically as 16 kHz mono FLAC (PCM_16)::

    OUT/speech/train/<source>__<speaker_or_pack>/*.flac
    OUT/speech/valid/<source>__<speaker_or_pack>/*.flac   whole speakers/packs held out
    OUT/noise/train/<category>/*.flac
    OUT/noise/valid/<category>/*.flac                      whole files/tracks held out
    OUT/files.tsv        one line per written file: split, path, source, package,
                         original file, original rate, channels, seconds
    OUT/manifest.json    per source: package, version, licence, files, seconds,
                         speakers, original rates; drops and their reasons; totals.
                         Written last (atomically): its presence means the build is complete.

Speech: every file is decoded (soundfile; G.722 with the ``g722`` module), mixed down to
mono, resampled to 16 kHz with soxr (HQ), trimmed of leading/trailing silence (10 ms
frames below -45 dB re the loudest frame, 50 ms kept, 10 ms fades), peak-normalised to
-1 dBFS and skipped if shorter than 0.5 s. Quality checks drop files whose original
rate is below 16 kHz, clipped files, near-silent files and band-limited files
(energy above 4 kHz below -40 dB re the total: telephone audio upsampled).
Identical files (same bytes) are written once.

Noise: the same decoding; trimmed at -60 dB; kept if at least 0.25 s; no band check.
Splits are by whole file (a music track is never in both); a tenth of the files of each
category (by a hash of the package and path, so fixed) go to valid.

Usage::

    python recipes/broad_model/build_sources.py --out DIR [--cache DIR] [--fetch] [--jobs 2]

Without ``--fetch`` a missing package stops the build with the commands to run; with it
the packages are downloaded into ``CACHE/debs`` and unpacked into ``CACHE/x/<package>``.
Standalone: it imports nothing from ``modelscope_frcrn``.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Tuple

try:
    import numpy as np
    import soundfile as sf
    import soxr
except ImportError:  # reported by check_modules()
    np = sf = soxr = None  # type: ignore[assignment]

try:
    import G722  # PyPI "g722"
except ImportError:
    G722 = None

SAMPLE_RATE = 16_000
SEED = 20_261_129
PIP_PACKAGES = ("numpy", "soundfile", "soxr", "g722")
AUDIO_SUFFIXES = (".wav", ".ogg", ".oga", ".flac", ".mp3", ".opus", ".aif", ".aiff", ".au",
                  ".g722")

MIN_SPEECH_S = 0.5
MIN_NOISE_S = 0.25
SPEECH_TRIM_DB = -45.0
NOISE_TRIM_DB = -60.0
TRIM_PAD_S = 0.05
PEAK = 10 ** (-1 / 20)  # -1 dBFS
CLIP_LEVEL = 0.999  # of full scale, on the original samples
CLIP_FRACTION = 0.002  # more than this share of samples at full scale: clipped
CLIP_RUN = 8  # or this many consecutive samples at full scale, more than 20 times
SILENT_PEAK_DB = -50.0  # original peak below this: near-silent
BAND_SPLIT_HZ = 4000.0
BAND_MIN_DB = -40.0  # speech energy above 4 kHz re total below this: band-limited
NOISE_VALID_EVERY = 10  # ~1 in 10 noise files to valid

RESERVED = ("fillets-ng-data", "pocketsphinx-testdata", "alsa-utils", "linphone",
            "codec2-examples", "asterisk-prompt-", "sound-theme-freedesktop", "colobot")


# ---------------------------------------------------------------- source descriptions
@dataclass
class Item:
    """One input file: speech (group = speaker folder) or noise (group = category)."""
    kind: str  # "speech" or "noise"
    source: str
    package: str
    group: str
    path: Path
    language: str = ""


@dataclass
class Source:
    name: str
    package: str
    kind: str
    list_items: Callable[[Path], List[Item]]  # package root -> items
    note: str = ""
    synthetic: bool = False


def files_under(root: Path, *patterns: str) -> List[Path]:
    out = set()
    for pattern in patterns:
        out.update(p for p in root.glob(pattern) if p.is_file()
                   and p.suffix.lower() in AUDIO_SUFFIXES)
    return sorted(out)


# klettres: letters and syllables spoken per language
def klettres_items(root: Path) -> List[Item]:
    base = root / "usr/share/klettres"
    items = []
    for lang_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        for f in files_under(lang_dir, "**/*"):
            items.append(Item("speech", "klettres", "klettres-data", f"klettres__{lang_dir.name}",
                              f, lang_dir.name))
    return items


# ktuberling: the name of each stamp spoken per language
def ktuberling_items(root: Path) -> List[Item]:
    base = root / "usr/share/ktuberling/sounds"
    items = []
    for lang_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        for f in files_under(lang_dir, "*"):
            items.append(Item("speech", "ktuberling", "ktuberling-data",
                              f"ktuberling__{lang_dir.name}", f, lang_dir.name.split("@")[0]))
    return items


TUXPAINT_DESC = re.compile(r"_desc(?:_([A-Za-z]{2,3}(?:_[A-Z]{2})?))?$")


# tuxpaint-stamps-default: spoken descriptions (<stamp>_desc[_<lang>].ogg)
def tuxpaint_speech_items(root: Path) -> List[Item]:
    base = root / "usr/share/tuxpaint/stamps"
    items = []
    for f in files_under(base, "**/*"):
        m = TUXPAINT_DESC.search(f.stem)
        if m:
            lang = m.group(1) or "en"
            items.append(Item("speech", "tuxpaint", "tuxpaint-stamps-default", f"tuxpaint__{lang}",
                              f, lang))
    return items


TUXPAINT_NOISE_CATEGORY = {"vehicles": "machine", "household": "household",
                           "animals": "animals", "naturalforces": "ambient",
                           "people": None}  # people: laughs/voices, not noise


def tuxpaint_noise_items(root: Path) -> List[Item]:
    base = root / "usr/share/tuxpaint/stamps"
    items = []
    for f in files_under(base, "**/*"):
        if TUXPAINT_DESC.search(f.stem):
            continue
        top = f.relative_to(base).parts[0]
        category = TUXPAINT_NOISE_CATEGORY.get(top, "effects")
        if category:
            items.append(Item("noise", "tuxpaint", "tuxpaint-stamps-default", category, f))
    return items


# hedgewars: voice packs (short spoken game lines); grunts, screams, laughs left out
HEDGEWARS_VOICES = "usr/share/games/hedgewars/Data/Sounds/voices"
HEDGEWARS_NOT_SPEECH = re.compile(
    r"^(Jump\d|Laugh|Nooo|Ooff\d|Ouch|Ow\d|Poison\w*|Uh-oh|Hmm|Firepunch\d)$", re.I)
HEDGEWARS_PACKS = {  # pack -> language; Robot (vocoded) and Singer (sung) are left out
    "British": "en", "Classic": "en", "Default": "en", "Default_es": "es",
    "Default_pl": "pl", "Default_ru": "ru", "Default_uk": "uk", "HillBilly": "en",
    "Mobster": "en", "Pirate": "en", "Russian": "en", "Russian_pl": "pl", "Surfer": "en"}


def hedgewars_speech_items(root: Path) -> List[Item]:
    items = []
    for pack, lang in sorted(HEDGEWARS_PACKS.items()):
        for f in files_under(root / HEDGEWARS_VOICES / pack, "*"):
            if not HEDGEWARS_NOT_SPEECH.match(f.stem):
                items.append(Item("speech", "hedgewars", "hedgewars-data", f"hedgewars__{pack}",
                                  f, lang))
    return items


def hedgewars_noise_items(root: Path) -> List[Item]:
    data = root / "usr/share/games/hedgewars/Data"
    items = [Item("noise", "hedgewars", "hedgewars-data", "music", f)
             for f in files_under(data / "Music", "**/*")]
    items += [Item("noise", "hedgewars", "hedgewars-data", "effects", f)
              for f in files_under(data / "Sounds", "*")
              if not re.match(r"^(hell_|hogchant|Hellish|Yoohoo|Kiss)", f.stem)]  # voices
    return items


# freedroidrpg: music and effects (bot_sounds are synthetic speech: not used)
def freedroid_noise_items(root: Path) -> List[Item]:
    base = root / "usr/share/freedroidrpg/data/sound"
    items = [Item("noise", "freedroidrpg", "freedroidrpg-data", "music", f)
             for f in files_under(base / "music", "*")]
    items += [Item("noise", "freedroidrpg", "freedroidrpg-data", "effects", f)
              for f in files_under(base / "effects", "*")
              if "Scream" not in f.stem]
    items += [Item("noise", "freedroidrpg", "freedroidrpg-data", "effects", f)
              for sub in ("bullets", "item_sounds")
              for f in files_under(base / "effects" / sub, "*")]
    return items


# asterisk: the default model's G.722 voices and music on hold
ASTERISK_SPEAKERS = {"en": ("en_US_f_Allison", "en"), "fr": ("fr_CA_f_June", "fr"),
                     "it": ("it_IT_m_Carlo", "it"), "ru": ("ru_RU_f_IvrvoiceRU", "ru")}


def asterisk_items(lang: str) -> Callable[[Path], List[Item]]:
    speaker, language = ASTERISK_SPEAKERS[lang]

    def items(root: Path) -> List[Item]:
        base = root / "usr/share/asterisk/sounds" / speaker
        return [Item("speech", "asterisk", f"asterisk-core-sounds-{lang}-g722",
                     f"asterisk__{speaker}", f, language) for f in files_under(base, "**/*")]
    return items


def moh_items(root: Path) -> List[Item]:
    return [Item("noise", "asterisk_moh", "asterisk-moh-opsound-g722", "music", f)
            for f in files_under(root / "usr/share/asterisk/moh", "*")]


SOURCES: List[Source] = [
    Source("asterisk_en", "asterisk-core-sounds-en-g722", "speech", asterisk_items("en")),
    Source("asterisk_fr", "asterisk-core-sounds-fr-g722", "speech", asterisk_items("fr")),
    Source("asterisk_it", "asterisk-core-sounds-it-g722", "speech", asterisk_items("it")),
    Source("asterisk_ru", "asterisk-core-sounds-ru-g722", "speech", asterisk_items("ru")),
    Source("klettres", "klettres-data", "speech", klettres_items),
    Source("ktuberling", "ktuberling-data", "speech", ktuberling_items),
    Source("tuxpaint", "tuxpaint-stamps-default", "speech", tuxpaint_speech_items),
    Source("hedgewars", "hedgewars-data", "speech", hedgewars_speech_items),
    Source("asterisk_moh", "asterisk-moh-opsound-g722", "noise", moh_items),
    Source("hedgewars_noise", "hedgewars-data", "noise", hedgewars_noise_items),
    Source("freedroidrpg", "freedroidrpg-data", "noise", freedroid_noise_items),
    Source("tuxpaint_noise", "tuxpaint-stamps-default", "noise", tuxpaint_noise_items),
]

# Whole speakers/packs held out for validation (languages or voices found nowhere else).
VALID_SPEAKERS = ("asterisk__ru_RU_f_IvrvoiceRU", "tuxpaint__bg", "klettres__he",
                  "ktuberling__gl", "ktuberling__wa")


# ---------------------------------------------------------------- packages
def package_root(cache: Path, package: str) -> Optional[Path]:
    """Where the package's files are: CACHE/x/<package>, else / if installed."""
    extracted = cache / "x" / package
    if (extracted / "usr").is_dir():
        return extracted
    status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package],
                            capture_output=True, text=True)
    if status.returncode == 0 and status.stdout.strip().endswith("installed"):
        return Path("/")
    return None


def package_version(cache: Path, package: str) -> str:
    debs = sorted((cache / "debs").glob(f"{package}_*.deb"))
    if debs and (cache / "x" / package / "usr").is_dir():
        cmd = ["dpkg-deb", "-f", str(debs[-1]), "Version"]
    else:
        cmd = ["dpkg-query", "-W", "-f=${Version}", package]
    return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()


def package_licences(root: Path, package: str) -> List[str]:
    """Licences named in the package's DEP-5 copyright file (the 'Files: *' one first)."""
    path = root / "usr/share/doc" / package / "copyright"
    if not path.is_file():
        return []
    text = path.read_text(errors="replace")
    found: List[str] = []
    for para in re.split(r"\n\s*\n", text):
        m = re.search(r"^License:\s*(\S.*)$", para, re.M)
        if m and re.search(r"^Files:", para, re.M):
            name = m.group(1).strip()
            if re.search(r"^Files:\s*\*\s*$", para, re.M):
                found.insert(0, name)
            elif name not in found:
                found.append(name)
    return list(dict.fromkeys(found))


def fetch(cache: Path, packages: Iterable[str]) -> None:
    debs, extract = cache / "debs", cache / "x"
    debs.mkdir(parents=True, exist_ok=True)
    for package in packages:
        if (extract / package / "usr").is_dir():
            continue
        if not list(debs.glob(f"{package}_*.deb")):
            subprocess.run(["apt-get", "download", package], cwd=debs, check=True)
        deb = sorted(debs.glob(f"{package}_*.deb"))[-1]
        tmp = extract / f".{package}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], check=True)
        tmp.rename(extract / package)


def check_modules() -> None:
    if np is None or sf is None or soxr is None or G722 is None:
        sys.exit("build_sources.py: Python modules are missing; install them with:\n"
                 "    pip install " + " ".join(PIP_PACKAGES))


def resolve_packages(cache: Path, do_fetch: bool) -> Dict[str, Path]:
    packages = sorted({s.package for s in SOURCES})
    assert not any(p.startswith(RESERVED) for p in packages), "a reserved package is listed"
    if do_fetch:
        fetch(cache, [p for p in packages if package_root(cache, p) is None])
    roots = {p: package_root(cache, p) for p in packages}
    missing = [p for p, r in roots.items() if r is None]
    if missing:
        sys.exit("build_sources.py: packages are missing; run with --fetch, or:\n"
                 f"    mkdir -p {cache}/debs && cd {cache}/debs && apt-get download "
                 + " ".join(missing) + "\n    for d in *.deb; do n=${d%%_*}; "
                 f"dpkg-deb -x $d {cache}/x/$n; done\n"
                 "  (or: apt-get install " + " ".join(missing) + ")")
    return roots  # type: ignore[return-value]


# ---------------------------------------------------------------- audio
def decode(path: Path) -> Tuple[np.ndarray, int, int]:
    """Samples as float64 [frames, channels], rate, channels."""
    if path.suffix.lower() == ".g722":
        codec = G722.G722(SAMPLE_RATE, 64_000, use_numpy=False)
        pcm = np.asarray(codec.decode(path.read_bytes()), dtype=np.int16)
        return (pcm.astype(np.float64) / 32768.0)[:, None], SAMPLE_RATE, 1
    x, rate = sf.read(str(path), dtype="float64", always_2d=True)
    return x, rate, x.shape[1]


def frame_energy(x: np.ndarray) -> np.ndarray:
    frame = SAMPLE_RATE // 100
    n = len(x) // frame
    return np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1)


def trim(x: np.ndarray, threshold_db: float) -> np.ndarray:
    energy = frame_energy(x)
    if len(energy) == 0 or energy.max() <= 0:
        return x[:0]
    loud = np.flatnonzero(energy > energy.max() * 10 ** (threshold_db / 10))
    frame, pad = SAMPLE_RATE // 100, int(TRIM_PAD_S * SAMPLE_RATE)
    return x[max(0, loud[0] * frame - pad): min(len(x), (loud[-1] + 1) * frame + pad)]


def fade(x: np.ndarray, seconds: float = 0.01) -> np.ndarray:
    n = min(int(seconds * SAMPLE_RATE), len(x) // 2)
    ramp = np.linspace(0.0, 1.0, n)
    y = x.copy()
    y[:n] *= ramp
    y[len(y) - n:] *= ramp[::-1]
    return y


def clipped(x: np.ndarray) -> bool:
    """Many samples at full scale, or many runs of consecutive full-scale samples."""
    full = np.abs(x) >= CLIP_LEVEL
    if full.mean() > CLIP_FRACTION:
        return True
    runs = 0
    for ch in range(full.shape[1]):
        f = full[:, ch].astype(np.int8)
        edges = np.flatnonzero(np.diff(np.concatenate(([0], f, [0]))))
        lengths = edges[1::2] - edges[::2]
        runs += int(np.sum(lengths >= CLIP_RUN))
    return runs > 20


def high_band_db(x: np.ndarray) -> float:
    """Energy above 4 kHz re total, in dB, of a 16 kHz signal."""
    spec = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
    total = spec[freqs >= 100].sum()  # rumble/hum below 100 Hz ignored
    return float(10 * np.log10(max(spec[freqs >= BAND_SPLIT_HZ].sum(), 1e-20) / max(total, 1e-20)))


def encode_flac(x: np.ndarray) -> bytes:
    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)
    buffer = io.BytesIO()
    sf.write(buffer, pcm, SAMPLE_RATE, format="FLAC", subtype="PCM_16", compression_level=1.0)
    return buffer.getvalue()


def process(item: Item) -> dict:
    """Decode, check and encode one file; returns the result or the reason it was dropped."""
    result = {"rate": None, "channels": None}
    try:
        x, rate, channels = decode(item.path)
    except Exception as error:  # undecodable
        return {**result, "drop": f"undecodable ({type(error).__name__})"}
    result.update(rate=rate, channels=channels)
    if len(x) == 0:
        return {**result, "drop": "empty"}
    if rate < SAMPLE_RATE:
        return {**result, "drop": "rate below 16 kHz"}
    if item.kind == "speech" and clipped(x):
        return {**result, "drop": "clipped"}
    peak = float(np.max(np.abs(x)))
    if peak <= 10 ** (SILENT_PEAK_DB / 20):
        return {**result, "drop": "near-silent"}
    mono = x.mean(axis=1)
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ")
    speech = item.kind == "speech"
    y = trim(mono, SPEECH_TRIM_DB if speech else NOISE_TRIM_DB)
    seconds = len(y) / SAMPLE_RATE
    if seconds < (MIN_SPEECH_S if speech else MIN_NOISE_S):
        return {**result, "drop": "too short"}
    if speech:
        band = high_band_db(y)
        result["high_band_db"] = round(band, 1)
        if band < BAND_MIN_DB:
            return {**result, "drop": "band-limited (< 4 kHz)"}
    top = float(np.max(np.abs(y)))
    if top <= 0:
        return {**result, "drop": "near-silent"}
    y = fade(y * (PEAK / top))
    return {**result, "seconds": seconds, "flac": encode_flac(y)}


def file_digest(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- build
def safe_name(item: Item, root: Path) -> str:
    rel = item.path.relative_to(root)
    stem = "-".join(rel.with_suffix("").parts[-2:]) if item.kind == "noise" else rel.stem
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", stem)


def noise_split(item: Item, root: Path) -> str:
    key = f"{item.package}/{item.path.relative_to(root)}"
    return "valid" if zlib.crc32(key.encode()) % NOISE_VALID_EVERY == 0 else "train"


def build(out: Path, roots: Dict[str, Path], cache: Path, jobs: int) -> dict:
    items: List[Tuple[Source, Item]] = []
    for source in SOURCES:
        for item in source.list_items(roots[source.package]):
            items.append((source, item))
    # identical files once (first source wins)
    seen: Dict[str, str] = {}
    unique: List[Tuple[Source, Item]] = []
    duplicates = collections.Counter()
    for source, item in items:
        digest = file_digest(item.path)
        if digest in seen:
            duplicates[source.name] += 1
            continue
        seen[digest] = str(item.path)
        unique.append((source, item))
    print(f"{len(items)} files listed, {len(unique)} unique", flush=True)

    sources: Dict[str, dict] = {}
    for source in SOURCES:
        root = roots[source.package]
        sources[source.name] = {
            "package": source.package, "version": package_version(cache, source.package),
            "licence": package_licences(root, source.package), "kind": source.kind,
            "synthetic": source.synthetic, "files": 0, "seconds": 0.0,
            "original_rates": collections.Counter(), "groups": {},
            "duplicates_skipped": duplicates.get(source.name, 0),
            "dropped": collections.Counter()}
    dropped_examples: Dict[str, List[str]] = collections.defaultdict(list)
    names_used = set()
    table = []
    started = time.monotonic()
    with Pool(jobs) as pool:
        for n, ((source, item), res) in enumerate(
                zip(unique, pool.imap(process, [i for _, i in unique], chunksize=4))):
            entry = sources[source.name]
            if "drop" in res:
                entry["dropped"][res["drop"]] += 1
                if len(dropped_examples[res["drop"]]) < 30:
                    dropped_examples[res["drop"]].append(
                        f"{item.package}:{item.path.relative_to(roots[item.package])}")
                continue
            root = roots[item.package]
            if item.kind == "speech":
                split = "valid" if item.group in VALID_SPEAKERS else "train"
                folder = out / "speech" / split / item.group
            else:
                split = noise_split(item, root)
                folder = out / "noise" / split / item.group
            name = f"{source.name}-{safe_name(item, root)}" if item.kind == "noise" \
                else safe_name(item, root)
            base, k = name, 1
            while (folder / name) in names_used:
                k += 1
                name = f"{base}_{k}"
            names_used.add(folder / name)
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{name}.flac"
            target.write_bytes(res["flac"])
            entry["files"] += 1
            entry["seconds"] += res["seconds"]
            entry["original_rates"][str(res["rate"])] += 1
            group = entry["groups"].setdefault(item.group, {
                "split": split if item.kind == "speech" else None, "language": item.language,
                "files": 0, "seconds": 0.0, "original_rates": collections.Counter()})
            group["files"] += 1
            group["seconds"] += res["seconds"]
            group["original_rates"][str(res["rate"])] += 1
            table.append("\t".join([split, str(target.relative_to(out)), source.name,
                                    item.package, str(item.path.relative_to(root)),
                                    str(res["rate"]), str(res["channels"]),
                                    f"{res['seconds']:.3f}"]))
            if (n + 1) % 1000 == 0:
                print(f"  {n + 1}/{len(unique)} files, {time.monotonic() - started:.0f} s",
                      flush=True)
    (out / "files.tsv").write_text(
        "split\tpath\tsource\tpackage\toriginal\toriginal_rate\tchannels\tseconds\n"
        + "\n".join(table) + "\n")
    return finish_manifest(sources, dropped_examples)


def finish_manifest(sources: Dict[str, dict], dropped_examples: Dict[str, List[str]]) -> dict:
    totals: dict = {"speech": {}, "noise": {}}
    for entry in sources.values():
        entry["seconds"] = round(entry["seconds"], 2)
        entry["minutes"] = round(entry["seconds"] / 60, 2)
        for group_name, group in entry["groups"].items():
            group["seconds"] = round(group["seconds"], 2)
            group["minutes"] = round(group["seconds"] / 60, 2)
        if entry["kind"] == "speech":
            entry["speakers"] = len(entry["groups"])
            entry["languages"] = sorted({g["language"] for g in entry["groups"].values()})
    for split in ("train", "valid"):
        speakers = {name: g for e in sources.values() if e["kind"] == "speech"
                    for name, g in e["groups"].items() if g["split"] == split}
        real = {n: g for n, g in speakers.items() if not n.startswith("synthetic__")}
        totals["speech"][split] = {
            "hours": round(sum(g["seconds"] for g in speakers.values()) / 3600, 3),
            "hours_real": round(sum(g["seconds"] for g in real.values()) / 3600, 3),
            "speakers_or_packs": len(speakers),
            "languages": sorted({g["language"] for g in speakers.values()}),
            "files": sum(g["files"] for g in speakers.values())}
    totals["speech"]["all_languages"] = sorted(
        set(totals["speech"]["train"]["languages"]) | set(totals["speech"]["valid"]["languages"]))
    fullband = {}
    for name, entry in sources.items():
        if entry["kind"] == "speech" and entry["files"]:
            high = sum(c for r, c in entry["original_rates"].items() if int(r) >= 44_100)
            fullband[name] = round(high / entry["files"], 3)
    totals["speech_share_at_44k_or_more"] = fullband
    return {"sample_rate": SAMPLE_RATE, "seed": SEED, "sources": sources, "totals": totals,
            "valid_speakers": list(VALID_SPEAKERS),
            "dropped_examples": dict(dropped_examples), "reserved_never_used": list(RESERVED)}


def noise_totals(out: Path) -> dict:
    result: dict = {}
    for split in ("train", "valid"):
        base = out / "noise" / split
        result[split] = {}
        if base.is_dir():
            for cat in sorted(p for p in base.iterdir() if p.is_dir()):
                files = sorted(cat.glob("*.flac"))
                seconds = sum(sf.info(str(f)).duration for f in files)
                result[split][cat.name] = {"files": len(files), "minutes": round(seconds / 60, 2)}
    return result


def folder_megabytes(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder (must be new)")
    parser.add_argument("--cache", type=Path,
                        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                        / "modelscope_frcrn" / "debs",
                        help="folder for downloaded .deb files (debs/) and their contents (x/)")
    parser.add_argument("--fetch", action="store_true",
                        help="apt-get download + dpkg-deb -x missing packages into --cache")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    check_modules()
    if (args.out / "manifest.json").exists():
        sys.exit(f"build_sources.py: {args.out} is a completed build; use a new folder")
    roots = resolve_packages(args.cache, args.fetch)
    started = time.monotonic()
    for name in ("speech", "noise", "files.tsv"):
        target = args.out / name
        shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(
            missing_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = build(args.out, roots, args.cache, args.jobs)
    manifest["totals"]["noise"] = noise_totals(args.out)
    manifest["totals"]["noise"]["hours"] = {
        split: round(sum(c["minutes"] for c in cats.values()) / 60, 3)
        for split, cats in manifest["totals"]["noise"].items()}
    manifest["megabytes"] = round(folder_megabytes(args.out), 1)
    manifest["build_seconds"] = round(time.monotonic() - started)
    tmp = args.out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n")
    os.replace(tmp, args.out / "manifest.json")
    t = manifest["totals"]
    for split in ("train", "valid"):
        s = t["speech"][split]
        print(f"speech {split}: {s['hours']:.2f} h, {s['speakers_or_packs']} speakers/packs, "
              f"{len(s['languages'])} languages")
    print(f"noise hours: {t['noise']['hours']}")
    for name, entry in manifest["sources"].items():
        if entry["dropped"]:
            print(f"dropped {name}: {dict(entry['dropped'])}")
    print(f"{manifest['megabytes']} MB in {manifest['build_seconds']} s")


if __name__ == "__main__":
    main()
