"""How sure a headline number is: the bootstrap interval over the test questions (stage evaluate) and the seed
noise band (benchmarks/noise.py writes it, `reproqa report` judges changes by it; tests/test_review.py)."""

import json
import statistics
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import GIT_USER, REPO, run
from reproqa.breakdown import bootstrap_interval
from reproqa.errors import UserError
from reproqa.models import cpu_description, resolve_precision
from reproqa.noise import noise_of


def test_the_bootstrap_interval_holds_the_mean_narrows_with_more_questions_and_never_changes():
    assert bootstrap_interval([80.0] * 50) == (80.0, 80.0)  # every question scored alike: no uncertainty
    few = [100.0, 0.0, 100.0, 100.0, 50.0] * 10  # F1 70 on 50 questions
    low, high = bootstrap_interval(few)
    assert 0.0 <= low < np.mean(few) < high <= 100.0
    many_low, many_high = bootstrap_interval(few * 16)  # the same mix on 800 questions
    assert many_low < np.mean(few) < many_high and many_high - many_low < (high - low) / 2
    assert bootstrap_interval(few) == (low, high)  # seeded: the same predictions, the same metrics.json


def test_the_noise_band_is_the_sample_std_of_each_score_over_the_runs():
    f1s, recalls = [70.0, 71.5, 69.0, 70.5], [0.9, 0.95, 0.9, 0.85]
    runs = [
        {
            "integrated": {"f1": f1, "f1_ci": {"low": f1 - 6, "high": f1 + 6}},
            "retriever": {"recall@top_k": recall, "top_k": 3},
            "data": {"test": 209},
        }
        for f1, recall in zip(f1s, recalls)
    ]
    noise = noise_of(runs, "seeds 42, 1, 2, 3", digits=4)
    assert noise["runs"] == 4 and noise["method"] == "seeds 42, 1, 2, 3"
    assert noise["metrics"] == {  # the bounds of an interval, the data counts and top_k get no band
        "integrated.f1": {"mean": 70.25, "std": round(statistics.stdev(f1s), 4)},
        "retriever.recall@top_k": {"mean": 0.9, "std": round(statistics.stdev(recalls), 4)},
    }
    with pytest.raises(UserError, match="at least 2 runs"):
        noise_of(runs[:1], "one run")


STAGE = """\
import json, pathlib, yaml
params = yaml.safe_load(open("params.yaml"))
f1 = 60.0 + params["train"]["seed"] % 5 + params["train_retriever"]["seed"] % 3  # what a seed does to a score
pathlib.Path("metrics/evaluate").mkdir(parents=True, exist_ok=True)
headline = {"integrated": {"f1": f1, "f1_ci": {"low": f1 - 5, "high": f1 + 5}}, "data": {"test": 200}}
pathlib.Path("metrics/evaluate/metrics.json").write_text(json.dumps(headline))
"""


def toy_project(root: Path) -> None:
    """A git + DVC project whose one stage writes metrics/evaluate/metrics.json from the two seeds, in a moment."""
    run(["git", "init", "-q", "-b", "main"], root)
    run(["dvc", "init", "-q"], root)
    (root / "evaluate.py").write_text(STAGE)
    (root / "params.yaml").write_text(
        yaml.safe_dump(
            {
                "train": {"seed": 42, "lr": 0.1, "precision": "float32"},
                "train_retriever": {"seed": 42, "precision": "auto"},
            }
        )
    )
    stage = {
        "cmd": "python evaluate.py",
        "deps": ["evaluate.py"],
        "params": ["train", "train_retriever"],
        "metrics": [{"metrics/evaluate/metrics.json": {"cache": False}}],
    }
    pipeline = {"stages": {"evaluate": stage}, "metrics": ["metrics/evaluate/metrics.json"]}
    (root / "dvc.yaml").write_text(yaml.safe_dump(pipeline))
    run(["dvc", "repro", "-q"], root)
    run(["git", "add", "-A"], root)
    run(["git", *GIT_USER, "commit", "-qm", "the committed run"], root)


def test_the_noise_benchmark_measures_the_committed_run_and_one_experiment_per_seed(tmp_path):
    toy_project(tmp_path)
    committed = (tmp_path / "metrics/evaluate/metrics.json").read_text()
    measure = [sys.executable, str(REPO / "benchmarks/noise.py"), "--project", str(tmp_path), "--seeds", "1", "3"]
    printed = run(measure, tmp_path).stdout
    noise = json.loads((tmp_path / "metrics/noise.json").read_text())
    f1s = [62.0, 62.0, 63.0]  # seeds 42 (the committed run), 1 and 3, as the stage scores them
    assert noise["runs"] == 3 and noise["metrics"] == {
        "integrated.f1": {"mean": round(statistics.fmean(f1s), 4), "std": round(statistics.stdev(f1s), 4)}
    }
    head = run(["git", "rev-parse", "--short=7", "HEAD"], tmp_path).stdout.strip()
    assert noise["method"] == (
        f"train.seed and train_retriever.seed varied: 42 (the committed run), 1, 3; every other param and all code "
        f"of commit {head}; on {cpu_description()}; the retriever trained in {resolve_precision('auto')}, the reader "
        "in float32"  # the CPU and precisions the noise was measured with
    )
    assert "| integrated.f1 | 62.3333 |" in printed
    # The experiments stay, and the workspace keeps the committed run.
    assert {"noise-seed-1", "noise-seed-3"} <= set(run(["dvc", "exp", "list", "--name-only"], tmp_path).stdout.split())
    assert (tmp_path / "metrics/evaluate/metrics.json").read_text() == committed
    assert yaml.safe_load((tmp_path / "params.yaml").read_text())["train"]["seed"] == 42

    again = run(measure, tmp_path)  # a stopped measurement resumes: what ran is not run again
    assert "noise-seed-1: run before from this commit, reused" in again.stdout
    assert "Reproducing" not in again.stdout + again.stderr
    refused = run([*measure[:-2], "42", "7"], tmp_path, check=False)
    assert refused.returncode == 1 and "other than the committed run's ([42])" in refused.stderr
