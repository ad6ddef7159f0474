"""The split stage on handcrafted rows: what it keeps, merges and removes, and why."""

import sys

import pyarrow.parquet as pq
import yaml

from conftest import REPO, run, stage_env
from reproqa.records import offsets_hold, write_all

CONTEXT = "policy text: we share data with advertisers and with analytics providers for reporting."


def row(i: int, question: str, answers: list[str], context: str = CONTEXT) -> dict:
    return {
        "id": f"t:{i}",
        "source": "t",
        "origin": f"t.jsonl:{i}",
        "title": None,
        "question": question,
        "context": context,
        "answers": [{"text": a, "answer_start": context.index(a)} for a in answers],
        "is_impossible": not answers,
    }


def split(tmp_path, rows: list[dict]) -> tuple[dict, list[dict]]:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["split"]["fractions"] = {"train": 1.0, "validation": 0.0, "test": 0.0}  # one context: one group
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench/app_inventory_benchmark.jsonl").write_text("")
    write_all(tmp_path / "cleaned.parquet", rows)
    arguments = "--rows cleaned.parquet --benchmark-dir bench --out-dir out --removed out/removed.parquet"
    command = [sys.executable, "-m", "stages.split", *arguments.split(), "--stats", "out/stats.json"]
    run(command, tmp_path, env=stage_env() | {"PYTHONPATH": str(REPO)})  # as dvc runs it, beside params.yaml
    kept = {
        r["id"]: r
        for s in ("train", "validation", "test")
        for r in pq.read_table(tmp_path / f"out/{s}.parquet").to_pylist()
    }
    return kept, pq.read_table(tmp_path / "out/removed.parquet").to_pylist()


def test_exact_duplicates_with_other_gold_answers_are_merged_into_the_kept_row(tmp_path):
    kept, removed = split(
        tmp_path,
        [
            row(1, "who gets my data?", ["advertisers"]),
            row(2, "Who gets my data", ["analytics providers"]),  # same question, another valid span
            row(3, "who gets my data?", ["advertisers"]),  # a plain duplicate
            row(4, "who gets my data?", []),  # conflicting: unanswerable here
            row(5, "what is it for?", ["reporting"]),
        ],
    )
    assert [a["text"] for a in kept["t:1"]["answers"]] == ["advertisers", "analytics providers"]
    assert offsets_hold(kept["t:1"]) and set(kept) == {"t:1", "t:5"}
    assert {r["id"]: r["detail"] for r in removed} == {
        "t:2": "duplicate of t:1, its answers merged into it",
        "t:3": "duplicate of t:1",
        "t:4": "duplicate of t:1",
    }


def test_near_duplicate_questions_need_the_same_answers(tmp_path):
    kept, removed = split(
        tmp_path,
        [
            row(1, "which companies get my data?", ["advertisers"]),
            row(2, "which compnies get my data?", ["advertisers"]),  # a typo of row 1, same answer: removed
            row(3, "which companie get my data?", ["reporting"]),  # a typo of row 1, other answer: kept
            row(4, "which comapnies get my data?", ["advertisers"]),
            row(5, "which comapnies get my data?", ["analytics providers"]),  # merged into 4: 4 now differs from 1
        ],
    )
    assert set(kept) == {"t:1", "t:3", "t:4"}
    assert [a["text"] for a in kept["t:4"]["answers"]] == ["advertisers", "analytics providers"]
    assert [(r["id"], r["reason"], r["detail"]) for r in removed] == [
        ("t:2", "near_duplicate", "near-duplicate of t:1"),
        ("t:5", "exact_duplicate", "duplicate of t:4, its answers merged into it"),
    ]
