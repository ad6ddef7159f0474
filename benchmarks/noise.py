"""Seed noise of the headline metrics: the committed run and the pipeline rerun with other seeds, and how far each
headline metric moves between them. `reproqa report` marks each headline change of a pull request within or beyond
2 standard deviations of it.

    python benchmarks/noise.py [--seeds 1 2 3] [--project .]

For each seed S it runs one experiment, noise-seed-S: `dvc exp run --temp -S train.seed=S -S train_retriever.seed=S`,
one after the other (each trains the retriever and the reader again: about 7.5 minutes on 2 CPU cores with the
sample, BENCHMARKS.md), each in a temporary folder, so the workspace keeps the committed run. That run (HEAD's
metrics/evaluate/metrics.json, made with HEAD's seeds) and the experiments are len(seeds) + 1 runs; the mean and
the sample standard deviation of each headline metric over them go to metrics/noise.json (reproqa/noise.py).
Commit that file.

The experiments stay, like any other: `reproqa experiments` shows them, `dvc exp remove noise-seed-1 ...` drops them,
and none is applied to the workspace. An experiment of this commit that ran before is reused, so a measurement that
was stopped resumes where it stopped; a new commit measures afresh.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

from reproqa.models import cpu_description, resolve_precision
from reproqa.noise import BAND, NOISE, flatten, noise_of
from reproqa.records import DIGITS, write_json
from reproqa.review import HEADLINE

REPO = Path(__file__).resolve().parent.parent


def experiments_of_head(project: Path) -> tuple[dict, dict[str, dict]]:
    """HEAD as `dvc exp show --json` describes it (its params and metrics), and its finished experiments by name."""
    shown = subprocess.run(
        ["dvc", "exp", "show", "--json", "--hide-workspace", "--hide-queued", "--hide-failed"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    head = json.loads(shown.stdout)[0]
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True, check=True)
    if head["rev"] != commit.stdout.strip():
        # A `dvc exp run` in the workspace that was stopped leaves its baseline in refs/exps/exec/ (and HEAD
        # detached); `dvc exp show` then describes that commit, and its experiments are not this commit's.
        sys.exit(
            f"error: `dvc exp show` describes commit {head['rev'][:7]}, not HEAD {commit.stdout[:7]}: a stopped "
            "`dvc exp run` left refs/exps/exec/*; check out your branch and delete them "
            "(git update-ref -d refs/exps/exec/EXEC_BASELINE, and EXEC_HEAD and EXEC_MERGE)"
        )
    return head, {experiment["revs"][0]["name"]: experiment["revs"][0] for experiment in head["experiments"] or []}


def headline_of(run: dict) -> dict:
    return run["data"]["metrics"][HEADLINE]["data"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, default=REPO)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="one experiment each (default: 1 2 3)")
    args = parser.parse_args()
    # The experiments start from HEAD plus any uncommitted change, and the committed run is HEAD's: both must be
    # HEAD as dvc.lock says, or the runs differ by more than their seeds.
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=args.project, capture_output=True, text=True
    )
    if changed.stdout.strip():
        sys.exit(f"error: uncommitted changes, which the experiments would include; commit or stash:\n{changed.stdout}")
    if subprocess.run(["dvc", "status", "--quiet"], cwd=args.project).returncode:
        sys.exit("error: `dvc status`: the outputs are not HEAD's run; run `dvc repro` and commit, or `dvc pull`")

    head, finished = experiments_of_head(args.project)
    params = head["data"]["params"]["params.yaml"]["data"]
    committed = sorted({params["train"]["seed"], params["train_retriever"]["seed"]})
    if set(args.seeds) & set(committed) or len(set(args.seeds)) < len(args.seeds):
        sys.exit(f"error: --seeds {args.seeds}: give distinct seeds other than the committed run's ({committed})")
    for seed in args.seeds:
        name = f"noise-seed-{seed}"
        if name in finished:
            print(f"{name}: run before from this commit, reused")
            continue
        overrides = ["-S", f"train.seed={seed}", "-S", f"train_retriever.seed={seed}"]
        subprocess.run(["dvc", "exp", "run", "--temp", "--name", name, *overrides], cwd=args.project, check=True)

    head, finished = experiments_of_head(args.project)
    runs = [headline_of(head)] + [headline_of(finished[f"noise-seed-{seed}"]) for seed in args.seeds]
    retriever, reader = (resolve_precision(params[section]["precision"]) for section in ("train_retriever", "train"))
    method = (
        f"train.seed and train_retriever.seed varied: {'/'.join(map(str, committed))} (the committed run), "
        f"{', '.join(map(str, args.seeds))}; every other param and all code of commit {head['rev'][:7]}; "
        f"on {cpu_description()}; the retriever trained in {retriever}, the reader in {reader}"
    )
    noise = noise_of(runs, method, digits=DIGITS)
    write_json(args.project / NOISE, noise)

    print(f"\n{NOISE} (commit it; `reproqa report` judges headline changes by it): {method}\n")
    print(f"| metric | mean | std | {BAND} std | runs |\n|---|---|---|---|---|")
    values = [flatten(run) for run in runs]
    for name, band in noise["metrics"].items():
        print(
            f"| {name} | {band['mean']:g} | {band['std']:g} | {BAND * band['std']:g} "
            f"| {', '.join(f'{value[name]:g}' for value in values)} |"
        )


if __name__ == "__main__":
    main()
