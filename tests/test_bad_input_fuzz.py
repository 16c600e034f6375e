"""Fuzzing the command line with bad input (issue 14): hundreds of bad configs and province tables
made from the shipped configs, each class of the issue, each through the real CLI.

Every case must end the same way: exit status 2, exactly one line on stderr that starts with
``rollout: error:``, names the file (and the field, where there is one) and shows no traceback;
nothing on stdout; nothing written (the case's folder is unchanged and no output exists); and all
within a time bound. The cases are drawn by a generator with a fixed seed, so a failure names a
case that can be rerun alone.
"""

from __future__ import annotations

import concurrent.futures
import copy
import os
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w

from rollout.config import load_config

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").glob("*.toml"))
DATA = REPO / "rollout" / "bundled" / "provinces.csv"
SEED = 20261203          # the generator's seed: the same cases every run
TIME_BOUND = 60.0        # seconds a refusal may take (the slowest here take about 3 s)

pytestmark = pytest.mark.slow


@dataclass
class Case:
    """One bad input: the command, the file the error must name, the fields it must name."""

    key: str
    build: Callable[[Path], None]        # writes the case's files into its folder
    command: str = "validate"            # validate, run, plan, sweep or calibrate
    fields: list[str] = field(default_factory=list)
    config: str = "config.toml"          # the file the message must name (relative)
    extra: list[str] = field(default_factory=list)


def _raw(path: Path) -> dict[str, Any]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    data.setdefault("regions", {})["data"] = str(DATA)
    data.setdefault("name", path.stem)
    return data


