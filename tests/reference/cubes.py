"""Reference cubes: record what the model computes today, and check that a later change did not
move a single number.

A refactoring or speed-up of the model must leave every result bit-identical (or, where it
reorders floating-point arithmetic, equal within ``--rtol``). ``record`` runs the real CLI on a
few small cases that cover every mechanism (national and historical configs, the event log, the
hospital micro level with discounting, the five mechanisms of section 11 on, and a small sweep,
one worker each, fixed seeds) and stores every data variable and coordinate in
``tests/reference/cubes.npz``. ``check`` reruns the
same cases and compares. An issue that is meant to change results re-records the reference and
says so in its commit.

    python tests/reference/cubes.py record
    python tests/reference/cubes.py check [--rtol 0]

A recording stores the numerical stack it was made on (``_stack``: Python, machine, numpy and
scipy versions). On that stack ``check`` compares bit for bit; on another (a newer numpy moves
some floats in the last digit) within a relative 1e-9, saying so, with integers, event order
and every non-float value still exact.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = Path(__file__).with_name("cubes.npz")

NATIONAL = (ROOT / "configs" / "national.toml").read_text()
HISTORICAL = (ROOT / "configs" / "historical.toml").read_text()
HISTORICAL_MECHANISMS = (ROOT / "configs" / "historical_mechanisms.toml").read_text()
#: the five mechanisms of docs/model.md section 11, all on
MECHANISMS_ON = "".join(f"\n[{m}]\nenabled = true\n" for m in
                        ("support", "spillovers", "legitimacy", "entrenchment", "track_fit"))
# (both name the bundled province table, found from the temporary folder the cases run in)


# name -> (config text, CLI arguments after the config path)
CASES: dict[str, tuple[str, list[str]]] = {
    "national": (NATIONAL, ["run", "-n", "3", "-w", "1"]),
    "national_events": (NATIONAL + "\n[output]\nevent_log = true\n",
                        ["run", "-n", "2", "-w", "1", "--seed", "7"]),
    "hospitals_discount": (
        NATIONAL.replace("[regions]\n", "[regions]\nunits_per_region = 3\n")
        + "\n[outcomes]\ndiscount_rate = 0.03\n",
        ["run", "-n", "2", "-w", "1", "--seed", "11"]),
    "historical": (HISTORICAL, ["run", "-n", "3", "-w", "1"]),
    "mechanisms_events": (NATIONAL + MECHANISMS_ON + "\n[output]\nevent_log = true\n",
                          ["run", "-n", "2", "-w", "1", "--seed", "5"]),
    "historical_mechanisms": (HISTORICAL_MECHANISMS, ["run", "-n", "2", "-w", "1"]),
    "sweep": (NATIONAL + """
[sweep]
design = "grid"
block_size = 2

[sweep.parameters]
"centre.capacity" = [0.5, 2.0]
""", ["sweep", "-n", "2", "--serial"]),
}


#: Stored but not results: checksums of the variables compared here (added after recording),
#: and the block flags (moved out of the root group into the subgroup ``blocks``).
BOOKKEEPING = {"block_checksum", "block_done"}
#: Variables added after the reference was recorded (derived ones, no mechanism changed):
#: reported by ``unrecorded`` and not compared until the reference is next re-recorded, when
#: this set is emptied. Empty: issue 21's outcomes were recorded with model v3 (issue 20).
UNRECORDED: set[str] = set()

#: The numerical stack a recording was made on (stored as ``_stack``): floats are bit-identical
#: only on the same versions of these (a newer numpy or scipy moves some in the last digit).
STACK_PACKAGES = ("numpy", "scipy")
#: Relative tolerance for floats when the stack differs from the recording's (integers, event
#: order and every non-float value stay exact).
OTHER_STACK_RTOL = 1e-9


def stack() -> str:
    """This interpreter's numerical stack, as recorded with a reference."""
    import platform
    from importlib.metadata import version
    return ";".join([f"python={platform.python_version()}", f"machine={platform.machine()}",
                     *(f"{name}={version(name)}" for name in STACK_PACKAGES)])


def load_reference() -> tuple[dict[str, np.ndarray], str]:
    """The recorded arrays and the stack they were recorded on ("" if not stored)."""
    with np.load(REFERENCE) as ref:
        arrays = {k: ref[k] for k in ref.files if k != "_stack"}
        recorded = str(ref["_stack"]) if "_stack" in ref.files else ""
    return arrays, recorded


