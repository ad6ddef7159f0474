"""Stage evaluate: end-to-end QA on the test split, reported as Haystack does.

Integrated: each question answered from the whole corpus, exactly as `reproqa ask` answers it (search the
index, reorder the candidates with the reranker if evaluate.rerank says so, read evaluate.top_k contexts,
combine the scores; reproqa/answering.py says how). Isolated: the reader alone, on the gold context. Retrieval:
NDCG@k and Recall@k of the gold context for the answerable questions, in the order the reader gets the contexts
(reranked, if so).
Scoped (with evaluate.scope): each question answered again among the contexts that share its gold context's
title (or source), as `reproqa ask --filter title=...` answers a user who names the document.
Writes the headline numbers (integrated, isolated and scoped: EM, F1, F1 of the answerable and of the unanswerable
questions, and a bootstrap 95% confidence interval of F1 over the test questions), plots (Recall@k over k, F1 by
question type and by answer length) and every question's predictions, so a person can read the errors.
"""

import argparse
import json
from pathlib import Path

from reproqa.answering import Answerer
from reproqa.breakdown import answer_length, bootstrap_interval, f1_by, question_type
from reproqa.index import ranking_metrics
from reproqa.params import load_params
from reproqa.reader import qa_scores
from reproqa.records import DIGITS, count_rows, read_rows, write_json
from reproqa.rerank import document_filters

parser = argparse.ArgumentParser()
parser.add_argument("--splits", type=Path, nargs=3, required=True, help="train, validation, test: counted")
parser.add_argument("--test", type=Path, required=True)
parser.add_argument("--index", type=Path, required=True)
parser.add_argument("--retriever", type=Path, required=True)
parser.add_argument("--reranker", type=Path, required=True, help="loaded only with evaluate.rerank.enabled")
parser.add_argument("--reader", type=Path, required=True)
parser.add_argument(
    "--exported", type=Path, required=True, help="stage export's folder: read with evaluate.backend onnx"
)
parser.add_argument("--predictions", type=Path, required=True, help="folder: predictions.jsonl, a line per question")
parser.add_argument("--metrics", type=Path, required=True)
parser.add_argument("--plots", type=Path, required=True)
args = parser.parse_args()
params = load_params("evaluate")

# 1. Answer every test question from the corpus (integrated), from its gold context (isolated) and, with
# evaluate.scope, from the contexts of its gold context's document (scoped)
answerer = Answerer.load(args.index, args.retriever, args.reranker, args.reader, params, args.exported)
test = list(read_rows(args.test, ["id", "question", "context", "answers", "is_impossible"]))
questions = [row["question"] for row in test]
golds = [[answer["text"] for answer in row["answers"]] for row in test]
integrated = answerer.answer(questions)
isolated = [reading[0][0] for reading in answerer.reader.read(questions, [[row["context"]] for row in test])]

gold_ids = answerer.index.ids_of([row["context"] for row in test])
if params.scope:  # the filter a user who names the gold context's document gives
    scopes = document_filters(test, answerer.index, params.scope)
    scoped = answerer.answer(questions, filters=scopes)

# 2. Where the gold context ranks, for the answerable questions (and within their scope)
answerable = [i for i, row in enumerate(test) if not row["is_impossible"]]
cutoffs = sorted(set(params.recall_at) | {params.top_k})
asked, depth = [questions[i] for i in answerable], max(params.ndcg_at, *cutoffs)
ranked = answerer.search(asked, depth)[0]
retrieval = ranking_metrics(ranked, gold_ids[answerable], params.ndcg_at, cutoffs)
if params.scope:
    ranked = answerer.search(asked, depth, [scopes[i] for i in answerable])[0]
    scoped_retrieval = ranking_metrics(ranked, gold_ids[answerable], params.ndcg_at, cutoffs)

