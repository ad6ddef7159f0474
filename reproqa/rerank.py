"""The cross-encoder reranker: its training data (stage train_reranker), and the reordering of a search's
candidates (stage evaluate_retriever, stage evaluate and `reproqa ask`, through `rerank`).

A cross-encoder reads a question and a context together, one BERT pass per pair, and gives one score (a logit):
slower than comparing two embeddings, so it reorders only the retriever's top candidates
(evaluate.rerank.candidates), and more precise, because every word of the question attends to every word of the
context (the bi-encoder compares two vectors made apart).

Training data, as DPR (Karpukhin et al., 2020) picks its negatives: per answerable question, its gold context
and the top contexts a search finds for it among the split's own contexts that contain none of its answers (a
context that holds the answer may well answer the question, so it is no safe negative). The loss is listwise
(MultipleNegativesRankingLoss: the gold context against the hard negatives and other questions' contexts): with
BinaryCrossEntropyLoss on the same pairs, the sentence-transformers recipe, the bundled model with its new head
stayed at the chance loss for two epochs of the sample (BENCHMARKS.md).
sentence_transformers.util.mine_hard_negatives mines with an embedding model only; the search here can be BM25,
the fine-tuned retriever, or their hybrid (train_reranker.negatives.retriever), the candidates answering sees;
with train_reranker.negatives.scope, among the contexts of the question's own document only, the candidates a
question scoped by a filter (`reproqa ask --filter`, evaluate.scope) sees: where questions do not name their
document (a privacy policy's "do you share my data?"), the search's top contexts from other documents may
answer as well as the gold one, and within the document are the contexts to tell apart.
"""

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from reproqa.index import Index, wrong_contexts
from reproqa.models import device
from reproqa.onnx_models import OnnxReranker, is_exported
from reproqa.params import RerankNegatives

if TYPE_CHECKING:  # training and PyTorch answering load them; answering in ONNX Runtime imports no torch
    from datasets import Dataset
    from sentence_transformers import CrossEncoder


def answerable(rows: list[dict]) -> list[dict]:
    """The rows with a context to find: an unanswerable question has none."""
    return [row for row in rows if not row["is_impossible"]]


def document_filters(rows: list[dict], index: Index, field: str | None) -> list[dict] | None:
    """Per row, the filter that keeps the contexts sharing its gold context's `field` (title or source) in
    `index`; None: no filter."""
    if field is None:
        return None
    gold = index.ids_of([row["context"] for row in rows])
    return [{field: [index.fields[field][i]]} for i in gold.tolist()]


def searched(rows: list[dict], index: Index, negatives: RerankNegatives) -> tuple[list[dict], np.ndarray]:
    """The answerable rows, and for each the ids of the top negatives.depth contexts `index` finds for its question
    by negatives.retriever (-1 past the end), within its own document with negatives.scope (`document_filters`)."""
    rows = answerable(rows)
    filters = document_filters(rows, index, negatives.scope)
    return rows, index.search([row["question"] for row in rows], negatives.depth, negatives.retriever, filters)[0]


def training_tuples(rows: list[dict], index: Index, negatives: RerankNegatives) -> "dict[str, Dataset]":
    """The training data for MultipleNegativesRankingLoss, as two datasets for one loss: "hard_negatives", the
    answerable rows whose question has negatives.per_question negatives among the top negatives.depth contexts
    `index` finds for it by negatives.retriever that do not answer it (`wrong_contexts`), as columns
    query, positive (the gold context), negative_1..negative_n; and "in_batch", the rows short of that many, as
    (query, positive) pairs that learn from the other questions' contexts in their batch only (a dataset is left
    out when empty). `index` holds the split's contexts only (Index.subset); with negatives.scope, a question's
    negatives come from its own document's contexts (`searched`). (sentence-transformers trains on a dict of
    datasets one batch from one dataset at a time.)"""
    rows, found = searched(rows, index, negatives)
    n = negatives.per_question
    hard: dict[str, list[str]] = {"query": [], "positive": []} | {f"negative_{i + 1}": [] for i in range(n)}
    plain: dict[str, list[str]] = {"query": [], "positive": []}
    for row, ids in zip(rows, found.tolist()):
        wrong = wrong_contexts(row, index.contexts, ids, n)
        columns = hard if len(wrong) == n else plain
        columns["query"].append(row["question"])
        columns["positive"].append(row["context"])
        for i, context in enumerate(wrong if columns is hard else []):
            columns[f"negative_{i + 1}"].append(context)
    from datasets import Dataset

    datasets = {"hard_negatives": Dataset.from_dict(hard), "in_batch": Dataset.from_dict(plain)}
    return {name: dataset for name, dataset in datasets.items() if len(dataset)}