def _set(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    node = out
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def _with_table(data: dict[str, Any], table: str, key: str, value: Any) -> dict[str, Any]:
    """``data`` with ``[table]`` (dotted) holding the literal key ``key`` (a dotted field path,
    as in ``[sweep.parameters]``)."""
    out = copy.deepcopy(data)
    node = out
    for part in table.split("."):
        node = node.setdefault(part, {})
    node[key] = value
    return out


def _sweeping(data: dict[str, Any], dotted: str, values: Any) -> Callable[[Path], None]:
    """Writes ``data`` sweeping the field ``dotted`` over ``values``."""
    return _writes(_with_table(data, "sweep.parameters", dotted, values))


def _writes(data: dict[str, Any]) -> Callable[[Path], None]:
    def build(folder: Path) -> None:
        (folder / "config.toml").write_text(tomli_w.dumps(data), encoding="utf-8")
    return build


def _leaves(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, f"{prefix}{key}.")
    elif prefix:
        yield prefix[:-1], node


def _command_for(raw: dict[str, Any], i: int) -> str:
    """Spread config-level cases over every command that reads a config."""
    choices = ["validate", "run", "plan"]
    if "sweep" in raw:
        choices = ["validate", "plan", "sweep"]
    if "calibration" in raw:
        choices.append("calibrate")
    return choices[i % len(choices)]


def _type_cases(rng: np.random.Generator) -> Iterator[Case]:
    """Numbers as strings or booleans, booleans as strings or numbers, strings as numbers,
    and non-finite numbers (strict types: nothing is coerced)."""
    for path in CONFIGS:
        raw = _raw(path)
        resolved = load_config(path).model_dump(mode="json", exclude_none=True)
        resolved.pop("sweep", None)
        resolved.pop("calibration", None)
        leaves = [(k, v) for k, v in _leaves(resolved) if not isinstance(v, list)]
        picks = rng.choice(len(leaves), size=min(14, len(leaves)), replace=False)
        for n, j in enumerate(sorted(picks)):
            dotted, value = leaves[j]
            if isinstance(value, bool):
                bad = ["off", 1][n % 2]
            elif isinstance(value, int):
                bad = [True, str(value)][n % 2]
            elif isinstance(value, float):
                bad = [str(value), True, float("nan"), float("inf"), -float("inf")][n % 5]
            else:
                bad = 3
            yield Case(f"type-{path.stem}-{dotted}", _writes(_set(raw, dotted, bad)),
                       _command_for(raw, n), [dotted])


def _name_and_date_cases() -> Iterator[Case]:
    raw = _raw(REPO / "configs" / "national.toml")
    for i, name in enumerate(["", " ", "a.b", "x" * 100_000, "with space", "1st"]):
        data = copy.deepcopy(raw)
        data["strategies"][name] = {"preset": "phased"}
        yield Case(f"strategy-name-{i}", _writes(data), ["validate", "run", "plan"][i % 3],
                   ["strategies."])
    for i, preset in enumerate([["phased"], 3, {"x": 1}]):
        yield Case(f"preset-type-{i}", _writes(_set(raw, "strategies.phased.preset", preset)),
                   ["validate", "run"][i % 2], ["strategies.phased.preset"])
    for i, start in enumerate(["2300-01", "1715-01", "\uff12\uff10\uff11\uff19-01", "2019-01 ",
                               " 2019-01", "2019-13", "2019-1", "2019-01-01", "\u0662019-01"]):
        yield Case(f"start-{i}", _writes(_set(raw, "time.start", start)),
                   ["validate", "run", "plan"][i % 3], ["time."])
    dates = ["2020-01", "2021-01", "2022\uff10-01"]
    yield Case("wave-date-digits", _writes(_set(raw, "strategies.phased.wave_dates", dates)),
               "run", ["strategies.phased.wave_dates"])
    yield Case("long-value", _writes(_set(raw, "strategies.phased.selection", "z" * 100_000)),
               "validate", ["strategies.phased.selection"])
    yield Case("long-key", _writes(_set(raw, "defects." + "k" * 100_000, 1)), "run",
               ["defects."])


def _file_cases() -> Iterator[Case]:
    """Config files that are not readable TOML text."""
    def text(content: str | bytes) -> Callable[[Path], None]:
        def build(folder: Path) -> None:
            target = folder / "config.toml"
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")
        return build

    yield Case("toml-deep-arrays", text("x = " + "[" * 1000 + "]" * 1000 + "\n"), "validate")
    yield Case("toml-deep-tables", text("x = " + "{a = " * 1000 + "1" + "}" * 1000 + "\n"),
               "run")
    yield Case("toml-not-utf8", text(b'name = "caf\xe9"\n'), "run")
    yield Case("toml-syntax", text("seed = \n[time\n"), "plan")
    yield Case("toml-too-big", text("# " + "x" * 2_000_000 + "\n"), "validate")

    def fifo(folder: Path) -> None:
        os.mkfifo(folder / "config.toml")

    if hasattr(os, "mkfifo"):
        yield Case("config-fifo", fifo, "run")

    def directory(folder: Path) -> None:
        (folder / "config.toml").mkdir()

    yield Case("config-directory", directory, "validate")


def with_table(raw: dict[str, Any], content: list[str] | bytes) -> Callable[[Path], None]:
    """Writes ``raw`` as the config and ``content`` (lines, or bytes as they are) as the
    province table it names, ``provinces.csv`` beside it."""
    def build(folder: Path) -> None:
        _writes(raw)(folder)
        target = folder / "provinces.csv"
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text("\n".join(content) + "\n", encoding="utf-8")
    return build


def replaced(row: int, column: int, value: str) -> list[str]:
    """The bundled table's lines with one cell replaced (row 0 is the first province)."""
    header, *rows = DATA.read_text(encoding="utf-8").splitlines()
    cells = rows[row].split(",")
    cells[column] = value
    rows[row] = ",".join(cells)
    return [header, *rows]


def _data_cases() -> Iterator[Case]:
    """Province tables that are damaged or wrong, each named by the config that reads it."""
    raw = _raw(REPO / "configs" / "national.toml")
    raw["regions"]["data"] = "provinces.csv"
    lines = DATA.read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:]

    def table(content: list[str] | bytes) -> Callable[[Path], None]:
        return with_table(raw, content)

    yield Case("data-not-utf8", table((header + "\n" + "\n".join(rows)).encode() + b"\xff\xfe\n"),
               "run", ["regions.data"])
    yield Case("data-short-row", table([header, *rows[:3], "110001,Short", *rows[3:]]),
               "validate", ["regions.data"])
    yield Case("data-long-row", table([header, rows[0] + ",extra", *rows[1:]]), "plan",
               ["regions.data"])
    yield Case("data-open-quote", table([header, '110001,"Unterminated,1,1,1,no', *rows]),
               "run", ["regions.data"])
    yield Case("data-no-columns", table(["code,name", "1,x"]), "validate", ["regions.data"])
    for i, (column, value) in enumerate([(2, "nan"), (2, "inf"), (2, "-5"), (2, "0"),
                                         (4, "nan"), (4, "inf"), (4, "0"), (4, "-1"),
                                         (3, "0"), (0, "x"), (1, "")]):
        yield Case(f"data-value-{i}", table(replaced(5 + i, column, value)),
                   ["validate", "run", "plan"][i % 3], ["regions.data"])
    yield Case("data-duplicate-code", table(replaced(1, 0, rows[0].split(",")[0])), "run",
               ["regions.data", "code"])
    yield Case("data-duplicate-name", table(replaced(1, 1, rows[0].split(",")[1].upper())),
               "validate", ["regions.data", "name"])
    long = _set(raw, "regions.data", "d" * 10_000 + ".csv")
    yield Case("data-path-too-long", _writes(long), "run", ["regions.data"])
    yield Case("data-path-missing", _writes(_set(raw, "regions.data", "nowhere.csv")), "plan",
               ["regions.data"])
    for i, (name, words) in enumerate([("bundled:nowhere.csv", "no bundled table"),
                                       ("bundled:", "no bundled table"),
                                       ("bundled:../config.py", "no bundled table"),
                                       ("bundled:SOURCES.md", "no bundled table"),
                                       ("data/provinces.csv", "bundled:provinces.csv")]):
        yield Case(f"data-bundled-{i}", _writes(_set(raw, "regions.data", name)),
                   ["validate", "run", "plan"][i % 3], ["regions.data", words])


