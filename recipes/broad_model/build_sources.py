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

Speech: every file (or member of a .pk3/.zip archive) is decoded (soundfile; G.722 with
the ``g722`` module), mixed down to mono, resampled to 16 kHz with soxr (HQ), trimmed of
leading/trailing silence (10 ms frames below -45 dB re the loudest frame, 50 ms kept,
10 ms fades) and peak-normalised to -1 dBFS. Quality checks drop files whose original
rate is below 16 kHz, clipped, near-silent and band-limited files (energy above 4 kHz
below -40 dB re the energy above 100 Hz: telephone audio upsampled). Utterances shorter
than 0.5 s (but at least 0.2 s) are joined per speaker, in order, with short pauses, into
clips of at least 2.5 s. Identical files (same bytes) are written once. A minority of
synthetic speech (eSpeak NG) goes to its own ``synthetic__*`` folders.

Noise: the same decoding; trimmed at -60 dB; kept if at least 0.25 s; long files cut to
one fixed excerpt (music 60 s, others 120 s); no band check; single keystrokes are
composed into typing tracks. Splits are by whole file (a music track is never in both);
a tenth of the files of each category (by a hash of the package and path, so fixed) go
to valid.

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
import zipfile
import zlib
from dataclasses import dataclass
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
MIN_PIECE_S = 0.2  # speech shorter than MIN_SPEECH_S but at least this is joined...
JOIN_TARGET_S = 2.5  # ...with other short utterances of the speaker into clips this long
COMPOSED_NOISE = {"keyboard": {"train": 40, "valid": 5}}  # tracks made from short recordings
MAX_NOISE_S = {"music": 60.0, "*": 120.0}  # longer noise files: a fixed excerpt
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
    """One input file (or archive member): speech (group = speaker folder) or noise
    (group = category)."""
    kind: str  # "speech" or "noise"
    source: str
    package: str
    group: str
    path: Path
    language: str = ""
    member: str = ""  # file inside a zip archive (.pk3, .wz, .zip), or ""

    def label(self, root: Path) -> str:
        rel = str(self.path.relative_to(root))
        return f"{rel}:{self.member}" if self.member else rel


@dataclass
class Source:
    name: str
    package: str
    kind: str
    list_items: Callable[[Path], List[Item]]  # package root -> items
    synthetic: bool = False


def files_under(root: Path, *patterns: str) -> List[Path]:
    out = set()
    for pattern in patterns:
        out.update(p for p in root.glob(pattern) if p.is_file()
                   and p.suffix.lower() in AUDIO_SUFFIXES)
    return sorted(out)


def zip_members(archive: Path, prefix: str) -> List[str]:
    with zipfile.ZipFile(archive) as zf:
        return sorted(n for n in zf.namelist() if n.startswith(prefix)
                      and Path(n).suffix.lower() in AUDIO_SUFFIXES)


def noise_files(source: str, package: str, category: str, base: Path, *patterns: str,
                skip: str = "") -> List[Item]:
    """Noise items: files under ``base`` matching ``patterns``, minus names matching ``skip``."""
    return [Item("noise", source, package, category, f) for f in files_under(base, *patterns)
            if not (skip and re.search(skip, f.name, re.I))]


def noise_members(source: str, package: str, category: str, archive: Path, prefix: str,
                  skip: str = "") -> List[Item]:
    return [Item("noise", source, package, category, archive, member=m)
            for m in zip_members(archive, prefix) if not (skip and re.search(skip, m, re.I))]


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
    return (noise_files("hedgewars", "hedgewars-data", "music", data / "Music", "**/*")
            + noise_files("hedgewars", "hedgewars-data", "effects", data / "Sounds", "*",
                          skip=r"^(hell_|hogchant|Hellish|Yoohoo|Kiss)"))  # voices


# freedroidrpg: music and effects (bot_sounds are synthetic speech: not used)
def freedroid_noise_items(root: Path) -> List[Item]:
    base = root / "usr/share/freedroidrpg/data/sound"
    pkg = "freedroidrpg-data"
    return (noise_files("freedroidrpg", pkg, "music", base / "music", "*")
            + noise_files("freedroidrpg", pkg, "effects", base / "effects", "*",
                          skip="Scream")
            + noise_files("freedroidrpg", pkg, "effects", base / "effects",
                          "bullets/*", "item_sounds/*"))


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
    return noise_files("asterisk_moh", "asterisk-moh-opsound-g722", "music",
                       root / "usr/share/asterisk/moh", "*")


# gcin-voice: Mandarin syllables (bopomofo readings) by two speakers: */3.ogg (Edward
# Der-Hua Liu) and */5.ogg (the ChionMeilin voice bank, vocal source Chu Lo)
GCIN_VOICES = {"3": "gcin__zh_liu", "5": "gcin__zh_chionmeilin"}


