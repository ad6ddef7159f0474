"""Each raw format becomes canonical rows with verified offsets; bad records are quarantined with
file, line (or JSON path) and field; an unreadable file is one clear error."""

import json

import pytest

from reproqa.errors import UserError
from reproqa.params import Source
from reproqa.readers import read_source
from reproqa.records import offsets_hold

CONTEXT = "Atlas Billing Hub (system id 12345) is owned by the Payments Platform team."


def squad(version_2: bool) -> dict:
    answerable = {
        "id": "q1",
        "question": "Who owns Atlas Billing Hub?",
        "answers": [
            {"text": "Payments Platform", "answer_start": 52},  # right offset
            {"text": "Payments Platform team", "answer_start": 3},  # wrong offset: located
            {"text": "the payments platform", "answer_start": 48},
        ],
    }  # other case: located loosely
    qas = [answerable, {"id": "q2", "question": "What is its id?", "answers": [{"text": "99999", "answer_start": 0}]}]
    if version_2:
        qas.append(
            {
                "id": "q3",
                "question": "Where is it hosted?",
                "answers": [],
                "is_impossible": True,
                "plausible_answers": [{"text": "Atlas", "answer_start": 0}],
            }
        )
    return {
        "version": "2.0" if version_2 else "1.1",
        "data": [{"title": "Atlas", "paragraphs": [{"context": CONTEXT, "qas": qas}]}],
    }


def read(tmp_path, name: str, content: str, fmt: str, **extra):
    (tmp_path / name).write_text(content)
    return list(read_source(Source(name="src", format=fmt, path=name, **extra), tmp_path))


def test_squad_v1_several_answers_are_verified_or_located(tmp_path):
    reads = read(tmp_path, "dev.json", json.dumps(squad(False)), "squad_json")
    good, bad = reads
    assert good.reason is None and good.repair == "located_loosely"
    assert [a["answer_start"] for a in good.row["answers"]] == [52, 52, 48]
    assert good.row["answers"][2]["text"] == "the Payments Platform"  # the context's own spelling
    assert offsets_hold(good.row) and good.row["id"] == "src:q1" and good.row["title"] == "Atlas"
    assert bad.reason == "answer_not_in_context"
    assert bad.detail.startswith("dev.json:data[0].paragraphs[0].qas[1]: answers[0].text '99999'")


def test_a_title_that_is_not_a_string_quarantines_its_questions_in_every_format(tmp_path):
    document = squad(False)
    document["data"][0]["title"] = 2017
    reads = read(tmp_path, "dev.json", json.dumps(document), "squad_json")
    assert [r.reason for r in reads] == ["wrong_type", "wrong_type"]
    assert reads[0].detail == "dev.json:data[0].paragraphs[0].qas[0]: field 'title' must be a string or null, got 2017"
    rows = [{"question": "Who owns it?", "context": CONTEXT, "answers": {"text": ["Atlas"], "answer_start": [0]}}]
    (tmp_path / "hf.jsonl").write_text("\n".join(json.dumps(row | {"title": 7}) for row in rows))
    assert [r.reason for r in read_source(Source(name="h", format="hf_dataset", path="hf.jsonl"), tmp_path)] == [
        "wrong_type"
    ]


def test_squad_v2_unanswerable(tmp_path):
    impossible = read(tmp_path, "dev.json", json.dumps(squad(True)), "squad_json")[2]
    assert impossible.reason is None and impossible.row["is_impossible"] and impossible.row["answers"] == []


def test_seed_jsonl_bad_lines_are_quarantined_with_line_and_field(tmp_path):
    good = {"query": "Who owns Atlas Billing Hub?", "context": CONTEXT, "answer": "Payments Platform"}
    lines = [
        json.dumps(good),
        "",
        json.dumps(good)[:30],
        json.dumps({"query": "q", "answer": "a"}),
        json.dumps(good | {"query": 12345}),
        json.dumps(good | {"answer": "Treasury"}),
        json.dumps(good | {"answer": None}),
        json.dumps(good | {"context": "   "}),
        "[1, 2]",
        json.dumps(good | {"title": ["Atlas"]}),
        json.dumps(good | {"title": "Atlas Billing Hub"}),
    ]
    reads = read(tmp_path, "raw.jsonl", "\n".join(lines) + "\n", "seed_jsonl")
    assert [(r.reason, r.detail.split(": ")[0]) for r in reads] == [
        (None, ""),
        ("malformed_json", "raw.jsonl:3"),
        ("missing_field", "raw.jsonl:4"),
        ("wrong_type", "raw.jsonl:5"),
        ("answer_not_in_context", "raw.jsonl:6"),
        (None, ""),
        ("empty_context", "raw.jsonl:8"),
        ("not_an_object", "raw.jsonl:9"),
        ("wrong_type", "raw.jsonl:10"),
        (None, ""),
    ]
    assert "field 'context' is missing" in reads[2].detail and "field 'query'" in reads[3].detail
    assert "field 'title' must be a string or null" in reads[8].detail
    assert (reads[0].row["title"], reads[9].row["title"]) == (None, "Atlas Billing Hub")
    assert reads[0].row["answers"] == [{"text": "Payments Platform", "answer_start": 52}]
    assert reads[5].row["is_impossible"] and reads[5].row["answers"] == []