def _sweep_cases() -> Iterator[Case]:
    """Sweeps that cannot be run: fields that must not vary, bad paths, bounds, sizes."""
    raw = _raw(REPO / "configs" / "slower_is_faster_v2.toml")
    grid = _raw(REPO / "configs" / "national.toml")
    grid["sweep"] = {"design": "grid", "parameters": {"adoption.steering": [0.2, 0.8]}}
    fixed = {"replicates": [2, 3], "seed": [1, 2], "name": ["a", "b"],
             "time.horizon_months": [60, 120], "time.step_months": [1, 2],
             "time.start": ["2019-01", "2020-01"], "regions.data": ["a.csv", "b.csv"],
             "output.event_log": [False, True], "analysis.baseline": ["big_bang", "phased"]}
    for i, (dotted, values) in enumerate(fixed.items()):
        yield Case(f"sweep-fixed-{dotted}", _sweeping(grid, dotted, values),
                   ["validate", "plan", "sweep"][i % 3], ["sweep.parameters", dotted])
    scenarios = copy.deepcopy(grid)
    scenarios["sweep"] = {"design": "scenarios",
                          "scenarios": {"short": {"time.horizon_months": 60}}}
    yield Case("sweep-scenario-horizon", _writes(scenarios), "sweep",
               ["sweep.scenarios", "time"])
    for i, path in enumerate(["", ".", "a..b", "defects."]):
        yield Case(f"sweep-path-{i}", _writes(_set(grid, "sweep.parameters", {path: [1, 2]})),
                   ["validate", "plan", "sweep"][i % 3], ["sweep.parameters"])
    yield Case("sweep-unknown-path", _sweeping(grid, "defects.nope", [1, 2]), "plan",
               ["defects.nope"])
    for i, (low, high) in enumerate([(-float("inf"), 1.0), (0.0, float("inf")),
                                     (float("nan"), 1.0)]):
        bound = {"low": low, "high": high}
        yield Case(f"sweep-bound-{i}", _sweeping(raw, "adoption.steering", bound),
                   ["validate", "plan", "sweep"][i % 3], ["sweep.parameters"])
    big = _set(grid, "sweep.parameters", {
        "adoption.steering": {"low": 0.0, "high": 1.0, "n": 2000},
        "learning.report_prob": {"low": 0.1, "high": 1.0, "n": 2000}})
    yield Case("sweep-grid-huge", _writes(big), "plan", ["sweep", "4,000,000"])
    yield Case("sweep-lhs-huge", _writes(_set(raw, "sweep.points", 100_000)), "validate",
               ["sweep", "points"])
    fraction = _set(grid, "sweep.parameters", {
        "regions.units_per_region": {"low": 1.0, "high": 2.0, "n": 3}})
    yield Case("sweep-fractional-count", _writes(fraction), "sweep",
               ["regions.units_per_region", "integer"])
    yield Case("sweep-out-of-range", _sweeping(grid, "adoption.steering", [0.5, 1.5]), "validate",
               ["adoption.steering"])
    yield Case("sweep-wrong-type", _sweeping(grid, "suspension.enabled", ["off", "on"]), "plan",
               ["suspension.enabled"])


def _calibration_cases() -> Iterator[Case]:
    raw = _raw(REPO / "configs" / "historical.toml")
    priors = {"support.teams": {"low": 10.0, "high": 100.0},
              "suspension.enabled": {"low": 0.0, "high": 1.0},
              "learning.report_prob": {"low": 0.5, "high": 2.0},
              "seed": {"low": 1.0, "high": 2.0},
              "time.horizon_months": {"low": 60.0, "high": 120.0},
              "defects.nope": {"low": 1.0, "high": 2.0}}
    for i, (dotted, prior) in enumerate(priors.items()):
        yield Case(f"prior-{dotted}", _writes(_with_table(raw, "calibration.parameters",
                                                          dotted, prior)),
                   ["validate", "calibrate"][i % 2], ["calibration.parameters", dotted])
    late = copy.deepcopy(raw)
    late["calibration"]["targets"][0]["by"] = "2035-01"
    yield Case("target-after-horizon", _writes(late), "calibrate", ["calibration.targets.0.by"])


