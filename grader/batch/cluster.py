"""Grade a class on a Dask cluster: the same sandbox on every worker, results stored by this client alone.

``grader grade ... --cluster tcp://HOST:8786`` sends each submission to a running Dask scheduler;
``--cluster slurm`` (or ``pbs``) first starts workers as batch jobs through dask-jobqueue, configured the usual
Dask way (``~/.config/dask/jobqueue.yaml`` or ``DASK_JOBQUEUE__SLURM__...`` variables). This module is imported
only with ``--cluster``: a local run imports no Dask.

A task carries its submission's bytes (no shared file system is assumed) and the spec's text. On the worker, a
resident process (:mod:`grader.batch.resident`) sandboxes it exactly as the local pool does and answers the
report's JSON, which comes back here; the client writes results.sqlite and every output, so a cluster run gives
the same files as a local one. A worker killed mid-task: Dask runs the task elsewhere. A submission whose task
ended its worker more than the scheduler's ``distributed.scheduler.allowed-failures`` times (Dask's default 3)
gets an error row instead of an endless loop.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from grader.batch import cache
from grader.batch.entries import BatchError
from grader.batch.resident import pack, request_for, resident
from grader.i18n import _, use_language
from grader.report import Report, fatal_report
from grader.spec import Spec, spec_texts

JOBQUEUE_KINDS = ("slurm", "pbs")
CONNECT_TIMEOUT_S = 10.0
GPU_RESOURCE = "GPU"
IN_FLIGHT_PER_THREAD = 2  # tasks queued per worker thread: enough to keep workers busy, bounded client memory


class ClusterError(BatchError):
    """The cluster cannot be used (missing extra, unreachable scheduler, no GPU worker): the message says why."""


def require_dask():
    """The ``distributed`` module, or ClusterError naming the extra to install."""
    try:
        import distributed
    except ImportError as exc:
        raise ClusterError(_("--cluster needs Dask, which is not installed here ({error}): pip install "
                             "'cnn-grader[cluster]' (dask, distributed and dask-jobqueue)", error=exc)) from None
    return distributed


@dataclass
class Connection:
    """A client on a scheduler, and the jobqueue cluster this command started (closed with it), if any."""

    client: Any
    cluster: Any = None

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()


def connect(target: str, jobs: int | None = None, timeout: float = CONNECT_TIMEOUT_S) -> Connection:
    """A connection to ``target``: a scheduler address (tcp://HOST:PORT), or slurm / pbs to start ``jobs`` worker
    jobs (default 1) through dask-jobqueue. ClusterError within ``timeout`` seconds when it cannot be reached."""
    distributed = require_dask()
    cluster = None
    address: object = target
    if target in JOBQUEUE_KINDS:
        try:
            import dask_jobqueue
        except ImportError as exc:
            raise ClusterError(_("--cluster {target} needs dask-jobqueue ({error}): pip install 'cnn-grader[cluster]'",
                                 target=target, error=exc)) from None
        make = dask_jobqueue.SLURMCluster if target == "slurm" else dask_jobqueue.PBSCluster
        try:
            cluster = make()
        except Exception as exc:  # noqa: BLE001 - dask-jobqueue's configuration errors are plain exceptions
            raise ClusterError(_("cannot set up the {target} cluster from Dask's jobqueue configuration: {error}",
                                 target=target, error=exc)) from None
        cluster.scale(jobs=jobs or 1)
        address = cluster
    elif "://" not in target:
        raise ClusterError(_("--cluster {target}: give a scheduler address like tcp://HOST:8786, or one of {kinds}",
                             target=repr(target), kinds=", ".join(JOBQUEUE_KINDS)))
    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        raise ClusterError(_("cannot reach the Dask scheduler at {target} within {seconds:g} s: {error}. Is it "
                             "running (dask scheduler), and is the address right?", target=target, seconds=timeout,
                             error=exc)) from None
    return Connection(client, cluster)


def gpu_workers(client) -> int:
    """How many of the scheduler's workers declare the Dask resource GPU."""
    workers = client.scheduler_info().get("workers", {})
    return sum(1 for w in workers.values() if (w.get("resources") or {}).get(GPU_RESOURCE, 0) > 0)


def placement(spec: Spec, device: str, gpus: int) -> tuple[str, dict]:
    """(the device a task evaluates on, the Dask resources it needs) for ``device`` (auto, cpu or cuda) on a
    cluster with ``gpus`` workers that declare GPU. auto sends the CIFAR re-evaluations, the heavy ones, to GPU
    workers when there are some; cuda sends every task there; cpu never."""
    if device == "cuda":
        if not gpus:
            raise ClusterError(_("--device cuda, but no worker of the cluster declares the Dask resource GPU (start "
                                 "GPU workers with: dask worker ADDRESS --resources GPU=1)"))
        return "cuda", {GPU_RESOURCE: 1}
    if device == "auto" and gpus and spec.dataset == "cifar10":
        return "cuda", {GPU_RESOURCE: 1}
    return "cpu", {}


def grade_on_worker(request: dict, payload: bytes) -> str:
    """The task run on a worker: the report's JSON, from one of this worker's resident grading processes (which
    writes it in the request's language; the worker's own errors are in it too)."""
    with use_language(request.get("lang")), resident() as grader:
        return json.dumps(grader.grade(request, payload))


def _lost_report(spec: Spec, student: str, exc: BaseException) -> Report:
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        return fatal_report(spec, student, _("grading this submission ended the grader's worker process each time "
                                             "it was tried, so it was given up (the cluster's allowed-failures limit). "
                                             "Your code may exhaust the machine's memory: check it with grader check "
                                             "on your own machine."), "crashed")
    error = f"{type(exc).__name__}: {exc}"
    return fatal_report(spec, student, _("internal error on the cluster: {error}", error=error))


def run_on_cluster(spec: Spec, todo: list, store, limits, connection: Connection, device: str = "cpu",
                   progress: bool = True, total: int | None = None) -> int:
    """Grade ``todo`` ((entry, key) pairs, largest first) on the cluster; store each report as it arrives."""
    import dask
    from distributed import as_completed
    from tqdm import tqdm

    client = connection.client
    task_device, resources = placement(spec, device, gpu_workers(client))
    limits = replace(limits, device=task_device, threads=1)
    spec_toml = spec_texts(spec)
    total = len(todo) if total is None else total
    bar = tqdm(total=total, initial=total - len(todo), desc=_("grading"), unit=_("student"), disable=not progress,
               dynamic_ncols=True)
    pending = list(todo)
    running: dict = {}
    done = failures = 0
    completed = as_completed(loop=client.loop)

    def submit() -> None:
        threads = sum(w.get("nthreads", 1) for w in client.scheduler_info().get("workers", {}).values()) or 1
        while pending and len(running) < IN_FLIGHT_PER_THREAD * threads:
            entry, key = pending.pop(0)
            request = request_for(spec, spec_toml, entry.student, limits, task_device)
            future = client.submit(grade_on_worker, request, pack(Path(entry.path)), pure=False, retries=1,
                                   key=f"grade-{key[:20]}-{time.monotonic_ns()}", resources=resources or None)
            running[future.key] = (entry, key, future)
            completed.add(future)

    # A task carries its submission's bytes by design (no shared file system): not a "large graph" to warn about.
    quiet = dask.config.set({"distributed.admin.large-graph-warning-threshold": "4GiB"})
    try:
        submit()
        while running:
            future = next(completed)
            entry, key, _future = running.pop(future.key)
            try:
                report = Report.from_dict(json.loads(future.result()))
            except Exception as exc:  # noqa: BLE001 - a lost task is an error row for that student, never a crash
                report = _lost_report(spec, entry.student, exc)
            future.release()
            store.put(entry.student, key, str(entry.path), report, entry.files or cache.files_key(entry.path))
            done += 1
            failures += not report.passed
            bar.set_postfix({_("failed"): failures}, refresh=False)
            bar.update(1)
            submit()
    finally:  # Ctrl-C or an error: nothing of this run keeps a worker busy
        quiet.__exit__(None, None, None)
        if running:
            client.cancel([future for _entry, _key, future in running.values()])
        bar.close()
    return done
