"""What a team reviews: the experiments table (`reproqa experiments`) and a pull request's report
(`reproqa report`, `make report`).

`reproqa experiments [dvc exp show options]` is `dvc exp show --only-changed` that always keeps the headline
metrics (metrics/evaluate/metrics.json) and never shows the other metric files (training curves, per-stage reports:
each a column per key) or the dependency hashes. So the table is: each experiment, the params it changed,
and the numbers it is judged by.

`reproqa report` compares the working tree (or a revision) against a base:

    reproqa report                                   # the working tree vs main, into report/
    reproqa report --base origin/main --target HEAD --out report

OUT/report.md holds, in order: the headline metrics (metrics/evaluate/metrics.json, every one, changed or not), every
other metric that changed (`dvc metrics diff --md`), the params that changed (`dvc params diff --md`), and
each plot dvc.yaml declares as a PNG in OUT/plots/ (`dvc plots diff --json`: DVC's own Vega-Lite specs with
both revisions' data, rendered by vl-convert, no browser). It reads only files git tracks (metrics and plots
are `cache: false`), so nothing has to be pulled first.
"""

import json
import re
import subprocess
from pathlib import Path

import yaml

from reproqa.errors import UserError

HEADLINE = "metrics/evaluate/metrics.json"  # dvc.yaml's top-level metrics: the numbers a pull request is judged by
ALWAYS_SHOWN = ("Experiment", "Created")  # State and Executor: dvc shows them while they say something


def dvc(args: list[str], project: Path) -> str:
    result = subprocess.run(["dvc", *args], cwd=project, capture_output=True, text=True)
    if result.returncode:
        raise UserError(f"dvc {' '.join(args)} failed:\n{result.stderr.strip()}")
    return result.stdout.strip()


def flat_keys(value: dict, prefix: str = "") -> list[str]:
    """Column names as dvc exp show writes them: nested keys joined with dots."""
    return [
        name
        for key, inner in value.items()
        for name in (flat_keys(inner, f"{prefix}{key}.") if isinstance(inner, dict) else [f"{prefix}{key}"])
    ]


def column(path: str, name: str) -> str:
    """A regex for metric `name` of file `path`: dvc prefixes it with "path:" only when two files share it."""
    return f"(?:{re.escape(path)}:)?{re.escape(name)}$"


def experiments_columns(project: Path) -> tuple[list[str], list[str]]:
    """(--keep, --drop) regexes for `dvc exp show`: keep the headline metrics (data counts only when they
    change), drop every other metric file's columns and every dependency hash."""
    pipeline = yaml.safe_load((project / "dvc.yaml").read_text())
    stages = pipeline["stages"].values()
    files = {next(iter(m)) if isinstance(m, dict) else m for stage in stages for m in stage.get("metrics", [])}
    headline = json.loads((project / HEADLINE).read_text()) if (project / HEADLINE).exists() else {}
    keep = [f"{name}$" for name in ALWAYS_SHOWN] + [
        column(HEADLINE, name) for name in flat_keys(headline) if not name.startswith("data.")
    ]
    drop = [
        column(path, name)
        for path in sorted(files - {HEADLINE})
        if (project / path).exists()
        for name in flat_keys(json.loads((project / path).read_text()))
    ]
    drop += [f"{re.escape(dep)}$" for stage in stages for dep in stage.get("deps", [])]
    return keep, drop


def experiments(project: Path, options: list[str]) -> None:
    keep, drop = experiments_columns(project)
    shown = subprocess.run(
        ["dvc", "exp", "show", "--only-changed", "--keep", "|".join(keep), "--drop", "|".join(drop), *options],
        cwd=project,
    )
    if shown.returncode:
        raise UserError(f"dvc exp show failed (exit status {shown.returncode}); its message is above")


def table(markdown: str, empty: str) -> str:
    """A dvc --md table, or `empty` where it has a header and no rows."""
    return markdown if len(markdown.splitlines()) > 2 else empty


def plot_file(plot_id: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", plot_id.lower()).strip("-") + ".png"


def write_report(project: Path, base: str, target: str | None, out: Path) -> Path:
    import vl_convert

    revisions = [base] + ([target] if target else [])  # one revision: compared with the working tree
    sections = [
        f"# reproqa: {target or 'working tree'} vs {base}",
        "## Headline metrics",
        table(
            dvc(["metrics", "diff", *revisions, "--md", "--all", "--targets", HEADLINE], project),
            f"No headline metrics: {HEADLINE} is in neither revision.",
        ),
        "## Metrics that changed",
        table(dvc(["metrics", "diff", *revisions, "--md"], project), "No metric changed."),
        "## Params that changed",
        table(dvc(["params", "diff", *revisions, "--md"], project), "No param changed."),
        "## Plots",
    ]
    (out / "plots").mkdir(parents=True, exist_ok=True)
    plots = json.loads(dvc(["plots", "diff", *revisions, "--json"], project) or "{}").get("data", {})
    for plot_id, renderings in plots.items():
        for rendering in renderings:
            if rendering["type"] == "vega":
                name = plot_file(plot_id)
                (out / "plots" / name).write_bytes(vl_convert.vegalite_to_png(rendering["content"], scale=2))
                sections.append(f"### {plot_id}\n\n![{plot_id}](plots/{name})")
    if not plots:
        sections.append("No plots.")
    report = out / "report.md"
    report.write_text("\n\n".join(sections) + "\n")
    return report
