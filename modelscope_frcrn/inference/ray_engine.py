"""``denoise --engine ray``: a corpus denoised by a pool of processes on Ray Data, on this
machine or a cluster.

The inputs are planned as for a local run (:func:`~.batch.plan_jobs`); Ray Data carries
the planned (input, output) paths, not audio, to a pool of actors (:class:`DenoiseActor`),
each of which loads the model once and runs its files through :func:`~.batch.run_jobs`:
the same skip rule, batching, atomic writes and per-file errors as a local run. Ray
schedules, and restarts an actor that dies (killed, out of memory, a lost machine) and
runs the files it held again (Ray Data's defaults for actor pools: no limit to either);
outputs are written to a temporary name and renamed, so none is ever partial. A retried
batch is denoised one file at a time, each start and outcome kept by the run's
:class:`FileStarts` actor: an output already written is not redone (reported as it was, or
as skipped if written before the batch's first death), and a file that kills every worker
that opens it is reported failed after ``DEATHS_PER_FILE`` deaths instead of keeping the run
going forever. The driver reports each failed file as it comes back and returns the
run's :class:`~.batch.Summary`.

Ray is imported only here, when the engine is used.
"""
import argparse
import collections
import copy
import functools
import logging
import os
import pickle
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from tqdm import tqdm

from ..errors import FRCRNError, MissingDependencyError, UsageError
from .batch import FAILED, FileReport, Job, Summary, _build_denoiser, report_problem, run_jobs

#: Blocks of files per worker: smaller blocks balance the load, and a retry redoes less
#: (each worker is given one block at a time, so none waits behind another's queue).
BLOCKS_PER_WORKER = 16
#: The object store of a local Ray instance (it holds paths only; Ray's minimum is 75 MiB).
LOCAL_OBJECT_STORE_BYTES = 128 * 2 ** 20
#: Deaths of the worker denoising a file (alone, in a retried batch) before the file is
#: reported failed without being opened again.
DEATHS_PER_FILE = 3


def run_jobs_on_ray(jobs: Sequence[Job], args: argparse.Namespace) -> Summary:
    """Denoise ``jobs`` on Ray with the ``denoise`` command's ``args`` (its Ray options:
    ``ray_address``, ``workers``, ``threads_per_worker``, ``gpus_per_worker``).

    Joins the Ray session already open in this process, else the cluster at
    ``args.ray_address``, else starts a local Ray instance, and ends what it started.

    Raises:
        MissingDependencyError: Ray Data is not installed.
        UsageError: GPU options that do not go together.
    """
    _check_devices(args)
    if not jobs:
        return Summary()
    ray = _import_ray()
    started = _connect(ray, args)
    try:
        results = _mapped(ray, jobs, args, ray.remote(num_cpus=0)(FileStarts).remote())
        return _collect(results.iter_rows(), jobs, progress=not args.quiet)
    finally:
        if started:
            ray.shutdown()


class FileStarts:
    """Ray actor, one per run: how often each batch was started, and for the files of retried
    batches (by plan index), the outcome of those finished and how often the others were
    started, which tells a worker that the ones before it died there."""

    def __init__(self):
        self.batches, self.unfinished = collections.Counter(), collections.Counter()
        self.outcomes: Dict[int, Dict[str, list]] = {}

    def start_batch(self, first_index: int) -> int:
        self.batches[first_index] += 1
        return self.batches[first_index]

    def start_file(self, index: int) -> Tuple[int, Optional[Dict[str, list]]]:
        """(starts without a finish, this one included; 0 if finished) and the outcome."""
        if index in self.outcomes:
            return 0, self.outcomes[index]
        self.unfinished[index] += 1
        return self.unfinished[index], None

    def finish_file(self, index: int, outcome: Dict[str, list]) -> None:
        self.outcomes[index] = outcome
        self.unfinished.pop(index, None)


class DenoiseActor:
    """One worker of the pool: loads the model on first use, then denoises batches of rows.

    Args:
        args: the ``denoise`` command's arguments (``threads_per_worker`` CPU threads).
        starts: the run's :class:`FileStarts` actor (None: every batch is run as a first one).
    """

    def __init__(self, args: argparse.Namespace, starts=None):
        self.args = copy.copy(args)
        self.args.threads = args.threads_per_worker or 1
        self.starts = starts
        self.make_denoiser = functools.lru_cache(maxsize=1)(
            functools.partial(_build_denoiser, self.args))

    def __call__(self, rows: Dict[str, np.ndarray]) -> Dict[str, list]:
        """Columns ``index``, ``input``, ``output`` (absolute paths) -> ``index``, ``status``,
        ``seconds``, ``error`` ('' for none), ``fatal`` (b'' for none), one row per file;
        an error that ends a local run (the model cannot be loaded...) comes back pickled in
        ``fatal`` instead, for the driver to raise. A batch started before (its worker died)
        is denoised one file at a time, and a file started ``DEATHS_PER_FILE`` times already
        is reported failed unopened."""
        import ray

        indices = [int(index) for index in rows['index']]
        if self.starts is None or ray.get(self.starts.start_batch.remote(indices[0])) == 1:
            return self._denoise(rows)
        columns = collections.defaultdict(list)
        for position, index in enumerate(indices):
            outcome = self._denoise_alone(index, {name: values[position:position + 1]
                                                  for name, values in rows.items()})
            for name, values in outcome.items():
                columns[name] += values
            if outcome['fatal'][0]:
                break
        return dict(columns)

    def _denoise_alone(self, index: int, row: Dict[str, np.ndarray]) -> Dict[str, list]:
        """One file of a retried batch: the outcome a worker before this one got, else its own
        (a failure, unopened, once the file's workers have died ``DEATHS_PER_FILE`` times)."""
        import ray

        unfinished, outcome = ray.get(self.starts.start_file.remote(index))
        if outcome is not None:
            return outcome
        if unfinished > DEATHS_PER_FILE:
            outcome = _failed(index, f'the worker process died each of the {DEATHS_PER_FILE} times '
                                     f'it opened this file (a crash or running out of memory); '
                                     f'not tried again')
        else:
            outcome = self._denoise(row)
        ray.get(self.starts.finish_file.remote(index, outcome))
        return outcome

    def _denoise(self, rows: Dict[str, np.ndarray]) -> Dict[str, list]:
        jobs = [Job(str(source), str(target)) for source, target in zip(rows['input'],
                                                                        rows['output'])]
        args = self.args
        try:
            summary = run_jobs(jobs, self.make_denoiser, overwrite=args.overwrite,
                               sample_rate=args.sample_rate, mono=args.mono, progress=False,
                               bandwidth=args.bandwidth, atten_limit_db=args.atten_limit_db,
                               batch_size=args.batch_size)
        except FRCRNError as error:
            return _failed(int(rows['index'][0]), str(error), fatal=pickle.dumps(error))
        index = dict(zip(map(str, rows['input']), rows['index']))
        return {'index': [int(index[report.input]) for report in summary.files],
                'status': [report.status for report in summary.files],
                'seconds': [report.seconds for report in summary.files],
                'error': [report.error or '' for report in summary.files],
                'fatal': [b''] * len(summary.files)}


