"""Stage train: fine-tune the extractive QA reader (AutoModelForQuestionAnswering + Trainer).

Windows with stride and offset mappings, labels at CLS when the answer is outside a window or there is
none, dynamic padding, batches in an order drawn from the seed (reproqa/reader.py). Validation EM/F1 after every
eval_steps picks the best checkpoint (and stops early if the params say so); each validation first chooses the null
threshold ("no answer" when the null score beats the best span by more) that maximises its F1, unless the params
fix it.
The best model is saved with the settings it reads with (inference.json, the threshold chosen for it
included), then scored on the test split with the gold context; its predictions and n-best lists are
written too. A killed run resumes from its last checkpoint in the scratch folder, if the params, data
and code are the same.
"""

import argparse
from pathlib import Path

from transformers import (
    AutoModelForQuestionAnswering,
    AutoTokenizer,
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    TrainingArguments,
    set_seed,
)

from reproqa.checkpoints import fingerprint, resumable_checkpoint
from reproqa.models import dropout_config, portable_numerics, training_arguments
from reproqa.params import load_params
from reproqa.reader import ReaderSettings, scores
from reproqa.reader_training import EvalSet, ReaderTrainer, describe_base, save_reader, training_windows, with_lora
from reproqa.records import DIGITS, write_json
from reproqa.tracking import LiveMetrics

parser = argparse.ArgumentParser()
parser.add_argument("--base", type=Path, required=True, help="the base model (stage base_models)")
parser.add_argument("--train", type=Path, required=True)
parser.add_argument("--general", type=Path, required=True, help="general QA data (split.general_sources)")
parser.add_argument("--validation", type=Path, required=True)
parser.add_argument("--test", type=Path, required=True)
parser.add_argument("--model-out", type=Path, required=True)
parser.add_argument("--live", type=Path, required=True, help="DVCLive folder: curves and last metrics")
parser.add_argument("--predictions", type=Path, required=True, help="folder: test predictions and n-best lists")
parser.add_argument("--metrics", type=Path, required=True, help="test scores (gold context)")
parser.add_argument("--scratch", type=Path, required=True, help="Trainer checkpoints (not a DVC output)")
args = parser.parse_args()
params = load_params("train")
print(f"train: {portable_numerics(params.precision)}")  # before any computation: its kernels
settings = ReaderSettings.of(params)  # saved with the model: whoever loads it reads as it was validated

# 1. The base model at the params' dropout, optionally in LoRA adapters. A base that is a reader already (a
# general reader imported from another project) keeps its QA head; any other gets a new, randomly initialised one
# (seeded).
set_seed(params.seed)
tokenizer = AutoTokenizer.from_pretrained(args.base)
config = dropout_config(str(args.base), params.dropout)
model, loading = AutoModelForQuestionAnswering.from_pretrained(args.base, config=config, output_loading_info=True)
print(f"train: {describe_base(args.base, loading['missing_keys'], settings)}")
if params.lora.enabled:
    model = with_lora(model, params.lora)

# 2. Training windows (a seeded subset for quick runs), with params.distractors per question (other contexts of
# the split, or of its document with distractors_scope, that BM25 finds for it, labelled "no answer", or with
# shared_normalization grouped with the question's answer; 0 by default) and params.general_examples of general
# QA data mixed in (0 by default), and the validation split, prepared for EM/F1
train_windows = training_windows(
    args.train,
    tokenizer,
    settings,
    seed=params.seed,
    limit=params.max_train_examples,  # None: all
    per_question=params.distractors,  # distractors
    scope=params.distractors_scope,  # None: from the whole split
    general=args.general,  # general QA data...
    general_examples=params.general_examples,  # ...this many of its questions, a seeded draw
    shared=params.shared_normalization,  # distractors in their question's softmax, not "no answer"
)
validation = EvalSet.of(args.validation, tokenizer, settings)
group = 1 + params.distractors if params.shared_normalization else 1  # windows sharing a softmax (SpanTrainer)
if group > 1:
    print(f"train: {len(train_windows) // group} questions, each a group of {group} windows sharing a softmax")

# SQuAD v1.1 data (allow_unanswerable: false) never answers "", so it has no threshold to choose
choose_null_threshold = params.allow_unanswerable and params.null_score_diff_threshold == "validation"

# 3. Train, validating every eval_steps; the best checkpoint by validation F1 (at its own null threshold) is kept
training_args = TrainingArguments(
    **training_arguments(params, args.scratch),  # epochs, batch size, lr, seeds, eval_steps, precision
    per_device_eval_batch_size=params.eval_batch_size,
    weight_decay=params.weight_decay,
    train_sampling_strategy=params.sampling,  # batches' order (reproqa.reader.SpanTrainer), drawn from the seed
    save_strategy="steps",  # a checkpoint at each evaluation: the best is kept, a killed run resumes
    save_steps=params.eval_steps,
    save_total_limit=2,
    load_best_model_at_end=True,
    metric_for_best_model="f1",  # validation F1 (ReaderTrainer.evaluate)
    greater_is_better=True,
)
# A killed run resumes from its last checkpoint if that was made from the same params, data and code.
checkpoint = resumable_checkpoint(args.scratch, fingerprint(params, __file__, args.train, args.validation))
if checkpoint:
    print(f"train: resuming from {checkpoint}")
callbacks = [LiveMetrics(str(args.live), ["loss", "exact", "f1"])]
if params.early_stopping_patience:  # null: every epoch runs
    callbacks.append(EarlyStoppingCallback(params.early_stopping_patience))
trainer = ReaderTrainer(
    model=model,
    args=training_args,
    train_dataset=train_windows,
    eval_set=validation,
    settings=settings,
    choose_null_threshold=choose_null_threshold,
    no_answer_weight=params.no_answer_weight,  # of the loss of windows labelled "no answer"
    no_answer_weight_end=params.no_answer_weight_end,  # reached linearly at the last step (None: constant)
    group_size=group,  # shared normalization's groups (1: none)
    data_collator=DataCollatorWithPadding(tokenizer),
    processing_class=tokenizer,
    callbacks=callbacks,
)
if params.epochs:
    trainer.train(resume_from_checkpoint=checkpoint)
else:  # the base as it is: validated once (the curves' one point), then scored and saved like a trained reader
    trainer.evaluate()

# 4. The best model's null threshold, chosen on validation; then its score on the test split (gold context)
if trainer.choose_null_threshold:
    trainer.answer(validation, choose_null_threshold=True)  # every process takes part (DDP)
settings = trainer.settings
test = EvalSet.of(args.test, tokenizer, settings)
predictions, nbest = trainer.answer(test)  # every process takes part (DDP)
if not trainer.is_world_process_zero():
    raise SystemExit(0)  # the main process writes the outputs

best = trainer.model.merge_and_unload() if params.lora.enabled else trainer.model  # LoRA: adapters merged
save_reader(best, tokenizer, settings, args.model_out)
write_json(args.predictions / "predictions.json", predictions, indent=1)
write_json(args.predictions / "nbest.json", nbest, indent=1)
test_scores = scores(test.examples, predictions, digits=DIGITS)
test_scores["null_threshold"] = round(settings.null_score_diff_threshold, DIGITS)
write_json(args.metrics, test_scores)
print(f"train: best checkpoint {trainer.state.best_model_checkpoint}")
print(
    f"train: test EM {test_scores['exact']:.1f} F1 {test_scores['f1']:.1f} over {test_scores['total']} questions "
    f"(null threshold {settings.null_score_diff_threshold:.2f})"
)
