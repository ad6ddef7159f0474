"""The search index over the corpus, and the one way it is searched: dense, BM25 or hybrid.

Stage index builds it; stage evaluate_retriever, stage evaluate and `reproqa ask` search it through
`Index.search`, one code path (the retriever table encodes questions in float32, `ask` in evaluate.precision).
A ranking is a pair of (n_questions, k) arrays: context ids (positions in the corpus), best first, and their
scores; where fewer than k contexts were found (a filter matched fewer), the rest is -1 with score 0.

A search can be filtered, one filter per question, as search engines and Haystack do: {field: [values]} keeps
the contexts whose field (FILTER_FIELDS: the document title, the ingest source) is one of the values, for every
field named. A question such as "do you share my information?" makes sense within one website's policy only:
the user knows which, the text does not.

    models/index/
        contexts.parquet   context_id, title, source, context: every distinct context of all splits, sorted
        dense.faiss        the retriever's unit-length context embeddings; exact inner product = cosine
        bm25/              a bm25s index of the same contexts
        index.json         the search settings (params index.fusion), so every searcher fuses alike
"""

import json
from pathlib import Path
from typing import TYPE_CHECKING

import bm25s
import faiss
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from reproqa.errors import UserError
from reproqa.models import device
from reproqa.onnx_models import OnnxEncoder, is_exported
from reproqa.params import Fusion
from reproqa.records import DIGITS, read_rows, write_json

CONTEXTS, DENSE, SPARSE, SETTINGS = "contexts.parquet", "dense.faiss", "bm25", "index.json"
FILTER_FIELDS = ("title", "source")  # what a filter can name: a context's document title, its ingest source

if TYPE_CHECKING:  # loaded where a PyTorch encoder is: `reproqa ask` on ONNX Runtime imports no torch
    from sentence_transformers import SentenceTransformer

Filter = dict[str, list[str | None]]  # field -> the values kept; None matches a context without that field


def corpus(split_paths: list[Path]) -> tuple[list[str], list[str | None], list[str]]:
    """(contexts, titles, sources): every distinct context of the splits, sorted, so that context ids do not
    depend on row order; each with the title and source it first appears under (split keeps an article in one
    split)."""
    first: dict[str, tuple[str | None, str]] = {}
    for path in split_paths:
        for row in read_rows(path, ["title", "source", "context"]):
            first.setdefault(row["context"], (row["title"], row["source"]))
    contexts = sorted(first)
    return contexts, [first[c][0] for c in contexts], [first[c][1] for c in contexts]


def load_encoder(folder: str | Path, precision: str) -> "SentenceTransformer | OnnxEncoder":
    """A sentence-transformers model, on the GPU if there is one, its weights in `precision`; one that stage
    export wrote runs in ONNX Runtime instead (its precision is the export's)."""
    if is_exported(folder):
        return OnnxEncoder(folder)
    import torch
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device=device(), model_kwargs={"dtype": getattr(torch, precision)})


def encode(encoder: "SentenceTransformer | OnnxEncoder", texts: list[str], batch_size: int) -> np.ndarray:
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


def ids_by_value(values: list[str | None]) -> dict[str | None, list[int]]:
    """The positions of each value of a field, for filters.

    >>> ids_by_value(["acme", None, "acme"])
    {'acme': [0, 2], None: [1]}
    """
    ids: dict[str | None, list[int]] = {}
    for i, value in enumerate(values):
        ids.setdefault(value, []).append(i)
    return ids


