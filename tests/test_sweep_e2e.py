"""Parameter sweeps end to end: the real ``rollout sweep``/``plan``/``verify`` as subprocesses,
on real Dask clusters (a local one, and a scheduler with two workers on loopback) and a real
Zarr store, with no mocks.

Checked here: the cube does not depend on where or in which order the blocks ran (serial, local
cluster, remote cluster, shuffled tasks); common random numbers hold across design points; a sweep
killed with SIGKILL resumes to the identical cube; a worker killed mid-sweep costs nothing but
time; a store of another configuration is refused; ``verify`` catches a corrupted value; ``plan``
counts points, runs and tasks; bad input is one line on stderr with nothing written, with or
without the progress bar; LHS, Sobol and scenario designs lay out their dimensions.

Each CLI start costs ~2 s of imports, so independent runs are started together (``Batch``) by
module-scoped fixtures; every run has its own temporary folder as working directory. Every
subprocess is started in its own session and its whole process group is killed if still alive
at the end, so no Dask worker outlives the tests.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import xarray as xr
import zarr
from conftest import small_dict

from rollout import open_cube

TIMEOUT = 180                          # seconds for any one CLI run
SMALL_STRATEGIES = {"big_bang": {}, "phased": small_dict()["strategies"]["phased"]}
#: two points x 3 blocks of 2 replicates x 2 strategies: small, yet several tasks to reorder
SMALL_SWEEP = {"parameters": {"defects.mean_count": [6, 12]}, "block_size": 2}
SMALL_REPLICATES = 6
#: three points x 6 blocks x 4 strategies (144 runs, ~2 s of one core, longer on Dask): ample
#: time to interrupt, since the tests strike as soon as the first block is flagged
BIG_SWEEP = {"parameters": {"defects.mean_count": [6, 9, 12]}, "block_size": 2}
BIG_REPLICATES = 40   # enough blocks (60) that a kill lands mid-sweep on a fast machine


# ------------------------------------------------------------------------------ helpers
def sweep_dict(strategies: dict | None = None, **extra: object) -> dict:
    """small_dict with ``extra`` merged in and, if given, exactly these strategies."""
    data = small_dict(**extra)
    if strategies is not None:
        data["strategies"] = json.loads(json.dumps(strategies))
    return data


def write_config(path: Path, data: dict) -> Path:
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def _env(**extra: str) -> dict[str, str]:
    """The environment of a CLI run: no scheduler address unless the test sets one."""
    env = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}
    env.update(extra)
    return env


def _command(args: tuple[object, ...]) -> list[str]:
    return [sys.executable, "-m", "rollout.cli", *map(str, args)]


def start(*args: object, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start the real CLI in its own session (so its whole process group can be killed)."""
    return subprocess.Popen(_command(args), cwd=cwd, env=env or _env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL a process started with start_new_session=True and everything in its group."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)


def finish(proc: subprocess.Popen, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """Wait for a started CLI run; whatever happens, leave no process of its group behind."""
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            kill_group(proc)
        # a Dask driver's local workers share its process group; kill any straggler
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def rollout(*args: object, cwd: Path, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess:
    return finish(start(*args, cwd=cwd, env=env))


@dataclass
class Batch:
    """Independent CLI runs started at once; each one's wall time is recorded."""

    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    began: dict[str, float] = field(default_factory=dict)

    def start(self, key: str, *args: object, cwd: Path, env: dict[str, str] | None = None
              ) -> None:
        self.began[key] = time.monotonic()
        self.procs[key] = start(*args, cwd=cwd, env=env)

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs.values():      # whatever failed, no run outlives the fixture
            if proc.poll() is None:
                kill_group(proc)

    def results(self) -> tuple[dict[str, subprocess.CompletedProcess], dict[str, float]]:
        ended: dict[str, float] = {}
        deadline = time.monotonic() + TIMEOUT
        try:
            while len(ended) < len(self.procs) and time.monotonic() < deadline:
                for key, proc in self.procs.items():
                    if key not in ended and proc.poll() is not None:
                        ended[key] = time.monotonic()
                time.sleep(0.05)
            out = {key: finish(proc, timeout=5) for key, proc in self.procs.items()}
        finally:
            for proc in self.procs.values():
                if proc.poll() is None:
                    kill_group(proc)
        walls = {key: ended.get(key, math.inf) - self.began[key] for key in self.procs}
        return out, walls


def load(path: Path) -> xr.Dataset:
    """A cube read into memory, without the attributes that differ run to run."""
    with xr.open_zarr(path) as ds:
        loaded = ds.load()
    for name in ("created", "completed"):
        loaded.attrs.pop(name, None)
    return loaded


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    return proc


def read_flags(path: Path) -> np.ndarray | None:
    """The store's block flags, or None while the store is not laid out yet."""
    try:
        return np.asarray(zarr.open_group(path, mode="r")["blocks/block_done"][...])
    except Exception:  # noqa: BLE001 - not created yet, or metadata mid-write: poll again
        return None


def wait_for_some_blocks(proc: subprocess.Popen, path: Path, timeout: float = 120
                         ) -> np.ndarray:
    """Poll the store until at least one block, but not all, is done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = finish(proc)
            pytest.fail(f"the sweep ended (status {out.returncode}) before it could be "
                        f"interrupted: {out.stdout}\n{out.stderr}")
        flags = read_flags(path)
        if flags is not None and 0 < flags.sum() < flags.size:
            return flags
        time.sleep(0.02)
    kill_group(proc)
    pytest.fail(f"no block of {path} was done within {timeout} s")


def tree(folder: Path) -> dict[str, str]:
    """Every file (hidden ones included) under ``folder`` -> sha256 of its content; folders
    -> ''."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            out[os.path.relpath(os.path.join(root, name), folder)] = ""
        for name in files:
            full = os.path.join(root, name)
            with open(full, "rb") as fh:
                out[os.path.relpath(full, folder)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The one line a user error must print; checks status 2 and no traceback."""
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("rollout: error:"), lines[0]
    assert proc.stdout == ""
    return lines[0]


# ------------------------------------------------------------------------------ a real cluster
@dataclass
class Cluster:
    """A Dask scheduler and workers, each a subprocess in its own session, on 127.0.0.1."""

    folder: Path
    scheduler_file: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    address: str = ""

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.folder.glob("*.log")))

    def kill(self, name: str) -> None:
        kill_group(self.procs[name])

    def close(self) -> None:
        for name in reversed(list(self.procs)):
            self.kill(name)


def _daemon(cmd: list[str], folder: Path, name: str) -> subprocess.Popen:
    log = open(folder / f"{name}.log", "w")      # the child keeps its own copy open
    try:
        return subprocess.Popen(cmd, cwd=folder, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=_env(), start_new_session=True)
    finally:
        log.close()


def _workers(scheduler_file: Path) -> int:
    from distributed import Client

    with Client(scheduler_file=str(scheduler_file), timeout="10s",
                set_as_default=False) as client:
        return len(client.scheduler_info()["workers"])


@contextlib.contextmanager
def dask_cluster(folder: Path, n_workers: int = 2, timeout: float = 90) -> Iterator[Cluster]:
    """Start ``dask scheduler`` and ``n_workers`` ``dask worker`` processes; always tear down."""
    folder.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(folder, folder / "scheduler.json")
    dask = [shutil.which("dask") or "dask"]
    try:
        cluster.procs["scheduler"] = _daemon(
            [*dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(cluster.scheduler_file)], folder, "scheduler")
        for i in range(n_workers):
            cluster.procs[f"worker{i}"] = _daemon(
                [*dask, "worker", "--host", "127.0.0.1", "--nthreads", "1", "--nworkers", "1",
                 "--no-dashboard", "--local-directory", str(folder / f"w{i}"),
                 "--scheduler-file", str(cluster.scheduler_file)], folder, f"worker{i}")
        deadline = time.monotonic() + timeout
        registered = 0
        while time.monotonic() < deadline:
            dead = [n for n, p in cluster.procs.items() if p.poll() is not None]
            assert not dead, f"{dead} exited early\n{cluster.logs()}"
            if cluster.scheduler_file.is_file():
                with contextlib.suppress(OSError, ValueError, TimeoutError):
                    registered = _workers(cluster.scheduler_file)
                    if registered == n_workers:
                        break
            time.sleep(0.25)
        else:
            pytest.fail(f"{registered} of {n_workers} workers registered within {timeout} s\n"
                        f"{cluster.logs()}")
        cluster.address = json.loads(cluster.scheduler_file.read_text())["address"]
        assert cluster.address.startswith("tcp://127.0.0.1:"), cluster.address
        yield cluster
    finally:
        cluster.close()


# ------------------------------------------------------------------------------ the small sweep
@dataclass
class Runs:
    config: Path
    out: dict[str, Path]
    proc: dict[str, subprocess.CompletedProcess]

    def cube(self, key: str) -> xr.Dataset:
        ok(self.proc[key])
        return load(self.out[key])


def small_sweep_config(folder: Path) -> Path:
    return write_config(folder / "small_sweep.toml", sweep_dict(
        SMALL_STRATEGIES, replicates=SMALL_REPLICATES, sweep=SMALL_SWEEP))


@pytest.fixture(scope="module")
def small_runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """The small sweep serially, on local clusters of 1 and 2 workers, and with shuffled
    tasks."""
    folder = tmp_path_factory.mktemp("small_runs")
    config = small_sweep_config(folder)
    variants = {
        "serial": ["--serial"],
        "w1": ["-w", "1"],
        "w2": ["-w", "2"],
        "w2_shuffled": ["-w", "2", "--task-order-seed", "5"],
    }
    with Batch() as batch:
        out = {}
        for key, options in variants.items():
            cwd = folder / key
            cwd.mkdir()
            out[key] = cwd / f"{key}.zarr"
            batch.start(key, "sweep", config, "-o", out[key], "-q", *options, cwd=cwd)
        procs, _ = batch.results()
    return Runs(config, out, procs)


@pytest.fixture(scope="module")
def serial_cube(small_runs: Runs) -> xr.Dataset:
    return small_runs.cube("serial")


def test_small_sweep_writes_a_complete_cube(small_runs: Runs, serial_cube: xr.Dataset) -> None:
    proc, out = small_runs.proc["serial"], small_runs.out["serial"]
    ok(proc)
    values = SMALL_SWEEP["parameters"]["defects.mean_count"]
    assert f"wrote {out}: {len(values)} design points x 2 strategies x {SMALL_REPLICATES} " \
           "replicates" in proc.stdout
    assert "serially in this process" in proc.stdout
    assert "already done" not in proc.stdout
    ds = serial_cube
    # CF-valid names (no dots), the config field in an attribute; no bookkeeping in sight
    assert dict(ds.sizes) == {"defects__mean_count": len(values), "strategy": 2,
                              "replicate": SMALL_REPLICATES, "time": 60, "province": 4,
                              "track": 2, "stable_threshold": 4}   # t_stable_at (issue 21)
    np.testing.assert_array_equal(ds["defects__mean_count"].values, values)
    assert ds["defects__mean_count"].attrs["config_field"] == "defects.mean_count"
    assert ds["harm_total"].dims == ("defects__mean_count", "strategy", "replicate")
    assert ds.attrs["complete"] == "true"
    assert ds.attrs["block_size"] == str(SMALL_SWEEP["block_size"])
    assert json.loads(ds.attrs["design"]) == {"kind": "grid", "dims": ["defects__mean_count"]}
    assert (read_flags(out) == 1).all() and read_flags(out).shape == (
        len(values), SMALL_REPLICATES // SMALL_SWEEP["block_size"])
    for name in ("harm_total", "benefit_total", "coverage", "national_coverage"):
        assert np.isfinite(ds[name].values).all(), name
    # the points really differ: more defects, more harm on average
    harm = ds["harm_total"].mean(("strategy", "replicate")).values
    assert harm[0] < harm[1], harm
    assert sorted(os.listdir(out.parent)) == [out.name]     # nothing else written beside it


# ------------------------------------------------------------------------------ 2. determinism
def test_worker_count_and_task_order_do_not_change_the_cube(small_runs: Runs,
                                                            serial_cube: xr.Dataset) -> None:
    for key in ("w1", "w2", "w2_shuffled"):
        xr.testing.assert_identical(small_runs.cube(key), serial_cube)
    assert "local Dask cluster of 1 worker" in small_runs.proc["w1"].stdout
    assert "local Dask cluster of 2 worker" in small_runs.proc["w2"].stdout


def test_task_order_seed_really_shuffles(small_runs: Runs) -> None:
    """The hidden option is not a no-op: seed 5 permutes this sweep's tasks."""
    from rollout.config import load_config
    from rollout.experiment.designs import build_design
    from rollout.experiment.sweep import block_tasks

    cfg = load_config(small_runs.config)
    design = build_design(cfg)
    flags = np.zeros(design.shape + (SMALL_REPLICATES // SMALL_SWEEP["block_size"],), np.uint8)
    plain, shuffled = block_tasks(cfg, design, flags), block_tasks(cfg, design, flags, 5)
    assert sorted(shuffled) == plain and shuffled != plain


# ------------------------------------------------------------------------------ 1. real cluster
@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with dask_cluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest.mark.slow
def test_real_cluster_by_address_and_env_gives_the_identical_cube(
        cluster: Cluster, small_runs: Runs, serial_cube: xr.Dataset,
        tmp_path: Path) -> None:
    with Batch() as batch:
        out = {"option": tmp_path / "option" / "A.zarr", "env": tmp_path / "env" / "D.zarr"}
        for path in out.values():
            path.parent.mkdir()
        batch.start("option", "sweep", small_runs.config, "--scheduler", cluster.address,
                    "-o", out["option"], "-q", cwd=out["option"].parent)
        batch.start("env", "sweep", small_runs.config, "-o", out["env"], "-q",
                    cwd=out["env"].parent, env=_env(DASK_SCHEDULER_ADDRESS=cluster.address))
        procs, _ = batch.results()
    for key in out:
        assert procs[key].returncode == 0, (procs[key].stderr, cluster.logs())
        ok(procs[key])
        assert f"on the Dask cluster at {cluster.address}" in procs[key].stdout
        xr.testing.assert_identical(load(out[key]), serial_cube)
    xr.testing.assert_identical(small_runs.cube("w2"), serial_cube)
    # the cluster is still whole: the sweep's client did not take it down
    assert _workers(cluster.scheduler_file) == 2


# ------------------------------------------------------------------------------ 3. CRN
@pytest.fixture(scope="module")
def crn_runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    folder = tmp_path_factory.mktemp("crn")
    configs = {
        "rate": sweep_dict(SMALL_STRATEGIES, replicates=4, defects={"fixed_count": 0}, sweep={
            "parameters": {"operation.benefit_rate": [1.0, 2.0]}, "block_size": 2}),
        "selection": sweep_dict(SMALL_STRATEGIES, replicates=4, sweep={
            "parameters": {"strategies.phased.selection": ["representative", "random"]},
            "block_size": 2}),
    }
    with Batch() as batch:
        out = {}
        for key, data in configs.items():
            cwd = folder / key
            cwd.mkdir()
            config = write_config(cwd / f"{key}.toml", data)
            out[key] = cwd / f"{key}.zarr"
            batch.start(key, "sweep", config, "--serial", "-o", out[key], "-q", cwd=cwd)
        procs, _ = batch.results()
    return Runs(folder, out, procs)


def test_benefit_scales_exactly_with_benefit_rate(crn_runs: Runs) -> None:
    """No defects: the same world and the same timing at both points, so benefit doubles."""
    ds = crn_runs.cube("rate")
    dim = "operation__benefit_rate"
    one, two = ds.sel({dim: 1.0}), ds.sel({dim: 2.0})
    assert (ds["harm_total"].values == 0).all()
    assert (one["benefit_total"].values > 0).all()
    for name in ("benefit_total", "net_benefit", "benefit"):
        np.testing.assert_allclose(two[name].values, 2.0 * one[name].values, rtol=1e-12,
                                   atol=0, err_msg=name)
    for name in ("t_full", "t_stable", "coverage", "stage"):
        np.testing.assert_array_equal(two[name].values, one[name].values, err_msg=name)


def test_same_replicate_same_world_at_every_point(crn_runs: Runs) -> None:
    """Phased's pilot selection cannot touch big bang: its runs are identical at both points,
    while phased itself does change."""
    ds = crn_runs.cube("selection")
    dim = "strategies__phased__selection"
    assert [str(v) for v in ds[dim].values] == ["representative", "random"]
    rep, rnd = ds.sel({dim: "representative"}), ds.sel({dim: "random"})
    np.testing.assert_array_equal(rep["net_benefit"].sel(strategy="big_bang").values,
                                  rnd["net_benefit"].sel(strategy="big_bang").values)
    assert np.ptp(rep["net_benefit"].sel(strategy="big_bang").values) > 0.0, \
        "replicates should differ, or the comparison says nothing"
    names = [n for n in ds.data_vars if n not in ("block_done", "block_checksum")]
    xr.testing.assert_identical(rep[names].sel(strategy="big_bang").drop_vars(dim),
                                rnd[names].sel(strategy="big_bang").drop_vars(dim))
    assert not rep["stage"].sel(strategy="phased").identical(
        rnd["stage"].sel(strategy="phased")), "phased's selection had no effect"


# ------------------------------------------------------------------------------ 4. SIGKILL resume
@pytest.fixture(scope="module")
def big_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("big")
    return write_config(folder / "big.toml", small_dict(replicates=BIG_REPLICATES,
                                                        sweep=BIG_SWEEP))


@pytest.fixture(scope="module")
def big_reference(big_config: Path, tmp_path_factory: pytest.TempPathFactory) -> xr.Dataset:
    """The big sweep, uninterrupted, serially."""
    out = tmp_path_factory.mktemp("big_reference") / "reference.zarr"
    ok(rollout("sweep", big_config, "--serial", "-o", out, "-q", cwd=out.parent))
    return load(out)


@pytest.mark.slow
@pytest.mark.parametrize("mode", [["--serial"], ["-w", "2"]], ids=["serial", "local_dask"])
def test_sweep_killed_with_sigkill_resumes_to_the_identical_cube(
        mode: list[str], big_config: Path, big_reference: xr.Dataset, tmp_path: Path) -> None:
    out = tmp_path / "resumed.zarr"
    args = ("sweep", big_config, "-o", out, "-q", *mode)
    proc = start(*args, cwd=tmp_path)
    try:
        wait_for_some_blocks(proc, out)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        kill_group(proc)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL

    flags = read_flags(out)
    assert flags is not None
    done = int(flags.sum())
    assert 0 < done < flags.size, flags
    assert zarr.open_group(out, mode="r").attrs["complete"] != "true"
    with pytest.warns(UserWarning, match="incomplete"):
        open_cube(out).close()
    # analyses refuse the unfinished store rather than count unrun points as never reaching
    for command in (("compare", out), ("sensitivity", out, "-m", "t_full")):
        refused = rollout(*command, cwd=tmp_path)
        assert refused.returncode == 2 and refused.stdout == "", refused
        assert refused.stderr.splitlines() == [
            f"rollout: error: {out}: the sweep is unfinished ({done:,} of {flags.size:,} blocks "
            "done); rerun the same rollout sweep command to finish it (it resumes)"]

    again = ok(rollout(*args, cwd=tmp_path))
    match = re.search(r"; (\d+) of (\d+) blocks were already done", again.stdout)
    assert match, again.stdout
    assert (int(match.group(1)), int(match.group(2))) == (done, flags.size)
    per_block = BIG_SWEEP["block_size"] * len(small_dict()["strategies"])
    assert f"({(flags.size - done) * per_block} runs in " in again.stdout
    assert zarr.open_group(out, mode="r").attrs["complete"] == "true"
    xr.testing.assert_identical(load(out), big_reference)


# ------------------------------------------------------------------------------ 5. worker killed
@pytest.mark.slow
def test_worker_killed_mid_sweep_is_replaced_by_the_other(
        big_config: Path, big_reference: xr.Dataset, tmp_path: Path) -> None:
    with dask_cluster(tmp_path / "cluster") as running:
        out = tmp_path / "survivor.zarr"
        proc = start("sweep", big_config, "--scheduler", running.address, "-o", out, "-q",
                     cwd=tmp_path)
        try:
            wait_for_some_blocks(proc, out)
            running.kill("worker0")
            flags = read_flags(out)
            assert flags is not None and not flags.all(), "the sweep ended before the kill"
            result = finish(proc)
        finally:
            kill_group(proc)
        assert result.returncode == 0, (result.stderr, running.logs())
        ok(result)
        assert _workers(running.scheduler_file) == 1         # the killed one stayed dead
    xr.testing.assert_identical(load(out), big_reference)


# ------------------------------------------------------------------------------ 6. other config
def test_store_of_a_different_config_is_refused_then_overwritten(
        small_runs: Runs, serial_cube: xr.Dataset, tmp_path: Path) -> None:
    out = tmp_path / "store.zarr"
    shutil.copytree(small_runs.out["serial"], out)
    before = tree(tmp_path)

    refused = rollout("sweep", small_runs.config, "--replicates", 8, "--serial", "-o", out, "-q",
                      cwd=tmp_path)
    line = one_error_line(refused)
    assert "different configuration" in line and "--overwrite" in line, line
    assert tree(tmp_path) == before                        # untouched, byte for byte
    attrs = zarr.open_group(out, mode="r").attrs
    assert attrs["complete"] == "true"
    assert attrs["config_sha256"] == serial_cube.attrs["config_sha256"]

    replaced = ok(rollout("sweep", small_runs.config, "--replicates", 8, "--serial", "-o", out,
                          "-q", "--overwrite", cwd=tmp_path))
    assert "already done" not in replaced.stdout
    new = load(out)
    assert new.sizes["replicate"] == 8 and new.attrs["replicates"] == "8"
    assert new.attrs["config_sha256"] != serial_cube.attrs["config_sha256"]
    assert new.attrs["complete"] == "true"
    # replicates the two sweeps share are the same worlds (streams are per replicate)
    names = [n for n in serial_cube.data_vars if n not in ("block_done", "block_checksum")]
    xr.testing.assert_equal(new[names].isel(replicate=slice(0, SMALL_REPLICATES)),
                            serial_cube[names])
    assert sorted(os.listdir(tmp_path)) == ["store.zarr"]


# ------------------------------------------------------------------------------ 7. verify
def test_verify_passes_then_catches_a_corrupted_value(small_runs: Runs, tmp_path: Path) -> None:
    out = tmp_path / "verified.zarr"
    shutil.copytree(small_runs.out["serial"], out)
    good = ok(rollout("verify", out, "--sample", 3, "--seed", 1, cwd=tmp_path))
    assert "all 3 recomputed blocks match bit for bit" in good.stdout
    assert sum(line.startswith("ok") for line in good.stdout.splitlines()) == 3
    assert "MISMATCH" not in good.stdout

    zarr.open_group(out, mode="r+")["harm_total"][0, 0, 0] = 12345.0
    bad = rollout("verify", out, "--sample", 1000, cwd=tmp_path)
    assert "Traceback" not in bad.stderr + bad.stdout, bad.stderr
    assert bad.returncode == 1, (bad.returncode, bad.stdout, bad.stderr)
    mismatches = [line for line in bad.stdout.splitlines() if line.startswith("MISMATCH")]
    assert len(mismatches) == 1, bad.stdout
    first = SMALL_SWEEP["parameters"]["defects.mean_count"][0]
    assert f"defects.mean_count={first}" in mismatches[0], mismatches
    assert "replicates 0-1" in mismatches[0], mismatches
    assert mismatches[0].endswith(": harm_total"), mismatches    # and nothing else differs
    n_blocks = len(SMALL_SWEEP["parameters"]["defects.mean_count"]) * (
        SMALL_REPLICATES // SMALL_SWEEP["block_size"])
    assert f"1 of {n_blocks} recomputed blocks differ" in bad.stdout


# ------------------------------------------------------------------------------ 8. plan
def test_plan_counts_points_runs_and_tasks(tmp_path: Path) -> None:
    data = sweep_dict(SMALL_STRATEGIES, replicates=5, sweep=SMALL_SWEEP)
    config = write_config(tmp_path / "plan.toml", data)
    before = tree(tmp_path)
    proc = ok(rollout("plan", config, "--set", "adoption.steering=0.3:0.9:3", cwd=tmp_path))
    own = len(data["sweep"]["parameters"]["defects.mean_count"])
    points = own * 3
    runs = points * len(data["strategies"]) * data["replicates"]
    tasks = points * math.ceil(data["replicates"] / data["sweep"]["block_size"])
    fields = {}
    for line in proc.stdout.splitlines():
        key, _, rest = line.partition(" ")
        fields[key] = rest.strip()
    assert fields["points"] == str(points), proc.stdout
    assert fields["runs"].startswith(f"{runs} ("), proc.stdout
    assert fields["tasks"].startswith(f"{tasks} ("), proc.stdout
    assert f"blocks of {data['sweep']['block_size']} replicates" in fields["tasks"]
    assert f"defects.mean_count={own}" in fields["design"], proc.stdout
    assert "adoption.steering=3" in fields["design"], proc.stdout
    assert tree(tmp_path) == before                         # a dry run writes nothing


# ------------------------------------------------------------------------------ 9. bad input
@dataclass
class BadCase:
    args: list[object]
    expected: list[str]                # must all appear in the one stderr line
    folder: Path = Path()
    out: Path = Path()
    before: dict[str, str] = field(default_factory=dict)


def _plain_config(folder: Path, **extra: object) -> Path:
    return write_config(folder / "cfg.toml", sweep_dict(SMALL_STRATEGIES, replicates=2, **extra))


def _sweep_case(*options: object, expected: list[str], **extra: object):
    def make(folder: Path) -> BadCase:
        return BadCase(["sweep", _plain_config(folder, **extra), *options], expected)
    return make


def _run_on_sweep_config(folder: Path) -> BadCase:
    config = _plain_config(folder, sweep=SMALL_SWEEP)
    return BadCase(["run", config, "-w", "1"], ["rollout sweep"])


def _store_of_another_config(folder: Path) -> BadCase:
    """A rollout store (as ``is_cube`` knows one) whose config hash is not this config's."""
    store = zarr.open_group(folder / "out" / "cube.zarr", mode="w", zarr_format=2)
    other = json.dumps({"name": "another"})
    store.attrs.update({"rollout_cube": "1", "config": other, "complete": "true",
                        "config_sha256": hashlib.sha256(other.encode()).hexdigest()})
    store.create_array("block_done", shape=(2, 1), dtype="uint8", fill_value=1)
    config = _plain_config(folder)
    return BadCase(["sweep", config, "--set", "defects.mean_count=6,12", "--serial"],
                   ["different configuration", "--overwrite"])


UNREACHABLE = ("--set", "defects.mean_count=6,12", "--scheduler", "tcp://127.0.0.1:1")
SERIAL_AND_SCHEDULER = ("--set", "defects.mean_count=6,12", "--serial", "--scheduler",
                        "tcp://127.0.0.1:1")

#: with -q where the progress bar would otherwise be drawn (see BAR_CASES for the bug)
BAD_CASES = {
    "unknown_parameter": _sweep_case("--set", "defects.nope=1,2",
                                     expected=["defects.nope", "unknown parameter"]),
    "empty_range": _sweep_case("--set", "adoption.steering=0.5:0.5:3",
                               expected=["adoption.steering", "must be below high"]),
    "malformed_range": _sweep_case("--set", "adoption.steering=a:b",
                                   expected=["adoption.steering=a:b", "must be numbers"]),
    "value_out_of_range": _sweep_case("--set", "defects.mean_count=-1,2",
                                      expected=["defects.mean_count", "-1"]),
    "lhs_without_points": _sweep_case(expected=["lhs", "points"], sweep={
        "design": "lhs", "parameters": {"adoption.steering": {"low": 0.2, "high": 0.8}}}),
    "scenarios_without_scenarios": _sweep_case(expected=["scenarios"],
                                               sweep={"design": "scenarios"}),
    "unreachable_scheduler": _sweep_case(*UNREACHABLE, "-q",
                                         expected=["tcp://127.0.0.1:1", "cannot connect"]),
    "serial_and_scheduler": _sweep_case(*SERIAL_AND_SCHEDULER, "-q",
                                        expected=["--serial", "--scheduler"]),
    "run_on_a_sweep_config": _run_on_sweep_config,
}

#: errors raised after ``rollout sweep`` has drawn its progress bar (no -q): the bug
BAR_CASES = {
    "unreachable_scheduler_no_q": _sweep_case(*UNREACHABLE, expected=["cannot connect"]),
    "serial_and_scheduler_no_q": _sweep_case(*SERIAL_AND_SCHEDULER,
                                             expected=["exclude each other"]),
    "store_of_another_config_no_q": _store_of_another_config,
}


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[dict[str, BadCase], dict[str, subprocess.CompletedProcess],
                        dict[str, float]]:
    with Batch() as batch:
        cases = {}
        everything = BAD_CASES | BAR_CASES
        # the unreachable-scheduler cases first: they mostly wait (10 s connect timeout), and that
        # wait should overlap the other cases' CPU time rather than follow it
        slow = [key for key in everything if key.startswith("unreachable")]
        rest = [key for key in everything if key not in slow]
        for group in (slow, rest):
            for key in group:
                folder = tmp_path_factory.mktemp(key)
                (folder / "out").mkdir()
                (folder / "out" / "keep.txt").write_text("not ours")
                case = everything[key](folder)
                case.folder, case.out = folder, folder / "out" / "cube.zarr"
                case.before = tree(folder)
                cases[key] = case
                batch.start(key, *case.args, "-o", case.out, cwd=folder)
            if group is slow:
                time.sleep(2.5)              # let them get through their imports to the wait
        procs, walls = batch.results()
    return cases, procs, walls


@pytest.mark.parametrize("key", list(BAD_CASES))
def test_bad_input_is_one_line_and_writes_nothing(key: str, bad_runs: tuple) -> None:
    cases, procs, _ = bad_runs
    case, proc = cases[key], procs[key]
    line = one_error_line(proc)
    for item in case.expected:
        assert item in line, (item, line)
    assert not case.out.exists()
    assert tree(case.folder) == case.before                 # nothing new, nothing changed


def test_unreachable_scheduler_fails_instead_of_hanging(bad_runs: tuple) -> None:
    """An unreachable scheduler ends the command with status 2 (the 10 s connect timeout), not
    a hang: the batch's subprocess timeout is the guard. The duration is not asserted (timings
    on a shared machine are no test); it is reported for reference."""
    _, procs, walls = bad_runs
    assert procs["unreachable_scheduler"].returncode == 2
    assert "cannot connect" in procs["unreachable_scheduler"].stderr
    print(f"unreachable scheduler: failed after {walls['unreachable_scheduler']:.1f} s")


def test_errors_after_the_bar_exit_2_and_write_nothing(bad_runs: tuple) -> None:
    """What does hold without -q: status 2, the error as the last line, nothing written."""
    cases, procs, _ = bad_runs
    for key in BAR_CASES:
        case, proc = cases[key], procs[key]
        assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
        assert proc.returncode == 2, (key, proc.stderr)
        last = proc.stderr.splitlines()[-1]
        assert last.startswith("rollout: error:"), (key, last)
        for item in case.expected:
            assert item in last, (key, item, last)
        assert tree(case.folder) == case.before, key


@pytest.mark.parametrize("key", list(BAR_CASES))
def test_errors_after_the_bar_is_drawn_are_one_line(key: str, bad_runs: tuple) -> None:
    _, procs, _ = bad_runs
    one_error_line(procs[key])


# ------------------------------------------------------------------------------ 10. designs
RANGES = {"adoption.steering": {"low": 0.2, "high": 0.8},
          "defects.mean_count": {"low": 4.0, "high": 16.0}}
SAMPLED = {"lhs": {"design": "lhs", "points": 5, "parameters": RANGES, "block_size": 2},
           "sobol": {"design": "sobol", "points": 2, "parameters": RANGES, "block_size": 2}}
SCENARIOS = {"few_defects": {"defects.mean_count": 3},
             "many_defects": {"defects.mean_count": 24, "adoption.steering": 0.3}}


#: model structure as a dimension: a mechanism's switch swept like any parameter (issue 11)
STRUCTURE = {"parameters": {"support.enabled": [False, True]}, "block_size": 2}
#: a Latin hypercube crossed with a switch: the same sampled points with the switch off and on
HYBRID = {"design": "lhs", "points": 3, "block_size": 2,
          "parameters": {**RANGES, "support.enabled": [False, True]}}


@pytest.fixture(scope="module")
def design_runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    folder = tmp_path_factory.mktemp("designs")
    sweeps = SAMPLED | {
        "scenarios": {"design": "scenarios", "scenarios": SCENARIOS, "block_size": 2},
        "structure": STRUCTURE, "hybrid": HYBRID}
    with Batch() as batch:
        out = {}
        for key, sweep in sweeps.items():
            cwd = folder / key
            cwd.mkdir()
            config = write_config(cwd / f"{key}.toml", sweep_dict(
                SMALL_STRATEGIES, replicates=2, sweep=sweep, support={"teams": 2}))
            out[key] = cwd / f"{key}.zarr"
            batch.start(key, "sweep", config, "--serial", "-o", out[key], "-q", cwd=cwd)
        procs, _ = batch.results()
    return Runs(folder, out, procs)


def _check_point_design(ds: xr.Dataset, kind: str, n_points: int) -> None:
    assert ds.sizes["point"] == n_points
    np.testing.assert_array_equal(ds["point"].values, np.arange(n_points))
    assert ds["harm_total"].dims == ("point", "strategy", "replicate")
    assert json.loads(ds.attrs["design"]) == {"kind": kind, "dims": ["point"]}
    for name, bounds in RANGES.items():
        name = name.replace(".", "__")          # CF-valid names in the cube
        assert ds[name].dims == ("point",), name
        values = ds[name].values
        assert ((values >= bounds["low"]) & (values <= bounds["high"])).all(), (name, values)


def test_lhs_design_has_a_point_dimension_within_bounds(design_runs: Runs) -> None:
    ds = design_runs.cube("lhs")
    n = SAMPLED["lhs"]["points"]
    _check_point_design(ds, "lhs", n)
    for name, bounds in RANGES.items():
        # a Latin hypercube: one point in each of n equal strata of every parameter
        values = ds[name.replace(".", "__")].values
        unit = (values - bounds["low"]) / (bounds["high"] - bounds["low"])
        assert sorted(np.floor(unit * n).astype(int)) == list(range(n)), (name, unit)


def test_sobol_design_has_a_point_dimension_within_bounds(design_runs: Runs) -> None:
    """``points`` = N base samples of a Saltelli design: N (d + 2) points, every parameter
    taking 2N distinct values (its columns of the A and B matrices)."""
    ds = design_runs.cube("sobol")
    n, d = SAMPLED["sobol"]["points"], len(RANGES)
    _check_point_design(ds, "sobol", n * (d + 2))
    for name in RANGES:
        assert len(np.unique(ds[name.replace(".", "__")].values)) == 2 * n, name


def test_sampled_design_is_rebuilt_by_verify(design_runs: Runs, tmp_path: Path) -> None:
    """verify rebuilds the LHS points from the stored config and seed: they must be the same."""
    ok(design_runs.proc["lhs"])
    proc = ok(rollout("verify", design_runs.out["lhs"], "--sample", 1000, cwd=tmp_path))
    assert "all 5 recomputed blocks match bit for bit" in proc.stdout, proc.stdout


def test_scenarios_design_has_a_scenario_dimension(design_runs: Runs) -> None:
    ds = design_runs.cube("scenarios")
    assert [str(s) for s in ds["scenario"].values] == list(SCENARIOS)
    assert ds["harm_total"].dims == ("scenario", "strategy", "replicate")
    assert json.loads(ds.attrs["design"]) == {"kind": "scenarios", "dims": ["scenario"]}
    few = ds["defects_remaining"].sel(scenario="few_defects").values
    many = ds["defects_remaining"].sel(scenario="many_defects").values
    assert few.sum() < many.sum(), (few, many)           # each scenario's values were applied


def test_a_mechanism_switch_is_a_sweep_dimension(design_runs: Runs) -> None:
    """``support.enabled = [false, true]`` (2 teams for 21 regions): the queue is empty where
    the switch is off and holds regions where it is on, and big bang is later to full coverage."""
    ds = design_runs.cube("structure")
    assert ds["support_queue"].dims == ("support__enabled", "strategy", "replicate", "time")
    off = ds.sel({"support__enabled": False})
    on = ds.sel({"support__enabled": True})
    assert int(off["support_queue"].max()) == 0
    assert int(on["support_queue"].max()) > 0
    bb_on = on["t_full"].sel(strategy="big_bang").values
    bb_off = off["t_full"].sel(strategy="big_bang").values
    assert np.all(np.isinf(bb_on) | (bb_on > bb_off)), (bb_on, bb_off)


def test_a_hypercube_crossed_with_a_switch_runs_the_same_points_and_verifies(
        design_runs: Runs, tmp_path: Path) -> None:
    """dims (support.enabled, point): both halves carry the same sampled parameters; verify
    rebuilds the crossed design bit for bit; sensitivity counts the switch as a parameter."""
    ok(design_runs.proc["hybrid"])
    ds = design_runs.cube("hybrid")
    assert json.loads(ds.attrs["design"])["dims"] == ["support__enabled", "point"]
    assert ds["harm_total"].dims == ("support__enabled", "point", "strategy", "replicate")
    assert ds.sizes["point"] == 3 and ds["adoption__steering"].dims == ("point",)
    proc = ok(rollout("verify", design_runs.out["hybrid"], "--sample", 1000, cwd=tmp_path))
    assert "all 6 recomputed blocks match bit for bit" in proc.stdout, proc.stdout
    proc = ok(rollout("sensitivity", design_runs.out["hybrid"], "-s", "phased",
                      cwd=tmp_path))
    assert "support.enabled" in proc.stdout and "over 6 design points" in proc.stdout
