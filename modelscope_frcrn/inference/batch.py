"""The ``denoise`` command: files, folders and globs in; outputs written beside or under ``-o``.

Planning (which input goes to which output) is separate from running, so the
rules are easy to test: a folder keeps its relative layout under the output
folder, an existing output is skipped unless overwriting (an interrupted run
resumes), an output never replaces an input, and one bad file is reported and
skipped while the rest are processed.
"""
import argparse
import dataclasses
import glob
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

from tqdm import tqdm

from ..atomic import write_text_atomically
from ..audio.streams import output_is_complete
from ..errors import UsageError
from .backends import BACKENDS, PRECISIONS
from .bandsplit import BANDWIDTHS, FULL
from .batching import RECORDING_ERRORS, BatchDenoiser
from .chunking import DEFAULT_CHUNK_SECONDS
from .denoiser import KEEP, Denoiser
from .pipe import STDIO, parse_raw, run_pipe
from .streaming import DEFAULT_LATENCY_SECONDS

#: Extensions picked up inside folders (libsndfile's, plus FFmpeg's when installed).
AUDIO_EXTENSIONS = {'.wav', '.flac', '.ogg', '.oga', '.opus', '.mp3', '.aif', '.aiff', '.aifc',
                    '.caf', '.w64', '.rf64', '.au', '.snd', '.m4a', '.aac', '.wma', '.webm', '.mka'}
#: Inputs only FFmpeg decodes; their outputs are written as WAV.
WAV_OUTPUT_EXTENSIONS = {'.m4a', '.aac', '.wma', '.webm', '.mka'}
OUTPUT_SUFFIX = '_enhanced'
#: ``--engine`` values: this process, or a pool of processes on Ray (:mod:`.ray_engine`).
LOCAL, RAY = 'local', 'ray'
#: Options of the Ray engine only (None: not given).
RAY_OPTIONS = ('ray_address', 'workers', 'threads_per_worker', 'gpus_per_worker')
#: A file's status in :class:`FileReport`.
DONE, SKIPPED, FAILED = 'denoised', 'skipped', 'failed'


@dataclass(frozen=True)
class Job:
    input: str
    output: str


@dataclass
class Plan:
    jobs: List[Job] = field(default_factory=list)
    #: (path, reason) for inputs that cannot become jobs
    problems: List[Tuple[str, str]] = field(default_factory=list)
    #: files a glob pattern matched that are not audio (by extension), left out
    not_audio: List[str] = field(default_factory=list)


@dataclass
class FileReport:
    """What became of one input: its status, the seconds spent on it (in batched runs: since
    the file before it finished) and, when it failed, why."""
    input: str
    output: Optional[str]
    status: str
    seconds: float = 0.0
    error: Optional[str] = None


@dataclass
class Summary:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    not_audio: int = 0
    files: List[FileReport] = field(default_factory=list)

    def add(self, report: FileReport) -> None:
        """Count ``report`` under its status and keep it."""
        self.files.append(report)
        if report.status == DONE:
            self.done += 1
        elif report.status == SKIPPED:
            self.skipped += 1
        else:
            self.failed += 1

    def __str__(self) -> str:
        text = f'{self.done} denoised, {self.skipped} skipped, {self.failed} failed'
        if self.skipped:
            text += ' (skipped: output exists; --overwrite redoes them)'
        if self.not_audio:
            text += f'; {self.not_audio} non-audio files matched by a pattern were left out'
        return text


def plan_jobs(inputs: Sequence[str], output: Optional[str] = None) -> Plan:
    """Map input files, folders and globs to output paths.

    - one input file with ``output`` not a folder: ``output`` is the file to write;
    - otherwise ``output`` is a folder: a folder's files keep their path relative
      to it, a glob's relative to its fixed leading folder, files their name;
    - without ``output``: ``<stem>_enhanced<ext>`` beside a file, and a folder or glob
      ``D`` goes to ``D_enhanced/``.
    Inputs FFmpeg alone decodes get a ``.wav`` output. Each input file is planned once
    (the first argument that names it decides its output); an output folder inside a
    searched folder is not searched (earlier outputs are not inputs); files a glob
    matches that are not audio are left out (``Plan.not_audio``). An output that is an
    input, or two inputs with the same output, become problems.
    """
    plan = Plan()
    to_folder = output is not None and (len(inputs) > 1 or os.path.isdir(output)
                                        or output.endswith(os.sep) or not os.path.isfile(inputs[0]))
    exclude = output if to_folder else None
    planned = set()
    for path in inputs:
        root, files = _expand(path, exclude, plan)
        for file in files:
            if os.path.realpath(file) not in planned:
                planned.add(os.path.realpath(file))
                plan.jobs.append(Job(file, _output_path(path, root, file, output, to_folder)))
    _drop_conflicts(plan, planned)
    return plan


