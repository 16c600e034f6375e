"""Nothing moved: the cubes of the reference cases (tests/reference/cubes.py: national,
historical, event log, hospitals with discounting, a small sweep; the real CLI, one worker, fixed
seeds) are bit-identical to the recorded reference. A change meant to alter results re-records
the reference (``python tests/reference/cubes.py record``) and says so in its commit."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).with_name("reference") / "cubes.py"


def _script():
    spec = importlib.util.spec_from_file_location("reference_cubes", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_cubes_are_bit_identical():
    """Bit for bit on the numerical stack the reference was recorded on; on another stack (a
    newer numpy or scipy resolved by pip) floats within a relative 1e-9, the rest exact."""
    ref_cubes = _script()
    reference, recorded = ref_cubes.load_reference()
    rtol = ref_cubes.tolerance_for(recorded)
    problems = ref_cubes.compare(reference, ref_cubes.run_all(), rtol=rtol)
    assert not problems, f"rtol {rtol} (recorded on {recorded}, now {ref_cubes.stack()})\n" \
        + "\n".join(problems[:20])


def test_the_tolerance_is_exact_on_the_recording_stack_only():
    ref_cubes = _script()
    assert ref_cubes.tolerance_for(ref_cubes.stack()) == 0.0
    assert ref_cubes.tolerance_for("numpy=0.0") == ref_cubes.OTHER_STACK_RTOL > 0.0
    _, recorded = ref_cubes.load_reference()
    assert "numpy=" in recorded and "scipy=" in recorded


def test_the_comparison_sees_a_changed_value():
    """The check can fail: one float moved by one ulp, or one array missing, is reported."""
    ref_cubes = _script()
    a = {"x/harm": np.array([1.0, np.nan, 3.0]), "x/stage": np.array([1, 2], np.int8)}
    b = {"x/harm": np.array([1.0, np.nan, np.nextafter(3.0, 4.0)]),
         "x/stage": np.array([1, 2], np.int8)}
    assert ref_cubes.compare(a, a, 0.0) == []
    assert len(ref_cubes.compare(a, b, 0.0)) == 1
    assert ref_cubes.compare(a, b, 1e-12) == []
    assert ref_cubes.compare(a, {"x/harm": a["x/harm"]}, 0.0) == ["x/stage: missing now"]
