"""Where integrated F1 goes: the gap between answering from the corpus and reading the gold context, split by
what went wrong, and the best any choice among the retrieved contexts could do.

    python benchmarks/answer_gap.py results/evaluate/predictions.jsonl [MORE.jsonl ...]

Per question of stage evaluate's predictions (its `gold_context_rank` among the contexts read, and
`answer_context_id`), the F1 it lost against isolated, summed over the questions as points of the mean:
- "not retrieved": the gold context is not among the contexts read; no reader wins these back at this top_k;
- "gold at rank 2+, answered from another": the combination chose another context over a retrieved gold one;
- "gold first, another answer": the gold context was first and the answer came from elsewhere, or another span.
Questions where another context read better than the gold one gain; "gained" is their sum, so
gap = the three parts - gained. "Oracle choice": integrated F1 if every question whose gold context was read took
the better of that context's reading (its isolated answer) and the answer it got: the ceiling of a rule that
chooses among the contexts read.
"""

import argparse
from pathlib import Path

import numpy as np
from paired import predictions


def gap(rows: list[dict]) -> dict[str, float]:
    """The parts of the gap in points of F1 (means over the questions).

    >>> rows = [{"isolated_f1": 100.0, "integrated_f1": 0.0, "gold_context_rank": None, "answer_context_id": 3,
    ...          "gold_context_id": 1},
    ...         {"isolated_f1": 100.0, "integrated_f1": 0.0, "gold_context_rank": 2, "answer_context_id": 3,
    ...          "gold_context_id": 1},
    ...         {"isolated_f1": 0.0, "integrated_f1": 50.0, "gold_context_rank": 1, "answer_context_id": 3,
    ...          "gold_context_id": 1},
    ...         {"isolated_f1": 80.0, "integrated_f1": 80.0, "gold_context_rank": 1, "answer_context_id": 1,
    ...          "gold_context_id": 1}]
    >>> gap(rows)["gap"], gap(rows)["not retrieved"], gap(rows)["gained"], gap(rows)["oracle choice"]
    (37.5, 25.0, 12.5, 57.5)
    """
    isolated = np.array([r["isolated_f1"] for r in rows])
    integrated = np.array([r["integrated_f1"] for r in rows])
    read = np.array([r["gold_context_rank"] is not None for r in rows])
    first = np.array([r["gold_context_rank"] == 1 for r in rows])
    lost = np.clip(isolated - integrated, 0, None)
    parts = {
        "integrated": integrated.mean(),
        "isolated": isolated.mean(),
        "gap": (isolated - integrated).mean(),
        "not retrieved": (lost * ~read).mean(),
        "gold at rank 2+, answered from another": (lost * (read & ~first)).mean(),
        "gold first, another answer": (lost * first).mean(),
        "gained": np.clip(integrated - isolated, 0, None).mean(),
        "oracle choice": np.where(read, np.maximum(isolated, integrated), integrated).mean(),
    }
    return {name: float(value) for name, value in parts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("predictions", type=Path, nargs="+")
    args = parser.parse_args()
    parts = {path: gap(predictions(path)) for path in args.predictions}
    names = list(next(iter(parts.values())))
    print("| predictions | " + " | ".join(names) + " |\n|---|" + "---:|" * len(names))
    for path, part in parts.items():
        print(f"| {path} | " + " | ".join(f"{part[name]:.1f}" for name in names) + " |")


if __name__ == "__main__":
    main()
