"""EM/F1 of the reader before training: the base model with its QA head as initialised (seed from params),
scored on the test split exactly as stage train scores the trained model.

    python benchmarks/reader_untrained.py [--test data/processed/test.parquet] [--params params.yaml]
"""

import argparse
import json
from functools import partial
from pathlib import Path

from datasets import Dataset
from transformers import (AutoModelForQuestionAnswering, AutoTokenizer, DataCollatorWithPadding, TrainingArguments,
                          set_seed)

from reproqa.models import resolve_model
from reproqa.params import load_params
from reproqa.qa import SpanTrainer, eval_features, postprocess, qa_scores

REPO = Path(__file__).resolve().parent.parent

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--test", type=Path, default=REPO / "data/processed/test.parquet")
parser.add_argument("--params", type=Path, default=REPO / "params.yaml", help="its train section is used")
args = parser.parse_args()
params = load_params("train", args.params)

set_seed(params.seed)
tokenizer = AutoTokenizer.from_pretrained(resolve_model(params.base_model))
model = AutoModelForQuestionAnswering.from_pretrained(resolve_model(params.base_model))
examples = Dataset.from_parquet(str(args.test), columns=["id", "question", "context", "answers"])
features = examples.map(partial(eval_features, tokenizer, max_seq_length=params.max_seq_length,
                                doc_stride=params.doc_stride), batched=True, remove_columns=examples.column_names)
trainer = SpanTrainer(model=model, data_collator=DataCollatorWithPadding(tokenizer),
                         args=TrainingArguments(output_dir="/tmp/reader_untrained", report_to="none"))
logits = trainer.predict(features.remove_columns(["example_id", "offset_mapping"])).predictions
predictions, _ = postprocess(examples.to_list(), features.to_list(), *logits, params.n_best, params.max_answer_length,
                             params.allow_unanswerable, params.null_score_diff_threshold)
scores = qa_scores([predictions[e["id"]] for e in examples], [[a["text"] for a in e["answers"]] for e in examples])
print(json.dumps({k: round(v, 2) for k, v in scores.items()}, indent=1))