def wrong_contexts(row: dict, contexts: list[str], ranked: list[int], n: int) -> list[str]:
    """The first n contexts of a search's ranking for row's question (`ranked`: ids into `contexts`, -1 where the
    search found fewer) that are not row's own context and contain none of its answers: contexts that do not
    answer it, as DPR (Karpukhin et al., 2020) picks hard negatives. A context that holds the answer may well
    answer the question, so it is never one. The reader trains on them as "no answer" (train.distractors), the
    reranker as negatives (train_reranker.negatives).

    >>> row = {"context": "atlas billing: anna keller.", "answers": [{"text": "anna keller", "answer_start": 15}]}
    >>> corpus = ["atlas billing: anna keller.", "atlas billing v2: anna keller.", "atlas billings: tom lee."]
    >>> wrong_contexts(row, corpus, [0, 1, 2, -1], n=2)
    ['atlas billings: tom lee.']
    """
    answers = [answer["text"] for answer in row["answers"]]
    found = [contexts[i] for i in ranked if i >= 0]
    return [c for c in found if c != row["context"] and not any(answer in c for answer in answers)][:n]


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

    def search(self, questions: list[str], k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The top k of all texts, or of the `allowed` ids (sorted; k at most their number). Ties go to the smaller
        id, as `fuse` breaks them, so a filter that allows every text ranks as no filter does (bm25s's own top k
        breaks ties otherwise, and its weight_mask would still rank masked texts, score 0, among allowed ones)."""
        tokens = bm25s.tokenize(questions, stopwords="en", show_progress=False, return_ids=False)  # index vocab
        among = np.arange(self.size) if allowed is None else allowed
        k = min(k, len(among))
        ids, scores = np.empty((len(questions), k), dtype=np.int64), np.empty((len(questions), k))
        for i, question in enumerate(tokens):
            score = self.index.get_scores_from_ids(self.index.get_tokens_ids(question))[among]
            order = np.argsort(-score, kind="stable")[:k]
            ids[i], scores[i] = among[order], score[order]
        return ids, scores


class Index:
    """The corpus (context i has id i) with each context's title and source, its dense embeddings in faiss and
    its BM25 index, searched as the fusion settings say. `encoder` embeds the questions, `batch_size` at a time
    (None: BM25 only); `dim`: a Matryoshka size both sides are cut to (None: the full embedding)."""

    def __init__(
        self,
        contexts: list[str],
        titles: list[str | None],
        dense: faiss.Index,
        bm25: BM25 | None,
        fusion: Fusion,
        encoder: "SentenceTransformer | OnnxEncoder | None",
        batch_size: int,
        dim: int | None = None,
        sources: list[str | None] | None = None,
    ):
        self.contexts, self.titles, self.dense, self.bm25, self.fusion = contexts, titles, dense, bm25, fusion
        self.encoder, self.batch_size, self.dim = encoder, batch_size, dim
        self.sources = sources if sources is not None else [None] * len(contexts)
        self.fields = {"title": self.titles, "source": self.sources}  # FILTER_FIELDS
        self.ids_by_value = {field: ids_by_value(values) for field, values in self.fields.items()}  # for filters

    @classmethod
    def build(
        cls,
        contexts: list[str],
        titles: list[str | None],
        encoder: "SentenceTransformer",
        batch_size: int,
        fusion: Fusion,
        bm25: bool = True,
        sources: list[str | None] | None = None,
    ) -> "Index":
        """Embeds every context with `encoder` for exact cosine search, and indexes them for BM25 unless
        bm25=False (an index searched only by `dense`, such as the base model's in evaluate_retriever)."""
        embeddings = encode(encoder, contexts, batch_size)
        dense = faiss.IndexFlatIP(embeddings.shape[1])
        dense.add(embeddings)
        bm25_index = BM25(contexts) if bm25 else None
        return cls(contexts, titles, dense, bm25_index, fusion, encoder, batch_size, sources=sources)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            pa.table(
                {
                    "context_id": np.arange(len(self.contexts)),
                    "title": pa.array(self.titles, pa.string()),
                    "source": pa.array(self.sources, pa.string()),
                    "context": self.contexts,
                }
            ),
            folder / CONTEXTS,
        )
        faiss.write_index(self.dense, str(folder / DENSE))
        self.bm25.save(folder / SPARSE)
        write_json(folder / SETTINGS, {"fusion": self.fusion.model_dump()})

    @classmethod
    def load(cls, folder: Path, encoder: "SentenceTransformer | OnnxEncoder | None", batch_size: int) -> "Index":
        """The index stage index wrote; `encoder` (the retriever it was built with) embeds questions."""
        if not (folder / SETTINGS).exists():
            raise UserError(f"{folder}: no search index here; run `dvc repro` (or `dvc pull`) first")
        table = pq.read_table(folder / CONTEXTS)
        if "source" not in table.column_names:
            raise UserError(f"{folder}: built by an older reproqa (no source column); run `dvc repro index`")
        fusion = Fusion.model_validate(json.loads((folder / SETTINGS).read_text())["fusion"])
        return cls(
            table["context"].to_pylist(),
            table["title"].to_pylist(),
            faiss.read_index(str(folder / DENSE)),
            BM25.load(folder / SPARSE),
            fusion,
            encoder,
            batch_size,
            sources=table["source"].to_pylist(),  # checked above
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
        return Index(
            self.contexts, self.titles, dense, self.bm25, self.fusion, self.encoder, self.batch_size, dim, self.sources
        )

    def subset(self, contexts: list[str]) -> "Index":
        """An index over some of this one's contexts (their distinct texts, sorted as the corpus is), searched as
        this one is: the same embeddings, BM25 over these texts alone. Stage train_reranker searches a split's
        questions among that split's contexts, as the retriever was trained."""
        ids = np.unique(self.ids_of(contexts))
        dense = faiss.IndexFlatIP(self.dense.d)
        dense.add(self.dense.reconstruct_n(0, self.dense.ntotal)[ids])
        texts = [self.contexts[i] for i in ids]
        return Index(
            texts,
            [self.titles[i] for i in ids],
            dense,
            BM25(texts),
            self.fusion,
            self.encoder,
            self.batch_size,
            self.dim,
            [self.sources[i] for i in ids],
        )

    def matching(self, where: Filter) -> np.ndarray:
        """The ids of the contexts a filter keeps, sorted; an unknown field, or a filter that keeps no context,
        is an error that says what there is."""
        for field, values in where.items():
            if field not in FILTER_FIELDS:
                raise UserError(f"unknown filter field {field!r}: a filter names {' or '.join(FILTER_FIELDS)}")
            if not isinstance(values, list) or not all(value is None or isinstance(value, str) for value in values):
                raise UserError(f"filter field {field!r}: expected a list of strings (or null), got {values!r}")
        keep = np.ones(len(self.contexts), dtype=bool)
        for field, values in where.items():
            in_field = np.zeros_like(keep)
            for value in values:
                in_field[self.ids_by_value[field].get(value, [])] = True
            keep &= in_field
        if not keep.any():
            shown = ", ".join(f"{field} in {values}" for field, values in where.items())
            raise UserError(f"no context matches the filter {shown}")
        return np.flatnonzero(keep).astype(np.int64)

    def search(
        self, questions: list[str], k: int, method: str, filters: list[Filter | None] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The top k contexts of each question by `method` (dense, bm25 or hybrid), as a ranking, among the
        contexts its filter keeps (`filters`: one per question, None for the whole corpus). A hybrid search
        fuses each ranking to depth max(k, fusion.candidates)."""
        if method in ("dense", "hybrid") and self.encoder is None or method in ("bm25", "hybrid") and self.bm25 is None:
            raise ValueError(f"this index was loaded or built without what a {method} search needs")
        k = min(k, len(self.contexts))
        if filters is not None and (not isinstance(filters, list) or len(filters) != len(questions)):
            raise ValueError(f"filters: expected a list of {len(questions)} (one per question), got {filters!r}")
        if filters is None or all(where is None for where in filters):
            return self._search(questions, k, method, None)
        groups: dict[str, list[int]] = {}  # the questions of each distinct filter, searched together
        for i, where in enumerate(filters):
            groups.setdefault(json.dumps(where, sort_keys=True), []).append(i)
        ids, scores = np.full((len(questions), k), -1, dtype=np.int64), np.zeros((len(questions), k))
        for key, members in groups.items():
            where = json.loads(key)
            found = self._search(
                [questions[i] for i in members], k, method, None if where is None else self.matching(where)
            )
            ids[members, : found[0].shape[1]], scores[members, : found[0].shape[1]] = found
        return ids, scores

    def _search(self, questions: list[str], k: int, method: str, allowed: np.ndarray | None):
        """search() among all contexts, or among the `allowed` ids (sorted)."""
        size = len(self.contexts) if allowed is None else len(allowed)
        depth = min(max(k, self.fusion.candidates) if method == "hybrid" else k, size)
        if method in ("dense", "hybrid"):
            embeddings = encode(self.encoder, questions, self.batch_size)
            if self.dim is not None:
                embeddings = truncate(embeddings, self.dim).astype(np.float32)
            among = None if allowed is None else faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
            scores, ids = self.dense.search(embeddings, depth, params=among)
            dense = (ids, scores)
        if method in ("bm25", "hybrid"):
            sparse = self.bm25.search(questions, depth, allowed)
        if method == "dense":
            return dense
        if method == "bm25":
            return sparse
        return fuse(sparse, dense, self.fusion, min(k, size))


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