def run_jobs(jobs: Sequence[Job], make_denoiser: Callable[[], Denoiser], overwrite: bool = False,
             sample_rate=KEEP, mono: bool = False, progress: bool = True, bandwidth: str = FULL,
             atten_limit_db: Optional[float] = None, batch_size: int = 1) -> Summary:
    """Denoise every job, reporting failures on stderr one line each; the model is built
    (``make_denoiser``) only if some job needs it. ``bandwidth`` and ``atten_limit_db`` as in
    :meth:`Denoiser.denoise_file`; ``batch_size`` above 1 batches files no longer than one
    chunk (:mod:`.batching`)."""
    if batch_size > 1:
        return _run_batched(jobs, make_denoiser, overwrite, progress, batch_size,
                            sample_rate=sample_rate, mono=mono, bandwidth=bandwidth,
                            atten_limit_db=atten_limit_db)
    summary = Summary()
    denoiser = None
    for job in tqdm(jobs, unit='file', disable=not progress or len(jobs) < 2):
        start = time.perf_counter()
        if _is_done(job, overwrite):
            summary.add(FileReport(job.input, job.output, SKIPPED, time.perf_counter() - start))
            continue
        denoiser = denoiser or make_denoiser()  # a model problem ends the whole run
        try:
            with ChunkProgress(os.path.basename(job.input), progress) as chunks:
                denoiser.denoise_file(job.input, job.output, sample_rate, mono, chunks.start,
                                      bandwidth=bandwidth, atten_limit_db=atten_limit_db)
            summary.add(FileReport(job.input, job.output, DONE, time.perf_counter() - start))
        except RECORDING_ERRORS as error:
            report_problem(job.input, str(error))
            summary.add(FileReport(job.input, job.output, FAILED, time.perf_counter() - start,
                                   str(error)))
    return summary


def _run_batched(jobs: Sequence[Job], make_denoiser: Callable[[], Denoiser], overwrite: bool,
                 progress: bool, batch_size: int, **options) -> Summary:
    """:func:`run_jobs` with short files' network passes batched (no per-chunk progress)."""
    summary = Summary()
    to_do = []
    for job in jobs:
        if _is_done(job, overwrite):
            summary.add(FileReport(job.input, job.output, SKIPPED))
        else:
            to_do.append(job)
    if not to_do:
        return summary
    runner = BatchDenoiser(make_denoiser(), batch_size)
    pairs = [(job.input, job.output) for job in to_do]
    with tqdm(total=len(to_do), unit='file', disable=not progress or len(to_do) < 2) as bar:
        start = time.perf_counter()
        for outcome in runner.denoise_files(pairs, **options):
            job, finished = to_do[outcome.index], time.perf_counter()
            seconds, start = finished - start, finished
            if outcome.error is None:
                summary.add(FileReport(job.input, job.output, DONE, seconds))
            else:
                report_problem(job.input, str(outcome.error))
                summary.add(FileReport(job.input, job.output, FAILED, seconds, str(outcome.error)))
            bar.update()
    return summary


def _is_done(job: Job, overwrite: bool) -> bool:
    """Whether ``job``'s output exists, decodes to the full length and may be kept."""
    return os.path.exists(job.output) and not overwrite and output_is_complete(job.input,
                                                                               job.output)


class ChunkProgress:
    """A progress bar over one file's chunks, shown when there are several."""

    def __init__(self, name: str, enabled: bool):
        self.name, self.enabled, self.bar = name, enabled, None

    def start(self, total: int) -> Callable[[], None]:
        self.bar = tqdm(total=total, desc=self.name, unit='chunk', leave=False,
                        disable=not self.enabled or total < 2)
        return self.bar.update

    def __enter__(self) -> 'ChunkProgress':
        return self

    def __exit__(self, *exc_info) -> None:
        if self.bar is not None:
            self.bar.close()


