"""Retrieval over a corpus of contexts: BM25, dense (any Matryoshka dimension), their fusion, and metrics.

Shared by the retriever's evaluation, the search index and end-to-end QA: one name per idea.
A ranking is an (n_queries, k) array of corpus indices, best first.
"""

from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np

from reproqa.records import read_rows

CUTOFFS = (1, 5, 10, 100)


@dataclass
class Queries:
    texts: list[str]
    relevant: np.ndarray  # the index of each query's gold context in the corpus


def load_corpus_and_queries(split_paths: list[str], query_split_path: str) -> tuple[list[str], Queries]:
    """Corpus: every distinct context of all splits, in a stable order. Queries: the answerable questions
    of one split, each relevant to the context it was asked about. (An unanswerable question has no
    context that answers it, so it has nothing to retrieve.)"""
    contexts = sorted({row["context"] for path in split_paths for row in read_rows(path, ["context"])})
    index = {context: i for i, context in enumerate(contexts)}
    texts, relevant = [], []
    for row in read_rows(query_split_path, ["question", "context", "is_impossible"]):
        if not row["is_impossible"]:
            texts.append(row["question"])
            relevant.append(index[row["context"]])
    return contexts, Queries(texts, np.array(relevant, dtype=np.int64))


class BM25:
    def __init__(self, corpus: list[str] | None = None, index: bm25s.BM25 | None = None):
        """An index of `corpus`, or one that `load` read back."""
        if index is None:
            index = bm25s.BM25()
            index.index(bm25s.tokenize(corpus, stopwords="en", show_progress=False), show_progress=False)
        self.index = index
        self.size = int(index.scores["num_docs"])

    def save(self, folder: Path):
        self.index.save(str(folder))

    @classmethod
    def load(cls, folder: Path) -> "BM25":
        return cls(index=bm25s.BM25.load(str(folder)))

    def search(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices, scores), each (n_queries, k)."""
        tokens = bm25s.tokenize(queries, stopwords="en", show_progress=False, return_ids=False)  # index vocab
        indices, scores = self.index.retrieve(tokens, k=min(k, self.size), show_progress=False, n_threads=0)
        return np.asarray(indices), np.asarray(scores)


def truncate(embeddings: np.ndarray, dim: int) -> np.ndarray:
    """A Matryoshka embedding cut to its first `dim` values, unit length again (for cosine similarity)."""
    cut = embeddings[:, :dim]
    return cut / np.maximum(np.linalg.norm(cut, axis=1, keepdims=True), 1e-12)


def dense_search(query_embeddings: np.ndarray, corpus_embeddings: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine search of unit-length embeddings: (indices, scores), each (n_queries, k)."""
    scores = query_embeddings @ corpus_embeddings.T
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    indices = np.take_along_axis(top, order, axis=1)
    return indices, np.take_along_axis(scores, indices, axis=1)


def fuse(rankings: list[tuple[np.ndarray, np.ndarray]], method: str, k: int, rrf_k: int,
         weights: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Hybrid ranking of several (indices, scores) results.

    rrf: reciprocal rank fusion, sum of weight / (rrf_k + rank) (Cormack et al.; rrf_k = 60 there).
    weighted: sum of weight x score, each result's scores min-max scaled per query (a document missing from
    a result's top list counts 0 there). Returns (indices, fused scores), -1 / 0 where fewer than k were found.
    """
    fused = []
    for query in range(rankings[0][0].shape[0]):
        total: dict[int, float] = {}
        for (indices, scores), weight in zip(rankings, weights):
            row_scores = scores[query]
            low, high = row_scores.min(), row_scores.max()
            for rank, (doc, score) in enumerate(zip(indices[query], row_scores), start=1):
                value = 1.0 / (rrf_k + rank) if method == "rrf" else (score - low) / (high - low or 1.0)
                total[int(doc)] = total.get(int(doc), 0.0) + weight * value
        fused.append([(doc, total[doc]) for doc in sorted(total, key=lambda doc: (-total[doc], doc))[:k]])
    indices = np.array([[doc for doc, _ in row] + [-1] * (k - len(row)) for row in fused], dtype=np.int64)
    scores = np.array([[score for _, score in row] + [0.0] * (k - len(row)) for row in fused])
    return indices, scores


def ranking_metrics(indices: np.ndarray, relevant: np.ndarray, cutoffs=CUTOFFS) -> dict[str, float]:
    """NDCG@10, MRR@10 and Recall@k for each k of `cutoffs`, for one relevant document per query."""
    hits = indices == relevant[:, None]
    rank = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, np.inf)  # 1-based, inf if not retrieved
    metrics = {
        "ndcg@10": float(np.mean(np.where(rank <= 10, 1.0 / np.log2(rank + 1), 0.0))),
        "mrr@10": float(np.mean(np.where(rank <= 10, 1.0 / rank, 0.0))),
    }
    metrics |= {f"recall@{k}": float(np.mean(rank <= k)) for k in cutoffs}
    return {name: round(value, 4) for name, value in metrics.items()}
