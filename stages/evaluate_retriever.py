"""Stage evaluate_retriever: BM25 vs the base model vs the fine-tuned model (at each Matryoshka dimension)
vs a hybrid of BM25 and the fine-tuned model, on the same queries and corpus.

Corpus: every distinct context of all splits. Queries: the test split's answerable questions; the relevant
document is the context each was asked about. Metrics: NDCG@10, MRR@10, Recall@1/5/10/100.
"""

import argparse
import json
from pathlib import Path

from sentence_transformers import SentenceTransformer

from reproqa.models import resolve_model
from reproqa.params import load_params
from reproqa.retrieval import BM25, dense_search, fuse, load_corpus_and_queries, ranking_metrics, truncate

parser = argparse.ArgumentParser()
parser.add_argument("--splits", nargs="+", required=True, help="all splits: their contexts are the corpus")
parser.add_argument("--queries", required=True, help="the split whose questions are the queries")
parser.add_argument("--model", type=Path, required=True, help="the fine-tuned retriever")
parser.add_argument("--out", type=Path, required=True)
args = parser.parse_args()
retriever, params = load_params("retriever"), load_params("retriever_eval")

corpus, queries = load_corpus_and_queries(args.splits, args.queries)
results = {}
bm25 = BM25(corpus).search(queries.texts, params.top_k)
results["bm25"] = ranking_metrics(bm25[0], queries.relevant)


def embed(model_path: str) -> tuple:
    model = SentenceTransformer(model_path, device=None)
    encode = dict(batch_size=params.batch_size, convert_to_numpy=True, normalize_embeddings=True,
                  show_progress_bar=False)
    return model.encode(queries.texts, **encode), model.encode(corpus, **encode)


base_queries, base_corpus = embed(resolve_model(retriever.base_model))
results["base"] = ranking_metrics(dense_search(base_queries, base_corpus, params.top_k)[0], queries.relevant)

tuned_queries, tuned_corpus = embed(str(args.model))
for dim in retriever.matryoshka_dims:
    found = dense_search(truncate(tuned_queries, dim), truncate(tuned_corpus, dim), params.top_k)
    results[f"fine_tuned_{dim}"] = ranking_metrics(found[0], queries.relevant)
    if dim == retriever.matryoshka_dims[0]:
        tuned = found

hybrid = fuse([bm25, tuned], params.hybrid, params.top_k, params.rrf_k, [1 - params.dense_weight, params.dense_weight])
results["hybrid"] = ranking_metrics(hybrid[0], queries.relevant)

report = {"queries": len(queries.texts), "corpus": len(corpus), **results}
args.out.parent.mkdir(parents=True, exist_ok=True)
args.out.write_text(json.dumps(report, indent=2) + "\n")
width = max(map(len, results))
print(f"evaluate_retriever: {len(queries.texts)} queries, {len(corpus)} contexts")
for name, metrics in results.items():
    print(f"  {name:<{width}}  " + "  ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
