"""The data pipeline as a user runs it: `dvc repro` on a small generated sample, in a fresh repository."""

import json
import shutil

import pyarrow.parquet as pq
import yaml

from conftest import make_project, run, stages_run_after
from reproqa.records import offsets_hold
from reproqa.text import matching_form, word_ngrams

SPLITS = ("train", "validation", "test")


def rows(root, path) -> list[dict]:
    return pq.read_table(root / path).to_pylist()


def test_every_raw_row_is_accounted_for(pipeline):
    root, _, _ = pipeline
    raw = sum(1 for line in (root / "data/raw/app_inventory.jsonl").read_text().splitlines() if line.strip())
    in_splits = sum(len(rows(root, f"data/processed/{s}.parquet")) for s in SPLITS)
    quarantined = len(rows(root, "data/interim/ingest_quarantine.parquet")) + len(
        rows(root, "data/interim/clean_quarantine.parquet")
    )
    removed = len(rows(root, "data/processed/removed.parquet"))
    assert raw == in_splits + quarantined + removed
    report = json.loads((root / "metrics/data_report/metrics.json").read_text())["accounting"]
    assert report == {
        "raw_records": raw,
        "in_splits": in_splits,
        "quarantined": quarantined,
        "removed": removed,
        "unaccounted": 0,
    }


def test_offsets_survive_to_the_splits(pipeline):
    root, _, _ = pipeline
    for split in SPLITS:
        for row in rows(root, f"data/processed/{split}.parquet"):
            assert offsets_hold(row), row["id"]
            assert row["is_impossible"] == (row["answers"] == [])
            assert row["question"] == row["question"].lower()  # lowercase: true in params.yaml


def test_no_context_is_shared_between_splits(pipeline):
    root, _, _ = pipeline
    contexts = {s: {matching_form(r["context"]) for r in rows(root, f"data/processed/{s}.parquet")} for s in SPLITS}
    assert not contexts["train"] & contexts["validation"]
    assert not contexts["train"] & contexts["test"]
    assert not contexts["validation"] & contexts["test"]
    assert all(contexts[s] for s in SPLITS)


def test_removed_and_quarantined_rows_say_why(pipeline):
    root, manifest, _ = pipeline
    removed = rows(root, "data/processed/removed.parquet")
    kept_ids = {r["id"] for s in SPLITS for r in rows(root, f"data/processed/{s}.parquet")}
    reasons = {r["reason"] for r in removed}
    assert {"exact_duplicate", "contaminated"} <= reasons
    for row in removed:
        if row["reason"] in ("exact_duplicate", "near_duplicate"):
            kept = row["detail"].split(" of ")[1]
            assert kept in kept_ids or kept in {r["id"] for r in removed}
    leaked = [name.lower() for name in manifest["leaked_apps"]]
    contaminated = [r for r in removed if r["reason"] == "contaminated"]
    assert any(name in r["context"] for r in contaminated for name in leaked)
    benchmark = (root / "data/benchmark/app_inventory_benchmark.jsonl").read_text().splitlines()
    for row in contaminated:  # the benchmark row a removal names holds what the row shares with it
        field, overlaps = row["detail"].split(" overlaps benchmark row app_inventory_benchmark.jsonl:")
        shown = json.loads(benchmark[int(overlaps) - 1])
        if field == "context":  # a leaked application's context
            assert any(name in row["context"] and name in shown["context"].lower() for name in leaked), row
        else:  # most of the benchmark question's 8-grams (a short templated question can share them by chance)
            theirs = word_ngrams(matching_form(shown["query"]), 8)
            assert len(theirs & word_ngrams(matching_form(row["question"]), 8)) >= 0.6 * len(theirs), row
    assert not any(
        name in r["context"] for s in SPLITS for r in rows(root, f"data/processed/{s}.parquet") for name in leaked
    )
    quarantine = rows(root, "data/interim/ingest_quarantine.parquet")
    assert len(quarantine) >= manifest["missing_answer"] + manifest["malformed"]
    assert all(r["detail"].startswith("app_inventory.jsonl:") for r in quarantine)


def test_second_repro_runs_nothing_and_a_param_reruns_only_what_it_touches(pipeline, tmp_path):
    root, _, _ = pipeline
    project = tmp_path / "copy"
    shutil.copytree(root, project)
    assert "Data and pipelines are up to date" in run(["dvc", "repro"], project).stdout
    assert stages_run_after(project, "evaluate.top_k", 2) == {"evaluate"}
    assert stages_run_after(project, "index.fusion.method", "weighted") == {
        "index",
        "train_reranker",  # its negatives are found by the hybrid search
        "export",  # the reranker's ONNX graph
        "evaluate_retriever",
        "evaluate",
    }
    # A change upstream of every stage (split.seed) is not run here: it retrains everything (two minutes of the
    # suite) to show what DVC guarantees once every path a stage reads is a dep, which test_dvc_yaml checks.


def test_bad_params_stop_the_stage_with_the_key_named(tmp_path, tiny_model):
    make_project(tmp_path, tiny_model, apps=5)
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["split"]["near_duplicates"]["treshold"] = params["split"]["near_duplicates"].pop("threshold")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = run(["dvc", "repro", "split"], tmp_path, check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "error: params.yaml: split.near_duplicates." in output  # stages/__init__.py: one line, "error: ..."
    assert "split.near_duplicates.treshold: unknown key; did you mean 'threshold'?" in output
    assert "Traceback" not in output
