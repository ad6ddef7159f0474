"""How stage evaluate should combine retrieval and reading: integrated EM/F1 on the test split for several
numbers of contexts read (k) and retrieval weights, with and without "no answer" as a candidate.

    python benchmarks/answer_combination.py [--project .] [--k 1 3 5] [--weights 0 1 2 5 10 20]

Each question's top contexts are retrieved and read once (reproqa.answering.Answerer); each setting then
runs Answerer.answer's own choice on those readings. "spans only" drops the null candidates (a context's
"no answer" never wins; "" only when no context gives a span).
"""

import argparse
from pathlib import Path

import numpy as np

from reproqa.answering import Answerer
from reproqa.params import load_params
from reproqa.qa import qa_scores
from reproqa.records import read_rows

REPO = Path(__file__).resolve().parent.parent

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--project", type=Path, default=REPO)
parser.add_argument("--k", type=int, nargs="+", default=[1, 3, 5])
parser.add_argument("--weights", type=float, nargs="+", default=[0, 1, 2, 5, 10, 20])
args = parser.parse_args()
params = args.project / "params.yaml"
evaluate, fusion, reading = (load_params(s, params) for s in ("evaluate", "retriever_eval", "train"))
models = args.project / "models"
answerer = Answerer(models / "index", models / "retriever", models / "reader", evaluate, fusion, reading)
test = list(read_rows(args.project / "data/processed/test.parquet", ["question", "answers"]))
questions, golds = [r["question"] for r in test], [[a["text"] for a in r["answers"]] for r in test]

deepest = max(args.k)
ids, scores = answerer.retrieve(questions, deepest)
readings = answerer.read(questions, [[answerer.contexts[i] for i in row if i >= 0] for row in ids])
answerer.read = lambda asked, contexts: current  # the cached readings of the setting being scored

print(f"{len(questions)} test questions, {evaluate.retriever} retrieval\n")
print("| k | weight | EM / F1, spans only | EM / F1, with no-answer candidates |\n|---|---|---|---|")
for k in args.k:
    answerer.retrieve = lambda asked, _, k=k: (ids[:, :k], scores[:, :k])
    for weight in args.weights:
        answerer.evaluate = evaluate.model_copy(update={"retrieval_weight": weight})
        results = []
        for spans_only in (True, False):
            current = [[(text, score if text or not spans_only else -np.inf) for text, score in row[:k]]
                       for row in readings]
            found = qa_scores([a.text for a in answerer.answer(questions, k)], golds)
            results.append(f"{found['exact']:.1f} / {found['f1']:.1f}")
        print(f"| {k} | {weight:g} | {results[0]} | {results[1]} |")
