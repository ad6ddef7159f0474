"""How stage evaluate aggregates its per-question F1 beyond the mean: by the question's wh-word and by the
length of the gold answer (the plots), so a change that helps one kind of question and hurts another shows; and
resampled over the questions (a bootstrap confidence interval in the headline numbers), so a reader sees how
much of a score is the luck of which questions the test split holds.

>>> question_type("and when was it retired?"), answer_length(["payments platform team"]), answer_length([])
('when', '3-4 words', 'unanswerable')
"""

import re

import numpy as np

QUESTION_WORDS = ("what", "which", "who", "whom", "whose", "when", "where", "why", "how")
PLOT_DIGITS = 2  # a bar's F1 in a plot: hundredths of a point are more than a reader of the plot can see
CONFIDENCE = 0.95  # the interval's coverage: the usual 95%
# The bounds are percentiles of resampled means, themselves random: on 200 questions at F1 70 they move by ~0.3 F1
# from one bootstrap seed to another at 1,000 resamples and ~0.2 at 10,000, which costs 0.1 s. The seed is fixed, so
# the same predictions always give the same interval and metrics.json changes only when the predictions do.
RESAMPLES = 10_000
BOOTSTRAP_SEED = 0


def question_type(question: str) -> str:
    """The first wh-word of the question, or "other"."""
    return next((w for w in re.findall(r"[a-z]+", question.lower()) if w in QUESTION_WORDS), "other")


def answer_length(gold: list[str]) -> str:
    """The length of the first gold answer in words, in 4 bins; "unanswerable" when there is none."""
    if not gold:
        return "unanswerable"
    words = len(gold[0].split())
    return "1 word" if words == 1 else "2 words" if words == 2 else "3-4 words" if words <= 4 else "5+ words"


def f1_by(rows: list[dict], field: str) -> list[dict]:
    """Mean integrated and isolated F1 of the rows (stage evaluate's predictions) in each group of `field`.

    >>> f1_by([{"kind": "who", "integrated_f1": 100.0, "isolated_f1": 100.0},
    ...        {"kind": "who", "integrated_f1": 0.0, "isolated_f1": 50.0}], "kind")
    [{'kind': 'who', 'questions': 2, 'integrated_f1': 50.0, 'isolated_f1': 75.0}]
    """
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row[field], []).append(row)
    return [
        {
            field: name,
            "questions": len(members),
            "integrated_f1": round(float(np.mean([r["integrated_f1"] for r in members])), PLOT_DIGITS),
            "isolated_f1": round(float(np.mean([r["isolated_f1"] for r in members])), PLOT_DIGITS),
        }
        for name, members in sorted(groups.items())
    ]


def bootstrap_interval(values: list[float]) -> tuple[float, float]:
    """A CONFIDENCE (95%) interval of the mean of `values` (per-question F1): the mean of RESAMPLES resamples of
    the questions, drawn with replacement, and the percentiles that leave 2.5% of those means on each side.

    >>> bootstrap_interval([100.0, 100.0, 100.0])  # every question alike: nothing to resample
    (100.0, 100.0)
    >>> low, high = bootstrap_interval([0.0, 100.0] * 100)  # F1 50 on 200 questions
    >>> round(low), round(high)
    (43, 57)
    """
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    means = [values[rng.integers(0, len(values), len(values))].mean() for _ in range(RESAMPLES)]
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)
