"""EM/F1 of the reader before training: the base model with its QA head as initialised (seed from params),
scored on the test split exactly as stage train scores the trained model.

    python benchmarks/reader_untrained.py [--test data/processed/test.parquet] [--params params.yaml]
"""

import argparse
import json
from pathlib import Path

from transformers import (
    AutoModelForQuestionAnswering,
    AutoTokenizer,
    DataCollatorWithPadding,
    TrainingArguments,
    set_seed,
)

from reproqa.models import resolve_model
from reproqa.params import load_params
from reproqa.reader import ReaderSettings, scores
from reproqa.reader_training import EvalSet, ReaderTrainer

REPO = Path(__file__).resolve().parent.parent

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--test", type=Path, default=REPO / "data/processed/test.parquet")
parser.add_argument("--params", type=Path, default=REPO / "params.yaml", help="its train section is used")
args = parser.parse_args()
params = load_params("train", args.params)

set_seed(params.seed)
tokenizer = AutoTokenizer.from_pretrained(resolve_model(params.base_model))
model = AutoModelForQuestionAnswering.from_pretrained(resolve_model(params.base_model))
settings = ReaderSettings.of(params)
test = EvalSet.of(args.test, tokenizer, settings)
trainer = ReaderTrainer(
    model=model,
    data_collator=DataCollatorWithPadding(tokenizer),
    eval_set=test,
    settings=settings,
    args=TrainingArguments(output_dir="/tmp/reader_untrained", report_to="none"),
)
found = scores(test.examples, trainer.answer(test)[0])
print(json.dumps({k: round(v, 2) for k, v in found.items()}, indent=1))