def _failed(index: int, error: str, fatal: bytes = b'') -> Dict[str, list]:
    """The outcome columns of one failed file (``fatal``: an error that ends the run)."""
    return {'index': [index], 'status': [FAILED], 'seconds': [0.0], 'error': [error],
            'fatal': [fatal]}


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401 (ray[data]: pandas, pyarrow...)
    except ImportError as error:
        raise MissingDependencyError(
            f"--engine ray needs Ray Data ({error}): pip install 'modelscope_frcrn[ray]'"
        ) from error
    return ray


def _check_devices(args: argparse.Namespace) -> None:
    on_gpu = args.device.startswith('cuda')
    if bool(args.gpus_per_worker) != on_gpu:
        raise UsageError('--engine ray on GPUs takes both --device cuda and --gpus-per-worker '
                         'G (the share of a GPU each worker reserves, e.g. 1 or 0.5)')


def _connect(ray, args: argparse.Namespace) -> bool:
    """Join or start Ray; True when this call started the connection (and ends it)."""
    if ray.is_initialized():
        return False
    quiet = dict(log_to_driver=False, logging_level=logging.WARNING)
    if args.ray_address:
        ray.init(address=args.ray_address, **quiet)
    else:
        cpus = args.workers * (args.threads_per_worker or 1) if args.workers else None
        ray.init(address='local', num_cpus=cpus, include_dashboard=False,
                 object_store_memory=LOCAL_OBJECT_STORE_BYTES, **quiet)
    return True


def _mapped(ray, jobs: Sequence[Job], args: argparse.Namespace, starts):
    """The Ray dataset of the jobs' outcomes (lazy: it runs as it is read); ``starts`` is the
    run's :class:`FileStarts` actor."""
    _quiet(ray.data.DataContext.get_current())
    workers = min(len(jobs), args.workers or _workers_that_fit(ray.cluster_resources(), args))
    rows = [{'index': index, 'input': os.path.abspath(job.input),
             'output': os.path.abspath(job.output)} for index, job in enumerate(jobs)]
    dataset = ray.data.from_items(rows, override_num_blocks=min(len(rows),
                                                                BLOCKS_PER_WORKER * workers))
    return dataset.map_batches(
        DenoiseActor, fn_constructor_args=(args, starts), batch_size=args.batch_size,
        compute=ray.data.ActorPoolStrategy(size=workers, max_tasks_in_flight_per_actor=1),
        num_cpus=args.threads_per_worker or 1, num_gpus=args.gpus_per_worker or 0)


def _quiet(context) -> None:
    """Ray Data's warnings only: no progress bars (ours counts files) and no INFO lines."""
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger('ray.data').setLevel(logging.WARNING)
    logging.getLogger('ray.data._internal.progress').setLevel(logging.ERROR)  # "bars disabled"


def _workers_that_fit(resources: Dict[str, float], args: argparse.Namespace) -> int:
    """As many workers as the cluster's CPUs (and GPUs, for GPU workers) hold, at least one."""
    counts = [resources.get('CPU', 0) // (args.threads_per_worker or 1)]
    if args.gpus_per_worker:
        counts.append(resources.get('GPU', 0) // args.gpus_per_worker)
    return max(1, int(min(counts)))


def _collect(rows, jobs: Sequence[Job], progress: bool) -> Summary:
    """The summary of the outcome ``rows`` as they arrive; failures reported on stderr."""
    summary = Summary()
    with tqdm(total=len(jobs), unit='file', disable=not progress or len(jobs) < 2) as bar:
        for row in rows:
            if row['fatal']:
                raise pickle.loads(row['fatal'])
            job = jobs[row['index']]
            error = str(row['error']).replace(os.path.abspath(job.input), job.input) or None
            if row['status'] == FAILED:
                report_problem(job.input, error)
            summary.add(FileReport(job.input, job.output, str(row['status']),
                                   float(row['seconds']), error))
            bar.update()
    return summary
