"""Damaged, forged and edited stores (issue 14 section 3), through the real CLI: every case is
one line naming the store and exit status 2, never a traceback and never a silent answer."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import tomli_w
from conftest import small_dict

SWEEP = {"parameters": {"adoption.steering": [0.2, 0.8]}, "block_size": 2}


def _cli(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rollout.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "MPLBACKEND": "Agg"})


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("store")
    config = folder / "sweep.toml"
    config.write_text(tomli_w.dumps(small_dict(replicates=4, sweep=SWEEP)), encoding="utf-8")
    out = folder / "sweep.zarr"
    done = _cli("sweep", config, "-o", out, "--serial", "-q", cwd=folder)
    assert done.returncode == 0, done.stderr
    return out


def _attrs(path: Path) -> dict:
    return json.loads((path / ".zattrs").read_text())


def _set_attrs(path: Path, attrs: dict) -> None:
    """Edit the attributes in both places a reader may take them from."""
    (path / ".zattrs").write_text(json.dumps(attrs))
    meta = json.loads((path / ".zmetadata").read_text())
    meta["metadata"][".zattrs"] = attrs
    (path / ".zmetadata").write_text(json.dumps(meta))


def _damage_chunk(path: Path) -> None:
    chunk = next(p for p in sorted((path / "t_full").iterdir()) if not p.name.startswith("."))
    chunk.write_bytes(b"\x00garbage" * 4)


def _drop_config(path: Path) -> None:
    attrs = _attrs(path)
    del attrs["config"]
    _set_attrs(path, attrs)


def _edit_config(path: Path) -> None:
    attrs = _attrs(path)
    attrs["config"] = attrs["config"].replace('"baseline":"big_bang"', '"baseline":"phased"')
    _set_attrs(path, attrs)


def _drop_array(path: Path, name: str) -> None:
    """Delete an array and its entries in the consolidated metadata, as if never written."""
    shutil.rmtree(path / name)
    meta = json.loads((path / ".zmetadata").read_text())
    meta["metadata"] = {k: v for k, v in meta["metadata"].items()
                        if not k.startswith(f"{name}/")}
    (path / ".zmetadata").write_text(json.dumps(meta))


def _drop_strategy(path: Path) -> None:
    _drop_array(path, "strategy")


def _drop_flags(path: Path) -> None:
    _drop_array(path, "blocks/block_done")


def _forge_design(path: Path) -> None:
    """A stored config (and its hash) whose design is not the one stored in the cube."""
    attrs = _attrs(path)
    config = json.loads(attrs["config"])
    config["sweep"]["parameters"]["adoption.steering"] = [0.3, 0.8]
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    attrs.update(config=text, config_sha256=hashlib.sha256(text.encode()).hexdigest())
    _set_attrs(path, attrs)


def _foreign_data_path(path: Path) -> None:
    """The stored config names a system file as its province table: verify must not open it
    (it finds the table by its hash), so the result is still a clean verification."""
    attrs = _attrs(path)
    config = json.loads(attrs["config"])
    config["regions"]["data"] = "/etc/passwd"
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    attrs.update(config=text, config_sha256=hashlib.sha256(text.encode()).hexdigest())
    _set_attrs(path, attrs)


CASES: dict[str, tuple[Callable[[Path], None], list[str], str]] = {
    # damage, the commands to try, what the one line must say
    "damaged_chunk": (_damage_chunk, ["compare", "verify"], "may be damaged"),
    "no_config": (_drop_config, ["compare", "verify", "info"], "no stored configuration"),
    "edited_config": (_edit_config, ["compare", "verify", "sensitivity"],
                      "does not match its config_sha256"),
    "no_strategy": (_drop_strategy, ["verify", "compare"], "no 'strategy' coordinate"),
    "no_block_flags": (_drop_flags, ["verify"], "without its block flags"),
    "forged_design": (_forge_design, ["verify"], "disagree with the design its config builds"),
}


@pytest.mark.parametrize("key", list(CASES))
def test_damage_is_one_line_naming_the_store(key: str, store: Path, tmp_path: Path) -> None:
    damage, commands, expected = CASES[key]
    copy = tmp_path / "copy.zarr"
    shutil.copytree(store, copy)
    damage(copy)
    for command in commands:
        extra = ["-m", "t_full"] if command == "sensitivity" else []
        extra += ["--sample", "4", "--seed", "1"] if command == "verify" else []
        proc = _cli(command, copy, *extra, cwd=tmp_path)
        assert "Traceback" not in proc.stderr, proc.stderr
        assert proc.returncode == 2, (command, proc.returncode, proc.stdout, proc.stderr)
        lines = proc.stderr.splitlines()
        assert len(lines) == 1, (command, proc.stderr)
        assert lines[0].startswith(f"rollout: error: {copy}"), lines[0]
        assert expected in lines[0], (command, lines[0])


def test_resuming_into_a_damaged_store_is_one_line(store: Path, tmp_path: Path) -> None:
    """Resume reads the block flags: a damaged flags chunk is reported, not a traceback."""
    copy = tmp_path / "copy.zarr"
    shutil.copytree(store, copy)
    flags = next(p for p in (copy / "blocks" / "block_done").iterdir()
                 if not p.name.startswith("."))
    flags.write_bytes(b"\x00garbage")
    config = tmp_path / "sweep.toml"
    config.write_text(tomli_w.dumps(small_dict(replicates=4, sweep=SWEEP)), encoding="utf-8")
    proc = _cli("sweep", config, "-o", copy, "--serial", "-q", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.splitlines() == [proc.stderr.strip()]
    assert f"{copy}" in proc.stderr and "damaged" in proc.stderr


def test_verify_finds_the_province_table_by_hash_not_by_the_stored_path(
        store: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.zarr"
    shutil.copytree(store, copy)
    _foreign_data_path(copy)
    proc = _cli("verify", copy, "--sample", "1", "--seed", "0", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1 recomputed blocks match bit for bit" in proc.stdout
    other = tmp_path / "other.csv"
    other.write_text("code,name\n1,x\n")
    proc = _cli("verify", copy, "--data", other, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"rollout: error: {copy}: made with a province table of sha256 "
        f"{_attrs(copy)['data_sha256'][:12]}...; {other} does not match it (pass the table it "
        "was made with: --data FILE)"]


def _swap(first: Path, second: Path) -> None:
    aside = first.with_name("swap.tmp")
    first.rename(aside)
    second.rename(first)
    aside.rename(second)


def test_integrity_check_finds_swapped_and_deleted_chunks(store: Path, tmp_path: Path) -> None:
    """verify --integrity reads every written block back against the checksum written with it:
    clean passes; two blocks' chunks swapped (each still a valid chunk, so compare would give
    other answers silently) and a deleted chunk are named, exit status 1."""
    clean = _cli("verify", store, "--integrity", cwd=tmp_path)
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.splitlines() == ["all 4 written blocks match their checksums"]

    swapped = tmp_path / "swapped.zarr"
    shutil.copytree(store, swapped)
    _swap(swapped / "coverage" / "0.0.0.0.0", swapped / "coverage" / "1.0.0.0.0")
    proc = _cli("verify", swapped, "--integrity", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines() == [
        "DAMAGED   adoption.steering=0.2, replicates 0-1",
        "DAMAGED   adoption.steering=0.8, replicates 0-1",
        "2 of 4 written blocks do not match their checksums"]

    deleted = tmp_path / "deleted.zarr"
    shutil.copytree(store, deleted)
    (deleted / "harm_total" / "1.0.1").unlink()
    proc = _cli("verify", deleted, "--integrity", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[0] == "DAMAGED   adoption.steering=0.8, replicates 2-3"


@pytest.mark.parametrize("suffix", [".zarr", ".nc"])
def test_integrity_check_of_a_single_run_cube(suffix: str, tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text(tomli_w.dumps(small_dict(replicates=2)), encoding="utf-8")
    out = tmp_path / f"run{suffix}"
    assert _cli("run", config, "-o", out, "-w", "1", "-q", cwd=tmp_path).returncode == 0
    clean = _cli("verify", out, "--integrity", cwd=tmp_path)
    assert clean.returncode == 0 and "variables match their checksums" in clean.stdout
    if suffix == ".zarr":
        (out / "net_benefit" / "0.0").unlink()
        proc = _cli("verify", out, "--integrity", cwd=tmp_path)
        assert proc.returncode == 1
        assert proc.stdout.splitlines()[0] == "DAMAGED   net_benefit"


def _old_layout(path: Path) -> None:
    """The layout of stores written before the bookkeeping moved into the subgroup 'blocks':
    block_done and block_checksum at the root (and in its consolidated metadata)."""
    meta = json.loads((path / ".zmetadata").read_text())
    for name in ("block_done", "block_checksum"):
        (path / "blocks" / name).rename(path / name)
        for suffix in (".zarray", ".zattrs"):
            meta["metadata"][f"{name}/{suffix}"] = meta["metadata"].pop(
                f"blocks/{name}/{suffix}")
    meta["metadata"] = {k: v for k, v in meta["metadata"].items()
                        if not k.startswith("blocks/")}
    shutil.rmtree(path / "blocks")
    (path / ".zmetadata").write_text(json.dumps(meta))


def test_a_store_in_the_old_layout_still_resumes_verifies_and_is_replaced(
        store: Path, tmp_path: Path) -> None:
    """Flags and checksums at the root (stores written before): resuming finds every block
    done, verify recomputes bit for bit, --integrity reads the checksums, and --overwrite
    replaces the store with another sweep (it is recognised as rollout's)."""
    old = tmp_path / "old.zarr"
    shutil.copytree(store, old)
    _old_layout(old)
    assert not (old / "blocks").exists() and (old / "block_done").is_dir()
    config = tmp_path / "sweep.toml"
    config.write_text(tomli_w.dumps(small_dict(replicates=4, sweep=SWEEP)), encoding="utf-8")
    resumed = _cli("sweep", config, "-o", old, "--serial", "-q", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "4 of 4 blocks were already done" in resumed.stdout
    verified = _cli("verify", old, "--sample", 2, cwd=tmp_path)
    assert verified.returncode == 0 and "all 2 recomputed blocks match" in verified.stdout
    checked = _cli("verify", old, "--integrity", cwd=tmp_path)
    assert checked.returncode == 0 and "all 4 written blocks match" in checked.stdout
    other = tmp_path / "other.toml"
    other.write_text(tomli_w.dumps(small_dict(replicates=4, sweep={
        "parameters": {"adoption.steering": [0.3, 0.9]}, "block_size": 4})), encoding="utf-8")
    replaced = _cli("sweep", other, "-o", old, "--serial", "-q", "--overwrite", cwd=tmp_path)
    assert replaced.returncode == 0, replaced.stderr
    assert (old / "blocks" / "block_done").is_dir() and not (old / "block_done").exists()
