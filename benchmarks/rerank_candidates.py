"""How many candidates the reranker should reorder: accuracy and time against evaluate.rerank.candidates.

    python benchmarks/rerank_candidates.py                                  # the sample: models/, test split
    python benchmarks/rerank_candidates.py --project benchmarks/out/e2e_rerank/squad-v1.1-dev --candidates 5 10 20
    python benchmarks/rerank_candidates.py --retriever hybrid               # reordering the hybrid search's top N

For each count N (0: no reranker), the test split's answerable questions are searched as answering searches
(reproqa.answering.Answerer.search: evaluate.retriever's top N reordered by the cross-encoder) and scored against
their gold context: NDCG@10, Recall@1 and Recall@top_k (what the reader reads). Then --timed questions are searched
one at a time, as `reproqa ask` does: p50 of the search with reranking, in --precision.
"""

import argparse
import time
from pathlib import Path

import numpy as np

from reproqa.answering import Answerer
from reproqa.index import ranking_metrics
from reproqa.models import cpu_description, resolve_precision
from reproqa.params import load_params
from reproqa.records import read_rows

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, default=REPO, help="models/, data/processed/ and params.yaml")
    parser.add_argument("--candidates", type=int, nargs="+", default=[0, 5, 10, 20, 50])
    parser.add_argument("--timed", type=int, default=100, help="questions timed one at a time")
    parser.add_argument("--precision", choices=("auto", "float32", "bfloat16"), default="float32")
    parser.add_argument("--retriever", choices=("dense", "bm25", "hybrid"), help="default: evaluate.retriever")
    args = parser.parse_args()
    evaluate = load_params("evaluate", args.project / "params.yaml")
    evaluate = evaluate.model_copy(
        update={"precision": args.precision, "retriever": args.retriever or evaluate.retriever}
    )
    models = args.project / "models"
    rows = list(read_rows(args.project / "data/processed/test.parquet", ["question", "context", "is_impossible"]))
    questions = [row["question"] for row in rows if not row["is_impossible"]]
    on = evaluate.model_copy(update={"rerank": evaluate.rerank.model_copy(update={"enabled": True})})
    answerer = Answerer.load(
        models / "index", models / "retriever", models / "reranker", models / "reader", on, models / "onnx"
    )
    relevant = answerer.index.ids_of([row["context"] for row in rows if not row["is_impossible"]])
    reranker, k = answerer.reranker, evaluate.top_k
    print(
        f"{len(questions)} questions, {len(answerer.index.contexts)} contexts, {evaluate.retriever} search, "
        f"{args.precision} ({resolve_precision(args.precision)}) on {cpu_description()}\n"
    )
    print(f"| candidates | NDCG@10 | Recall@1 | Recall@{k} | search p50, one question |\n|---:|---:|---:|---:|---:|")
    for n in args.candidates:
        answerer.reranker = reranker if n else None
        ranked = answerer.search(questions, 10, reranked=max(n, 1))[0]
        metrics = ranking_metrics(ranked, relevant, 10, [1, k])
        seconds = []
        for question in questions[: args.timed]:
            start = time.perf_counter()
            answerer.search([question], k, reranked=max(n, k))
            seconds.append(time.perf_counter() - start)
        print(
            f"| {n or 'none'} | {metrics['ndcg@10']:.3f} | {metrics['recall@1']:.3f} | {metrics[f'recall@{k}']:.3f} "
            f"| {np.percentile(np.array(seconds) * 1000, 50):.1f} ms |"
        )


if __name__ == "__main__":
    main()