# 3. One row per question, the headline numbers and the plots
rows = []
for row, gold, gold_id, answer, alone in zip(test, golds, gold_ids.tolist(), integrated, isolated):
    rank = next((r + 1 for r, c in enumerate(answer.retrieved) if c == gold_id), None)
    rows.append(
        {
            "id": row["id"],
            "question": row["question"],
            "gold": gold,
            "question_type": question_type(row["question"]),
            "answer_length": answer_length(gold),
            "integrated": answer.text,
            "isolated": alone,
            "integrated_f1": qa_scores([answer.text], [gold])["f1"],
            "isolated_f1": qa_scores([alone], [gold])["f1"],
            "score": answer.score,
            "answer_context_id": answer.context_id,
            "gold_context_id": gold_id,
            "gold_context_rank": rank,
            "retrieved": answer.retrieved,
            "retrieval_scores": answer.retrieval_scores,
        }
    )
if params.scope:
    for row, answer in zip(rows, scoped):
        row |= {"scoped": answer.text, "scoped_f1": qa_scores([answer.text], [row["gold"]])["f1"]}
args.predictions.mkdir(parents=True, exist_ok=True)
(args.predictions / "predictions.jsonl").write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))

# Integrated, isolated (and scoped): EM, F1, F1 of the answerable and of the unanswerable questions, and the
# bootstrap interval of F1 over the test questions (how far F1 could move with other questions drawn for the test
# split).
systems = {"integrated": [answer.text for answer in integrated], "isolated": isolated}
if params.scope:
    systems["scoped"] = [answer.text for answer in scoped]
headline = {}
for name, predictions in systems.items():
    scores = qa_scores(predictions, golds, digits=DIGITS)
    headline[name] = {"exact": scores["exact"], "f1": scores["f1"], "has_answer_f1": scores["HasAns_f1"]}
    if "NoAns_f1" in scores:  # a test split without unanswerable questions (SQuAD v1.1) has none
        headline[name]["no_answer_f1"] = scores["NoAns_f1"]
    low, high = bootstrap_interval([row[f"{name}_f1"] for row in rows])
    headline[name]["f1_ci"] = {"low": round(low, DIGITS), "high": round(high, DIGITS)}
ndcg = f"ndcg@{params.ndcg_at}"
if params.scope:
    headline["scoped"] |= {ndcg: scoped_retrieval[ndcg], "recall@top_k": scoped_retrieval[f"recall@{params.top_k}"]}
headline |= {
    "answered_with": answerer.answered_with,  # the backend and precision `auto` resolved to on this machine
    "retriever": {ndcg: retrieval[ndcg], "recall@top_k": retrieval[f"recall@{params.top_k}"], "top_k": params.top_k},
    "data": {
        "train": count_rows(args.splits[0]),
        "validation": count_rows(args.splits[1]),
        "test": len(test),
        "contexts": len(answerer.index.contexts),
    },
}
write_json(args.metrics, headline)
plots = {
    "recall_at_k.json": [{"k": k, "recall": retrieval[f"recall@{k}"]} for k in cutoffs],
    "f1_by_question_type.json": f1_by(rows, "question_type"),
    "f1_by_answer_length.json": f1_by(rows, "answer_length"),
}
for name, values in plots.items():
    write_json(args.plots / name, values, indent=1)
print(
    f"evaluate: {len(test)} test questions, {len(answerer.index.contexts)} contexts, {params.retriever} top "
    f"{params.top_k}: integrated EM {headline['integrated']['exact']:.1f} F1 {headline['integrated']['f1']:.1f} "
    f"(CI {headline['integrated']['f1_ci']['low']:.1f}-{headline['integrated']['f1_ci']['high']:.1f}), "
    f"isolated EM {headline['isolated']['exact']:.1f} F1 {headline['isolated']['f1']:.1f}, "
    f"Recall@{params.top_k} {headline['retriever']['recall@top_k']:.3f}"
    + (f"; scoped by {params.scope}: F1 {headline['scoped']['f1']:.1f}" if params.scope else "")
    + f"; answered with {answerer.answered_with['backend']} in {answerer.answered_with['precision']}"
)
