"""Where tasks run: in this process (serial, for debugging) or on Dask distributed.

Dask runs a local cluster of worker processes with one thread each (started and closed here) or
uses a cluster that already runs, by address (``--scheduler`` or ``DASK_SCHEDULER_ADDRESS``).
At most a few tasks per worker are in flight, so memory on the driver does not grow with the
number of tasks. A worker that dies mid-task has its task rerun elsewhere by the scheduler.

The local cluster is tuned for long CPU-bound tasks on few cores (``LOCAL_CLUSTER_CONFIG``):
- no statistical profiler on the workers: it samples the task's deep SimPy call stacks every 10 ms
  and keeps up to 1,000 one-second profiles, so each worker grew by about 100 KiB per second of
  work (+97 MiB over a 20,000-run sweep);
- slower housekeeping (event-loop tick, system monitor, the nannies' memory checks): at Dask's
  defaults the idle scheduler, nannies and workers used 8% of a core, 1.5% tuned
  (measured over 20 s idle), CPU that on a 2-core machine comes out of the simulations.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from ..errors import RolloutError, shorten

IN_FLIGHT_PER_WORKER = 2
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.admin.system-monitor.gil.enabled": False,
    "distributed.worker.memory.monitor-interval": "1s",
}


class SerialExecutor(AbstractContextManager):
    """Run tasks one after another in this process."""

    workers = 1
    description = "serially in this process"

    def __exit__(self, *exc: object) -> None:
        return None

    def map_unordered(self, fn: Callable, tasks: Iterable[tuple]) -> Iterator[Any]:
        for args in tasks:
            yield fn(*args)


class DaskExecutor(AbstractContextManager):
    """Run tasks on Dask distributed: a local cluster, or an existing scheduler by address."""

    def __init__(self, workers: int | None = None, scheduler: str | None = None):
        from distributed import Client, LocalCluster

        self.cluster = None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout="10s", set_as_default=False)
            except (OSError, TimeoutError, ValueError) as err:
                raise RolloutError(f"scheduler {scheduler}: cannot connect "
                                   f"({type(err).__name__}: {err})") from None
            self.description = f"on the Dask cluster at {scheduler}"
        else:
            import dask

            n = workers or os.cpu_count() or 1
            # read when the scheduler, nannies and client start; the nannies pass it on to the
            # workers they spawn
            # workers log only what is critical: a task's failure reaches the driver as an
            # exception, and shutdown races (heartbeats to a scheduler already gone) are noise
            with dask.config.set(LOCAL_CLUSTER_CONFIG), _workers_ignore_ctrl_c():
                self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                            dashboard_address="127.0.0.1:0",
                                            host="127.0.0.1", silence_logs=logging.CRITICAL)
                self.client = Client(self.cluster, set_as_default=False)
            self.description = f"on a local Dask cluster of {n} worker processes"

    @property
    def workers(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def __exit__(self, *exc: object) -> None:
        # closing races the workers' last messages (CommClosedError and the like): expected
        # at shutdown, and not the user's concern
        quiet = logging.getLogger("distributed")
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)
        try:
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()
        finally:
            quiet.setLevel(level)

    def map_unordered(self, fn: Callable, tasks: Iterable[tuple]) -> Iterator[Any]:
        """Yield results as tasks finish, keeping a bounded number in flight."""
        from distributed import as_completed

        pending = iter(tasks)
        window = IN_FLIGHT_PER_WORKER * self.workers
        first = [self.client.submit(fn, *args, pure=False) for args in _take(pending, window)]
        if not first:
            return
        running = as_completed(first, loop=self.client.loop)  # ours: no default client is set
        for future in running:
            result = future.result()
            future.release()
            for args in _take(pending, 1):
                running.add(self.client.submit(fn, *args, pure=False))
            yield result


@contextlib.contextmanager
def _workers_ignore_ctrl_c():
    """Start worker processes with SIGINT ignored (a child keeps an ignored signal across exec):
    Ctrl-C in a terminal reaches the whole process group, and only the driver should act on it,
    closing the cluster, instead of every worker printing its KeyboardInterrupt traceback."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _take(iterator: Iterator, n: int) -> list:
    out = []
    for _ in range(n):
        try:
            out.append(next(iterator))
        except StopIteration:
            break
    return out


_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


def check_scheduler_address(address: str) -> str:
    """Refuse an address Dask could never reach (it would retry for its whole timeout and then
    raise): ``scheme://host:port`` with a known scheme, a host and a port 1-65535."""
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    host, colon, port = rest.rpartition(":")
    problem = None
    if scheme not in _SCHEMES:
        problem = f"unknown protocol {scheme!r} (use {', '.join(_SCHEMES)})"
    elif not colon or not host.strip("[]"):
        problem = "expected PROTOCOL://HOST:PORT, e.g. tcp://127.0.0.1:8786"
    elif not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        problem = f"port {port!r} is not a number 1-65535"
    if problem:
        raise RolloutError(f"--scheduler {shorten(address)}: {problem}")
    return f"{scheme}://{host}:{port}"


def make_executor(serial: bool, workers: int | None, scheduler: str | None):
    """The executor a command line asks for (the scheduler address may come from the env)."""
    scheduler = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    if scheduler:
        scheduler = check_scheduler_address(scheduler)
    if serial:
        if scheduler:
            raise RolloutError("--serial and --scheduler exclude each other")
        return SerialExecutor()
    return DaskExecutor(workers=workers, scheduler=scheduler)