def _scheduler_cases() -> Iterator[Case]:
    raw = _raw(REPO / "configs" / "national.toml")
    for i, address in enumerate(["garbage", "tcp://", "tcp://host:port", "foo://h:1",
                                 "127.0.0.1:70000"]):
        yield Case(f"scheduler-{i}", _writes(raw), "run", ["--scheduler"],
                   extra=["--scheduler", address], config="")


def all_cases() -> list[Case]:
    rng = np.random.default_rng(SEED)
    return [*_type_cases(rng), *_name_and_date_cases(), *_file_cases(), *_data_cases(),
            *_sweep_cases(), *_calibration_cases(), *_scheduler_cases()]


def _argv(case: Case) -> list[str]:
    base = [sys.executable, "-m", "rollout.cli"]
    if case.command == "validate":
        return [*base, "validate", "config.toml"]
    if case.command == "plan":
        return [*base, "plan", "config.toml", "-w", "1", *case.extra]
    if case.command == "run":
        return [*base, "run", "config.toml", "-o", "out/cube.zarr", "-w", "1", *case.extra]
    if case.command == "sweep":
        return [*base, "sweep", "config.toml", "-o", "out/cube.zarr", "--serial", *case.extra]
    return [*base, "calibrate", "config.toml", "-o", "out/fitted.toml", "--serial"]


def _tree(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): (p.stat().st_size if p.is_file() else -1)
            for p in folder.rglob("*") if not p.is_fifo()}


@dataclass
class Outcome:
    case: Case
    proc: subprocess.CompletedProcess | None
    seconds: float
    before: dict[str, int]
    after: dict[str, int]


def _run(case: Case, folder: Path) -> Outcome:
    import time

    folder.mkdir()
    (folder / "out").mkdir()
    case.build(folder)
    before = _tree(folder)
    began = time.perf_counter()
    try:
        proc = subprocess.run(_argv(case), cwd=folder, capture_output=True, text=True,
                              timeout=TIME_BOUND, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        proc = None
    return Outcome(case, proc, time.perf_counter() - began, before, _tree(folder))


CASES = all_cases()


def run_cases(cases: list[Case], root: Path) -> dict[str, Outcome]:
    """Every case through the CLI, as many at once as there are cores, each in its folder."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {case.key: pool.submit(_run, case, root / f"case{i}")
                   for i, case in enumerate(cases)}
        return {key: future.result() for key, future in futures.items()}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    return run_cases(CASES, tmp_path_factory.mktemp("fuzz"))


def test_the_generator_covers_every_class_with_hundreds_of_cases() -> None:
    keys = [case.key for case in CASES]
    assert len(keys) == len(set(keys))
    assert len(CASES) >= 150, len(CASES)
    for prefix in ("type-", "strategy-name-", "preset-type-", "start-", "toml-", "config-",
                   "data-", "sweep-", "prior-", "target-", "scheduler-", "long-"):
        assert any(k.startswith(prefix) for k in keys), prefix
    commands = {case.command for case in CASES}
    assert commands == {"validate", "run", "plan", "sweep", "calibrate"}


@pytest.mark.parametrize("key", [case.key[:80] for case in CASES])
def test_bad_input_is_refused_in_one_line_and_writes_nothing(key: str, outcomes: dict) -> None:
    check_refused(next(o for k, o in outcomes.items() if k[:80] == key))


def check_refused(outcome: Outcome) -> None:
    """Exit status 2, one line on stderr naming the file and then the case's fields, no
    traceback, nothing on stdout, nothing written, within the time bound."""
    case, proc = outcome.case, outcome.proc
    assert proc is not None, f"{case.command} took over {TIME_BOUND} s"
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-2000:]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr[-2000:]
    line = lines[0]
    assert line.startswith("rollout: error: "), line
    assert len(line) < 1000, len(line)
    assert proc.stdout == ""
    problem = line
    if case.config:
        assert case.config in line, line
        problem = line.split(case.config, 1)[1]
    for item in case.fields:
        assert item[:60] in problem, (item[:60], line)
    assert outcome.after == outcome.before, "something was written"
