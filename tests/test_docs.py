"""The README's promises: its test command is the one CI runs, and its commands exist."""

from __future__ import annotations

import re

from conftest import REPO


def _fenced_commands(text: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, re.S)]


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_test_one():
    readme = (REPO / "README.md").read_text()
    setup = readme.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    commands = _fenced_commands(setup)
    assert len(commands) == 2
    main_job, test_command = commands
    assert "rollout run configs/national.toml" in main_job
    assert "pytest" in test_command
    ci = (REPO / ".ci" / "run").read_text()
    assert test_command in ci.splitlines()


def test_readme_performance_section_has_measured_figures():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Performance", 1)[1].split("\n## ", 1)[0]
    assert "PERFORMANCE-FIGURES" not in section
    assert re.search(r"\d+\.\d+(-\d+\.\d+)? s\b", section) and "raw SimPy" in section


def test_every_config_section_is_documented_in_the_readme():
    from rollout.config import RolloutConfig

    readme = (REPO / "README.md").read_text()
    tables = [name for name, field in RolloutConfig.model_fields.items()
              if hasattr(field.annotation, "model_fields")]
    for name in tables:
        assert f"`{name}`" in readme, name


def _leaf_fields(model, prefix=""):
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if name == "kinds":
            continue    # checked kind field by kind field below
        if hasattr(annotation, "model_fields"):
            yield from _leaf_fields(annotation, prefix + name + ".")
        else:
            yield prefix + name


def test_every_config_field_has_a_row_in_the_parameter_table():
    from rollout.config import DefectKind, RolloutConfig, StrategyConfig

    doc = (REPO / "docs" / "model.md").read_text()
    table = doc.split("## 7. Parameters", 1)[1]
    for path in _leaf_fields(RolloutConfig):
        assert f"| `{path}` |" in table, f"{path} missing from docs/model.md parameter table"
    for name in DefectKind.model_fields:
        assert f"`defects.kinds.<kind>.{name}`" in table, name
    strategy_section = doc.split("## 5. Strategies", 1)[1].split("## 6.", 1)[0]
    for name in StrategyConfig.model_fields:
        if name != "preset":
            assert f"`{name}`" in strategy_section, f"strategy primitive {name} undocumented"
