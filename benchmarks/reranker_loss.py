"""Which loss trains the reranker: BinaryCrossEntropyLoss on labelled pairs (the sentence-transformers reranker
recipe) against MultipleNegativesRankingLoss on the same questions and hard negatives (stage train_reranker's).

    python benchmarks/reranker_loss.py                      # the project's splits, models/index, train_reranker params
    python benchmarks/reranker_loss.py --epochs 2 --losses bce

Each loss trains a fresh cross-encoder as stage train_reranker does (reproqa.rerank.training_tuples; BCE gets the
same tuples as (question, context, 1 or 0) pairs, the positives weighted per_question : 1) and is scored with the
stage's evaluator: NDCG@10 of the gold context after reordering each validation question's candidates, and the
search's own order ("base"). Prints the last training loss and the scores per loss.
"""

import argparse
import time
from pathlib import Path

import torch
from datasets import Dataset
from sentence_transformers import CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments
from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator
from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss, MultipleNegativesRankingLoss
from transformers import set_seed

from reproqa.index import Index, load_encoder
from reproqa.models import resolve_model, training_arguments
from reproqa.params import load_params
from reproqa.records import read_rows
from reproqa.rerank import reranking_samples, training_tuples

REPO = Path(__file__).resolve().parent.parent
COLUMNS = ["question", "context", "answers", "is_impossible"]


def as_labelled_pairs(tuples: dict[str, Dataset]) -> Dataset:
    """The tuples as (query, passage, label) rows: the positive 1.0, each negative 0.0."""
    queries, passages, labels = [], [], []
    for dataset in tuples.values():
        for row in dataset:
            for column, text in row.items():
                if column != "query":
                    queries.append(row["query"])
                    passages.append(text)
                    labels.append(1.0 if column == "positive" else 0.0)
    return Dataset.from_dict({"query": queries, "passage": passages, "label": labels}).shuffle(seed=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, default=REPO)
    parser.add_argument("--losses", nargs="+", choices=("bce", "mnrl"), default=["bce", "mnrl"])
    parser.add_argument("--epochs", type=float, help="default: train_reranker.epochs")
    args = parser.parse_args()
    params = load_params("train_reranker", args.project / "params.yaml")
    params = params.model_copy(update={"epochs": args.epochs or params.epochs, "eval_steps": 10**9})
    index = Index.load(args.project / "models/index", load_encoder(args.project / "models/retriever", "float32"), 64)
    splits = {
        s: list(read_rows(args.project / f"data/processed/{s}.parquet", COLUMNS)) for s in ("train", "validation")
    }
    tuples = training_tuples(splits["train"], index.subset([r["context"] for r in splits["train"]]), params.negatives)
    samples = reranking_samples(
        splits["validation"], index.subset([r["context"] for r in splits["validation"]]), params.negatives
    )
    for name in args.losses:
        set_seed(params.seed)
        model = CrossEncoder(resolve_model(params.base_model), num_labels=1, max_length=params.max_seq_length)
        if name == "bce":
            data = as_labelled_pairs(tuples)
            loss = BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(float(params.negatives.per_question)))
        else:
            data, loss = tuples, MultipleNegativesRankingLoss(model, num_negatives=params.negatives.in_batch)
        evaluator = CrossEncoderRerankingEvaluator(
            samples, at_k=10, always_rerank_positives=False, name="validation", write_csv=False
        )
        training = CrossEncoderTrainingArguments(
            **training_arguments(params, args.project / "scratch/reranker_loss")
            | {"eval_strategy": "no", "logging_steps": 10},
            save_strategy="no",
        )
        start = time.perf_counter()
        trainer = CrossEncoderTrainer(model=model, args=training, train_dataset=data, loss=loss)
        trainer.train()
        seconds = time.perf_counter() - start
        scores = evaluator(model)
        last_loss = [log["loss"] for log in trainer.state.log_history if "loss" in log][-1]
        print(
            f"{name}: {params.epochs} epoch(s), {seconds:.0f} s, last training loss {last_loss:.3f}; validation "
            f"NDCG@10 {scores['validation_ndcg@10']:.3f} (the search's order: {scores['validation_base_ndcg@10']:.3f})"
        )


if __name__ == "__main__":
    main()
