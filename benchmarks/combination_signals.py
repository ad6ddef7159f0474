"""Would the answer combination choose better among the contexts read with more signals than the fused rank?
Stage evaluate's rule (reproqa.answering.Answerer.combine) adds to the reader's score evaluate.retrieval_weight x
the retrieval score scaled over the k contexts; with the reranker that score is the fused rank, which keeps the
order but not how sure the reranker or the search was. This tries, on the same readings:

    reader score + a x scaled fused score + b x reranker logit + c x scaled search score

for every (a, b, c) of a grid, chooses on validation and reports test for the best five, the default (a =
evaluate.retrieval_weight, b = c = 0), and the oracle (the best reading among the k contexts).

    python benchmarks/combination_signals.py [--project .] [--fused 0 1 2 5 10 20] [--logit 0 0.5 1 2 4]
        [--search 0 1 2 5 10 20]

Needs evaluate.rerank.enabled and a trained reranker. Each split is searched, reranked and read once, as
Answerer.answer does (its search, the reader's readings); the search scores and the reranker's logits of the k
contexts read are computed beside it. F1 per question: reproqa.reader.qa_scores, as stage evaluate scores.
"""

import argparse
import itertools
from pathlib import Path

import numpy as np

from reproqa.answering import Answerer
from reproqa.breakdown import bootstrap_interval
from reproqa.index import scale
from reproqa.params import load_params
from reproqa.reader import qa_scores
from reproqa.records import read_rows
from reproqa.rerank import logits

REPO = Path(__file__).resolve().parent.parent

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--project", type=Path, default=REPO)
parser.add_argument("--fused", type=float, nargs="+", default=[0, 1, 2, 5, 10, 20])
parser.add_argument("--logit", type=float, nargs="+", default=[0, 0.5, 1, 2, 4])
parser.add_argument("--search", type=float, nargs="+", default=[0, 1, 2, 5, 10, 20])
args = parser.parse_args()
evaluate = load_params("evaluate", args.project / "params.yaml")
if not evaluate.rerank.enabled:
    raise SystemExit(
        f"{args.project / 'params.yaml'}: evaluate.rerank.enabled is false; this compares reranker signals"
    )
models, k = args.project / "models", evaluate.top_k
answerer = Answerer.load(
    models / "index", models / "retriever", models / "reranker", models / "reader", evaluate, models / "onnx"
)


def signals(split: str) -> dict[str, np.ndarray]:
    """Per question and context read (questions x k): each signal, and the F1 of that context's reading."""
    rows = list(read_rows(args.project / f"data/processed/{split}.parquet", ["question", "answers"]))
    questions, golds = [r["question"] for r in rows], [[a["text"] for a in r["answers"]] for r in rows]
    ids, fused = answerer.search(questions, k, reranked=max(k, evaluate.rerank.candidates))
    found = answerer.index.search(questions, evaluate.rerank.candidates, evaluate.retriever)
    searched = [dict(zip(row.tolist(), score.tolist())) for row, score in zip(*found)]
    read = [[answerer.index.contexts[i] for i in row] for row in ids.tolist()]
    pairs = [(question, context) for question, contexts in zip(questions, read) for context in contexts]
    readings = answerer.reader.read(questions, read)
    return {
        "reader": np.array([[score for _, score, _ in reading] for reading in readings]),
        "fused": np.array([scale(row) for row in fused.astype(np.float64)]),
        "logit": logits(answerer.reranker, pairs, evaluate.batch_size).reshape(len(questions), k),
        "search": np.array([scale(np.array([of[i] for i in row])) for of, row in zip(searched, ids.tolist())]),
        "f1": np.array([[qa_scores([text], [gold])["f1"] for text, _, _ in r] for r, gold in zip(readings, golds)]),
    }


def per_question(split: dict[str, np.ndarray], a: float, b: float, c: float) -> np.ndarray:
    chosen = (split["reader"] + a * split["fused"] + b * split["logit"] + c * split["search"]).argmax(axis=1)
    return split["f1"][np.arange(len(chosen)), chosen]


validation, test = signals("validation"), signals("test")
default = (evaluate.retrieval_weight, 0.0, 0.0)
grid = sorted(
    itertools.product(args.fused, args.logit, args.search), key=lambda w: -per_question(validation, *w).mean()
)
print(f"{len(validation['f1'])} validation, {len(test['f1'])} test questions, {k} contexts read\n")
print("| fused a | logit b | search c | validation F1 | test F1 | test, paired against the default (95% CI) |")
print("|---:|---:|---:|---:|---:|---|")
for weights in [default] + grid[:5]:
    difference = per_question(test, *weights) - per_question(test, *default)
    low, high = bootstrap_interval(difference.tolist())
    print(
        f"| {weights[0]:g} | {weights[1]:g} | {weights[2]:g} | {per_question(validation, *weights).mean():.1f} | "
        f"{per_question(test, *weights).mean():.1f} | {difference.mean():+.1f} ({low:+.1f} to {high:+.1f}) |"
    )
oracle = [split["f1"].max(axis=1).mean() for split in (validation, test)]
print(f"| oracle | | | {oracle[0]:.1f} | {oracle[1]:.1f} | |")