def gcin_items(root: Path) -> List[Item]:
    return [Item("speech", "gcin", "gcin-voice", GCIN_VOICES[f.stem], f, "zh")
            for f in files_under(root / "usr/share/gcin-voice/ogg", "**/*")
            if f.stem in GCIN_VOICES]


# 0ad-data: unit voice lines in reconstructed ancient languages, ambient, work sounds, music
ZERO_AD_ZIP = "usr/share/games/0ad/mods/public/public.zip"
ZERO_AD_LANGS = {"greek": "grc", "latin": "la", "napatan": "xmr", "persian": "peo"}


def zero_ad_speech_items(root: Path) -> List[Item]:
    archive = root / ZERO_AD_ZIP
    items = []
    for name, lang in ZERO_AD_LANGS.items():
        for m in zip_members(archive, f"audio/voice/{name}/"):
            sex = "female" if "_female_" in m else "male"
            items.append(Item("speech", "0ad", "0ad-data", f"0ad__{name}_{sex}", archive, lang, m))
    return items


def zero_ad_noise_items(root: Path) -> List[Item]:
    archive, pkg = root / ZERO_AD_ZIP, "0ad-data"
    return (noise_members("0ad", pkg, "ambient", archive, "audio/ambient/")
            + noise_members("0ad", pkg, "machine", archive, "audio/resource/construction/")
            + noise_members("0ad", pkg, "machine", archive, "audio/resource/mining/")
            + noise_members("0ad", pkg, "effects", archive, "audio/resource/",
                            skip=r"/(construction|mining)/")
            + noise_members("0ad", pkg, "effects", archive, "audio/attack/")
            + noise_members("0ad", pkg, "effects", archive, "audio/actor/",
                            skip=r"/death/")  # death cries are voices
            + noise_members("0ad", pkg, "alerts", archive, "audio/interface/")
            + noise_members("0ad", pkg, "music", archive, "audio/music/"))


# redeclipse-data: two taunt voices and an announcer; ambience, effects, music
REDECLIPSE = "usr/share/games/redeclipse/data/sounds"
REDECLIPSE_NOT_SPEECH = re.compile(r"^(argh|haha|pzap)\d?$")


def redeclipse_speech_items(root: Path) -> List[Item]:
    base = root / REDECLIPSE
    items = []
    for f in files_under(base / "voice", "*"):  # x.ogg and x2.ogg: probably two takes
        if not REDECLIPSE_NOT_SPEECH.match(f.stem):
            items.append(Item("speech", "redeclipse", "redeclipse-data",
                              "redeclipse__taunts", f, "en"))
    items += [Item("speech", "redeclipse", "redeclipse-data", "redeclipse__announcer", f, "en")
              for f in files_under(base / "announcer", "*")]
    return items


def redeclipse_noise_items(root: Path) -> List[Item]:
    base, pkg = root / REDECLIPSE, "redeclipse-data"
    return (noise_files("redeclipse", pkg, "machine", base / "ambience", "*",
                        skip=r"^(?!machine|hum|pneumatic|electro|distant_cars)")
            + noise_files("redeclipse", pkg, "ambient", base / "ambience", "*", "morph/*",
                          skip=r"^(machine|hum|pneumatic|electro|distant_cars)")
            + noise_files("redeclipse", pkg, "effects", base, "weapons/**/*", "sfx/*",
                          "interface/*")
            + noise_files("redeclipse", pkg, "music", base / "music", "*"))


# nexuiz-data: eight player voices (team commands) and the male announcer; ambient, weapons
NEXUIZ_PK3 = "usr/share/games/nexuiz/data/data.pk3"


def nexuiz_speech_items(root: Path) -> List[Item]:
    archive = root / NEXUIZ_PK3
    items = []
    for m in zip_members(archive, "sound/player/"):
        parts = m.split("/")
        if len(parts) == 5 and parts[3] == "coms":
            items.append(Item("speech", "nexuiz", "nexuiz-data", f"nexuiz__{parts[2]}", archive,
                              "en", m))
    items += [Item("speech", "nexuiz", "nexuiz-data", "nexuiz__announcer_male", archive, "en", m)
              for m in zip_members(archive, "sound/announcer/male/")]
    return items


def nexuiz_noise_items(root: Path) -> List[Item]:
    archive, pkg = root / NEXUIZ_PK3, "nexuiz-data"
    return (noise_members("nexuiz", pkg, "ambient", archive, "sound/ambient/")
            + noise_members("nexuiz", pkg, "effects", archive, "sound/weapons/")
            + noise_members("nexuiz", pkg, "effects", archive, "sound/misc/"))


# megaglest-data: unit acknowledgements ("_ack", "_select") of the human units, per faction
MEGAGLEST_NOT_HUMAN = re.compile(
    r"(thunderbird|bull|chicken|sheep|elephant|dragon|behemoth|daemon|ghost|snake|sow|eagle|"
    r"horse|carpet|airship|ornithopter|battle_machine|golem|mummy|genie|minaret|pillar|"
    r"tower|basket|anubis)", re.I)


