"""The bi-encoder retriever's training data and its evaluation while it trains (stage train_retriever).

A pair is (question, gold context) of an answerable row: an unanswerable question has no context to find.
"""

from pathlib import Path

from datasets import Dataset
from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

from reproqa.records import read_rows


def pairs(path: Path) -> Dataset:
    """The (question, gold context) pairs of a split, as columns anchor and positive: the order
    sentence-transformers' losses and mine_hard_negatives read them in."""
    rows = [r for r in read_rows(path, ["question", "context", "is_impossible"]) if not r["is_impossible"]]
    return Dataset.from_dict({"anchor": [r["question"] for r in rows], "positive": [r["context"] for r in rows]})


def retrieval_evaluator(validation: Dataset, dim: int) -> InformationRetrievalEvaluator:
    """NDCG@10, MRR@10 and Recall@k of the validation pairs' questions against their distinct contexts,
    with embeddings cut to `dim` (the largest Matryoshka dimension). Its metrics are named
    validation_cosine_<metric>; LiveMetrics logs them as eval/<metric>."""
    context_id = {context: str(i) for i, context in enumerate(sorted(set(validation["positive"])))}
    return InformationRetrievalEvaluator(
        queries={str(i): q for i, q in enumerate(validation["anchor"])},
        corpus={i: context for context, i in context_id.items()},
        relevant_docs={str(i): {context_id[c]} for i, c in enumerate(validation["positive"])},
        name="validation",
        write_csv=False,
        truncate_dim=dim,
    )
