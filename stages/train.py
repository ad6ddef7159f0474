"""Stage train: fine-tune an extractive QA reader (AutoModelForQuestionAnswering + Trainer).

Windows with stride and offset mappings, labels at CLS when the answer is outside a window or there is
none, dynamic padding and length-grouped batches (reproqa/qa.py). Validation EM/F1 after every eval_steps
picks the best checkpoint and stops early. The best model is scored on the test split with the gold
context (metrics/reader.json; predictions and n-best lists are written too). A run that was killed
resumes from its last checkpoint in the scratch folder, if the params, data and code are the same.
"""

import argparse
import json
from functools import partial
from pathlib import Path

from datasets import Dataset
from transformers import (AutoModelForQuestionAnswering, AutoTokenizer, DataCollatorWithPadding,
                          EarlyStoppingCallback, TrainingArguments, set_seed)

from reproqa.checkpoints import fingerprint, resumable_checkpoint
from reproqa.models import device_flags, resolve_model
from reproqa.params import load_params
from reproqa.qa import SpanTrainer, eval_features, postprocess, qa_scores, train_features
from reproqa.tracking import LiveMetrics

parser = argparse.ArgumentParser()
parser.add_argument("--train", type=Path, required=True)
parser.add_argument("--validation", type=Path, required=True)
parser.add_argument("--test", type=Path, required=True)
parser.add_argument("--model-out", type=Path, required=True)
parser.add_argument("--live", type=Path, required=True, help="DVCLive folder: curves and last metrics")
parser.add_argument("--predictions", type=Path, required=True, help="folder: test predictions and n-best lists")
parser.add_argument("--metrics", type=Path, required=True)
parser.add_argument("--scratch", type=Path, required=True, help="Trainer checkpoints (not a DVC output)")
args = parser.parse_args()
params = load_params("train")
COLUMNS = ["id", "question", "context", "answers"]

set_seed(params.seed)  # before the QA head is created: it is initialised at random
tokenizer = AutoTokenizer.from_pretrained(resolve_model(params.base_model))
model = AutoModelForQuestionAnswering.from_pretrained(resolve_model(params.base_model))
if params.lora.enabled:
    from peft import LoraConfig, TaskType, get_peft_model

    model = get_peft_model(model, LoraConfig(task_type=TaskType.QUESTION_ANS, r=params.lora.r,
                                             lora_alpha=params.lora.alpha, lora_dropout=params.lora.dropout))

train = Dataset.from_parquet(str(args.train), columns=COLUMNS).shuffle(seed=params.seed)
if params.max_train_examples is not None:
    train = train.select(range(min(params.max_train_examples, len(train))))
windows = dict(max_seq_length=params.max_seq_length, doc_stride=params.doc_stride)
train_windows = train.map(partial(train_features, tokenizer, **windows), batched=True, remove_columns=COLUMNS)


def evaluation_set(path: Path) -> tuple[list[dict], list[dict], Dataset]:
    """(examples, windows with their example id and offsets, the model's inputs for those windows)."""
    examples = Dataset.from_parquet(str(path), columns=COLUMNS)
    features = examples.map(partial(eval_features, tokenizer, **windows), batched=True, remove_columns=COLUMNS)
    return examples.to_list(), features.to_list(), features.remove_columns(["example_id", "offset_mapping"])


def answer(examples, features, logits) -> tuple[dict, dict]:
    start_logits, end_logits = logits
    return postprocess(examples, features, start_logits, end_logits, params.n_best, params.max_answer_length,
                       params.allow_unanswerable, params.null_score_diff_threshold)


def scores(examples: list[dict], predictions: dict) -> dict:
    return qa_scores([predictions[e["id"]] for e in examples], [[a["text"] for a in e["answers"]] for e in examples])


validation_examples, validation_features, validation_inputs = evaluation_set(args.validation)


class ReaderTrainer(SpanTrainer):
    """Validation EM/F1 need every window of an example post-processed together, which the Trainer's
    compute_metrics cannot do; the reference run_qa.py overrides evaluate() the same way."""

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
        logits = self.predict(validation_inputs).predictions
        predicted = answer(validation_examples, validation_features, logits)[0]
        metrics = {f"{metric_key_prefix}_{k}": v for k, v in scores(validation_examples, predicted).items()}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


training_args = TrainingArguments(
    output_dir=str(args.scratch), num_train_epochs=params.epochs,
    per_device_train_batch_size=params.batch_size, per_device_eval_batch_size=params.batch_size * 2,
    learning_rate=params.lr, warmup_steps=params.warmup_ratio, weight_decay=params.weight_decay,
    seed=params.seed, data_seed=params.seed,  # SpanTrainer groups batches by length
    eval_strategy="steps", eval_steps=params.eval_steps, logging_steps=params.eval_steps,
    save_strategy="steps", save_steps=params.eval_steps, save_total_limit=2, load_best_model_at_end=True,
    metric_for_best_model="f1", greater_is_better=True, report_to="none", disable_tqdm=True, **device_flags())
# A killed run resumes from its last checkpoint if that was made from the same params, data and code.
checkpoint = resumable_checkpoint(args.scratch, fingerprint(params, __file__, args.train, args.validation))
if checkpoint:
    print(f"train: resuming from {checkpoint}")
trainer = ReaderTrainer(
    model=model, args=training_args, train_dataset=train_windows, eval_dataset=validation_inputs,
    data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer,
    callbacks=[EarlyStoppingCallback(params.early_stopping_patience), LiveMetrics(str(args.live), ["loss", "exact", "f1"])])
trainer.train(resume_from_checkpoint=checkpoint)

test_examples, test_features, test_inputs = evaluation_set(args.test)
test_logits = trainer.predict(test_inputs).predictions  # every process takes part (DDP)
if not trainer.is_world_process_zero():
    raise SystemExit(0)  # the main process writes the outputs

best = trainer.model.merge_and_unload() if params.lora.enabled else trainer.model
best.save_pretrained(args.model_out)  # safetensors
tokenizer.save_pretrained(args.model_out)
predictions, nbest = answer(test_examples, test_features, test_logits)
args.predictions.mkdir(parents=True, exist_ok=True)
(args.predictions / "predictions.json").write_text(json.dumps(predictions, indent=1, ensure_ascii=False) + "\n")
(args.predictions / "nbest.json").write_text(json.dumps(nbest, indent=1, ensure_ascii=False) + "\n")
test_scores = {k: round(v, 4) if isinstance(v, float) else v for k, v in scores(test_examples, predictions).items()}
args.metrics.parent.mkdir(parents=True, exist_ok=True)
args.metrics.write_text(json.dumps(test_scores, indent=2) + "\n")
print(f"train: best checkpoint {trainer.state.best_model_checkpoint}; test EM {test_scores['exact']:.1f} "
      f"F1 {test_scores['f1']:.1f} over {test_scores['total']} questions")
