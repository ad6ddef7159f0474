"""Stage train_retriever: fine-tune a sentence-transformers bi-encoder on (question, gold context) pairs.

MultipleNegativesRankingLoss (the other contexts of a batch are the negatives; the no-duplicates sampler
keeps a context from being its own negative) inside MatryoshkaLoss, so the embedding also works cut to
each dimension in params. Optional hard negatives are mined with the base model (a pair it finds none for
trains without one). Curves go to DVCLive, the model to a DVC output; Trainer checkpoints stay in a scratch
folder.
"""

import argparse
import shutil
from pathlib import Path

from datasets import concatenate_datasets
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.sentence_transformer.losses import MatryoshkaLoss, MultipleNegativesRankingLoss
from sentence_transformers.sentence_transformer.training_args import BatchSamplers
from transformers import set_seed

from reproqa.errors import UserError
from reproqa.models import forget_how_loaded, portable_numerics, training_arguments
from reproqa.params import load_params
from reproqa.records import seeded_draw
from reproqa.retriever import pairs, retrieval_evaluator, with_hard_negatives
from reproqa.tracking import LiveMetrics

parser = argparse.ArgumentParser()
parser.add_argument("--base", type=Path, required=True, help="the base model (stage base_models)")
parser.add_argument("--train", type=Path, required=True)
parser.add_argument("--general", type=Path, required=True, help="general QA data (split.general_sources)")
parser.add_argument("--validation", type=Path, required=True)
parser.add_argument("--model-out", type=Path, required=True)
parser.add_argument("--live", type=Path, required=True, help="DVCLive folder: curves and last metrics")
parser.add_argument("--scratch", type=Path, required=True, help="Trainer checkpoints (not a DVC output)")
args = parser.parse_args()
params = load_params("train_retriever")
print(f"train_retriever: {portable_numerics(params.precision)}")  # before any computation: its kernels
CURVES = ["loss", "ndcg@10", "mrr@10", "recall@1", "recall@10"]

# 1. The base model, cut to max_seq_length tokens
set_seed(params.seed)
model = SentenceTransformer(str(args.base), device=None)  # the Trainer places it
model.max_seq_length = params.max_seq_length
if params.matryoshka_dims[0] > model.get_embedding_dimension():
    raise UserError(
        f"train_retriever.matryoshka_dims: {params.matryoshka_dims[0]} exceeds the model's "
        f"dimension {model.get_embedding_dimension()}"
    )

# 2. Training pairs (a seeded subset for quick runs) and general_pairs of general QA data mixed in (0 by default),
# with hard negatives mined by the base model if asked
train = seeded_draw(pairs(args.train), params.max_train_pairs, params.seed)
if params.general_pairs:
    mixed = seeded_draw(pairs(args.general), params.general_pairs, params.seed, "train_retriever.general_pairs")
    train = concatenate_datasets([train, mixed])
if params.hard_negatives.enabled:  # {"hard_negatives": mined tuples, "pairs": those no negative was found for}
    train = with_hard_negatives(train, model, params.hard_negatives, params.batch_size)

# 3. Train, evaluating retrieval on the validation pairs every eval_steps
validation = pairs(args.validation)
shutil.rmtree(args.scratch, ignore_errors=True)  # checkpoints of an earlier run with other params
training_args = SentenceTransformerTrainingArguments(
    **training_arguments(params, args.scratch),  # epochs, batch size, lr, seeds, eval_steps, precision
    per_device_eval_batch_size=params.batch_size,
    batch_sampler=BatchSamplers.NO_DUPLICATES,  # a context in a batch twice would be its own negative
    save_strategy="epoch",
    save_total_limit=1,
)
loss = MatryoshkaLoss(model, MultipleNegativesRankingLoss(model), matryoshka_dims=params.matryoshka_dims)
trainer = SentenceTransformerTrainer(
    model=model,
    args=training_args,
    train_dataset=train,
    eval_dataset=validation,
    loss=loss,
    evaluator=retrieval_evaluator(validation, params.matryoshka_dims[0]),
    callbacks=[LiveMetrics(str(args.live), CURVES)],
)
trainer.train() if params.epochs else trainer.evaluate()  # epochs 0: the base as it is, evaluated once
# 4. Save the model. No model card: it records timings, which would change the output's hash on every run.
forget_how_loaded(model.tokenizer)
model.save(str(args.model_out), create_model_card=False)
sizes = {name: len(part) for name, part in train.items()} if isinstance(train, dict) else len(train)
print(f"train_retriever: training examples {sizes}, model saved to {args.model_out}")