def megaglest_speech_items(root: Path) -> List[Item]:
    base = root / "usr/share/games/megaglest/techs/megapack/factions"
    items = []
    for f in files_under(base, "*/units/*/sounds/*"):
        rel = f.relative_to(base)
        if (re.search(r"_(ack|select)\d*$", f.stem) and not MEGAGLEST_NOT_HUMAN.search(str(rel))):
            items.append(Item("speech", "megaglest", "megaglest-data",
                              f"megaglest__{rel.parts[0]}", f, "en"))
    return items


# more noise-only packages
def megaglest_noise_items(root: Path) -> List[Item]:
    base, pkg = root / "usr/share/games/megaglest", "megaglest-data"
    return (noise_files("megaglest", pkg, "ambient", base / "tilesets", "*/sounds/*")
            + noise_files("megaglest", pkg, "music", base, "techs/*/factions/*/music/*",
                          "data/core/menu/music/*"))


def supertuxkart_noise_items(root: Path) -> List[Item]:
    base, pkg = root / "usr/share/games/supertuxkart/data", "supertuxkart-data"
    machine = r"(engine|jet|machine|locomotive|spaceship|car_|tractor|airplane)"
    return (noise_files("supertuxkart", pkg, "music", base / "music", "*",
                        skip=r"_(fast|f)\.ogg$")
            + noise_files("supertuxkart", pkg, "machine", base, "sfx/*", "tracks/*/*",
                          skip=rf"^(?!.*{machine})")
            + noise_files("supertuxkart", pkg, "effects", base / "sfx", "*",
                          skip=rf"{machine}|^(ugh|wee|WilhelmScream|sara_airport_pa)\."))


# synthetic minority: eSpeak NG reading the tuxpaint stamp descriptions (their .txt files
# hold the sentence in many languages), several voice variants and speeds
ESPEAK_LANGS = {"en-us": "en", "de": "de", "es": "es", "pt": "pt", "pl": "pl", "fi": "fi",
                "tr": "tr", "hi": "hi"}  # espeak voice -> language key in the .txt files
ESPEAK_VARIANTS = ("m1", "m3", "f2", "f4")
ESPEAK_PER_LANG = 40  # utterances of two descriptions each
CACHE: List[Path] = []  # set by main(): the cache folder (synthesised files go there)
ROOTS: Dict[str, Path] = {}  # set by resolve_packages()


def stamp_texts(language: str) -> List[str]:
    base = ROOTS["tuxpaint-stamps-default"] / "usr/share/tuxpaint/stamps"
    texts = []
    for txt in sorted(base.rglob("*.txt")):
        lines = txt.read_text(errors="replace").splitlines()
        if language == "en":
            text = lines[0] if lines else ""
        else:
            text = next((line.split("=", 1)[1] for line in lines
                         if line.startswith(f"{language}.utf8=")), "")
        text = text.strip().strip("|")
        if len(text) > 3:
            texts.append(text)
    return texts


def espeak_items(root: Path) -> List[Item]:
    version = subprocess.run(["espeak-ng", "--version"], capture_output=True,
                             text=True).stdout.split()[3]
    out = CACHE[0] / "synthetic" / f"espeak-ng-{version}"
    items = []
    for voice, language in ESPEAK_LANGS.items():
        texts = stamp_texts(language)
        rng = np.random.default_rng([SEED, zlib.crc32(voice.encode())])
        order = rng.permutation(len(texts))
        folder = out / voice
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(ESPEAK_PER_LANG):
            wav = folder / f"{k:03d}.wav"
            text = " ".join(texts[i] for i in order[2 * k: 2 * k + 2])
            if not wav.exists():
                variant = ESPEAK_VARIANTS[k % len(ESPEAK_VARIANTS)]
                speed = str(int(rng.integers(135, 185)))
                subprocess.run(["espeak-ng", "-v", f"{voice}+{variant}", "-s", speed, "-w",
                                str(wav) + ".tmp", "--stdin"], input=text.encode(),
                               check=True, capture_output=True)
                os.replace(str(wav) + ".tmp", wav)
            items.append(Item("speech", "espeak", "espeak-ng",
                              f"synthetic__espeak_{voice}", wav, language))
    return items


# ufoai-sound: looped ambience (city, night, wind, thunder, fire, water) and machines (pumps,
# hums, turbines, engines); the radio message and the TV news hold speech, the jingles music
UFOAI_PK3 = "usr/share/games/ufoai/base/0snd.pk3"
UFOAI_NOT_NOISE = r"radiomessage|tv_newswav|jingle|disco"
UFOAI_MACHINE = re.compile(r"hum|machine|minepump|turbine|engine|generator|ventilation|device"
                           r"|lights_loop")