def reranking_samples(rows: list[dict], index: Index, negatives: RerankNegatives) -> list[dict]:
    """CrossEncoderRerankingEvaluator's samples: per answerable row, the top contexts `index` finds for its
    question (`searched`), the documents to reorder, and its gold context (the positive; a miss when the search
    missed it). A question whose scope holds a single context has nothing to reorder and is left out."""
    rows, found = searched(rows, index, negatives)
    samples = [
        {
            "query": row["question"],
            "positive": [row["context"]],
            "documents": [index.contexts[i] for i in ids if i >= 0],
        }
        for row, ids in zip(rows, found.tolist())
    ]
    return [sample for sample in samples if len(sample["documents"]) > 1]


def load_reranker(folder: str | Path, precision: str) -> "CrossEncoder | OnnxReranker":
    """The cross-encoder stage train_reranker saved, on the GPU if there is one, its weights in `precision`; one
    that stage export wrote runs in ONNX Runtime instead (its precision is the export's)."""
    if is_exported(folder):
        return OnnxReranker(folder)
    import torch
    from sentence_transformers import CrossEncoder

    return CrossEncoder(str(folder), device=device(), model_kwargs={"dtype": getattr(torch, precision)})


def logits(model: "CrossEncoder | OnnxReranker", pairs: list[tuple[str, str]], batch_size: int) -> np.ndarray:
    """The cross-encoder's logit for each (question, context) pair. Logits, not its sigmoid: the answer
    combination scales the scores of the contexts read, and a sigmoid would squash the confident ones together."""
    if isinstance(model, OnnxReranker):
        return model.logits(pairs, batch_size)
    import torch

    return model.predict(
        pairs, batch_size=batch_size, activation_fn=torch.nn.Identity(), convert_to_numpy=True, show_progress_bar=False
    )


def rerank(
    model: "CrossEncoder | OnnxReranker",
    questions: list[str],
    contexts: list[str],
    ranking: tuple[np.ndarray, np.ndarray],
    depth: int,
    batch_size: int,
    search_weight: float = 0.0,
    rrf_k: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A ranking (context ids and scores, as Index.search returns them) whose first `depth` candidates per question
    are reordered by the cross-encoder's logit for (question, context), which becomes their score. Candidates
    beyond `depth` keep their order after them, scored nan (not scored by the reranker); -1 (nothing found) stays
    -1. Ties keep the search's order.

    With search_weight > 0 the candidates are ordered instead by the reciprocal rank fusion (Cormack et al.) of
    the reranker's order and the search's, which becomes their score (ties: the reranker's order):

        (1 - search_weight) / (rrf_k + rank by the reranker) + search_weight / (rrf_k + rank in the search)

    A reranker trained on a few thousand questions is about as good as a hybrid search, and wrong on other
    questions: fused, the two beat either (BENCHMARKS.md)."""
    ids, scores = ranking[0].copy(), ranking[1].astype(np.float64)
    scores[:, depth:] = np.nan
    head = ids[:, :depth]
    pairs = [(question, contexts[i]) for question, row in zip(questions, head.tolist()) for i in row if i >= 0]
    if not pairs:
        return ids, scores
    scores_of_pairs = iter(logits(model, pairs, batch_size).astype(np.float64).tolist())
    for q, row in enumerate(head.tolist()):
        found = [i for i in row if i >= 0]
        scored = [next(scores_of_pairs) for _ in found]
        order = sorted(range(len(found)), key=lambda j: -scored[j])  # stable: ties keep the search's order
        if search_weight:  # j is also the candidate's 0-based rank in the search
            fused = {
                j: (1 - search_weight) / (rrf_k + 1 + r) + search_weight / (rrf_k + 1 + j) for r, j in enumerate(order)
            }
            order, scored = sorted(order, key=lambda j: -fused[j]), fused
        ids[q, : len(found)] = [found[j] for j in order]
        scores[q, : len(found)] = [scored[j] for j in order]
    return ids, scores
