"""dvc.yaml must tell the truth about each stage, or DVC silently skips reruns, and must follow one naming
scheme (dvc.yaml's header): stage X = module stages.X = params section X = metrics/X/ and results/X/.

A stage that reads a params section its `params:` list lacks, or imports a module its `deps:` lack,
would not rerun when that changes (the field notes: `dvc exp run -S` then changes nothing).
"""

import ast
import shlex
from pathlib import Path

import pytest
import yaml

from reproqa.params import SECTIONS

REPO = Path(__file__).resolve().parent.parent
DVC_YAML = yaml.safe_load((REPO / "dvc.yaml").read_text())
STAGES = DVC_YAML["stages"]
MODELS = {
    "train_retriever": "models/retriever",
    "train": "models/reader",
    "index": "models/index",
    "train_reranker": "models/reranker",
    "export": "models/onnx",
}
# Read besides their own: a section, or some keys of one (DVC then reruns the stage when those keys change)
OTHER_SECTIONS = {
    "data_report": ["ingest"],
    "base_models": ["train_retriever.base_model", "train.base_model", "train_reranker.base_model"],
    "evaluate_retriever": [
        "train_retriever",
        "evaluate.retriever",
        "evaluate.rerank.candidates",
        "evaluate.rerank.search_weight",
        "evaluate.rerank.rrf_k",
    ],
}


def script_of(stage: dict) -> Path:
    """The file of the module a stage's command runs: `python -m stages.split ...` -> stages/split.py."""
    words = shlex.split(stage["cmd"])
    return REPO / (words[words.index("-m") + 1].replace(".", "/") + ".py")


def path_arguments(stage: dict) -> list[str]:
    words = shlex.split(stage["cmd"])
    return [arg for arg in words[words.index("-m") + 2 :] if "/" in arg and not arg.startswith("scratch/")]


def declared_outputs(stage: dict) -> list[str]:
    declared = stage.get("outs", []) + stage.get("metrics", []) + stage.get("plots", [])
    return [next(iter(o)) if isinstance(o, dict) else o for o in declared]


def sections_loaded(path: Path) -> set[str]:
    calls = [node for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)]
    return {call.args[0].value for call in calls if getattr(call.func, "id", None) == "load_params"}


def project_modules(path: Path, seen: set[Path] | None = None) -> set[Path]:
    """The reproqa modules a file imports, transitively."""
    seen = set() if seen is None else seen
    for node in ast.walk(ast.parse(path.read_text())):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        if isinstance(node, ast.ImportFrom) and node.module == "reproqa":  # from reproqa import split
            names = [f"reproqa.{alias.name}" for alias in node.names]
        names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        for name in names:
            module = REPO / (name.replace(".", "/") + ".py")
            if name.startswith("reproqa.") and module not in seen:
                seen.add(module)
                project_modules(module, seen)
    return seen


def missing_deps(stage: dict) -> set[Path]:
    needed = {script_of(stage)} | project_modules(script_of(stage))
    deps = [REPO / dep for dep in stage["deps"]]  # a file, or a folder of them
    return {path for path in needed if not any(path == dep or dep in path.parents for dep in deps)}


@pytest.mark.parametrize("name", STAGES)
def test_a_stage_its_module_its_params_section_and_its_outputs_share_one_name(name):
    stage = STAGES[name]
    assert script_of(stage) == REPO / f"stages/{name}.py"
    assert stage["params"] == ([name] if name in SECTIONS else []) + OTHER_SECTIONS.get(name, [])
    for out in declared_outputs(stage):  # data stages write data/; the others their model and their folders
        assert (
            out.split("/")[:2] in (["metrics", name], ["results", name])
            or out == MODELS.get(name)
            or (name == "base_models" and out.split("/")[:2] == ["models", "base"])
            or out.startswith("data/")
        ), out


def test_every_section_belongs_to_a_stage_of_its_name():
    assert set(SECTIONS) <= set(STAGES)


@pytest.mark.parametrize("name", STAGES)
def test_params_listed_are_exactly_the_sections_the_script_reads(name):
    stage = STAGES[name]
    script = script_of(stage)
    assert "params.yaml" not in script.read_text(), "read params through reproqa.params.load_params only"
    assert sections_loaded(script) == {key.split(".")[0] for key in stage["params"]}


@pytest.mark.parametrize("name", STAGES)
def test_code_the_stage_runs_is_in_its_deps(name):
    missing = missing_deps(STAGES[name])
    assert not missing, f"missing deps: {sorted(str(p.relative_to(REPO)) for p in missing)}"


def path_problems(stage: dict) -> list[str]:
    """Outputs not under a path of the command line, and path arguments that are neither deps nor outputs."""
    outs, arguments = declared_outputs(stage), path_arguments(stage)
    return [
        f"{out} not on the command line"
        for out in outs
        if not any(out == arg or out.startswith(arg + "/") for arg in arguments)
    ] + [
        f"{arg} undeclared"
        for arg in arguments
        if arg not in stage["deps"] and not any(o == arg or o.startswith(arg + "/") for o in outs)
    ]


@pytest.mark.parametrize("name", STAGES)
def test_paths_come_from_the_command_line(name):
    """Every output lies under a path given on the stage's command line, and every path argument is
    a declared dep or output (or the folder of outputs), or a scratch folder (Trainer checkpoints)."""
    assert path_problems(STAGES[name]) == []


def test_the_checks_fail_on_a_broken_stage():
    """The checks above can fail: stage split with a section, a module and an input left out of dvc.yaml."""
    broken = STAGES["split"] | {"deps": ["stages/split.py", "reproqa/params.py"], "params": ["split", "clean"]}
    assert sections_loaded(script_of(broken)) != {key.split(".")[0] for key in broken["params"]}
    assert {REPO / "reproqa/split.py", REPO / "reproqa/dedup.py"} <= missing_deps(broken)  # `from reproqa import split`
    assert path_problems(broken) == ["data/interim/cleaned.parquet undeclared", "data/benchmark undeclared"]


def test_every_trained_model_is_a_declared_artifact():
    """`dvc artifacts get <repo> reader` finds what stage train writes; each artifact says what it is."""
    artifacts = DVC_YAML["artifacts"]
    assert {artifact["path"] for artifact in artifacts.values()} == set(MODELS.values())
    for artifact in artifacts.values():
        assert artifact["type"] and artifact["desc"] and artifact["labels"]
