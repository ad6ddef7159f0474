import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reproqa.sample_data import generate, write

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the venv running the tests also runs the stages and dvc


def run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = os.environ | {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if check and result.returncode:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def make_project(root: Path, apps: int = 30) -> dict:
    """A copy of the pipeline (dvc.yaml, params.yaml, stages, reproqa) on a small generated sample,
    in its own git + DVC repository. Returns the generator's manifest of what it planted."""
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    # Tiny profile: 30 apps repeat a question template only ~5 times, so "template" must mean fewer.
    params["split"]["decontamination"]["max_ngram_frequency"] = 2
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for folder in ("stages", "reproqa"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    lines, benchmark, manifest = generate(seed=5, apps=apps, benchmark_apps=8, leaked_apps=3)
    write(lines, root / "data/raw/app_inventory.jsonl")
    write(benchmark, root / "data/benchmark/app_inventory_benchmark.jsonl")
    run(["git", "init", "-q"], root)
    run(["dvc", "init", "-q"], root)
    run(["dvc", "config", "core.analytics", "false"], root)
    return manifest


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory):
    """The data pipeline, run once by `dvc repro` on a small sample; shared by the tests that read it."""
    root = tmp_path_factory.mktemp("project")
    manifest = make_project(root)
    output = run(["dvc", "repro"], root).stdout
    return root, manifest, output
