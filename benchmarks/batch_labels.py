"""How the reader's training batches mix "no answer" windows and answer windows, for each training order
(`train.sampling`): the windows stage train makes of the train split, in the order reproqa.reader's sampler
draws for epoch 0.

    python benchmarks/batch_labels.py [--project .]

Length-grouped batches gather windows of similar length; the short ones are mostly the tail windows of long
contexts, which hold no answer. A batch that is mostly "no answer" pulls the reader towards answering nothing.
"""

import argparse
from pathlib import Path

import numpy as np
from transformers import AutoTokenizer

from reproqa.models import resolve_model
from reproqa.params import load_params
from reproqa.reader import ReaderSettings
from reproqa.reader_training import EpochSeededSampler, training_windows

REPO = Path(__file__).resolve().parent.parent

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--project", type=Path, default=REPO)
args = parser.parse_args()
params = load_params("train", args.project / "params.yaml")
tokenizer = AutoTokenizer.from_pretrained(resolve_model(params.base_model))
windows = training_windows(
    args.project / "data/processed/train.parquet",
    tokenizer,
    ReaderSettings.of(params),
    params.seed,
    params.max_train_examples,
    params.distractors,
)
no_answer = np.array(windows["start_positions"]) == 0  # labelled at CLS
lengths = np.array([len(ids) for ids in windows["input_ids"]])
quartile = np.searchsorted(np.percentile(lengths, [25, 50, 75]), lengths, side="right")
print(f"{len(windows)} training windows, {no_answer.mean():.0%} labelled 'no answer'")
print("by length quartile (shortest first):", ", ".join(f"{no_answer[quartile == q].mean():.0%}" for q in range(4)))

print("\n| sampling | batches | 'no answer' share per batch: std | batches >= 75% 'no answer' |\n|---|---:|---:|---:|")
size = params.batch_size
for sampling in ("group_by_length", "random"):
    order = list(EpochSeededSampler(size, windows, params.seed, by_length=sampling == "group_by_length"))
    shares = np.array([no_answer[order[i : i + size]].mean() for i in range(0, len(order), size)])
    print(f"| {sampling} | {len(shares)} | {shares.std():.2f} | {(shares >= 0.75).mean():.1%} |")
