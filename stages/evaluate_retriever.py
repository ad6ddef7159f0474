"""Stage evaluate_retriever: BM25 vs the base model vs the fine-tuned model (at each Matryoshka dimension)
vs the hybrid of BM25 and the fine-tuned model vs the reranker (the evaluate.retriever search's top
evaluate.rerank.candidates reordered by the cross-encoder, the rest after them as found), on the same questions
and corpus, searched through the index as stage evaluate and `reproqa ask` search it (reproqa.index.Index.search,
reproqa.rerank.rerank).

Corpus: the index's contexts (every distinct context of all splits). Questions: the answerable questions of
one split; the relevant context is the one each was asked about (an unanswerable question has none).
Metrics: NDCG@k and MRR@k (k = ndcg_at), Recall@k for each k of recall_at.
"""

import argparse
from pathlib import Path

from reproqa.index import Index, load_encoder, ranking_metrics
from reproqa.models import portable_numerics
from reproqa.params import load_params
from reproqa.records import read_rows, write_json
from reproqa.rerank import load_reranker, rerank

parser = argparse.ArgumentParser()
parser.add_argument("--index", type=Path, required=True)
parser.add_argument("--base", type=Path, required=True, help="the retriever's base model (stage base_models)")
parser.add_argument("--retriever", type=Path, required=True, help="the fine-tuned retriever the index was built with")
parser.add_argument("--reranker", type=Path, required=True)
parser.add_argument("--questions", type=Path, required=True, help="the split whose questions are searched")
parser.add_argument("--out", type=Path, required=True)
args = parser.parse_args()
params, retriever = load_params("evaluate_retriever"), load_params("train_retriever")
answering = load_params("evaluate")  # its retriever and rerank.candidates only (dvc.yaml)

# Questions are encoded (and reranked) in float32 here, whatever evaluate.precision says: the models compare at
# full precision, with the kernels of any x86 CPU (its table's digits do not depend on the machine).
print(f"evaluate_retriever: {portable_numerics('float32')}")
index = Index.load(args.index, load_encoder(args.retriever, "float32"), params.batch_size)
rows = [r for r in read_rows(args.questions, ["question", "context", "is_impossible"]) if not r["is_impossible"]]
questions, relevant = [r["question"] for r in rows], index.ids_of([r["context"] for r in rows])
depth = max(params.ndcg_at, *params.recall_at)  # a hybrid fuses max(depth, index.fusion.candidates) of each

# Each system: (the index it searches, how). The base model's index is built here, for this table only.
base_encoder = load_encoder(args.base, "float32")
base = Index.build(index.contexts, index.titles, base_encoder, params.batch_size, index.fusion, bm25=False)
systems = {"bm25": (index, "bm25"), "base": (base, "dense")}
systems |= {f"fine_tuned_{dim}": (index.truncated(dim), "dense") for dim in retriever.matryoshka_dims}
systems["hybrid"] = (index, "hybrid")
rankings = {name: searched.search(questions, depth, method) for name, (searched, method) in systems.items()}
# The reranker reorders the top evaluate.rerank.candidates of the search that answering reranks (whether or not
# evaluate.rerank.enabled: this table compares); the rest of the ranking follows as found.
candidates = answering.rerank.candidates
found = index.search(questions, max(depth, candidates), answering.retriever)
reranker = load_reranker(args.reranker, "float32")
fusion = {"search_weight": answering.rerank.search_weight, "rrf_k": answering.rerank.rrf_k}
rankings["reranked"] = rerank(reranker, questions, index.contexts, found, candidates, params.batch_size, **fusion)
results = {
    name: ranking_metrics(ranking[0], relevant, params.ndcg_at, params.recall_at) for name, ranking in rankings.items()
}

write_json(args.out, {"questions": len(questions), "corpus": len(index.contexts), **results})
width = max(map(len, results))
print(f"evaluate_retriever: {len(questions)} questions, {len(index.contexts)} contexts")
for name, metrics in results.items():
    print(f"  {name:<{width}}  " + "  ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
