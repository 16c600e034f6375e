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
    now = ref_cubes.run_all()
    problems = ref_cubes.compare(reference, now, rtol=rtol)
    assert not problems, f"rtol {rtol} (recorded on {recorded}, now {ref_cubes.stack()})\n" \
        + "\n".join(problems[:20])
    # variables listed as not recorded yet (none since the last recording) are each reported,
    # in every case
    new = ref_cubes.unrecorded(reference, now)
    if new:
        cases = {k.split("/", 1)[0] for k in now}
        assert {k.rsplit("/", 1)[-1] for k in new} == ref_cubes.UNRECORDED
        assert len(new) == len(cases) * len(ref_cubes.UNRECORDED), new


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
    # a variable new since the recording: reported by 'unrecorded' if listed, else a problem
    ref_cubes.UNRECORDED = {"t_overtake"}
    c = dict(a, **{"x/t_overtake": np.zeros(2), "x/surprise": np.zeros(2)})
    assert ref_cubes.compare(a, c, 0.0) == ["x/surprise: new (not in the reference)"]
    assert ref_cubes.unrecorded(a, c) == ["x/t_overtake"]
