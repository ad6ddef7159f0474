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

Is a headline change real? The headline table marks each changed metric "within noise" or "beyond noise": within
when |change| < 2 standard deviations of that metric across runs that differ only in their seeds, as
metrics/noise.json says (written by benchmarks/noise.py, committed; reproqa/noise.py). It takes the target's noise
file, or the base's where the target has none, and says how the band was measured (the file's method, its number
of runs, the 2 std rule). Metrics without a band (the confidence bounds *_ci.low/high, which already are an
uncertainty, and the data counts) get no verdict. Without a noise file the report says so and how to measure one.
"""

import json
import re
import subprocess
from pathlib import Path

import yaml

from reproqa.errors import UserError
from reproqa.noise import BAND, NOISE, flatten, verdict

HEADLINE = "metrics/evaluate/metrics.json"  # dvc.yaml's top-level metrics: the numbers a pull request is judged by
ALWAYS_SHOWN = ("Experiment", "Created")  # State and Executor: dvc shows them while they say something


def dvc(args: list[str], project: Path) -> str:
    result = subprocess.run(["dvc", *args], cwd=project, capture_output=True, text=True)
    if result.returncode:
        raise UserError(f"dvc {' '.join(args)} failed:\n{result.stderr.strip()}")
    return result.stdout.strip()


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
        column(HEADLINE, name) for name in flatten(headline) if not name.startswith("data.")
    ]
    drop = [
        column(path, name)
        for path in sorted(files - {HEADLINE})
        if (project / path).exists()
        for name in flatten(json.loads((project / path).read_text()))
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


def cell(value) -> str:
    """A value as `dvc metrics diff --md` prints it: a float rounded to 5 places; "-" where there is none."""
    if value is None:
        return "-"
    return str(round(value, 5) if isinstance(value, float) else value)


def read_noise(project: Path, revision: str | None) -> dict | None:
    """metrics/noise.json of `revision` (the working tree when None), or None where it has none."""
    if revision is None:
        path = project / NOISE
        return json.loads(path.read_text()) if path.exists() else None
    shown = subprocess.run(["git", "show", f"{revision}:./{NOISE}"], cwd=project, capture_output=True, text=True)
    return json.loads(shown.stdout) if shown.returncode == 0 else None


def headline_metrics(project: Path, base: str, target: str | None) -> str:
    """Every headline metric, base vs target (the working tree when None), and, where the noise file of the
    target (else of the base) gives the metric a band, whether its change is within or beyond it."""
    revisions = [base] + ([target] if target else [])
    diff = json.loads(dvc(["metrics", "diff", *revisions, "--json", "--all", "--targets", HEADLINE], project) or "{}")
    if not diff.get(HEADLINE):
        return f"No headline metrics: {HEADLINE} is in neither revision."
    noise, source = read_noise(project, target), target or "the working tree"
    if noise is None:
        noise, source = read_noise(project, base), base
    header = ["Metric", base, target or "workspace", "Change"]
    if noise is None:
        note = f"No noise band measured: run `python benchmarks/noise.py` (it writes {NOISE}; commit it)."
    else:
        header += [f"noise ({BAND} std)", "verdict"]
        note = (
            f"Noise band: {BAND} standard deviations of each metric over {noise['runs']} runs ({noise['method']}), "
            f"from {NOISE} of {source}. A change smaller than {BAND} std is within noise: reseeding alone gives "
            "changes that large."
        )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, values in sorted(diff[HEADLINE].items()):
        change = values.get("diff")
        cells = [name, cell(values.get("old")), cell(values.get("new")), cell(change)]
        if noise is not None:
            band = noise["metrics"].get(name)  # the confidence bounds and the data counts have none
            cells += [cell(BAND * band["std"]) if band else "-", verdict(change, band) if band and change else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return note + "\n\n" + "\n".join(lines)


def write_report(project: Path, base: str, target: str | None, out: Path) -> Path:
    import vl_convert

    revisions = [base] + ([target] if target else [])  # one revision: compared with the working tree
    sections = [
        f"# reproqa: {target or 'working tree'} vs {base}",
        "## Headline metrics",
        headline_metrics(project, base, target),
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
