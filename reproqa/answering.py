"""Answering a question from the whole corpus: search the index, rerank, read each context found, combine.

Stage evaluate and `reproqa ask` answer through `Answerer`, so the command gives the answers the evaluation
scored. Its parts: reproqa.index.Index (the search), the cross-encoder of reproqa.rerank (the reordering, with
evaluate.rerank.enabled), reproqa.reader.Reader (the reading), and the `evaluate` params (which search, how many
candidates and contexts, the combination's weight, the backend and precision).

How the final answer is chosen. The index returns the top contexts; the reranker, when enabled, reorders the top
evaluate.rerank.candidates of them, and its logits become their retrieval scores. The first top_k are read, their
retrieval scores scaled to [0, 1] over those k (reproqa.index.scale: the first gets 1, the last 0; all 0 when they
tie). The reader post-processes each (question, context) pair as it does on its own (reproqa.reader.postprocess):
the best span with its score (start logit + end logit), or "" with the null score (the CLS logits) when the null score
beats that span by more than the reader's null threshold (SQuAD v2). Each context's outcome, a span or "", is
a candidate:

    combined = the reader's score of that outcome + evaluate.retrieval_weight x scaled retrieval score

and the best candidate is the answer, so "" (unanswerable) wins when a well-retrieved context says there is
no answer and no context gives a span that scores higher. Why a null candidate and a large weight: the reader
is trained on gold contexts only and finds confident spans in wrong contexts too (another application's
system id); on the sample, reading 3 contexts gave EM 74.2 with weight 1 and spans only, 98.6 with null
candidates and weight 10 (BENCHMARKS.md).
"""

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from reproqa.errors import UserError
from reproqa.index import Filter, Index, load_encoder, scale
from reproqa.models import resolve_backend, resolve_precision
from reproqa.params import EvaluateParams
from reproqa.reader import Reader
from reproqa.records import DIGITS
from reproqa.rerank import load_reranker, rerank


@dataclass
class Answer:
    question: str
    text: str  # "" when no retrieved context answers
    score: float | None  # combined score of the chosen outcome (a span, or a context's "no answer")
    context_id: int | None  # the context the answer comes from
    answer_start: int | None  # the answer's character offset in that context
    title: str | None
    context: str | None
    retrieved: list[int]  # context ids, best first
    retrieval_scores: list[float]  # as the index gave them (cosine, BM25 or fused) or the reranker's logits, not scaled

    def to_dict(self) -> dict:
        return asdict(self)


class Answerer:
    """Search `index` as params.retriever says, reorder the candidates with `reranker` (a CrossEncoder, or an
    exported one; None: as found), read the top params.top_k contexts with `reader`, combine."""

    def __init__(self, index: Index, reader: Reader, params: EvaluateParams, reranker=None, answered_with=None):
        self.index, self.reader, self.params, self.reranker = index, reader, params, reranker
        self.answered_with = answered_with  # {"backend", "precision"}, as this machine resolved them (`load`)

    @classmethod
    def load(
        cls, index: Path, retriever: Path, reranker: Path, reader: Path, params: EvaluateParams, exported: Path
    ) -> "Answerer":
        """The index and models that `dvc repro` built (or `dvc pull` fetched): with params.backend torch the
        trained models, in params.precision as this machine resolves it; with onnx their ONNX graphs in
        `exported` (stage export: retriever/, reranker/, reader/), in ONNX Runtime; auto: as this machine
        resolves it (reproqa.models.resolve_backend). The index keeps float32
        context embeddings either way. The reranker is loaded only with params.rerank.enabled."""
        backend = resolve_backend(params.backend, params.precision)
        if backend == "onnx":
            retriever, reranker, reader = (exported / name for name in ("retriever", "reranker", "reader"))
        needed = (index, retriever, reader) + ((reranker,) if params.rerank.enabled else ())
        for path in needed:
            if not path.exists():
                raise UserError(f"{path}: not found; run `dvc repro` (or `dvc pull`) first")
        precision = resolve_precision(params.precision) if backend == "torch" else "float32"
        encoder = load_encoder(retriever, precision) if params.retriever != "bm25" else None
        return cls(
            Index.load(index, encoder, params.batch_size),
            Reader(reader, precision, params.batch_size),
            params,
            load_reranker(reranker, precision) if params.rerank.enabled else None,
            {"backend": backend, "precision": precision},
        )

    def search(
        self, questions: list[str], k: int, filters: list[Filter | None] | None = None, reranked: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The top k contexts of each question as answering sees them (a ranking, as Index.search returns it): the
        index's search, its first `reranked` (default params.rerank.candidates) reordered by the reranker if there
        is one, the rest after them as found (scored nan)."""
        if self.reranker is None:
            return self.index.search(questions, k, self.params.retriever, filters)
        depth = reranked or self.params.rerank.candidates
        found = self.index.search(questions, max(k, depth), self.params.retriever, filters)
        fusion = {"search_weight": self.params.rerank.search_weight, "rrf_k": self.params.rerank.rrf_k}
        ids, scores = rerank(
            self.reranker, questions, self.index.contexts, found, depth, self.params.batch_size, **fusion
        )
        return ids[:, :k], scores[:, :k]

    def answer(
        self, questions: list[str], top_k: int | None = None, filters: list[Filter | None] | None = None
    ) -> list[Answer]:
        """`filters`: one per question (reproqa.index.Filter; None: the whole corpus), such as
        [{"title": ["Acme privacy policy"]}] for a question about that document only."""
        k = top_k or self.params.top_k
        ids, scores = self.search(questions, k, filters, reranked=max(k, self.params.rerank.candidates))
        retrieved = [[int(i) for i in row if i >= 0] for row in ids]
        readings = self.reader.read(questions, [[self.index.contexts[i] for i in row] for row in retrieved])
        return [
            self.combine(question, row, [float(s) for s in row_scores[: len(row)]], reading)
            for question, row, row_scores, reading in zip(questions, retrieved, scores, readings)
        ]

    def combine(
        self,
        question: str,
        retrieved: list[int],
        retrieval_scores: list[float],
        reading: list[tuple[str, float, int | None]],
    ) -> Answer:
        """The answer to one question from its retrieved contexts and the reader's outcome on each."""
        scaled = scale(np.array(retrieval_scores, dtype=np.float64))
        combined = [score + self.params.retrieval_weight * r for (_, score, _), r in zip(reading, scaled)]
        best = int(np.argmax(combined)) if combined and max(combined) > -np.inf else None
        spanned = best is not None and reading[best][0] != ""  # else: unanswerable from these contexts
        context = retrieved[best] if spanned else None
        return Answer(
            question=question,
            text=reading[best][0] if spanned else "",
            score=round(float(combined[best]), DIGITS) if best is not None else None,
            context_id=context,
            answer_start=reading[best][2] if spanned else None,
            title=self.index.titles[context] if spanned else None,
            context=self.index.contexts[context] if spanned else None,
            retrieved=retrieved,
            retrieval_scores=[round(s, DIGITS) for s in retrieval_scores],
        )
