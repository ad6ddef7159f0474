"""The reader stage under `torchrun`: two CPU processes (gloo) train what one process trains."""

import json
import shutil
from functools import partial
from itertools import accumulate
from pathlib import Path

import pytest
import torch
import yaml
from datasets import Dataset
from safetensors.torch import load_file
from transformers import AutoTokenizer

from conftest import run
from reproqa.reader_training import train_features

GLOBAL_BATCH = 16
TRAIN = {
    "epochs": 4,
    "eval_steps": 2,
    "early_stopping_patience": 100,
    "max_seq_length": 128,
    "doc_stride": 16,
    "dropout": 0.0,  # dropout masks depend on how batches are split among processes
}


def reader_project(root: Path, project: Path, model: Path, processes: int, examples: int) -> Path:
    shutil.copytree(root, project, ignore=shutil.ignore_patterns("scratch"))
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"] |= TRAIN | {
        "base_model": str(model),
        "batch_size": GLOBAL_BATCH // processes,
        "max_train_examples": examples,
    }
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    if processes > 1:  # how a user runs the stage on several GPUs, here on the CPU
        stages = yaml.safe_load((project / "dvc.yaml").read_text())
        stages["stages"]["train"]["cmd"] = stages["stages"]["train"]["cmd"].replace(
            "python -m stages.train", f"torchrun --nproc_per_node {processes} -m stages.train"
        )
        (project / "dvc.yaml").write_text(yaml.safe_dump(stages, sort_keys=False))
    run(["dvc", "repro", "train"], project)
    return project


def test_two_gloo_processes_train_the_model_one_process_trains(pipeline, tmp_path, tiny_model):
    root, _, _ = pipeline
    bert = tiny_model.parent / "bert"
    train = Dataset.from_parquet(str(root / "data/processed/train.parquet")).shuffle(seed=42)
    windows = partial(
        train_features,
        AutoTokenizer.from_pretrained(bert),
        max_seq_length=TRAIN["max_seq_length"],
        doc_stride=TRAIN["doc_stride"],
    )
    per_example = [len(windows({key: [value] for key, value in row.items()})["input_ids"]) for row in train]
    # The fewest examples whose windows fill at least two global batches exactly: else DDP pads the last batch
    # with repeated windows, and two processes would not train what one trains.
    examples, windows_total = next(
        (n, total)
        for n, total in enumerate(accumulate(per_example), 1)
        if total >= 2 * GLOBAL_BATCH and total % GLOBAL_BATCH == 0
    )
    steps = TRAIN["epochs"] * windows_total // GLOBAL_BATCH

    single = reader_project(root, tmp_path / "single", bert, processes=1, examples=examples)
    ddp = reader_project(root, tmp_path / "ddp", bert, processes=2, examples=examples)

    for output in (
        "results/train/predictions.json",
        "metrics/train/test.json",
        "metrics/train/plots/metrics/eval/f1.tsv",
    ):
        assert (ddp / output).read_text() == (single / output).read_text(), output
    losses = [
        [
            float(line.split("\t")[1])
            for line in (project / "metrics/train/plots/metrics/train/loss.tsv").read_text().splitlines()[1:]
        ]
        for project in (single, ddp)
    ]
    assert len(losses[0]) == steps // TRAIN["eval_steps"] and losses[0] == pytest.approx(losses[1], rel=1e-5)
    one, two = (load_file(project / "models/reader/model.safetensors") for project in (single, ddp))
    assert one.keys() == two.keys()
    for name in one:
        # The start/end bias shifts every position's logit alike, so its true gradient is 0; Adam scales the
        # rounding noise left in it up to lr-sized steps, which differ. It changes no prediction. Adam does the
        # same, less, to any weight whose gradient is near 0 (seen: up to 5.7e-5, a LayerNorm and an attention
        # key bias, after the 12 steps of the kept checkpoint, the last of a tie; 12 steps of lr 3e-4 move a weight
        # up to 3.6e-3): the tolerance is a third of one step, where a batch trained twice or never is whole steps.
        if name != "qa_outputs.bias":
            torch.testing.assert_close(one[name], two[name], atol=1e-4, rtol=0, msg=name)
    assert json.loads((ddp / "metrics/train/test.json").read_text())["total"] > 0