def tolerance_for(recorded: str) -> float:
    """0 (bit for bit) on the recording's stack, OTHER_STACK_RTOL on another."""
    return 0.0 if recorded == stack() else OTHER_STACK_RTOL


def run_case(name: str, workdir: Path) -> dict[str, np.ndarray]:
    """Run one case through the CLI and return its variables and coordinates as arrays."""
    text, args = CASES[name]
    config = workdir / f"{name}.toml"
    config.write_text(text)
    out = workdir / f"{name}.zarr"
    cmd = [sys.executable, "-m", "rollout.cli", args[0], str(config), *args[1:], "-o", str(out),
           "-q"] if args[0] == "run" else \
        [sys.executable, "-m", "rollout.cli", args[0], str(config), *args[1:], "-o", str(out)]
    subprocess.run(cmd, check=True, cwd=workdir, stdout=subprocess.DEVNULL)
    arrays: dict[str, np.ndarray] = {}
    with xr.open_zarr(out) as ds:
        for key in sorted([*ds.data_vars, *ds.coords]):
            if key.startswith("_") or key in BOOKKEEPING:
                continue
            values = ds[key].values
            if values.dtype.kind not in "biufcmM":   # object or variable-width strings
                values = np.asarray(values.tolist(), dtype=str)
            # design names were dotted config paths when recorded; CF-valid names since
            arrays[f"{name}/{key.replace('__', '.')}"] = values
    return arrays


def run_all() -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in CASES:
            arrays.update(run_case(name, Path(tmp)))
    return arrays


def compare(reference: dict[str, np.ndarray], now: dict[str, np.ndarray], rtol: float
            ) -> list[str]:
    """Differences between two recordings, one line each (empty when they agree)."""
    problems = []
    for key in sorted(set(reference) | set(now)):
        if key.rsplit("/", 1)[-1] in BOOKKEEPING:
            continue
        if key not in reference and key.rsplit("/", 1)[-1] in UNRECORDED:
            continue                      # listed by ``unrecorded``
        if key not in now:
            problems.append(f"{key}: missing now")
            continue
        if key not in reference:
            problems.append(f"{key}: new (not in the reference)")
            continue
        a, b = reference[key], now[key]
        if a.shape != b.shape or a.dtype != b.dtype:
            problems.append(f"{key}: shape/dtype {a.shape} {a.dtype} -> {b.shape} {b.dtype}")
            continue
        if a.dtype.kind == "f":
            same = np.isclose(a, b, rtol=rtol, atol=0.0, equal_nan=True) if rtol else \
                ((a == b) | (np.isnan(a) & np.isnan(b)))
        else:
            same = a == b
        if not np.all(same):
            bad = np.argwhere(~np.asarray(same))
            problems.append(f"{key}: {len(bad)} values differ, first at {tuple(bad[0])}: "
                            f"{a[tuple(bad[0])]!r} -> {b[tuple(bad[0])]!r}")
    return problems


def unrecorded(reference: dict[str, np.ndarray], now: dict[str, np.ndarray]) -> list[str]:
    """Arrays of this run that the reference does not hold yet (names in ``UNRECORDED``)."""
    return sorted(k for k in now if k not in reference and k.rsplit("/", 1)[-1] in UNRECORDED)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["record", "check"])
    parser.add_argument("--rtol", type=float, default=None,
                        help="relative tolerance for floats (default: 0, bit-identical, on the "
                        f"recording's numerical stack; {OTHER_STACK_RTOL:g} on another)")
    args = parser.parse_args()
    now = run_all()
    if args.action == "record":
        np.savez_compressed(REFERENCE, **now, _stack=np.array(stack()))
        print(f"recorded {len(now)} arrays in {REFERENCE} ({stack()})")
        return 0
    reference, recorded = load_reference()
    if args.rtol is None:
        args.rtol = tolerance_for(recorded)
        if args.rtol:
            print(f"recorded on {recorded or 'an unrecorded stack'}, running on {stack()}: "
                  f"floats compared within a relative {args.rtol:g}")
    problems = compare(reference, now, args.rtol)
    for line in problems:
        print(line)
    for key in unrecorded(reference, now):
        print(f"{key}: new since the recording (not compared)")
    print(f"{len(reference)} arrays: {'identical' if not problems else f'{len(problems)} differ'}"
          f"{f' (rtol {args.rtol})' if args.rtol else ''}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
