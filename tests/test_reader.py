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


def test_lora_trains_adapters_and_saves_a_merged_model(pipeline, tmp_path):
    import shutil

    import yaml

    from conftest import run

    root, _, _ = pipeline
    project = tmp_path / "lora"
    shutil.copytree(root, project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["lora"] |= {"enabled": True, "r": 4, "alpha": 8}
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    run(["dvc", "repro", "train"], project)
    saved = sorted(p.name for p in (project / "models/reader").iterdir())
    assert "model.safetensors" in saved and "adapter_config.json" not in saved  # adapters merged into the model
    model = AutoModelForQuestionAnswering.from_pretrained(project / "models/reader")
    assert model.config.hidden_size == 32
    assert json.loads((project / "metrics/reader.json").read_text())["total"] > 0
