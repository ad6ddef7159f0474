"""The search index over the corpus, and the one way it is searched: dense, BM25 or hybrid.

Stage index builds it; stage evaluate_retriever, stage evaluate and `reproqa ask` search it through
`Index.search`, one code path (the retriever table encodes questions in float32, `ask` in evaluate.precision).
A ranking is a pair of (n_questions, k) arrays: context ids (positions in the corpus), best first, and their
scores.

    models/index/
        contexts.parquet   context_id, title, context: every distinct context of all splits, sorted
        dense.faiss        the retriever's unit-length context embeddings; exact inner product = cosine
        bm25/              a bm25s index of the same contexts
        index.json         the search settings (params index.fusion), so every searcher fuses alike
"""

import json
from pathlib import Path

import bm25s
import faiss
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from sentence_transformers import SentenceTransformer

from reproqa.errors import UserError
from reproqa.models import device
from reproqa.params import Fusion
from reproqa.records import DIGITS, read_rows, write_json

CONTEXTS, DENSE, SPARSE, SETTINGS = "contexts.parquet", "dense.faiss", "bm25", "index.json"


def corpus(split_paths: list[Path]) -> tuple[list[str], list[str]]:
    """(contexts, titles): every distinct context of the splits, sorted, so that context ids do not depend
    on row order; each with the title it first appears under (split keeps an article in one split)."""
    titles: dict[str, str] = {}
    for path in split_paths:
        for row in read_rows(path, ["title", "context"]):
            titles.setdefault(row["context"], row["title"])
    contexts = sorted(titles)
    return contexts, [titles[c] for c in contexts]


def load_encoder(folder: str | Path, precision: str) -> SentenceTransformer:
    """A sentence-transformers model, on the GPU if there is one, its weights in `precision`."""
    return SentenceTransformer(str(folder), device=device(), model_kwargs={"dtype": getattr(torch, precision)})


def encode(encoder: SentenceTransformer, texts: list[str], batch_size: int) -> np.ndarray:
    """Unit-length float32 embeddings, one row per text: inner products are cosine similarities."""
    embeddings = encoder.encode(
        texts, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
    )
    return embeddings.astype(np.float32)


def truncate(embeddings: np.ndarray, dim: int) -> np.ndarray:
    """A Matryoshka embedding cut to its first `dim` values, unit length again (for cosine similarity)."""
    cut = embeddings[:, :dim]
    return cut / np.maximum(np.linalg.norm(cut, axis=1, keepdims=True), 1e-12)


def scale(scores: np.ndarray) -> np.ndarray:
    """Min-max scaling of one ranking's scores to [0, 1]. When all are equal (BM25 matched no word of the
    question, or a single context) each gets 0: scores that do not differ say nothing about which is better.

    >>> scale(np.array([3.0, 2.0, 1.0])).tolist(), scale(np.array([5.0])).tolist()
    ([1.0, 0.5, 0.0], [0.0])
    """
    low, high = scores.min(initial=np.inf), scores.max(initial=-np.inf)
    return (scores - low) / (high - low) if high > low else np.zeros_like(scores, dtype=np.float64)


