"""Answering questions from the whole corpus: the search index, then retrieve, read and combine.

Stage index builds the index; stage evaluate and `reproqa ask` answer through `Answerer`, so the command
gives the answers the evaluation scored.

How the final answer is chosen. The retriever returns the top_k contexts with their retrieval scores, scaled
to [0, 1] over those k (min-max; the first gets 1, the last 0, a single context 1). The reader post-processes
each (question, context) pair as it does on its own (reproqa.qa.postprocess): the best span with its score
(start logit + end logit), or "" with the null score (the CLS logits) when the null score beats that span by
more than train.null_score_diff_threshold (SQuAD v2). Each context's outcome, a span or "", is a candidate:

    combined = the reader's score of that outcome + evaluate.retrieval_weight x scaled retrieval score

and the best candidate is the answer, so "" (unanswerable) wins when a well-retrieved context says there is
no answer and no context gives a span that scores higher. Why a null candidate and a large weight: the reader
is trained on gold contexts only and finds confident spans in wrong contexts too (another application's
system id); on the sample, reading 3 contexts gave EM 74.2 with weight 1 and spans only, 98.6 with null
candidates and weight 10 (BENCHMARKS.md).
"""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from sentence_transformers import SentenceTransformer
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from reproqa.errors import UserError
from reproqa.params import EvaluateParams, RetrieverEvalParams, TrainParams
from reproqa.qa import postprocess, span_logits
from reproqa.retrieval import BM25, fuse

CONTEXTS, DENSE, SPARSE, INFO = "contexts.parquet", "dense.faiss", "bm25", "index.json"
FUSION_CANDIDATES = 100  # each ranking's depth before a hybrid fuses them (as evaluate_retriever measures)


def build_index(contexts: list[str], titles: list[str], retriever: Path, folder: Path, batch_size: int) -> None:
    """The index of `contexts` (context i has id i): the texts, exact inner-product search over the
    retriever's unit-length embeddings (cosine similarity; faiss IndexFlatIP), and BM25."""
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"context_id": np.arange(len(contexts)), "title": titles, "context": contexts}),
                   folder / CONTEXTS)
    encoder = SentenceTransformer(str(retriever), device=None)
    embeddings = encoder.encode(contexts, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True,
                                show_progress_bar=False).astype(np.float32)
    dense = faiss.IndexFlatIP(embeddings.shape[1])
    dense.add(embeddings)
    faiss.write_index(dense, str(folder / DENSE))
    BM25(contexts).save(folder / SPARSE)
    (folder / INFO).write_text(json.dumps({"contexts": len(contexts), "dimensions": int(embeddings.shape[1])}) + "\n")


@dataclass
class Answer:
    question: str
    text: str  # "" when no retrieved context answers
    score: float | None  # combined score of the chosen outcome (a span, or a context's "no answer")
    context_id: int | None  # the context the answer comes from
    title: str | None
    context: str | None
    retrieved: list[int]  # context ids, best first
    retrieval_scores: list[float]  # as the retriever gave them (cosine, BM25 or fused), not scaled

    def to_dict(self) -> dict:
        return asdict(self)


