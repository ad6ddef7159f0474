"""What the null threshold chosen on validation does to the reader's test score, model by model: the isolated
(gold context) F1 of each run's reader at threshold 0 (SQuAD v2's default, and this project's before 5c4c5df),
at the threshold stage train chose for it on validation, and at the threshold best for the test split itself
(a bound no run can reach: it looks at the test answers). One model, three thresholds: the differences are the
threshold's, not the seed's.

    python benchmarks/null_threshold.py [--experiments noise-seed-1 noise-seed-2 ...] [--project .]

The runs: the workspace's (`dvc repro`) and the named experiments (benchmarks/noise.py makes noise-seed-S),
their reader's n-best lists on the test split (results/train/nbest.json) and its settings
(models/reader/inference.json) read with dvc.api from the DVC cache.
"""

import argparse
import json
import statistics
import subprocess
from pathlib import Path

import dvc.api
import pyarrow.parquet as pq

from reproqa.reader import best_null_threshold, prediction_at, scores

REPO = Path(__file__).resolve().parent.parent

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--project", type=Path, default=REPO)
parser.add_argument("--experiments", nargs="*", default=[], help="experiment names (dvc exp show)")
args = parser.parse_args()

refs = subprocess.run(
    ["git", "for-each-ref", "refs/exps", "--format=%(refname) %(objectname)"],
    cwd=args.project,
    capture_output=True,
    text=True,
    check=True,
).stdout.split("\n")
commit_of = {ref.rsplit("/", 1)[-1]: sha for ref, sha in (line.split() for line in refs if line)}
runs = {"workspace": None} | {name: commit_of[name] for name in args.experiments}
test = pq.read_table(args.project / "data/processed/test.parquet", columns=["id", "answers"]).to_pylist()


def read(path: str, rev: str | None):
    return json.loads(dvc.api.read(path, repo=str(args.project), rev=rev))


print("| run | threshold chosen | F1 at 0 | F1 at chosen | F1 at test's best | NoAns F1 at 0 / chosen |")
print("| --- | ---: | ---: | ---: | ---: | --- |")
gains = []
for name, rev in runs.items():
    nbest = read("results/train/nbest.json", rev)
    chosen = read("models/reader/inference.json", rev)["null_score_diff_threshold"]
    zero, mine, best = (
        scores(test, {e["id"]: prediction_at(nbest[e["id"]], threshold) for e in test})
        for threshold in (0.0, chosen, best_null_threshold(test, nbest))
    )
    assert round(mine["f1"], 4) == read("metrics/train/test.json", rev)["f1"], "not the rule stage train scored with"
    gains.append(mine["f1"] - zero["f1"])
    print(
        f"| {name} | {chosen:.2f} | {zero['f1']:.1f} | {mine['f1']:.1f} | {best['f1']:.1f} "
        f"| {zero['NoAns_f1']:.1f} / {mine['NoAns_f1']:.1f} |"
    )
spread = f", std {statistics.stdev(gains):.1f}" if len(gains) > 1 else ""
print(f"\nF1 at the chosen threshold - F1 at 0: mean {statistics.mean(gains):+.1f}{spread} over {len(gains)} runs")
