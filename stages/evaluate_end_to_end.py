"""Stage evaluate: end-to-end QA on the test split, reported as Haystack does.

Integrated: each question is answered from the whole corpus (retrieve evaluate.top_k contexts, read each,
combine the scores; reproqa/answering.py documents how). Isolated: the reader alone, on the gold context.
Retrieval: NDCG@10 and Recall@k of the gold context for the answerable questions. Writes the headline
numbers (metrics/metrics.json), plots (Recall@k over k, F1 by question type and by answer length) and every
question's predictions, so a person can read the errors.
(Not named evaluate.py: a script's folder comes first on sys.path, and that name would shadow the
`evaluate` library.)
"""

import argparse
import json
import re
from pathlib import Path

import numpy as np

from reproqa.answering import Answerer
from reproqa.params import load_params
from reproqa.qa import qa_scores
from reproqa.records import count_rows, read_rows
from reproqa.retrieval import ranking_metrics

parser = argparse.ArgumentParser()
parser.add_argument("--splits", nargs="+", required=True, help="train, validation and test: counted in the metrics")
parser.add_argument("--test", required=True)
parser.add_argument("--index", type=Path, required=True)
parser.add_argument("--retriever", type=Path, required=True)
parser.add_argument("--reader", type=Path, required=True)
parser.add_argument("--predictions", type=Path, required=True, help="folder: predictions.jsonl, a line per question")
parser.add_argument("--metrics", type=Path, required=True)
parser.add_argument("--plots", type=Path, required=True)
args = parser.parse_args()
params, fusion, reading = load_params("evaluate"), load_params("retriever_eval"), load_params("train")
QUESTION_WORDS = ("what", "which", "who", "whom", "whose", "when", "where", "why", "how")

answerer = Answerer(args.index, args.retriever, args.reader, params, fusion, reading)
test = list(read_rows(args.test, ["id", "question", "context", "answers", "is_impossible"]))
questions = [row["question"] for row in test]
golds = [[answer["text"] for answer in row["answers"]] for row in test]

integrated = answerer.answer(questions)
isolated = [reading[0][0] for reading in answerer.read(questions, [[row["context"]] for row in test])]  # gold context

context_ids = {context: i for i, context in enumerate(answerer.contexts)}
answerable = [i for i, row in enumerate(test) if not row["is_impossible"]]
relevant = np.array([context_ids[test[i]["context"]] for i in answerable], dtype=np.int64)
depth = max(10, params.top_k, *params.recall_at)
ranked = answerer.retrieve([questions[i] for i in answerable], depth)[0]
cutoffs = sorted(set(params.recall_at) | {params.top_k})
retrieval = ranking_metrics(ranked, relevant, cutoffs)


def scores(predictions: list[str]) -> dict:
    return {k: round(v, 4) for k, v in qa_scores(predictions, golds).items() if k in ("exact", "f1")}


def question_type(question: str) -> str:
    return next((w for w in re.findall(r"[a-z]+", question.lower()) if w in QUESTION_WORDS), "other")


def answer_length(gold: list[str]) -> str:
    words = len(gold[0].split()) if gold else 0
    return "unanswerable" if not gold else "1 word" if words == 1 else "2 words" if words == 2 else (
        "3-4 words" if words <= 4 else "5+ words")


rows = []
for i, (row, answer, alone) in enumerate(zip(test, integrated, isolated)):
    rank = next((r + 1 for r, c in enumerate(answer.retrieved) if c == context_ids[row["context"]]), None)
    rows.append({"id": row["id"], "question": row["question"], "gold": golds[i], "question_type": question_type(row["question"]),
                 "answer_length": answer_length(golds[i]), "integrated": answer.text, "isolated": alone,
                 "integrated_f1": qa_scores([answer.text], [golds[i]])["f1"], "isolated_f1": qa_scores([alone], [golds[i]])["f1"],
                 "score": answer.score, "answer_context_id": answer.context_id, "gold_context_id": context_ids[row["context"]],
                 "gold_context_rank": rank, "retrieved": answer.retrieved, "retrieval_scores": answer.retrieval_scores})
args.predictions.mkdir(parents=True, exist_ok=True)
(args.predictions / "predictions.jsonl").write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))

headline = {
    "integrated": scores([a.text for a in integrated]),
    "isolated": scores(isolated),
    "retriever": {"ndcg@10": retrieval["ndcg@10"], "recall@top_k": retrieval[f"recall@{params.top_k}"],
                  "top_k": params.top_k},
    "data": {"train": count_rows(args.splits[0]), "validation": count_rows(args.splits[1]),
             "test": len(test), "contexts": len(answerer.contexts)},
}
args.metrics.parent.mkdir(parents=True, exist_ok=True)
args.metrics.write_text(json.dumps(headline, indent=2) + "\n")


def f1_by(field: str) -> list[dict]:
    groups = sorted({row[field] for row in rows})
    return [{field: g, "questions": sum(r[field] == g for r in rows),
             "integrated_f1": round(float(np.mean([r["integrated_f1"] for r in rows if r[field] == g])), 2),
             "isolated_f1": round(float(np.mean([r["isolated_f1"] for r in rows if r[field] == g])), 2)}
            for g in groups]


args.plots.mkdir(parents=True, exist_ok=True)
plots = {"recall_at_k.json": [{"k": k, "recall": retrieval[f"recall@{k}"]} for k in cutoffs],
         "f1_by_question_type.json": f1_by("question_type"), "f1_by_answer_length.json": f1_by("answer_length")}
for name, values in plots.items():
    (args.plots / name).write_text(json.dumps(values, indent=1) + "\n")
print(f"evaluate: {len(test)} test questions, {len(answerer.contexts)} contexts, {params.retriever} top {params.top_k}: "
      f"integrated EM {headline['integrated']['exact']:.1f} F1 {headline['integrated']['f1']:.1f}, "
      f"isolated EM {headline['isolated']['exact']:.1f} F1 {headline['isolated']['f1']:.1f}, "
      f"Recall@{params.top_k} {headline['retriever']['recall@top_k']:.3f}")