def ufoai_noise_items(root: Path) -> List[Item]:
    items = noise_members("ufoai", "ufoai-sound", "ambient", root / UFOAI_PK3, "sound/ambience/",
                          skip=UFOAI_NOT_NOISE)
    for item in items:
        if UFOAI_MACHINE.search(Path(item.member).name):
            item.group = "machine"
    return items


def noise_source(name: str, package: str, category: str, rel: str, *patterns: str,
                 skip: str = "") -> Source:
    """A noise source of one category: the files under ``rel`` matching ``patterns``."""
    return Source(name, package, "noise",
                  lambda root: noise_files(name, package, category, root / rel, *patterns,
                                           skip=skip))


SOURCES: List[Source] = [
    Source("asterisk_en", "asterisk-core-sounds-en-g722", "speech", asterisk_items("en")),
    Source("asterisk_fr", "asterisk-core-sounds-fr-g722", "speech", asterisk_items("fr")),
    Source("asterisk_it", "asterisk-core-sounds-it-g722", "speech", asterisk_items("it")),
    Source("asterisk_ru", "asterisk-core-sounds-ru-g722", "speech", asterisk_items("ru")),
    Source("klettres", "klettres-data", "speech", klettres_items),
    Source("ktuberling", "ktuberling-data", "speech", ktuberling_items),
    Source("tuxpaint", "tuxpaint-stamps-default", "speech", tuxpaint_speech_items),
    Source("hedgewars", "hedgewars-data", "speech", hedgewars_speech_items),
    Source("gcin", "gcin-voice", "speech", gcin_items),
    Source("0ad", "0ad-data", "speech", zero_ad_speech_items),
    Source("redeclipse", "redeclipse-data", "speech", redeclipse_speech_items),
    Source("nexuiz", "nexuiz-data", "speech", nexuiz_speech_items),
    Source("megaglest", "megaglest-data", "speech", megaglest_speech_items),
    Source("espeak", "espeak-ng", "speech", espeak_items, synthetic=True),
    # noise
    Source("asterisk_moh", "asterisk-moh-opsound-g722", "noise", moh_items),
    Source("hedgewars_noise", "hedgewars-data", "noise", hedgewars_noise_items),
    Source("freedroidrpg", "freedroidrpg-data", "noise", freedroid_noise_items),
    Source("tuxpaint_noise", "tuxpaint-stamps-default", "noise", tuxpaint_noise_items),
    Source("0ad_noise", "0ad-data", "noise", zero_ad_noise_items),
    Source("redeclipse_noise", "redeclipse-data", "noise", redeclipse_noise_items),
    Source("nexuiz_noise", "nexuiz-data", "noise", nexuiz_noise_items),
    Source("megaglest_noise", "megaglest-data", "noise", megaglest_noise_items),
    Source("supertuxkart", "supertuxkart-data", "noise", supertuxkart_noise_items),
    noise_source("wesnoth_music", "wesnoth-1.16-music", "music",
                 "usr/share/games/wesnoth/1.16/data", "**/*"),
    noise_source("wesnoth", "wesnoth-1.16-data", "effects",
                 "usr/share/games/wesnoth/1.16/data/core/sounds", "**/*",
                 skip=r"(human|elf|dwarf|orc|troll|ogre|goblin|lich|mermen|naga|"
                      r"saurian|drake|wose|ugg|hiss|die|hit|scream|groan|yell|grunt)"),
    Source("frozen_bubble", "frozen-bubble-data", "noise",
           lambda root: noise_files("frozen_bubble", "frozen-bubble-data", "music",
                                    root / "usr/share/games/frozen-bubble/snd", "*zik*")
           + noise_files("frozen_bubble", "frozen-bubble-data", "effects",
                         root / "usr/share/games/frozen-bubble/snd", "*",
                         skip=r"zik|hurry|noh|snore|applause")),
    Source("extremetuxracer", "extremetuxracer-data", "noise",
           lambda root: noise_files("extremetuxracer", "extremetuxracer-data", "music",
                                    root / "usr/share/games/etr/music", "*")
           + noise_files("extremetuxracer", "extremetuxracer-data", "effects",
                         root / "usr/share/games/etr/sounds", "*")),
    noise_source("bucklespring", "bucklespring-data", "keyboard",
                 "usr/share/buckle/wav", "*"),
    noise_source("yaru_sounds", "yaru-theme-sound", "alerts",
                 "usr/share/sounds/Yaru", "**/*"),
    noise_source("deepin_sounds", "deepin-sound-theme", "alerts",
                 "usr/share/sounds/deepin", "**/*"),
    noise_source("sound_icons", "sound-icons", "alerts",
                 "usr/share/sounds/sound-icons", "*"),
    # desktop notifications, messenger sounds, telephone tones and ringtones
    noise_source("oxygen_sounds", "oxygen-sounds", "alerts", "usr/share/sounds", "**/*"),
    noise_source("gnome_audio", "gnome-audio", "alerts", "usr/share/sounds", "**/*"),
    noise_source("jami_ringtones", "jami-daemon", "alerts", "usr/share/jami/ringtones", "*"),
    noise_source("baresip_tones", "baresip-core", "alerts", "usr/share/baresip", "*.wav"),
    noise_source("twinkle_tones", "twinkle-common", "alerts", "usr/share/twinkle", "*.wav"),
    noise_source("gajim_sounds", "gajim", "alerts",
                 "usr/lib/python3/dist-packages/gajim/data/sounds", "*"),
    noise_source("pidgin_sounds", "pidgin-data", "alerts", "usr/share/sounds/purple", "*"),
    noise_source("psi_plus_sounds", "psi-plus-sounds", "alerts",
                 "usr/share/psi-plus/sound", "*"),
    Source("ufoai", "ufoai-sound", "noise", ufoai_noise_items),
    # a stadium crowd: many voices, none intelligible (8-bit, 22.05 kHz)
    noise_source("etw_crowd", "etw-data", "ambient", "usr/share/games/etw/crowd", "*.wav"),
]