class Answerer:
    def __init__(self, index: Path, retriever: Path, reader: Path, evaluate: EvaluateParams,
                 fusion: RetrieverEvalParams, reading: TrainParams):
        for path in (index, retriever, reader):
            if not path.exists():
                raise UserError(f"{path}: not found; run `dvc repro` (or `dvc pull`) first")
        self.evaluate, self.fusion, self.reading = evaluate, fusion, reading
        table = pq.read_table(index / CONTEXTS)
        self.contexts, self.titles = table["context"].to_pylist(), table["title"].to_pylist()
        device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = getattr(torch, evaluate.precision)  # the index keeps float32 context embeddings either way
        if evaluate.retriever != "bm25":
            self.dense = faiss.read_index(str(index / DENSE))
            self.encoder = SentenceTransformer(str(retriever), device=device, model_kwargs={"dtype": dtype})
        if evaluate.retriever != "dense":
            self.bm25 = BM25.load(index / SPARSE)
        self.tokenizer = AutoTokenizer.from_pretrained(reader)
        self.reader = AutoModelForQuestionAnswering.from_pretrained(reader, dtype=dtype).to(device).eval()

    def retrieve(self, questions: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(context ids, scores), each (len(questions), k), best first; -1 where the corpus is smaller."""
        k = min(k, len(self.contexts))
        depth = k if self.evaluate.retriever != "hybrid" else max(k, FUSION_CANDIDATES)
        if self.evaluate.retriever != "bm25":
            embeddings = self.encoder.encode(questions, batch_size=self.evaluate.batch_size, convert_to_numpy=True,
                                             normalize_embeddings=True, show_progress_bar=False)
            scores, indices = self.dense.search(embeddings.astype(np.float32), min(depth, len(self.contexts)))
            dense = (indices, scores)
        if self.evaluate.retriever != "dense":
            sparse = self.bm25.search(questions, min(depth, len(self.contexts)))
        if self.evaluate.retriever == "dense":
            return dense
        if self.evaluate.retriever == "bm25":
            return sparse
        weights = [1 - self.fusion.dense_weight, self.fusion.dense_weight]
        return fuse([sparse, dense], self.fusion.hybrid, k, self.fusion.rrf_k, weights)

    def read(self, questions: list[str], contexts: list[list[str]]) -> list[list[tuple[str, float]]]:
        """For each question, for each of its contexts: (answer, the reader's score of it): a span and its
        score, or "" and the null score (-inf in SQuAD v1.1 mode when no span fits)."""
        pairs = {"id": [], "question": [], "context": []}
        for q, (question, candidates) in enumerate(zip(questions, contexts)):
            for c, context in enumerate(candidates):
                pairs["id"].append(f"{q}:{c}"), pairs["question"].append(question), pairs["context"].append(context)
        windows, starts, ends = span_logits(self.reader, self.tokenizer, pairs, self.reading.max_seq_length,
                                            self.reading.doc_stride, self.evaluate.batch_size)
        examples = [{"id": i, "context": c} for i, c in zip(pairs["id"], pairs["context"])]
        predictions, nbest = postprocess(examples, windows, starts, ends, self.reading.n_best,
                                         self.reading.max_answer_length, self.reading.allow_unanswerable,
                                         self.reading.null_score_diff_threshold)
        readings = []
        for q, candidates in enumerate(contexts):
            row = []
            for c in range(len(candidates)):
                text, listed = predictions[f"{q}:{c}"], nbest[f"{q}:{c}"]
                null = next((n["score"] for n in listed if n["text"] == "" and n["score"] is not None), -np.inf)
                row.append((text, listed[0]["score"] if text else null))
            readings.append(row)
        return readings

    def answer(self, questions: list[str], top_k: int | None = None) -> list[Answer]:
        ids, scores = self.retrieve(questions, top_k or self.evaluate.top_k)
        retrieved = [[int(i) for i in row if i >= 0] for row in ids]
        readings = self.read(questions, [[self.contexts[i] for i in row] for row in retrieved])
        answers = []
        for question, row, row_scores, reading in zip(questions, retrieved, scores, readings):
            row_scores = [float(s) for s in row_scores[:len(row)]]
            low, high = min(row_scores, default=0.0), max(row_scores, default=0.0)
            scaled = [(s - low) / (high - low) if high > low else 1.0 for s in row_scores]
            combined = [score + self.evaluate.retrieval_weight * r for (_, score), r in zip(reading, scaled)]
            best = int(np.argmax(combined)) if combined and max(combined) > -np.inf else None
            spanned = best is not None and reading[best][0] != ""  # else: unanswerable from these contexts
            answers.append(Answer(
                question=question, text=reading[best][0] if spanned else "",
                score=round(combined[best], 4) if best is not None else None,
                context_id=row[best] if spanned else None, title=self.titles[row[best]] if spanned else None,
                context=self.contexts[row[best]] if spanned else None,
                retrieved=row, retrieval_scores=[round(s, 4) for s in row_scores]))
        return answers
