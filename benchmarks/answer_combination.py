"""How stage evaluate should combine retrieval and reading: integrated EM/F1 on a split (validation, where
settings are chosen; test only to report) for several numbers of contexts read (k) and retrieval weights,
with and without "no answer" as a candidate.

    python benchmarks/answer_combination.py [--project .] [--split validation] [--k 1 3 5] [--weights 0 1 2 5 10 20]
        [--scope title]   # each question answered among its gold context's document, as evaluate.scope does

Each question's top contexts are retrieved and read once (reproqa.answering.Answerer); each setting then
runs Answerer.combine, the choice `reproqa ask` makes, on those readings. "spans only" drops the null
candidates (a context's "no answer" never wins; "" only when no context gives a span).
"""

import argparse
from pathlib import Path

import numpy as np

from reproqa.answering import Answerer
from reproqa.params import load_params
from reproqa.reader import qa_scores
from reproqa.records import read_rows
from reproqa.rerank import document_filters

REPO = Path(__file__).resolve().parent.parent

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--project", type=Path, default=REPO)
parser.add_argument("--split", choices=["validation", "test"], default="validation")
parser.add_argument("--k", type=int, nargs="+", default=[1, 3, 5])
parser.add_argument("--weights", type=float, nargs="+", default=[0, 1, 2, 5, 10, 20])
parser.add_argument("--scope", choices=["title", "source"], help="answer among the gold context's document's contexts")
args = parser.parse_args()
evaluate = load_params("evaluate", args.project / "params.yaml")
models = args.project / "models"
answerer = Answerer.load(
    models / "index", models / "retriever", models / "reranker", models / "reader", evaluate, models / "onnx"
)
rows = list(read_rows(args.project / f"data/processed/{args.split}.parquet", ["question", "context", "answers"]))
questions, golds = [r["question"] for r in rows], [[a["text"] for a in r["answers"]] for r in rows]

filters = document_filters(rows, answerer.index, args.scope)  # None without --scope
ids, scores = answerer.search(questions, max(args.k), filters, reranked=max(max(args.k), evaluate.rerank.candidates))
retrieved = [[int(i) for i in row if i >= 0] for row in ids]
readings = answerer.reader.read(questions, [[answerer.index.contexts[i] for i in row] for row in retrieved])

print(f"{len(questions)} {args.split} questions, {evaluate.retriever} retrieval, scope {args.scope}\n")
print("| k | weight | EM / F1, spans only | EM / F1, with no-answer candidates |\n|---|---|---|---|")
for k in args.k:
    for weight in args.weights:
        answerer.params = evaluate.model_copy(update={"retrieval_weight": weight})
        results = []
        for spans_only in (True, False):
            answers = [
                answerer.combine(
                    question,
                    row[:k],
                    [float(s) for s in row_scores[: len(row[:k])]],
                    [(text, score if text or not spans_only else -np.inf, start) for text, score, start in reading[:k]],
                )
                for question, row, row_scores, reading in zip(questions, retrieved, scores, readings)
            ]
            found = qa_scores([a.text for a in answers], golds)
            results.append(f"{found['exact']:.1f} / {found['f1']:.1f}")
        print(f"| {k} | {weight:g} | {results[0]} | {results[1]} |")
