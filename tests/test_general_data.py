"""General QA data mixed into training (split.general_sources, train.general_examples, train_retriever.general_pairs):
the usual remedy for forgetting when a general model is fine-tuned on little data of one's own."""

import json

import pyarrow.parquet as pq
import yaml

from conftest import make_project, run
from reproqa.sample_data import generate, write

SPLITS = ("train", "validation", "test")


def test_general_data_is_trained_on_but_never_split_evaluated_or_searched(tmp_path, tiny_model):
    make_project(tmp_path, tiny_model, apps=12)
    lines, _, _ = generate(seed=11, apps=12, benchmark_apps=0, leaked_apps=0)  # other applications: "public" data
    write(lines, tmp_path / "data/raw/general.jsonl")
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["ingest"]["sources"].append({"name": "general", "format": "seed_jsonl", "path": "general.jsonl"})
    params["split"]["general_sources"] = ["general"]
    params["train"]["general_examples"] = 20
    params["train_retriever"]["general_pairs"] = 20
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    output = run(["dvc", "repro", "data_report", "train", "index"], tmp_path).stdout

    table = lambda name: pq.read_table(tmp_path / f"data/processed/{name}.parquet").to_pylist()  # noqa: E731
    general = table("general")
    assert general and {row["source"] for row in general} == {"general"}
    assert all(row["source"] == "app_inventory" for split in SPLITS for row in table(split))
    removed = {row["reason"] for row in table("removed") if row["source"] == "general"}
    assert removed <= {"exact_duplicate", "near_duplicate", "contaminated", "general_near_domain"}
    report = json.loads((tmp_path / "metrics/data_report/metrics.json").read_text())
    assert report["split"]["rows"]["general"] == len(general) and report["accounting"]["unaccounted"] == 0
    searched = {row["context"] for row in pq.read_table(tmp_path / "models/index/contexts.parquet").to_pylist()}
    assert not searched & {row["context"] for row in general}  # answering never searches the general data
    own_pairs = sum(not row["is_impossible"] for row in table("train"))  # fewer than max_train_pairs (48)
    assert f"train_retriever: training examples {own_pairs + 20}," in output  # general_pairs 20 mixed in


def test_asking_for_general_data_without_any_is_an_error_naming_the_key(tmp_path, tiny_model):
    make_project(tmp_path, tiny_model, apps=10)
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["train"]["general_examples"] = 20
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = run(["dvc", "repro", "train"], tmp_path, check=False)
    assert result.returncode and "error: train.general_examples: 20, but there is no general data" in result.stderr
