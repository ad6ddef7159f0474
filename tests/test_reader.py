"""The reader stage on the tiny model, as `dvc repro` ran it in the pipeline fixture."""

import json

import pyarrow.parquet as pq
from transformers import AutoModelForQuestionAnswering


def test_reader_writes_model_predictions_and_scores(pipeline):
    root, _, _ = pipeline
    model = AutoModelForQuestionAnswering.from_pretrained(root / "models/reader")
    assert (root / "models/reader/model.safetensors").exists() and model.config.hidden_size == 32
    test = {r["id"]: r for r in pq.read_table(root / "data/processed/test.parquet").to_pylist()}
    predictions = json.loads((root / "results/reader/predictions.json").read_text())
    nbest = json.loads((root / "results/reader/nbest.json").read_text())
    assert set(predictions) == set(test) == set(nbest)
    assert all(p == "" or p in test[i]["context"] for i, p in predictions.items())  # spans of their context
    scores = json.loads((root / "metrics/reader.json").read_text())
    assert {"exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1", "bleu", "rougeL"} <= set(scores)
    assert scores["total"] == len(test) and 0 <= scores["f1"] <= 100


def test_reader_curves_are_logged(pipeline):
    root, _, _ = pipeline
    f1 = (root / "metrics/train/plots/metrics/eval/f1.tsv").read_text().splitlines()
    assert f1[0] == "step\tf1" and len(f1) >= 2
