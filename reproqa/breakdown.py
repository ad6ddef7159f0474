"""How stage evaluate breaks its F1 down for the plots: by the question's wh-word and by the length of the
gold answer, so a change that helps one kind of question and hurts another shows.

>>> question_type("and when was it retired?"), answer_length(["payments platform team"]), answer_length([])
('when', '3-4 words', 'unanswerable')
"""

import re

import numpy as np

QUESTION_WORDS = ("what", "which", "who", "whom", "whose", "when", "where", "why", "how")
PLOT_DIGITS = 2  # a bar's F1 in a plot: hundredths of a point are more than a reader of the plot can see


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