# Licence of the files used, read from /usr/share/doc/<package>/copyright (the manifest
# also lists every licence named there).
LICENCE = {
    "asterisk-core-sounds-en-g722": "CC-BY-SA-3.0 (Allison Smith)",
    "asterisk-core-sounds-fr-g722": "CC-BY-SA-3.0 (June Wallack)",
    "asterisk-core-sounds-it-g722": "CC-BY-3.0 (Carlo Flora)",
    "asterisk-core-sounds-ru-g722": "CC-BY-3.0 (Maxim Topal, ivrvoice.ru)",
    "asterisk-moh-opsound-g722": "CC-BY-SA-3.0",
    "klettres-data": "GPL-2+",
    "ktuberling-data": "GPL-2+",
    "tuxpaint-stamps-default": "GPL-2",
    "hedgewars-data": "GFDL-1.3 (Data/Sounds), GPL-2 (rest)",
    "gcin-voice": "GPL-3 or LGPL-3 (*/3.ogg, Edward Der-Hua Liu); CC-BY-3 (*/5.ogg, ChionMeilin)",
    "0ad-data": "CC-BY-SA-3.0 (Wildfire Games)",
    "redeclipse-data": "CC-BY-SA-3.0+ (sounds: CC-BY-SA-3.0 / CC-BY-3.0, per file)",
    "nexuiz-data": "GPL-2+",
    "freedroidrpg-data": "GPL-2+",
    "megaglest-data": "CC-BY-SA-3.0",
    "supertuxkart-data": "CC-BY-SA-3.0/4.0, CC-BY-3.0, CC0, GPL (per file)",
    "wesnoth-1.16-music": "GPL-2",
    "wesnoth-1.16-data": "GPL-2+",
    "frozen-bubble-data": "GPL-2",
    "extremetuxracer-data": "GPL-2+",
    "bucklespring-data": "GPL-2+",
    "yaru-theme-sound": "CC-BY-SA-4.0",
    "deepin-sound-theme": "GPL-3+",
    "sound-icons": "GPL-2+",
    "oxygen-sounds": "LGPL-3.0-or-later (Nuno Povoa)",
    "gnome-audio": "CC-BY-SA-2.0 (Silvertheme, Cleanus), CC-BY-3.0 (Borealis)",
    "jami-daemon": "GPL-3+ (Savoir-faire Linux)",
    "baresip-core": "BSD-3-clause",
    "twinkle-common": "GPL-2+",
    "gajim": "GPL-3 (Files: *)",
    "pidgin-data": "GPL-2+",
    "psi-plus-sounds": "GPL-2+",
    "ufoai-sound": "GPL-2, GPL-2+, CC-BY-3.0, CC-BY-SA-3.0 (per file, debian/copyright)",
    "etw-data": "GPL-2+",
    "espeak-ng": "GPL-3+ (synthesiser); texts: tuxpaint-stamps-default, GPL-2",
}

# Whole speakers/packs held out for validation (languages or voices found nowhere else);
# a name ending in "__" holds out every folder of that source (0ad's voices may share
# actors across its languages, so all of them are held out together).
VALID_SPEAKERS = ("asterisk__ru_RU_f_IvrvoiceRU", "tuxpaint__bg", "klettres__he",
                  "ktuberling__gl", "ktuberling__wa", "0ad__")


def speech_split(group: str) -> str:
    held_out = any(group == v or (v.endswith("__") and group.startswith(v))
                   for v in VALID_SPEAKERS)
    return "valid" if held_out else "train"


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
    for folder in (debs, extract):
        folder.mkdir(parents=True, exist_ok=True)
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