def test_unreadable_squad_file_is_one_clear_error(tmp_path):
    with pytest.raises(UserError, match=r"dev.json: not valid JSON: .*line 1 column"):
        read(tmp_path, "dev.json", '{"data": [', "squad_json")
    with pytest.raises(UserError, match=r"expected an object with a 'data' list"):
        read(tmp_path, "dev.json", '{"articles": []}', "squad_json")
    with pytest.raises(UserError, match=r"dev.json: data\[0\].paragraphs\[0\] is not a SQuAD article/paragraph"):
        read(tmp_path, "dev.json", '{"data": [{"paragraphs": ["just text"]}]}', "squad_json")
    with pytest.raises(UserError, match=r"source 'src': .*missing.json does not exist"):
        list(read_source(Source(name="src", format="seed_jsonl", path="missing.json"), tmp_path))


def hf_records() -> list[dict]:
    return [
        {
            "id": "a",
            "title": "Atlas",
            "question": "Who owns Atlas Billing Hub?",
            "context": CONTEXT,
            "answers": {"text": ["Payments Platform"], "answer_start": [52]},
        },
        {
            "id": "b",
            "title": "Atlas",
            "question": "Where is it hosted?",
            "context": CONTEXT,
            "answers": {"text": [], "answer_start": []},
        },
    ]


def test_hf_dataset_from_a_save_to_disk_folder(tmp_path):
    import datasets

    datasets.DatasetDict({"validation": datasets.Dataset.from_list(hf_records())}).save_to_disk(tmp_path / "squadlike")
    source = Source(name="hf", format="hf_dataset", path="squadlike", split="validation")
    reads = list(read_source(source, tmp_path))
    assert [r.reason for r in reads] == [None, None]
    assert reads[0].row["id"] == "hf:a" and offsets_hold(reads[0].row) and reads[1].row["is_impossible"]


def test_hf_dataset_from_a_local_jsonl_file(tmp_path):
    (tmp_path / "squadlike.jsonl").write_text("".join(json.dumps(r) + "\n" for r in hf_records()))
    reads = list(read_source(Source(name="hf", format="hf_dataset", path="squadlike.jsonl"), tmp_path))
    assert [r.row["answers"] for r in reads] == [[{"text": "Payments Platform", "answer_start": 52}], []]


def test_hf_dataset_without_squad_columns_is_a_clear_error(tmp_path):
    (tmp_path / "other.jsonl").write_text(json.dumps({"q": "x", "c": "y"}) + "\n")
    with pytest.raises(UserError, match=r"lacks SQuAD column\(s\) \['answers', 'context', 'question'\]"):
        list(read_source(Source(name="hf", format="hf_dataset", path="other.jsonl"), tmp_path))


def test_a_source_needs_exactly_one_location_and_a_hub_source_a_revision():
    with pytest.raises(ValueError, match="exactly one of 'path' or 'hub_id'"):
        Source(name="hf", format="hf_dataset", path="x", hub_id="rajpurkar/squad")
    with pytest.raises(ValueError, match="a hub_id needs a pinned revision"):
        Source(name="hf", format="hf_dataset", hub_id="rajpurkar/squad", split="validation")


def test_hub_source_code_path(tmp_path, monkeypatch):
    """No network here: check the Hub call is made as a user online would get it."""
    import datasets

    calls = []
    monkeypatch.setattr(
        datasets, "load_dataset", lambda *a, **k: calls.append((a, k)) or datasets.Dataset.from_list(hf_records())
    )
    source = Source(name="hub", format="hf_dataset", hub_id="rajpurkar/squad", revision="7b6d24c", split="validation")
    reads = list(read_source(source, tmp_path))
    assert calls == [(("rajpurkar/squad",), {"revision": "7b6d24c", "split": "validation"})]
    assert reads[0].row["origin"] == "rajpurkar/squad[validation][0]" and offsets_hold(reads[0].row)