def fuse(
    sparse: tuple[np.ndarray, np.ndarray], dense: tuple[np.ndarray, np.ndarray], fusion: Fusion, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The hybrid ranking of a BM25 and a dense ranking, weighted 1 - dense_weight and dense_weight.

    rrf: reciprocal rank fusion, sum of weight / (rrf_k + rank) (Cormack et al.; rrf_k = 60 there).
    weighted: sum of weight x score, each ranking's scores min-max scaled per question (`scale`); a context
    missing from a ranking counts 0 there. Ties go to the smaller context id. Where fewer than k contexts
    were found, the rest is -1 with score 0.
    """
    weights = (1.0 - fusion.dense_weight, fusion.dense_weight)
    fused = []
    for question in range(sparse[0].shape[0]):
        total: dict[int, float] = {}
        for (ids, scores), weight in zip((sparse, dense), weights):
            values = (
                1.0 / (fusion.rrf_k + np.arange(1, len(ids[question]) + 1))
                if fusion.method == "rrf"
                else scale(scores[question])
            )
            for context, value in zip(ids[question].tolist(), values.tolist()):
                total[context] = total.get(context, 0.0) + weight * value
        fused.append([(c, total[c]) for c in sorted(total, key=lambda context: (-total[context], context))[:k]])
    ids = np.array([[c for c, _ in row] + [-1] * (k - len(row)) for row in fused], dtype=np.int64)
    scores = np.array([[score for _, score in row] + [0.0] * (k - len(row)) for row in fused])
    return ids, scores


class BM25:
    """bm25s over a list of texts, with English stopwords; `search` returns a ranking."""

    def __init__(self, texts: list[str] | None = None, index: bm25s.BM25 | None = None):
        if index is None:
            index = bm25s.BM25()
            index.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
        self.index = index
        self.size = int(index.scores["num_docs"])

    def save(self, folder: Path) -> None:
        self.index.save(str(folder))

    @classmethod
    def load(cls, folder: Path) -> "BM25":
        return cls(index=bm25s.BM25.load(str(folder)))

    def search(self, questions: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        tokens = bm25s.tokenize(questions, stopwords="en", show_progress=False, return_ids=False)  # index vocab
        ids, scores = self.index.retrieve(tokens, k=min(k, self.size), show_progress=False, n_threads=0)
        return np.asarray(ids), np.asarray(scores)


class Index:
    """The corpus (context i has id i), its dense embeddings in faiss and its BM25 index, searched as the
    fusion settings say. `encoder` embeds the questions, `batch_size` at a time (None: BM25 only); `dim`: a
    Matryoshka size both sides are cut to (None: the full embedding)."""

    def __init__(
        self,
        contexts: list[str],
        titles: list[str],
        dense: faiss.Index,
        bm25: BM25 | None,
        fusion: Fusion,
        encoder: SentenceTransformer | None,
        batch_size: int,
        dim: int | None = None,
    ):
        self.contexts, self.titles, self.dense, self.bm25, self.fusion = contexts, titles, dense, bm25, fusion
        self.encoder, self.batch_size, self.dim = encoder, batch_size, dim

    @classmethod
    def build(
        cls,
        contexts: list[str],
        titles: list[str],
        encoder: SentenceTransformer,
        batch_size: int,
        fusion: Fusion,
        bm25: bool = True,
    ) -> "Index":
        """Embeds every context with `encoder` for exact cosine search, and indexes them for BM25 unless
        bm25=False (an index searched only by `dense`, such as the base model's in evaluate_retriever)."""
        embeddings = encode(encoder, contexts, batch_size)
        dense = faiss.IndexFlatIP(embeddings.shape[1])
        dense.add(embeddings)
        return cls(contexts, titles, dense, BM25(contexts) if bm25 else None, fusion, encoder, batch_size)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            pa.table({"context_id": np.arange(len(self.contexts)), "title": self.titles, "context": self.contexts}),
            folder / CONTEXTS,
        )
        faiss.write_index(self.dense, str(folder / DENSE))
        self.bm25.save(folder / SPARSE)
        write_json(folder / SETTINGS, {"fusion": self.fusion.model_dump()})

    @classmethod
    def load(cls, folder: Path, encoder: SentenceTransformer | None, batch_size: int) -> "Index":
        """The index stage index wrote; `encoder` (the retriever it was built with) embeds questions."""
        if not (folder / SETTINGS).exists():
            raise UserError(f"{folder}: no search index here; run `dvc repro` (or `dvc pull`) first")
        table = pq.read_table(folder / CONTEXTS)
        fusion = Fusion.model_validate(json.loads((folder / SETTINGS).read_text())["fusion"])
        return cls(
            table["context"].to_pylist(),
            table["title"].to_pylist(),
            faiss.read_index(str(folder / DENSE)),
            BM25.load(folder / SPARSE),
            fusion,
            encoder,
            batch_size,
        )

    def ids_of(self, contexts: list[str]) -> np.ndarray:
        """The context id of each text, which must be in the corpus (a split's contexts are)."""
        position = {context: i for i, context in enumerate(self.contexts)}
        return np.array([position[context] for context in contexts], dtype=np.int64)

    def truncated(self, dim: int) -> "Index":
        """The same index searched with Matryoshka embeddings cut to `dim` values."""
        embeddings = truncate(self.dense.reconstruct_n(0, self.dense.ntotal), dim).astype(np.float32)
        dense = faiss.IndexFlatIP(dim)
        dense.add(embeddings)
        return Index(self.contexts, self.titles, dense, self.bm25, self.fusion, self.encoder, self.batch_size, dim)

    def search(self, questions: list[str], k: int, method: str) -> tuple[np.ndarray, np.ndarray]:
        """The top k contexts of each question by `method` (dense, bm25 or hybrid), as a ranking. A hybrid
        search fuses each ranking to depth max(k, fusion.candidates)."""
        if method in ("dense", "hybrid") and self.encoder is None or method in ("bm25", "hybrid") and self.bm25 is None:
            raise ValueError(f"this index was loaded or built without what a {method} search needs")
        k = min(k, len(self.contexts))
        depth = max(k, self.fusion.candidates) if method == "hybrid" else k
        depth = min(depth, len(self.contexts))
        if method in ("dense", "hybrid"):
            embeddings = encode(self.encoder, questions, self.batch_size)
            if self.dim is not None:
                embeddings = truncate(embeddings, self.dim).astype(np.float32)
            scores, ids = self.dense.search(embeddings, depth)
            dense = (ids, scores)
        if method in ("bm25", "hybrid"):
            sparse = self.bm25.search(questions, depth)
        if method == "dense":
            return dense
        if method == "bm25":
            return sparse
        return fuse(sparse, dense, self.fusion, k)


def ranking_metrics(ids: np.ndarray, relevant: np.ndarray, ndcg_at: int, recall_at: list[int]) -> dict[str, float]:
    """NDCG@ndcg_at, MRR@ndcg_at and Recall@k for each k of `recall_at`, with one relevant context per
    question (`relevant[i]` for row i of the ranking), rounded to DIGITS places.

    >>> ranking_metrics(np.array([[7, 3], [1, 2]]), np.array([3, 9]), ndcg_at=10, recall_at=[1, 2])
    {'ndcg@10': 0.3155, 'mrr@10': 0.25, 'recall@1': 0.0, 'recall@2': 0.5}
    """
    hits = ids == relevant[:, None]
    rank = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, np.inf)  # 1-based, inf if not retrieved
    metrics = {
        f"ndcg@{ndcg_at}": float(np.mean(np.where(rank <= ndcg_at, 1.0 / np.log2(rank + 1), 0.0))),
        f"mrr@{ndcg_at}": float(np.mean(np.where(rank <= ndcg_at, 1.0 / rank, 0.0))),
    }
    metrics |= {f"recall@{k}": float(np.mean(rank <= k)) for k in recall_at}
    return {name: round(value, DIGITS) for name, value in metrics.items()}