INSTALLED = {"espeak-ng": "espeak-ng"}  # packages used as programs: must be installed (apt)


def resolve_packages(cache: Path, do_fetch: bool) -> Dict[str, Path]:
    packages = sorted({s.package for s in SOURCES})
    assert not any(p.startswith(RESERVED) for p in packages), "a reserved package is listed"
    programs = [p for p in packages if p in INSTALLED]
    data = [p for p in packages if p not in INSTALLED]
    if do_fetch:
        fetch(cache, [p for p in data if package_root(cache, p) is None])
    roots = {p: package_root(cache, p) for p in data}
    roots.update({p: Path("/") for p in programs if shutil.which(INSTALLED[p])})
    ROOTS.update(roots)
    missing = [p for p in data if roots.get(p) is None]
    problems = []
    if missing:
        problems.append(
            "packages are missing; run with --fetch, or:\n"
            f"    mkdir -p {cache}/debs && cd {cache}/debs && apt-get download "
            + " ".join(missing) + "\n    for d in *.deb; do n=${d%%_*}; "
            f"dpkg-deb -x $d {cache}/x/$n; done\n"
            "  (or: apt-get install " + " ".join(missing) + ")")
    absent = [p for p in programs if p not in roots]
    if absent:
        problems.append("programs are missing; install them with:\n    apt-get install "
                        + " ".join(absent))
    if problems:
        sys.exit("build_sources.py: cannot build:\n- " + "\n- ".join(problems))
    return roots  # type: ignore[return-value]


# ---------------------------------------------------------------- audio
_ZIPS: Dict[Tuple[int, Path], zipfile.ZipFile] = {}


def read_bytes(item: Item) -> bytes:
    """The bytes of an item's file, or of its member inside a zip archive."""
    if not item.member:
        return item.path.read_bytes()
    key = (os.getpid(), item.path)  # one open archive per process: a forked worker must
    if key not in _ZIPS:            # not share the parent's file offset
        _ZIPS[key] = zipfile.ZipFile(item.path)
    return _ZIPS[key].read(item.member)


def decode(item: Item, cap_s: Optional[float] = None) -> Tuple[np.ndarray, int, int, bool]:
    """Samples as float64 [frames, channels], rate, channels, and whether only an excerpt
    of ``cap_s`` seconds was read (files longer than 1.2 x ``cap_s``; start from a hash of
    the name, so fixed)."""
    data = read_bytes(item)
    if Path(item.member or item.path.name).suffix.lower() == ".g722":
        codec = G722.G722(SAMPLE_RATE, 64_000, use_numpy=False)
        pcm = np.asarray(codec.decode(data), dtype=np.int16)
        x = (pcm.astype(np.float64) / 32768.0)[:, None]
        if cap_s and len(x) > 1.2 * cap_s * SAMPLE_RATE:
            n = int(cap_s * SAMPLE_RATE)
            start = zlib.crc32(f"{item.path.name}:{item.member}".encode()) % (len(x) - n)
            return x[start:start + n], SAMPLE_RATE, 1, True
        return x, SAMPLE_RATE, 1, False
    info = sf.info(io.BytesIO(data))
    if cap_s and info.frames > 1.2 * cap_s * info.samplerate:
        n = int(cap_s * info.samplerate)
        start = zlib.crc32(f"{item.path.name}:{item.member}".encode()) % (info.frames - n)
        x, rate = sf.read(io.BytesIO(data), start=start, frames=n, dtype="float64",
                          always_2d=True)
        return x, rate, x.shape[1], True
    x, rate = sf.read(io.BytesIO(data), dtype="float64", always_2d=True)
    return x, rate, x.shape[1], False


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
    """Decode, check and encode one file; returns the result or the reason it was dropped.
    A speech file that is only too short returns its audio as ``piece`` for joining."""
    result: dict = {"rate": None, "channels": None}
    cap_s = None if item.kind == "speech" else MAX_NOISE_S.get(item.group, MAX_NOISE_S["*"])
    try:
        x, rate, channels, excerpt = decode(item, cap_s)
    except Exception as error:  # undecodable
        return {**result, "drop": f"undecodable ({type(error).__name__})"}
    result.update(rate=rate, channels=channels)
    if len(x) == 0:
        return {**result, "drop": "empty"}
    if rate < SAMPLE_RATE:
        return {**result, "drop": "rate below 16 kHz"}
    speech = item.kind == "speech"
    if speech and clipped(x):
        return {**result, "drop": "clipped"}
    if float(np.max(np.abs(x))) <= 10 ** (SILENT_PEAK_DB / 20):
        return {**result, "drop": "near-silent"}
    mono = x.mean(axis=1)
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ")
    y = mono if excerpt else trim(mono, SPEECH_TRIM_DB if speech else NOISE_TRIM_DB)
    if len(y) < SAMPLE_RATE // 100:
        return {**result, "drop": "near-silent"}
    if speech:
        band = high_band_db(y)
        result["high_band_db"] = round(band, 1)
        if band < BAND_MIN_DB:
            return {**result, "drop": "band-limited (< 4 kHz)"}
    else:
        cap = int(cap_s * SAMPLE_RATE)
        if len(y) > cap:  # a fixed excerpt (start from a hash of the name)
            start = zlib.crc32(f"{item.path.name}:{item.member}".encode()) % (len(y) - cap)
            y = y[start:start + cap]
    top = float(np.max(np.abs(y)))
    if top <= 0:
        return {**result, "drop": "near-silent"}
    y = fade(y * (PEAK / top))
    seconds = len(y) / SAMPLE_RATE
    if item.group in COMPOSED_NOISE:
        return {**result, "piece": np.round(y * 32767).astype(np.int16)}
    if seconds < (MIN_SPEECH_S if speech else MIN_NOISE_S):
        if speech and seconds >= MIN_PIECE_S:
            result["piece"] = np.round(y * 32767).astype(np.int16)
        return {**result, "drop": "too short"}
    return {**result, "seconds": seconds, "flac": encode_flac(y)}


