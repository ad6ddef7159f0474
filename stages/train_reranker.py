"""Stage train_reranker: fine-tune a cross-encoder that scores (question, context), to reorder the candidates a
search finds before the reader reads the top ones (reproqa/rerank.py).

Training data: each answerable training question with its gold context and its hardest negatives, the top
contexts the search of train_reranker.negatives finds among the training split's contexts that hold none of its
answers; MultipleNegativesRankingLoss, a softmax over the gold context, those negatives and negatives.in_batch
other contexts of the batch. Validation: NDCG@10 and MRR@10 of the gold context after reordering
each validation question's top negatives.depth candidates (among the validation contexts). Curves go to DVCLive,
the model to a DVC output; Trainer checkpoints stay in a scratch folder.
"""

import argparse
import random
import shutil
from pathlib import Path

from sentence_transformers import CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments
from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator
from sentence_transformers.cross_encoder.losses import MultipleNegativesRankingLoss
from transformers import set_seed

from reproqa.index import Index, load_encoder
from reproqa.models import forget_how_loaded, portable_numerics, training_arguments
from reproqa.params import load_params
from reproqa.records import read_rows
from reproqa.rerank import reranking_samples, training_tuples
from reproqa.tracking import LiveMetrics

parser = argparse.ArgumentParser()
parser.add_argument("--base", type=Path, required=True, help="the base model (stage base_models)")
parser.add_argument("--train", type=Path, required=True)
parser.add_argument("--validation", type=Path, required=True)
parser.add_argument("--index", type=Path, required=True, help="the search index: its contexts, embeddings and fusion")
parser.add_argument("--retriever", type=Path, required=True, help="the fine-tuned retriever the index was built with")
parser.add_argument("--model-out", type=Path, required=True)
parser.add_argument("--live", type=Path, required=True, help="DVCLive folder: curves and last metrics")
parser.add_argument("--scratch", type=Path, required=True, help="Trainer checkpoints (not a DVC output)")
args = parser.parse_args()
params = load_params("train_reranker")
print(f"train_reranker: {portable_numerics(params.precision)}")  # before any computation: its kernels
CURVES = ["loss", "ndcg@10", "mrr@10"]
COLUMNS = ["question", "context", "answers", "is_impossible"]

# 1. The base model with a one-output head: a relevance logit (a new, seeded head unless the model has one)
set_seed(params.seed)
model = CrossEncoder(str(args.base), num_labels=1, max_length=params.max_seq_length, device=None)

# 2. Training tuples (a seeded subset of the questions for quick runs) with their negatives, and the validation
# questions with the candidates to reorder, each split searched among its own contexts (and with negatives.scope,
# each question among its own document's)
index = Index.load(args.index, load_encoder(args.retriever, "float32"), batch_size=params.batch_size)
train, validation = list(read_rows(args.train, COLUMNS)), list(read_rows(args.validation, COLUMNS))
if params.max_train_questions is not None:
    train = random.Random(params.seed).sample(train, min(params.max_train_questions, len(train)))
train_tuples = training_tuples(train, index.subset([row["context"] for row in train]), params.negatives)
samples = reranking_samples(validation, index.subset([row["context"] for row in validation]), params.negatives)

# 3. Train, reordering the validation candidates every eval_steps
shutil.rmtree(args.scratch, ignore_errors=True)  # checkpoints of an earlier run with other params
training_args = CrossEncoderTrainingArguments(
    **training_arguments(params, args.scratch),  # epochs, batch size, lr, seeds, eval_steps, precision
    per_device_eval_batch_size=params.batch_size,
    save_strategy="epoch",
    save_total_limit=1,
)
loss = MultipleNegativesRankingLoss(model, num_negatives=params.negatives.in_batch)
evaluator = CrossEncoderRerankingEvaluator(
    samples,
    at_k=10,
    always_rerank_positives=False,  # a gold context the search missed counts as missed, as when answering
    name="validation",
    batch_size=params.batch_size,
    write_csv=False,
)
trainer = CrossEncoderTrainer(
    model=model,
    args=training_args,
    train_dataset=train_tuples,
    eval_dataset=None,  # the evaluator's reranking is the validation
    loss=loss,
    evaluator=evaluator,
    callbacks=[LiveMetrics(str(args.live), CURVES)],
)
trainer.train() if params.epochs else trainer.evaluate()  # epochs 0: the base as it is, evaluated once

# 4. Save the model. No model card: it records timings, which would change the output's hash on every run.
forget_how_loaded(model.tokenizer)
model.save(str(args.model_out), create_model_card=False)
sizes = {name: len(dataset) for name, dataset in train_tuples.items()}
print(
    f"train_reranker: training questions {sizes}, {len(samples)} validation questions; model saved to {args.model_out}"
)