def report_problem(path: str, reason: str) -> None:
    """One line on stderr naming the file and the reason."""
    message = reason if path in reason else f'{path}: {reason}'
    tqdm.write(f'modelscope-frcrn: error: {message}', file=sys.stderr)


def _expand(path: str, exclude: Optional[str], plan: Plan) -> Tuple[str, List[str]]:
    """(root the relative layout starts from, files) for one input argument; ``exclude`` is
    the output folder, not searched when it lies inside the argument's folder."""
    if os.path.isdir(path):
        return path, _audio_files_under(path, exclude)
    if os.path.exists(path):
        return os.path.dirname(path), [path]
    if glob.has_magic(path):
        root = _fixed_prefix(path)
        files = []
        for match in sorted(glob.glob(path, recursive=True)):
            if exclude and _strictly_inside(exclude, root or '.') and \
                    _strictly_inside(match, exclude, or_equal=True):
                continue
            if os.path.isdir(match):
                files += _audio_files_under(match, exclude)
            elif not _is_audio(match):
                plan.not_audio.append(match)
            elif os.path.isfile(match):
                files.append(match)
        if not files:
            plan.problems.append((path, 'no file matches this pattern'))
        return root, files
    plan.problems.append((path, 'no such file or folder'))
    return '', []


def _is_audio(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in AUDIO_EXTENSIONS


def _strictly_inside(path: str, folder: str, or_equal: bool = False) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path.startswith(folder.rstrip(os.sep) + os.sep) or (or_equal and path == folder)


def _audio_files_under(folder: str, exclude: Optional[str]) -> List[str]:
    """Audio files in ``folder`` and below, sorted, leaving out the output folder."""
    skip = os.path.realpath(exclude) if exclude else None
    found = []
    for directory, subdirectories, names in os.walk(folder):
        subdirectories[:] = sorted(name for name in subdirectories
                                   if os.path.realpath(os.path.join(directory, name)) != skip)
        found += [os.path.join(directory, name) for name in sorted(names) if _is_audio(name)]
    return found


def _fixed_prefix(pattern: str) -> str:
    """The folder part of a glob before its first wildcard: ``a/b/*/c.wav`` -> ``a/b``."""
    parts = pattern.split(os.sep)
    first_wildcard = next(index for index, part in enumerate(parts) if glob.has_magic(part))
    return os.sep.join(parts[:first_wildcard])


def _output_path(argument: str, root: str, file: str, output: Optional[str],
                 to_folder: bool) -> str:
    stem, extension = os.path.splitext(file)
    extension = '.wav' if extension.lower() in WAV_OUTPUT_EXTENSIONS else extension
    if output is not None and not to_folder:
        return output
    if output is not None:
        return os.path.join(output, os.path.splitext(os.path.relpath(file, root or '.'))[0]
                            + extension)
    if os.path.isfile(argument):
        return stem + OUTPUT_SUFFIX + extension
    folder = root.rstrip(os.sep) or '.'
    relative = os.path.splitext(os.path.relpath(file, folder))[0] + extension
    return os.path.join(os.path.abspath(folder) + OUTPUT_SUFFIX, relative)


def _drop_conflicts(plan: Plan, input_paths: set) -> None:
    kept, seen = [], {}
    for job in plan.jobs:
        target = os.path.realpath(job.output)
        if target in input_paths:
            plan.problems.append((job.input, f'refusing to write the output onto an input '
                                             f'file ({job.output})'))
        elif target in seen:
            plan.problems.append((job.input, f'same output {job.output} as {seen[target]}'))
        else:
            seen[target] = job.input
            kept.append(job)
    plan.jobs = kept


DENOISE_DESCRIPTION = """\
Remove background noise from speech recordings with FRCRN.

Inputs can be audio files (WAV, FLAC, OGG/Opus, MP3, AIFF...; M4A/AAC/WMA/WebM when
FFmpeg is installed), folders (searched recursively) or quoted glob patterns
such as 'calls/**/*.wav'. Any sample rate and channel count: every channel is
enhanced, and the output keeps the input's rate, channels, loudness and sample
format unless --sample-rate/--mono say otherwise. Long recordings are processed
in cross-faded chunks, so memory does not grow with length.

Bandwidth: the model works at 16 kHz (up to 8 kHz). For 44.1/48 kHz recordings the
band above 8 kHz is kept and cleaned bin by bin: its noise is learned where the
model hears only noise and taken down at least as far as the model took it, what
stands above that noise (the air of the voice) stays (--bandwidth full, the
default); --bandwidth model gives the model's band only (everything above 8 kHz
removed).

Strength: --atten-limit DB caps how much any part of the signal (any
time-frequency bin) is attenuated: 0 returns the input, 6-12 dB leaves a natural
background (film, podcast, and speech recognition, which often does worse on
fully denoised audio), no limit (default) removes as much noise as the model can.

Output formats: the extension picks the container, one of .wav, .flac, .ogg/.oga,
.opus, .mp3, .aif/.aiff/.aifc, .caf, .w64, .rf64, .au/.snd (others are refused).
Lossy inputs (MP3, Vorbis, Opus) become 16-bit PCM in WAV, FLAC or AIFF. A kept
rate that an encoder does not take is resampled to the nearest one it takes (MP3:
8-48 kHz; Opus: 8, 12, 16, 24, 48 kHz; Vorbis: up to 200 kHz; FLAC: up to 655 kHz);
a --sample-rate it does not take, and more channels than the container holds (MP3
2, FLAC 8), are refused before any work (use --mono, or a .wav output). Vorbis and
Opus take 6 channels (Opus also 7 and 8) as surround sound and low-pass the last
one as its LFE channel.

Outputs: one file with -o FILE is written there; otherwise -o names a folder
(folders keep their layout under it). Without -o, a file's output goes beside
it as NAME_enhanced.EXT and a folder's into FOLDER_enhanced/. Existing outputs
are skipped (once they decode to the full length), so an interrupted run
resumes; --overwrite redoes them. Inputs are never overwritten; outputs are
written atomically (no partial files). Files a glob matches that are not audio
are left out and counted; an output folder inside a searched folder is not read.

Large corpora: --engine ray sends the planned files (paths, not audio) to a pool of
--workers processes on Ray, each loading the model once: on this machine, or with
--ray-address on a cluster whose machines see the inputs and outputs at the same
paths. A worker that dies is restarted and its file done again. --report FILE.json
records every file's status, time and error (with either engine).

Pipes: 'denoise - -o -' reads a WAV stream (or raw PCM with --raw) from stdin and
writes the same format to stdout as it goes, delayed by at most --latency seconds
and as long as the input; the end of stdin flushes the rest.
"""

DENOISE_EXAMPLES = """\
examples:
  modelscope-frcrn denoise noisy.wav                      # -> noisy_enhanced.wav
  modelscope-frcrn denoise noisy.mp3 -o clean.flac
  modelscope-frcrn denoise recordings/ -o enhanced/ --threads 4
  modelscope-frcrn denoise 'calls/*.wav' --sample-rate 16000 --mono
  modelscope-frcrn denoise podcast_48k.flac --atten-limit 12   # keep some background
  modelscope-frcrn denoise corpus/ -o clean/ --engine ray --workers 8 --report run.json
  ffmpeg -i in.mp4 -f wav - | modelscope-frcrn denoise - -o - | ffmpeg -f wav -i - out.flac
  arecord -t raw -f S16_LE -r 16000 | modelscope-frcrn denoise - -o - --raw s16le:16000:1 \
      --latency 0.2 | aplay -t raw -f S16_LE -r 16000

exit status: 0 when every file was denoised or skipped, 1 when any failed
(each failure is reported on one line; the others are still processed).
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``denoise`` subcommand to ``subparsers`` (``ArgumentParser.add_subparsers()``)."""
    parser = subparsers.add_parser(
        'denoise', help='remove noise from speech recordings (files, folders, globs)',
        description=DENOISE_DESCRIPTION, epilog=DENOISE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('inputs', nargs='+', metavar='IN',
                        help='audio file, folder or quoted glob pattern')
    parser.add_argument('-o', '--output', metavar='OUT',
                        help='output file (one input file) or folder (see above)')
    parser.add_argument('--model', metavar='DIR_OR_ID',
                        help='model directory or ModelScope model id '
                             '(default: the model shipped with this package)')
    parser.add_argument('--device', default='cpu', help='cpu, cuda or cuda:N (default: cpu)')
    parser.add_argument('--backend', choices=BACKENDS, default='torch',
                        help='run the network with PyTorch (default) or onnxruntime '
                             "(pip install 'modelscope_frcrn[onnx]'; fp32)")
    parser.add_argument('--onnx-model', metavar='FILE',
                        help='an exported .onnx file for --backend onnx (see export-onnx; '
                             'default: export the model on the fly)')
    parser.add_argument('--precision', choices=PRECISIONS, default='fp32',
                        help='fp32 (default); bf16 on CPUs with AVX-512 BF16/AMX or on GPUs '
                             '(about 2x faster on CPU, small quality cost); fp16 on GPUs')
    parser.add_argument('--threads', type=_positive_int, metavar='N',
                        help='CPU threads for the network (default: PyTorch\'s choice)')
    parser.add_argument('--chunk-seconds', type=_positive_float, default=DEFAULT_CHUNK_SECONDS,
                        metavar='S', help='length of the cross-faded pieces long recordings '
                                          f'are processed in (default: {DEFAULT_CHUNK_SECONDS:g})')
    parser.add_argument('--sample-rate', default=KEEP, type=_sample_rate, metavar='keep|HZ',
                        help="output sample rate: 'keep' the input's (default) or a rate such "
                             'as 16000 (the model\'s own)')
    parser.add_argument('--mono', action='store_true',
                        help='mix the enhanced channels down to one')
    parser.add_argument('--bandwidth', choices=BANDWIDTHS, default=FULL,
                        help='for inputs above 16 kHz: keep and clean the band above 8 kHz '
                             "('full', default) or give the model's band only ('model': "
                             'nothing above 8 kHz, the output before this option existed)')
    parser.add_argument('--atten-limit', type=_attenuation_limit, default=None, metavar='DB',
                        dest='atten_limit_db',
                        help='the most any part of the signal is attenuated, in dB: 0 returns '
                             'the input, 6-12 keeps a natural background (speech recognition, '
                             'film, podcasts), inf or absent (default) removes all it can')
    parser.add_argument('--post-filter', type=float, default=None, metavar='BETA',
                        dest='post_filter_beta',
                        help="pass the network's mask through PercepNet's post-filter: less "
                             'residual noise, at some cost to the voice (0.02 is typical; 0: '
                             "off; default: the model configuration's post_filter_beta, 0)")
    parser.add_argument('--batch-size', type=_positive_int, default=1, metavar='N',
                        help='enhance files no longer than one chunk N at a time, grouped by '
                             'length (outputs equal to one at a time within 1e-5; faster on '
                             'GPUs and for many short files; default: 1)')
    parser.add_argument('--report', metavar='FILE.json',
                        help='write a JSON report: the counts, and per file its status '
                             '(denoised, skipped, failed), seconds and error')
    parser.add_argument('--engine', choices=(LOCAL, RAY), default=LOCAL,
                        help="run in this process (default) or on a pool of processes on Ray "
                             "(pip install 'modelscope_frcrn[ray]'), on this machine or a "
                             'cluster; see "Large corpora" above')
    parser.add_argument('--ray-address', metavar='auto|ADDR',
                        help='--engine ray: join this Ray cluster (auto: the one started here '
                             'with ray start) instead of starting a local Ray instance')
    parser.add_argument('--workers', type=_positive_int, metavar='N',
                        help='--engine ray: processes, each with the model loaded once '
                             '(default: as many as the CPUs, or GPUs, hold)')
    parser.add_argument('--threads-per-worker', type=_positive_int, metavar='T',
                        help='--engine ray: CPU threads (and CPUs reserved) per worker '
                             '(default: 1)')
    parser.add_argument('--gpus-per-worker', type=_non_negative_float, metavar='G',
                        help='--engine ray, with --device cuda: GPUs reserved per worker, '
                             'e.g. 0.5 for two workers per GPU (default: 0)')
    parser.add_argument('--latency', type=_positive_float, default=DEFAULT_LATENCY_SECONDS,
                        metavar='S', help="with 'denoise - -o -': the most delay allowed, in "
                                          'seconds (shorter: sooner, a little less clean; '
                                          f'default: {DEFAULT_LATENCY_SECONDS:g})')
    parser.add_argument('--raw', type=parse_raw, metavar='ENC:RATE:CHANNELS',
                        help="with 'denoise - -o -': stdin and stdout are raw PCM, e.g. "
                             's16le:16000:1 (ENC: u8, s16le, s24le, s32le, f32le, f64le); '
                             'default: WAV streams')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace outputs that already exist (default: skip them)')
    parser.add_argument('--quiet', action='store_true', help='no progress bars')
    parser.set_defaults(run=run_denoise)
    return parser


def run_denoise(args: argparse.Namespace) -> int:
    """The ``denoise`` subcommand; returns the exit code."""
    if STDIO in args.inputs or args.output == STDIO:
        return run_pipe(args)
    summary = _denoise(args)
    if len(summary.files) == 1 and summary.done == 1 and not summary.not_audio:
        print(f'wrote {summary.files[0].output}')
    else:
        print(summary)
    return 1 if summary.failed else 0


def denoise_files(inputs: Sequence[str], output: Optional[str] = None, **options) -> Summary:
    """The ``denoise`` command from Python: ``inputs`` (files, folders, globs) planned, run
    and reported (failures on stderr) as the command does, here or on Ray.

    ``options`` are the command's, by their Python names, with its defaults: e.g.
    ``engine='ray', workers=4, batch_size=8, model='DIR', report='run.json', quiet=True``.

    Raises:
        UsageError: an option the command does not have, or options that do not go together.
        FRCRNError: what ends a run of the command (the model cannot be loaded...).
    """
    return _denoise(denoise_arguments(inputs, output, **options))


def denoise_arguments(inputs: Sequence[str], output: Optional[str] = None,
                      **options) -> argparse.Namespace:
    """The ``denoise`` command's arguments: ``inputs``, ``output``, ``options`` (by their Python
    names) and the command's defaults for the other options."""
    args = add_parser(argparse.ArgumentParser().add_subparsers()).parse_args(['IN'])
    unknown = sorted(set(options) - set(vars(args)))
    if unknown:
        raise UsageError(f'denoise has no option {unknown[0]!r}')
    inputs = [inputs] if isinstance(inputs, (str, os.PathLike)) else inputs
    vars(args).update(options, inputs=[os.fspath(path) for path in inputs],
                      output=None if output is None else os.fspath(output))
    return args


def _denoise(args: argparse.Namespace) -> Summary:
    """Plan, run on ``args.engine``, count the plan's problems and write ``args.report``."""
    _check_engine_options(args)
    plan = plan_jobs(args.inputs, args.output)
    for path, reason in plan.problems:
        report_problem(path, reason)
    if args.engine == RAY:
        from .ray_engine import run_jobs_on_ray

        summary = run_jobs_on_ray(plan.jobs, args)
    else:
        summary = run_jobs(plan.jobs, lambda: _build_denoiser(args), overwrite=args.overwrite,
                           sample_rate=args.sample_rate, mono=args.mono,
                           progress=not args.quiet, bandwidth=args.bandwidth,
                           atten_limit_db=args.atten_limit_db, batch_size=args.batch_size)
    for path, reason in plan.problems:
        summary.add(FileReport(path, None, FAILED, error=reason))
    summary.not_audio = len(plan.not_audio)
    if args.report:
        write_report(args.report, summary)
    return summary


def _check_engine_options(args: argparse.Namespace) -> None:
    given = [name for name in RAY_OPTIONS if getattr(args, name) is not None]
    if args.engine != RAY and given:
        raise UsageError(f"--{given[0].replace('_', '-')} needs --engine ray")


def write_report(path: str, summary: Summary) -> None:
    """``summary`` as JSON (written atomically): the counts, then per file its input, output,
    status (denoised, skipped, failed), seconds and error."""
    counts = {DONE: summary.done, SKIPPED: summary.skipped, FAILED: summary.failed,
              'not_audio': summary.not_audio}
    files = [dataclasses.asdict(report) for report in summary.files]
    write_text_atomically(path, json.dumps({'summary': counts, 'files': files}, indent=1) + '\n')


def _build_denoiser(args: argparse.Namespace) -> Denoiser:
    from .loading import load_enhancer

    try:
        enhancer = load_enhancer(args.model, backend=args.backend, precision=args.precision,
                                 device=args.device, threads=args.threads,
                                 onnx_path=args.onnx_model, malloc_tuning=True,
                                 post_filter_beta=args.post_filter_beta)
    except ValueError as error:  # an unsupported device/precision/backend combination
        raise UsageError(str(error)) from error
    return Denoiser(enhancer, chunk_seconds=args.chunk_seconds)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f'must be a positive integer, got {text}')
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f'must be a positive number, got {text}')
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f'must be 0 or more, got {text}')
    return value


def _attenuation_limit(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f'must be 0 dB or more (inf: no limit), got {text}')
    return value


def _sample_rate(text: str):
    return KEEP if text == KEEP else _positive_int(text)