def join_pieces(group: str, pieces: List[np.ndarray]) -> List[np.ndarray]:
    """Join too-short utterances of one speaker, in order, with 80-250 ms pauses, into
    clips of at least JOIN_TARGET_S (a last clip shorter than MIN_SPEECH_S is left out)."""
    rng = np.random.default_rng([SEED, zlib.crc32(group.encode())])
    clips, current, length = [], [], 0
    for piece in pieces:
        if current:
            gap = np.zeros(int(rng.uniform(0.08, 0.25) * SAMPLE_RATE), dtype=np.int16)
            current.append(gap)
            length += len(gap)
        current.append(piece)
        length += len(piece)
        if length >= JOIN_TARGET_S * SAMPLE_RATE:
            clips.append(np.concatenate(current))
            current, length = [], 0
    if current and length >= MIN_SPEECH_S * SAMPLE_RATE:
        clips.append(np.concatenate(current))
    return [c.astype(np.float64) / 32767 for c in clips]


def typing_tracks(group: str, split: str, pieces: List[np.ndarray]) -> List[np.ndarray]:
    """Typing noise: single recorded keystrokes placed at random intervals (bursts of
    keys 60-300 ms apart, pauses of 0.3-1.5 s), random gains, 20 s per track."""
    rng = np.random.default_rng([SEED, zlib.crc32(f"{group}/{split}".encode())])
    tracks = []
    for _ in range(COMPOSED_NOISE[group][split]):
        n = int(20.0 * SAMPLE_RATE)
        track = np.zeros(n + SAMPLE_RATE)
        t = int(rng.uniform(0, 0.3) * SAMPLE_RATE)
        while t < n:
            key = pieces[int(rng.integers(len(pieces)))].astype(np.float64) / 32767
            track[t:t + len(key)] += key[: len(track) - t] * rng.uniform(0.4, 1.0)
            gap = rng.uniform(0.3, 1.5) if rng.random() < 0.12 else rng.uniform(0.06, 0.3)
            t += int(gap * SAMPLE_RATE)
        track = track[:n]
        tracks.append(track * (PEAK / max(float(np.max(np.abs(track))), 1e-9)))
    return tracks


def file_digest(item: Item) -> str:
    return hashlib.sha1(read_bytes(item)).hexdigest()


# ---------------------------------------------------------------- build
def safe_name(item: Item, root: Path) -> str:
    rel = Path(item.member) if item.member else item.path.relative_to(root)
    stem = "-".join(rel.with_suffix("").parts[-2:]) if item.kind == "noise" else rel.stem
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", stem)


def noise_split(item: Item, root: Path) -> str:
    key = f"{item.package}/{item.label(root)}"
    return "valid" if zlib.crc32(key.encode()) % NOISE_VALID_EVERY == 0 else "train"


class Writer:
    """Writes clips under OUT and keeps the per-source/per-group counts and files.tsv."""

    def __init__(self, out: Path, sources: Dict[str, dict]):
        self.out, self.sources = out, sources
        self.names_used: set = set()
        self.table: List[str] = []

    def write(self, source: Source, item: Item, split: str, name: str, flac: bytes,
              seconds: float, rate: int, channels: int, original: str) -> None:
        sub = "speech" if item.kind == "speech" else "noise"
        folder = self.out / sub / split / item.group
        base, k = name, 1
        while (folder / name) in self.names_used:
            k += 1
            name = f"{base}_{k}"
        self.names_used.add(folder / name)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{name}.flac"
        target.write_bytes(flac)
        entry = self.sources[source.name]
        entry["files"] += 1
        entry["seconds"] += seconds
        entry["original_rates"][str(rate)] += 1
        group = entry["groups"].setdefault(item.group, {
            "split": split if item.kind == "speech" else None, "language": item.language,
            "files": 0, "seconds": 0.0, "original_rates": collections.Counter()})
        group["files"] += 1
        group["seconds"] += seconds
        group["original_rates"][str(rate)] += 1
        self.table.append("\t".join([split, str(target.relative_to(self.out)), source.name,
                                     item.package, original, str(rate), str(channels),
                                     f"{seconds:.3f}"]))


