"""dvc.yaml must tell the truth about each stage, or DVC silently skips reruns.

A stage that reads a params section its `params:` list lacks, or imports a module its `deps:` lack,
would not rerun when that changes (the field notes: `dvc exp run -S` then changes nothing).
"""

import ast
import shlex
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def script_of(stage: dict) -> Path:
    return REPO / next(arg for arg in shlex.split(stage["cmd"]) if arg.startswith("stages/"))


def sections_loaded(path: Path) -> set[str]:
    calls = [node for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)]
    return {call.args[0].value for call in calls if getattr(call.func, "id", None) == "load_params"}


def project_modules(path: Path, seen: set[Path] | None = None) -> set[Path]:
    """The reproqa modules a file imports, transitively."""
    seen = set() if seen is None else seen
    for node in ast.walk(ast.parse(path.read_text())):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        for name in names:
            module = REPO / (name.replace(".", "/") + ".py")
            if name.startswith("reproqa.") and module not in seen:
                seen.add(module)
                project_modules(module, seen)
    return seen


def test_every_stage_runs_a_script_of_its_own():
    scripts = [script_of(stage) for stage in STAGES.values()]
    assert len(set(scripts)) == len(scripts)
    assert all(script.exists() for script in scripts)


@pytest.mark.parametrize("name", STAGES)
def test_params_listed_are_exactly_the_sections_the_script_reads(name):
    stage = STAGES[name]
    script = script_of(stage)
    assert "params.yaml" not in script.read_text(), "read params through reproqa.params.load_params only"
    listed = {entry for entry in stage.get("params", []) if isinstance(entry, str)}
    assert sections_loaded(script) == listed


@pytest.mark.parametrize("name", STAGES)
def test_code_the_stage_runs_is_in_its_deps(name):
    stage = STAGES[name]
    needed = {script_of(stage)} | project_modules(script_of(stage))
    deps = {REPO / dep for dep in stage["deps"]}
    assert needed <= deps, f"missing deps: {sorted(str(p.relative_to(REPO)) for p in needed - deps)}"


@pytest.mark.parametrize("name", STAGES)
def test_paths_come_from_the_command_line(name):
    """Every output lies under a path given on the stage's command line, and every path argument is
    a declared dep or output (or the folder of outputs), or a scratch folder (Trainer checkpoints)."""
    stage = STAGES[name]
    declared = stage.get("outs", []) + stage.get("metrics", []) + stage.get("plots", [])
    outs = [next(iter(o)) if isinstance(o, dict) else o for o in declared]
    arguments = [arg for arg in shlex.split(stage["cmd"])[2:] if "/" in arg and not arg.startswith("scratch/")]
    for out in outs:
        assert any(out == arg or out.startswith(arg + "/") for arg in arguments), f"{out} not on the command line"
    for arg in arguments:
        assert arg in stage["deps"] or any(o == arg or o.startswith(arg + "/") for o in outs), f"{arg} undeclared"


def test_detects_a_section_missing_from_dvc_yaml(tmp_path):
    """The check above can fail: a script reading a section dvc.yaml does not list is caught."""
    script = tmp_path / "stage.py"
    script.write_text('from reproqa.params import load_params\nload_params("split")\nload_params("clean")\n')
    assert sections_loaded(script) != {"split"}
