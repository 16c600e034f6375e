"""Outputs are never lost, shared or half-written (issue 14 sections 2 and 4): one writer per
output, working copies that never pass for cubes, leftovers of killed writers cleaned up, side
files of a calibration refused like the config itself. Each through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import tomli_w
import zarr
from conftest import small_dict

from rollout.experiment.locking import output_lock


def _cli(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rollout.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "MPLBACKEND": "Agg"})


def _config(folder: Path, replicates: int = 2, **extra: object) -> Path:
    path = folder / "small.toml"
    path.write_text(tomli_w.dumps(small_dict(replicates=replicates, **extra)),
                    encoding="utf-8")
    return path


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_a_locked_output_is_refused_naming_the_writer(tmp_path: Path) -> None:
    """While another process writes an output (here: this test holds its lock), run and sweep
    refuse it at once, naming the holder, and leave nothing behind."""
    config = _config(tmp_path)
    (tmp_path / "s").mkdir()
    sweep = _config(tmp_path / "s", sweep={"parameters": {"adoption.steering": [0.2, 0.8]}})
    out = tmp_path / "cube.zarr"
    with output_lock(out):
        run = _cli("run", config, "-o", out, "-w", "1", "-q", cwd=tmp_path)
        swept = _cli("sweep", sweep, "-o", out, "--serial", "-q", cwd=tmp_path)
    for proc in (run, swept):
        line = _one_error_line(proc)
        assert f"{out}: another rollout process (pid {os.getpid()}) is writing it" in line
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s", "small.toml"]


def test_two_runs_to_one_output_never_replace_each_other(tmp_path: Path) -> None:
    """Started together without --overwrite: one writes the cube, the other is refused (by the
    lock or because the output now exists); the cube is the winner's, complete."""
    config = _config(tmp_path)
    out = tmp_path / "cube.zarr"
    procs = [subprocess.Popen([sys.executable, "-m", "rollout.cli", "run", str(config), "-o",
                               str(out), "-w", "1", "-q"], cwd=tmp_path, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert ("another rollout process" in refused or "output already exists" in refused), refused
    assert zarr.open_group(out, mode="r").attrs["complete"] == "true"


def test_a_write_killed_midway_leaves_no_complete_looking_copy_and_is_cleaned(
        tmp_path: Path) -> None:
    """A process killed after writing a cube's data but before finishing leaves a hidden
    working copy that says complete = "false"; the next writer of that output removes it, and
    the leftovers of a killed sweep layout, too."""
    config = _config(tmp_path)
    out = tmp_path / "cube.zarr"
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from conftest import make_config, small_dict
        from rollout.data import load_provinces
        from rollout.experiment import cube
        from rollout.experiment.runner import run_experiment
        config = make_config(small_dict(replicates=2))
        provinces = load_provinces(config)
        ds = cube.build_cube(config, provinces, run_experiment(config, provinces))
        def killed(*args, **kwargs):
            os._exit(9)            # as SIGKILL would: no cleanup runs
        cube._set_complete = killed
        cube.write_cube(ds, {str(out)!r}, "zarr")
    """)
    died = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert died.returncode == 9, died.stderr
    partials = [p for p in tmp_path.iterdir() if p.name.startswith(".cube.zarr.partial-")]
    assert len(partials) == 1 and not out.exists()
    assert zarr.open_group(partials[0], mode="r").attrs["complete"] == "false"
    layout = tmp_path / ".cube.zarr.layout-999999"
    layout.mkdir()
    (layout / ".zattrs").write_text("{}")

    done = _cli("run", config, "-o", out, "-w", "1", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert zarr.open_group(out, mode="r").attrs["complete"] == "true"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cube.zarr", "small.toml"]


def test_a_sweep_resumes_over_a_leftover_layout(tmp_path: Path) -> None:
    """A sweep killed while laying its store out leaves only a hidden layout folder: the rerun
    starts afresh (nothing at the path), finishes, and removes the leftover."""
    config = _config(tmp_path, sweep={"parameters": {"adoption.steering": [0.2, 0.8]}})
    out = tmp_path / "sweep.zarr"
    leftover = tmp_path / ".sweep.zarr.layout-424242"
    leftover.mkdir()
    (leftover / ".zattrs").write_text('{"rollout_cube": "1"}')
    done = _cli("sweep", config, "-o", out, "--serial", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert zarr.open_group(out, mode="r").attrs["complete"] == "true"
    assert not leftover.exists()


def test_calibration_side_files_are_refused_without_overwrite(tmp_path: Path) -> None:
    """calibrate -o NEW.toml must not silently replace NEW.abc.csv or NEW.fit.png."""
    from test_calibrate import _write, known_posterior_dict

    source = _write(tmp_path / "c.toml", known_posterior_dict(draws=20, accept=0.1,
                                                              check_replicates=2))
    for side in ("new.abc.csv", "new.fit.png"):
        folder = tmp_path / side.replace(".", "_")
        folder.mkdir()
        (folder / side).write_text("precious")
        proc = _cli("calibrate", source, "--serial", "-q", "-o", folder / "new.toml",
                    cwd=tmp_path)
        line = _one_error_line(proc)
        assert f"{folder / side}: exists; use --overwrite" in line
        assert sorted(p.name for p in folder.iterdir()) == [side]
        assert (folder / side).read_text() == "precious"


def test_leftover_cleanup_touches_only_this_outputs_working_copies(tmp_path: Path) -> None:
    """Names are matched exactly (no glob): another output's lock and working copy survive;
    a previous output moved aside by a writer killed before replacing it is moved back."""
    from rollout.experiment.locking import remove_leftovers

    others = [".xy.zarr.partial-999", ".cube.old-run.zarr.lock",
              ".cube.old-run.zarr.partial-4242", ".cube.partial-notapid"]
    for name in [*others, ".cube.partial-12", ".cube.layout-7"]:
        (tmp_path / name).write_text("x")
    (tmp_path / ".cube.old-5").write_text("the previous cube")
    remove_leftovers(tmp_path / "x?.zarr")
    remove_leftovers(tmp_path / "cube")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*others, "cube"])
    assert (tmp_path / "cube").read_text() == "the previous cube"


def test_a_resumable_store_survives_stray_files_and_a_flagless_one_is_not_wiped(
        tmp_path: Path) -> None:
    """A .DS_Store in a sweep store does not stop it resuming; a store of this config without
    its block flags is refused without --overwrite, not silently laid out again."""
    import shutil

    config = _config(tmp_path, sweep={"parameters": {"adoption.steering": [0.2, 0.8]}})
    out = tmp_path / "sweep.zarr"
    assert _cli("sweep", config, "-o", out, "--serial", "-q", cwd=tmp_path).returncode == 0
    (out / ".DS_Store").write_text("junk")
    again = _cli("sweep", config, "-o", out, "--serial", "-q", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "2 of 2 blocks were already done" in again.stdout
    assert again.stderr == ""
    shutil.rmtree(out / "blocks" / "block_done")
    meta = json.loads((out / ".zmetadata").read_text())
    meta["metadata"] = {k: v for k, v in meta["metadata"].items()
                        if not k.startswith("blocks/block_done/")}
    (out / ".zmetadata").write_text(json.dumps(meta))
    refused = _cli("sweep", config, "-o", out, "--serial", "-q", cwd=tmp_path)
    line = _one_error_line(refused)
    assert "without its block flags" in line and "--overwrite" in line
    assert zarr.open_group(out, mode="r").attrs["complete"] == "true"


@pytest.mark.slow
def test_ctrl_c_during_a_dask_sweep_is_quiet_and_resumable(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole process group (driver and local workers): only the driver
    answers, with one line; the workers print no tracebacks; the store resumes."""
    import signal
    import time

    config = _config(tmp_path, 30, sweep={"parameters": {"adoption.steering": [0.2, 0.4, 0.6]},
                                          "block_size": 1})
    out = tmp_path / "sweep.zarr"
    proc = subprocess.Popen([sys.executable, "-m", "rollout.cli", "sweep", str(config), "-o",
                             str(out), "-w", "2", "-q"], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            flags = out / "blocks" / "block_done"
            if flags.exists() and any(p.name[0] != "." for p in flags.iterdir()):
                break
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130, stderr
    assert [line for line in stderr.splitlines() if line.strip()] == ["rollout: aborted"], stderr
    again = _cli("sweep", config, "-o", out, "--serial", "-q", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert zarr.open_group(out, mode="r").attrs["complete"] == "true"


def test_an_output_folder_where_no_file_can_be_made_is_refused_not_awaited(tmp_path: Path):
    """/proc answers "not found" to creating any file: the lock used to retry forever (a hung
    `rollout report -o /proc/x.html`); now one line, exit 2."""
    if not Path("/proc/self").exists():
        pytest.skip("no /proc on this system")
    proc = _cli("run", _config(tmp_path), "-o", "/proc/rollout-test.zarr", "-w", "1", "-q",
                cwd=tmp_path)
    line = _one_error_line(proc)
    assert "/proc/rollout-test.zarr" in line and "lock" in line
