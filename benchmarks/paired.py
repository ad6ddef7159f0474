"""Is the difference between two evaluations real? A paired bootstrap of their per-question F1.

    python benchmarks/paired.py BEFORE.jsonl AFTER.jsonl [--field integrated_f1]

BEFORE and AFTER: stage evaluate's results/evaluate/predictions.jsonl of two runs on the same test questions
(matched by id; a copy kept before rerunning, or the file of an older run from the DVC cache: its md5 is in that
run's dvc.lock). Per question, AFTER's F1 minus BEFORE's; printed: the mean difference with its 95% interval
(reproqa.breakdown.bootstrap_interval, the interval of stage evaluate's headline numbers, resampling the
questions), and how many questions gained and lost. An interval that excludes 0 says the change is beyond the
luck of which questions the test split holds. It says nothing of seed noise: compare runs that read with the
same trained models (an evaluate-only change), or measure the seeds too (benchmarks/noise.py).
"""

import argparse
import json
from pathlib import Path

import numpy as np

from reproqa.breakdown import bootstrap_interval


def predictions(path: Path) -> list[dict]:
    """The rows of stage evaluate's predictions.jsonl."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def per_question(path: Path, field: str) -> dict[str, float]:
    return {row["id"]: float(row[field]) for row in predictions(path)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--field", default="integrated_f1", help="integrated_f1 | isolated_f1 | scoped_f1")
    args = parser.parse_args()
    before, after = per_question(args.before, args.field), per_question(args.after, args.field)
    if before.keys() != after.keys():
        raise SystemExit(f"{args.before} and {args.after} answer different questions: not a paired comparison")
    differences = np.array([after[i] - before[i] for i in before])
    low, high = bootstrap_interval(differences.tolist())
    print(
        f"{len(differences)} questions, {args.field}: {np.mean(list(before.values())):.1f} -> "
        f"{np.mean(list(after.values())):.1f}, difference {differences.mean():+.1f} (95% CI {low:+.1f} to "
        f"{high:+.1f}); {int((differences > 0).sum())} questions gained, {int((differences < 0).sum())} lost"
    )


if __name__ == "__main__":
    main()
