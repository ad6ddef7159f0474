"""The bi-encoder retriever's training data and its evaluation while it trains (stage train_retriever).

A pair is (question, gold context) of an answerable row: an unanswerable question has no context to find.
"""

from pathlib import Path

from datasets import Dataset
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator
from sentence_transformers.util import mine_hard_negatives

from reproqa.errors import UserError
from reproqa.records import read_rows


def pairs(path: Path) -> Dataset:
    """The (question, gold context) pairs of a split, as columns anchor and positive: the order
    sentence-transformers' losses and mine_hard_negatives read them in."""
    rows = [r for r in read_rows(path, ["question", "context", "is_impossible"]) if not r["is_impossible"]]
    return Dataset.from_dict({"anchor": [r["question"] for r in rows], "positive": [r["context"] for r in rows]})


def with_hard_negatives(train: Dataset, model: SentenceTransformer, negatives, batch_size: int) -> dict[str, Dataset]:
    """The training pairs as two datasets for one loss: "hard_negatives", the pairs with their hardest
    negatives (params train_retriever.hard_negatives) mined by `model` among the split's contexts, and "pairs",
    the pairs none of whose candidates passes range and margin, left as they were.

    mine_hard_negatives leaves those pairs out. They are the questions whose positive the base model ranks
    below range_max or near the top negatives, the ones training needs most: on the sample, 149 of 784, and
    training without them cost 0.107 NDCG@10 (BENCHMARKS.md). So every pair still trains, with or without a
    negative. (sentence-transformers trains on a dict of datasets one batch from one dataset at a time.)
    """
    mined = mine_hard_negatives(
        train,
        model,
        num_negatives=negatives.num_negatives,
        range_min=negatives.range_min,
        range_max=negatives.range_max,
        relative_margin=negatives.relative_margin,
        sampling_strategy="top",  # the hardest negatives that pass range and margin, not a random few
        output_format="n-tuple",  # (anchor, positive, negative_1..n): what MultipleNegativesRankingLoss takes
        batch_size=batch_size,
        verbose=False,
    )
    if len(mined) == 0:
        raise UserError(
            "train_retriever.hard_negatives: no pair has a negative within range_min..range_max that scores "
            "below (1 - relative_margin) x its positive; loosen them or set enabled: false"
        )
    with_negative = set(zip(mined["anchor"], mined["positive"]))
    plain = train.filter(lambda pair: (pair["anchor"], pair["positive"]) not in with_negative)
    return {"hard_negatives": mined, "pairs": plain} if len(plain) else {"hard_negatives": mined}


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
