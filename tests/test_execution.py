"""The Dask executor: local cluster settings that keep worker memory flat, and result order."""

from __future__ import annotations

import dask
import pytest

from rollout.experiment.executors import LOCAL_CLUSTER_CONFIG, DaskExecutor, SerialExecutor


def _square(x: int) -> int:
    return x * x


def _profiler_state(dask_worker) -> tuple[bool, bool]:
    return (bool(dask.config.get("distributed.worker.profile.enabled")),
            "profile" in dask_worker.periodic_callbacks)


def _housekeeping(dask_worker) -> dict:
    return {key: dask.config.get(key) for key in LOCAL_CLUSTER_CONFIG}


@pytest.fixture(scope="module")
def local_cluster():
    with DaskExecutor(workers=2) as executor:
        yield executor


def test_local_workers_run_without_the_statistical_profiler(local_cluster) -> None:
    """The profiler kept ~100 KiB per second of work on each worker (bench_sweep.py: largest
    worker 308 vs 211 MiB for 20,000 vs 2,000 runs); it must be off on our workers, and the
    setting must not leak into this process's own Dask config."""
    states = local_cluster.client.run(_profiler_state)
    assert len(states) == 2
    assert all(state == (False, False) for state in states.values())
    assert dask.config.get("distributed.worker.profile.enabled") is True


def test_local_workers_get_the_tuned_housekeeping_settings(local_cluster) -> None:
    """The slower tick, system monitor and memory checks reach the spawned workers too."""
    for settings in local_cluster.client.run(_housekeeping).values():
        assert settings == LOCAL_CLUSTER_CONFIG


def test_map_unordered_returns_every_result_once(local_cluster) -> None:
    """More tasks than the in-flight window: every result arrives exactly once."""
    tasks = [(i,) for i in range(25)]
    got = sorted(local_cluster.map_unordered(_square, tasks))
    assert got == sorted(SerialExecutor().map_unordered(_square, tasks)) == [i * i for i in
                                                                              range(25)]