def build(out: Path, roots: Dict[str, Path], cache: Path, jobs: int) -> dict:
    items: List[Tuple[Source, Item]] = []
    for source in SOURCES:
        for item in source.list_items(roots[source.package]):
            items.append((source, item))
    # identical files once (first source wins)
    seen: set = set()
    unique: List[Tuple[Source, Item]] = []
    duplicates = collections.Counter()
    for source, item in items:
        digest = file_digest(item)
        if digest in seen:
            duplicates[source.name] += 1
            continue
        seen.add(digest)
        unique.append((source, item))
    print(f"{len(items)} files listed, {len(unique)} unique", flush=True)

    sources: Dict[str, dict] = {}
    for source in SOURCES:
        root = roots[source.package]
        sources[source.name] = {
            "package": source.package, "version": package_version(cache, source.package),
            "licence": LICENCE.get(source.package, ""),
            "licences_in_copyright": package_licences(root, source.package),
            "kind": source.kind,
            "synthetic": source.synthetic, "files": 0, "seconds": 0.0,
            "original_rates": collections.Counter(), "groups": {},
            "duplicates_skipped": duplicates.get(source.name, 0),
            "dropped": collections.Counter(), "joined_from_short": 0}
    dropped_examples: Dict[str, List[str]] = collections.defaultdict(list)
    pieces: Dict[str, List[Tuple[Source, Item, int, int, np.ndarray]]] = \
        collections.defaultdict(list)
    noise_pieces: Dict[Tuple[str, str, str], list] = collections.defaultdict(list)
    writer = Writer(out, sources)
    started = time.monotonic()
    with Pool(jobs) as pool:
        results = pool.imap(process, [i for _, i in unique], chunksize=2)
        for n, ((source, item), res) in enumerate(zip(unique, results)):
            if (n + 1) % 1000 == 0:
                print(f"  {n + 1}/{len(unique)} files, {time.monotonic() - started:.0f} s",
                      flush=True)
            root = roots[item.package]
            entry = sources[source.name]
            if "piece" in res and item.kind == "noise":
                noise_pieces[(source.name, item.group, noise_split(item, root))].append(
                    (item, res["rate"], res["piece"]))
                continue
            if "piece" in res:
                pieces[item.group].append((source, item, res["rate"], res["channels"],
                                           res["piece"]))
                continue
            if "drop" in res:
                entry["dropped"][res["drop"]] += 1
                if len(dropped_examples[res["drop"]]) < 40:
                    dropped_examples[res["drop"]].append(f"{item.package}:{item.label(root)}")
                continue
            if item.kind == "speech":
                split = speech_split(item.group)
                name = safe_name(item, root)
            else:
                split = noise_split(item, root)
                name = f"{source.name}-{safe_name(item, root)}"
            writer.write(source, item, split, name, res["flac"], res["seconds"], res["rate"],
                         res["channels"], item.label(root))
    for group in sorted(pieces):
        members = pieces[group]
        source, item = members[0][0], members[0][1]
        split = speech_split(group)
        rate = collections.Counter(m[2] for m in members).most_common(1)[0][0]
        clips = join_pieces(group, [m[4] for m in members])
        sources[source.name]["joined_from_short"] += len(members)
        for k, clip in enumerate(clips):
            writer.write(source, item, split, f"joined_{k:04d}", encode_flac(clip),
                         len(clip) / SAMPLE_RATE, rate, 1,
                         f"joined from {len(members)} short utterances of {group}")
        if not clips:
            sources[source.name]["dropped"]["too short"] += len(members)
    by_name = {s.name: s for s in SOURCES}
    for (source_name, group, split), members in sorted(noise_pieces.items(),
                                                      key=lambda kv: kv[0]):
        item = members[0][0]
        rate = collections.Counter(m[1] for m in members).most_common(1)[0][0]
        for k, track in enumerate(typing_tracks(group, split, [m[2] for m in members])):
            writer.write(by_name[source_name], item, split, f"{source_name}-typing_{k:03d}",
                         encode_flac(track), len(track) / SAMPLE_RATE, rate, 1,
                         f"composed from {len(members)} keystroke recordings")
    (out / "files.tsv").write_text(
        "split\tpath\tsource\tpackage\toriginal\toriginal_rate\tchannels\tseconds\n"
        + "\n".join(writer.table) + "\n")
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
    CACHE.append(args.cache)
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
