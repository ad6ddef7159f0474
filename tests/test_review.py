"""`reproqa report` (`make report`) and the pull-request workflow that posts it."""

import json
from pathlib import Path

import yaml

from conftest import BIN, GIT_USER, REPO, run


def write_revision(root: Path, f1: float, lr: float, curve: list[float]) -> None:
    for stage in ("evaluate", "train"):
        (root / "metrics" / stage).mkdir(parents=True, exist_ok=True)
    (root / "metrics/evaluate/metrics.json").write_text(
        json.dumps({"integrated": {"exact": 50.0, "f1": f1}, "isolated": {"exact": 80.0, "f1": 85.0}})
    )
    (root / "metrics/train/test.json").write_text(json.dumps({"exact": 80.0, "f1": 85.0, "bleu": f1 / 2}))
    (root / "params.yaml").write_text(yaml.safe_dump({"train": {"lr": lr, "epochs": 2}}))
    (root / "metrics/f1.tsv").write_text("step\tf1\n" + "".join(f"{10 * i}\t{v}\n" for i, v in enumerate(curve)))


def section(report: str, title: str) -> str:
    return report.split(f"## {title}\n")[1].split("\n## ")[0]


def row(table: str, name: str) -> list[str]:
    return next(
        [cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines() if f" {name} " in line
    )


def test_the_report_compares_metrics_params_and_plots_with_main(tmp_path):
    run(["git", "init", "-q", "-b", "main"], tmp_path)
    run(["dvc", "init", "-q"], tmp_path)
    (tmp_path / "dvc.yaml").write_text(
        yaml.safe_dump(
            {
                "metrics": ["metrics/evaluate/metrics.json", "metrics/train/test.json"],
                "params": ["params.yaml"],
                "plots": [{"Validation F1": {"x": "step", "y": {"metrics/f1.tsv": "f1"}}}],
            }
        )
    )
    write_revision(tmp_path, f1=60.0, lr=1e-4, curve=[20.0, 40.0, 55.0])
    run(["git", "add", "-A"], tmp_path)
    run(["git", *GIT_USER, "commit", "-qm", "main"], tmp_path)
    run(["git", "checkout", "-q", "-b", "better-reader"], tmp_path)
    write_revision(tmp_path, f1=70.0, lr=3e-5, curve=[30.0, 55.0, 66.0])
    run(["git", "add", "-A"], tmp_path)
    run(["git", *GIT_USER, "commit", "-qm", "a better reader"], tmp_path)

    diff = run(["dvc", "metrics", "diff", "main"], tmp_path).stdout  # what a reviewer types, nothing pulled
    assert "integrated.f1" in diff and "70.0" in diff and "isolated.f1" not in diff
    printed = run([str(BIN / "reproqa"), "report", "--base", "main", "--out", "report"], tmp_path).stdout
    report = (tmp_path / "report/report.md").read_text()
    assert printed.strip() == "report/report.md" and report.startswith("# reproqa: working tree vs main")
    headline = section(report, "Headline metrics")  # every headline number, changed or not
    assert "No noise band measured: run `python benchmarks/noise.py`" in headline
    assert row(headline, "integrated.f1")[-3:] == ["60.0", "70.0", "10.0"]
    assert row(headline, "isolated.f1")[-3:] == ["85.0", "85.0", "0.0"]
    changed = section(report, "Metrics that changed")
    assert row(changed, "bleu")[-3:] == ["30.0", "35.0", "5.0"]
    assert "isolated.f1" not in changed and " f1 " not in changed  # unchanged: only in the headline table
    params = section(report, "Params that changed")
    assert row(params, "train.lr")[-2:] == ["0.0001", "3e-05"] and "train.epochs" not in params
    plots = section(report, "Plots")
    assert "![Validation F1](plots/validation-f1.png)" in plots
    assert (tmp_path / "report/plots/validation-f1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # A branch against main from any checkout gives the same tables.
    run(["git", "checkout", "-q", "main"], tmp_path)
    run([str(BIN / "reproqa"), "report", "--base", "main", "--target", "better-reader", "--out", "branch"], tmp_path)
    branch = (tmp_path / "branch/report.md").read_text()
    assert branch.startswith("# reproqa: better-reader vs main")
    assert row(section(branch, "Headline metrics"), "integrated.f1")[-3:] == ["60.0", "70.0", "10.0"]


def test_a_report_with_nothing_changed_says_so(tmp_path):
    run(["git", "init", "-q", "-b", "main"], tmp_path)
    run(["dvc", "init", "-q"], tmp_path)
    (tmp_path / "dvc.yaml").write_text(
        yaml.safe_dump({"metrics": ["metrics/evaluate/metrics.json"], "params": ["params.yaml"]})
    )
    write_revision(tmp_path, f1=60.0, lr=1e-4, curve=[1.0])
    run(["git", "add", "-A"], tmp_path)
    run(["git", *GIT_USER, "commit", "-qm", "main"], tmp_path)
    run([str(BIN / "reproqa"), "report", "--out", "report"], tmp_path)
    report = (tmp_path / "report/report.md").read_text()
    assert "No metric changed." in report and "No param changed." in report and "No plots." in report
    assert "No noise band measured: run `python benchmarks/noise.py`" in report


def commit_headline(root: Path, message: str, integrated_f1: float, isolated_f1: float, noise: dict | None) -> None:
    """A commit whose headline metrics have the given F1s (each with its confidence interval) and, unless None,
    the noise file `noise`."""
    metrics = {
        name: {"exact": 50.0, "f1": f1, "f1_ci": {"low": f1 - 5.0, "high": f1 + 5.0}}
        for name, f1 in (("integrated", integrated_f1), ("isolated", isolated_f1))
    }
    (root / "metrics/evaluate").mkdir(parents=True, exist_ok=True)
    (root / "metrics/evaluate/metrics.json").write_text(json.dumps(metrics | {"data": {"test": 200}}))
    if noise:
        (root / "metrics/noise.json").write_text(json.dumps(noise))
    run(["git", "add", "-A"], root)
    run(["git", *GIT_USER, "commit", "-qm", message], root)


def test_the_report_marks_each_headline_change_within_or_beyond_the_seed_noise(tmp_path):
    run(["git", "init", "-q", "-b", "main"], tmp_path)
    run(["dvc", "init", "-q"], tmp_path)
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"metrics": ["metrics/evaluate/metrics.json"]}))
    commit_headline(tmp_path, "main", integrated_f1=60.0, isolated_f1=85.0, noise=None)
    run(["git", "checkout", "-q", "-b", "measured"], tmp_path)
    noise = {
        "method": "train.seed and train_retriever.seed varied: 42 (the committed run), 1, 2, 3",
        "runs": 4,
        "metrics": {name: {"mean": 62.0, "std": 1.5} for name in ("integrated.exact", "integrated.f1", "isolated.f1")},
    }
    commit_headline(
        tmp_path, "a reader 4 F1 better, and the seed noise", integrated_f1=64.0, isolated_f1=86.0, noise=noise
    )

    run([str(BIN / "reproqa"), "report", "--base", "main", "--target", "measured", "--out", "report"], tmp_path)
    headline = section((tmp_path / "report/report.md").read_text(), "Headline metrics")
    assert "| Metric | main | measured | Change | noise (2 std) | verdict |" in headline
    assert row(headline, "integrated.f1")[1:] == ["60.0", "64.0", "4.0", "3.0", "beyond noise"]  # 4 >= 2 x 1.5
    assert row(headline, "isolated.f1")[1:] == ["85.0", "86.0", "1.0", "3.0", "within noise"]  # 1 < 2 x 1.5
    assert row(headline, "integrated.exact")[-2:] == ["3.0", ""]  # unchanged: nothing to judge
    assert row(headline, "integrated.f1_ci.low")[-3:] == ["4.0", "-", ""]  # changed, but an interval has no band
    assert row(headline, "data.test")[-2:] == ["-", ""]
    assert (
        "2 standard deviations of each metric over 4 runs (train.seed and train_retriever.seed varied: "
        "42 (the committed run), 1, 2, 3), from metrics/noise.json of measured" in headline
    )

    # The other way round the target has no noise file: the base's is used, and says so.
    run([str(BIN / "reproqa"), "report", "--base", "measured", "--target", "main", "--out", "back"], tmp_path)
    headline = section((tmp_path / "back/report.md").read_text(), "Headline metrics")
    assert row(headline, "integrated.f1")[1:] == ["64.0", "60.0", "-4.0", "3.0", "beyond noise"]
    assert "from metrics/noise.json of measured" in headline


def test_the_pull_request_workflow_is_valid_and_posts_the_report():
    workflow = REPO / ".github/workflows/pr-report.yml"
    run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(workflow)], REPO)
    spec = yaml.safe_load(workflow.read_text())
    assert "pull_request" in spec[True]  # YAML 1.1 reads the key `on` as True
    assert spec["permissions"]["pull-requests"] == "write"
    steps = spec["jobs"]["report"]["steps"]
    commands = "\n".join(step.get("run", "") for step in steps)
    assert "reproqa report --base" in commands and "cml comment update" in commands
    assert "-c requirements.lock" in commands  # the locked versions, as make installs them
    assert any(step.get("with", {}).get("fetch-depth") == 0 for step in steps)  # the base branch's history
