"""Did the reader learn spans, or only "no answer"? A reader checkpoint of a pipeline workspace scored on its
test split (gold contexts) three ways:

- as stage train scores its best model: the null threshold chosen on validation (best_null_threshold);
- always a span: the null answer never chosen, so HasAns F1 says whether spans were learned at all, which the
  first figure hides while "no answer" wins on data with many unanswerable questions;
- at the best threshold on test itself: the most any threshold could give this model (an upper bound, not a
  result: the threshold is chosen on the data it scores);
- the answerability AUC: how well null score - best span score ranks the unanswerable questions above the
  answerable ones, whatever the threshold (0.5: no better than chance, 1: every threshold between them).

    python benchmarks/reader_checkpoint.py benchmarks/out/reader_v2/squad-v2.0-half \\
        benchmarks/out/reader_v2/squad-v2.0-half/scratch/train/checkpoint-597

The workspace's params.yaml (train section) gives the windows, post-processing and precision, as stage train
used them.
"""

import argparse
import json
import tempfile
from pathlib import Path

from transformers import AutoModelForQuestionAnswering, AutoTokenizer, DataCollatorWithPadding, TrainingArguments

from reproqa.models import training_flags
from reproqa.params import load_params
from reproqa.reader import ReaderSettings, best_null_threshold, prediction_at, scores
from reproqa.reader_training import EvalSet, ReaderTrainer

NEVER_NULL = float("inf")  # a threshold no null score beats a span by: always the best span

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("workspace", type=Path, help="a pipeline folder: params.yaml, data/processed/*.parquet")
parser.add_argument("checkpoint", type=Path, help="a Trainer checkpoint or a saved reader of that workspace")
args = parser.parse_args()
params = load_params("train", args.workspace / "params.yaml")
settings = ReaderSettings.of(params)

tokenizer = AutoTokenizer.from_pretrained(args.checkpoint)
model = AutoModelForQuestionAnswering.from_pretrained(args.checkpoint)
validation = EvalSet.of(args.workspace / "data/processed/validation.parquet", tokenizer, settings)
test = EvalSet.of(args.workspace / "data/processed/test.parquet", tokenizer, settings)
trainer = ReaderTrainer(
    model=model,
    args=TrainingArguments(
        output_dir=tempfile.mkdtemp(),
        per_device_eval_batch_size=params.eval_batch_size,
        report_to="none",
        **training_flags(params.precision),  # as stage train predicted
    ),
    data_collator=DataCollatorWithPadding(tokenizer),
    eval_set=validation,
    settings=settings,
    choose_null_threshold=True,
)
trainer.answer(validation, choose_null_threshold=True)
_, nbest = trainer.answer(test)


def at(threshold: float) -> dict:
    found = scores(test.examples, {i: prediction_at(listed, threshold) for i, listed in nbest.items()}, digits=1)
    return {"null_threshold": round(threshold, 2)} | {k: v for k, v in found.items() if k.endswith("f1")}


def answerability_auc(examples: list[dict], nbest: dict[str, list[dict]]) -> float | None:
    """The chance that an unanswerable question's null score - best span score exceeds an answerable one's (ties
    count half); None without both kinds. Questions with no span or no null score are left out.

    >>> rows = [{"id": "a", "answers": [{"text": "x"}]}, {"id": "b", "answers": []}, {"id": "c", "answers": []}]
    >>> nbest = {"a": [{"text": "x", "score": 4.0}, {"text": "", "score": 5.0}],  # null - span: 1
    ...          "b": [{"text": "y", "score": 2.0}, {"text": "", "score": 5.0}],  # 3
    ...          "c": [{"text": "z", "score": 5.0}, {"text": "", "score": 5.0}]}  # 0
    >>> answerability_auc(rows, nbest)
    0.5
    """
    margins = {True: [], False: []}  # unanswerable: null - span
    for example in examples:
        *spans, null = nbest[example["id"]]
        if spans and null["score"] is not None:
            margins[not example["answers"]].append(null["score"] - spans[0]["score"])
    if not margins[True] or not margins[False]:
        return None
    wins = sum((u > a) + 0.5 * (u == a) for u in margins[True] for a in margins[False])
    return round(wins / (len(margins[True]) * len(margins[False])), 3)


best_on_test = best_null_threshold(test.examples, nbest)
print(
    json.dumps(
        {
            "threshold from validation": at(trainer.settings.null_score_diff_threshold),
            "always a span": at(NEVER_NULL),
            "best threshold on test": at(best_on_test),
            "answerability AUC": answerability_auc(test.examples, nbest),
        },
        indent=1,
    )
)
