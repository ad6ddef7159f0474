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


def test_an_answer_start_must_be_an_integer_from_0(tmp_path):
    """Python's context[-21:] would find the answer counted from the end, and JSON's true would be offset 1."""
    good = {"query": "Who owns Atlas Billing Hub?", "context": CONTEXT, "answer": "Payments Platform"}
    lines = [json.dumps(good | {"answer_start": start}) for start in (-23, True, 52)]
    reads = read(tmp_path, "raw.jsonl", "\n".join(lines), "seed_jsonl")
    assert [r.reason for r in reads] == ["wrong_type", "wrong_type", None]
    assert "answer_start that is an integer >= 0" in reads[0].detail
    assert reads[0].row["question"] == good["query"] and reads[0].row["context"] == CONTEXT  # shown in quarantine


def test_a_repeated_id_is_quarantined_and_a_null_id_gets_its_position(tmp_path):
    document = squad(True)
    qas = document["data"][0]["paragraphs"][0]["qas"]
    qas[1] = qas[0] | {"question": "Which team owns Atlas Billing Hub?"}  # the same id, "q1"
    qas[2] = qas[2] | {"id": None}
    reads = read(tmp_path, "dev.json", json.dumps(document), "squad_json")
    assert [(r.reason, r.row["id"]) for r in reads] == [
        (None, "src:q1"),
        ("duplicate_id", "src:q1"),
        (None, "src:0.0.2"),
    ]
    assert (
        reads[1].detail
        == "dev.json:data[0].paragraphs[0].qas[1]: id 'src:q1' is also dev.json:data[0].paragraphs[0].qas[0]'s"
    )


def test_is_impossible_must_be_a_flag_and_decides_in_both_squad_formats(tmp_path):
    document = squad(True)
    document["data"][0]["paragraphs"][0]["qas"][0]["is_impossible"] = "false"  # bool("false") is True
    document["data"][0]["paragraphs"][0]["qas"][1] |= {"is_impossible": None, "answers": [{"text": "Atlas"}]}
    reads = read(tmp_path, "dev.json", json.dumps(document), "squad_json")
    assert reads[0].reason == "wrong_type" and "field 'is_impossible' must be true, false or null" in reads[0].detail
    assert reads[1].reason is None and reads[1].row["is_impossible"] is False  # null: answerable, as when absent
    answer = {"text": ["Payments Platform"], "answer_start": [52]}
    rows = [
        {"id": "listed", "answers": [{"text": "Payments Platform", "answer_start": 52}]},  # SQuAD JSON's shape
        {"id": "csv-like", "answers": json.dumps(answer)},  # JSON text, as a CSV cell holds it
        {"id": "decoy", "answers": answer, "is_impossible": True},  # unanswerable: its answer is not gold
        {"id": "none", "answers": None},
        {"id": "uneven", "answers": {"text": ["Payments", "Platform"], "answer_start": [52]}},
        {"id": "text", "answers": "Payments Platform"},
        {"id": "flag", "answers": answer, "is_impossible": "no"},
    ]
    question = {"question": "Who owns Atlas Billing Hub?", "context": CONTEXT}
    (tmp_path / "hf.jsonl").write_text("".join(json.dumps(question | r) + "\n" for r in rows))
    reads = list(read_source(Source(name="hf", format="hf_dataset", path="hf.jsonl"), tmp_path))
    assert [r.reason for r in reads] == [None, None, None, None, "wrong_type", "wrong_type", "wrong_type"]
    assert [(r.row["is_impossible"], len(r.row["answers"])) for r in reads[:4]] == [
        (False, 1),
        (False, 1),
        (True, 0),
        (True, 0),
    ]
    assert "field 'answers' is not SQuAD answers" in reads[4].detail and "hf.jsonl[train][4]" in reads[4].detail


def test_a_file_datasets_cannot_load_or_a_folder_for_a_file_is_one_clear_error(tmp_path):
    (tmp_path / "broken.jsonl").write_text('{"question": "q", "context": "c", "answers": null}\nnot json\n')
    with pytest.raises(UserError, match=r"source 'hf': cannot load .*broken.jsonl: ArrowInvalid: .* in row 1"):
        list(read_source(Source(name="hf", format="hf_dataset", path="broken.jsonl"), tmp_path))
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(UserError, match=r"source 'hf': .*empty.jsonl is empty"):
        list(read_source(Source(name="hf", format="hf_dataset", path="empty.jsonl"), tmp_path))
    (tmp_path / "folder").mkdir()
    with pytest.raises(UserError, match=r"source 'src': .*folder is a folder; format seed_jsonl reads one file"):
        list(read_source(Source(name="src", format="seed_jsonl", path="folder"), tmp_path))


def test_a_context_that_cleaning_empties_is_quarantined():
    from stages.clean import cleaned

    row = {"question": "Where is it hosted?", "context": "\u200b\u200b", "answers": []}  # zero-width spaces
    assert cleaned(row, lowercase=True)[1] == "context_empty_after_cleaning"
