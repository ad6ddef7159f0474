"""The steps of stage split (reproqa.split), called directly on a few handcrafted rows."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from reproqa.errors import UserError
from reproqa.params import Decontamination, NearDuplicates, Source
from reproqa.records import write_all
from reproqa.split import (
    REMOVED,
    SPLITS,
    assign,
    collect,
    context_groups,
    decontaminate,
    exact_duplicates,
    merged_answers,
    near_duplicates,
    read_benchmarks,
    summary,
    write_splits,
)

NEAR = NearDuplicates(num_perm=128, bands=16, context_ngram=5, question_ngram=3, threshold=0.8, bucket_window=32)
CONTEXT = "policy text: we share data with advertisers and with analytics providers for reporting."
FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}


def row(i: int, question: str, answers: list[str], context: str = CONTEXT, title: str | None = None) -> dict:
    return {
        "id": f"t:{i}",
        "source": "t",
        "origin": f"t.jsonl:{i}",
        "title": title,
        "question": question,
        "context": context,
        "answers": [{"text": a, "answer_start": context.index(a)} for a in answers],
        "is_impossible": not answers,
    }


def answer(text: str) -> dict:
    return {"text": text, "answer_start": CONTEXT.index(text)}


def rows_file(tmp_path, rows: list[dict]):
    write_all(tmp_path / "rows.parquet", rows)
    return tmp_path / "rows.parquet"


def test_exact_duplicates_merge_other_answers_only_within_the_same_context_text(tmp_path):
    path = rows_file(
        tmp_path,
        [
            row(0, "who gets my data?", ["advertisers"]),
            row(1, "Who gets my data", ["analytics providers"]),  # another valid span: merged into row 0
            row(2, "who gets my data?", ["reporting"], context=CONTEXT.capitalize()),  # same form, another text
            row(3, "who gets my data?", []),  # unanswerable here: nothing to merge
            row(4, "what is it for?", ["reporting"]),
        ],
    )
    rows = collect(path, group_by_title=True)
    removed, merge_into = exact_duplicates(rows)
    assert removed == {
        1: ("exact_duplicate", "duplicate of t:0, its answers merged into it"),
        2: ("exact_duplicate", "duplicate of t:0"),
        3: ("exact_duplicate", "duplicate of t:0"),
    }
    assert merge_into == {0: [1]}
    assert rows.answers[0] == {"advertisers", "analytics providers"}  # step 3 compares the merged answers
    assert merged_answers(path, merge_into) == {0: [answer("advertisers"), answer("analytics providers")]}


def test_near_duplicate_contexts_form_one_group_and_their_near_duplicate_questions_go(tmp_path):
    copied = CONTEXT + " copied"  # another text, a near-duplicate form (word 5-gram Jaccard 0.9)
    other = "an unrelated context about the cafeteria menu and the opening hours of the canteen on fridays."
    rows = collect(
        rows_file(
            tmp_path,
            [
                row(0, "which companies get my data?", ["advertisers"]),
                row(1, "which compnies get my data?", ["advertisers"], context=copied),  # typo, same answer: removed
                row(2, "which companie get my data?", ["reporting"], context=copied),  # typo, other answer: kept
                row(3, "which companies get my data?", ["canteen"], context=other),  # same question, other group: kept
            ],
        ),
        group_by_title=True,
    )
    groups, pairs = context_groups(rows, NEAR)
    assert pairs == [(0, 1)] and groups.find(1) == groups.find(0) != groups.find(2)
    assert near_duplicates(rows, groups, {}, NEAR) == {1: ("near_duplicate", "near-duplicate of t:0")}
    assert near_duplicates(rows, groups, {0: ("exact_duplicate", "")}, NEAR) == {}  # removed rows are not compared


def test_titles_group_unrelated_contexts_only_when_asked(tmp_path):
    path = rows_file(
        tmp_path,
        [
            row(0, "who gets my data?", ["advertisers"], title="Privacy"),
            row(1, "when is it open?", ["fridays"], context="the canteen opens on fridays.", title="Privacy"),
            row(2, "what is on the menu?", ["soup"], context="the menu has soup.", title="Food"),
        ],
    )
    groups, pairs = context_groups(collect(path, group_by_title=True), NEAR)
    assert pairs == [] and groups.find(0) == groups.find(1) != groups.find(2)
    groups, _ = context_groups(collect(path, group_by_title=False), NEAR)
    assert len({groups.find(c) for c in range(3)}) == 3


def test_decontamination_removes_rows_whose_question_or_context_is_in_a_benchmark(tmp_path):
    leaked = "the atlas billing hub runs in the dublin data centre and is owned by the payments team since 2019."
    (tmp_path / "bench.jsonl").write_text(
        json.dumps({"query": "Who gets my data?", "context": "a benchmark passage of its own.", "answer": None})
        + "\n"
        # an answer of the wrong type: the reader quarantines the row, but its text is still the benchmark's
        + json.dumps({"query": "Where does it run?", "context": leaked, "answer": 2019})
        + "\n"
    )
    decon = Decontamination(
        benchmarks=[Source(name="bench", format="seed_jsonl", path="bench.jsonl")],
        question_ngram=8,
        context_ngram=13,
        max_ngram_frequency=10,
        min_overlap=0.6,
    )
    rows = collect(
        rows_file(
            tmp_path,
            [
                row(0, "who gets my data", ["advertisers"]),  # the benchmark's first question
                row(1, "who owns it?", ["payments"], context=leaked),  # the benchmark's second context
                row(2, "what is it for?", ["reporting"]),
                row(3, "who gets my data?", ["analytics providers"], context="analytics providers get it."),
            ],
        ),
        group_by_title=True,
    )
    benchmark = read_benchmarks(decon, tmp_path)
    assert benchmark.rows == 2
    found, contexts_matched = decontaminate(rows, {3: ("exact_duplicate", "")}, benchmark)
    assert found == {
        0: ("contaminated", "question overlaps benchmark row bench.jsonl:1"),
        1: ("contaminated", "context overlaps benchmark row bench.jsonl:2"),
    }  # 3 was removed already
    assert contexts_matched == 1


def test_groups_are_assigned_whole_and_removed_rows_go_to_removed(tmp_path):
    # 40 articles of 2 unrelated paragraphs each, 3 questions a paragraph: the title holds each article together.
    rows = collect(
        rows_file(
            tmp_path,
            [
                row(
                    i,
                    f"question {i}?",
                    ["fact"],
                    context=f"paragraph {p} of article {a} states a fact.",
                    title=f"article {a}",
                )
                for i, (a, p) in enumerate((a, p) for a in range(40) for p in range(2) for _ in range(3))
            ],
        ),
        group_by_title=True,
    )
    groups, _ = context_groups(rows, NEAR)
    removed = {0: ("near_duplicate", "near-duplicate of t:1"), 7: ("contaminated", "x")}
    destination, group_count = assign(rows, groups, removed, seed=42, fractions=FRACTIONS)
    assert group_count == 40 and destination[0] == destination[7] == REMOVED
    for article in range(40):
        kept = {int(d) for d in destination[article * 6 : article * 6 + 6] if d != REMOVED}
        assert len(kept) == 1, f"article {article} is in splits {kept}"
    assert set(destination.tolist()) == {0, 1, 2, REMOVED}  # every split got some articles
    again, _ = assign(rows, groups, removed, seed=42, fractions=FRACTIONS)
    assert (again == destination).all()
    other_seed, _ = assign(rows, groups, removed, seed=7, fractions=FRACTIONS)
    assert (other_seed != destination).any()
    two_articles = collect(
        rows_file(tmp_path, [row(i, f"q{i}?", ["text"], f"text {i}.", f"doc {i}") for i in range(2)]), True
    )
    with pytest.raises(
        UserError, match=r"split: no rows for the validation and test splits: 2 groups .* add documents"
    ):
        assign(two_articles, context_groups(two_articles, NEAR)[0], {}, seed=42, fractions=FRACTIONS)
    with pytest.raises(UserError, match=r"split: no rows to split: every row was quarantined or removed"):
        assign(two_articles, context_groups(two_articles, NEAR)[0], {0: ("x", ""), 1: ("x", "")}, 42, FRACTIONS)


def test_write_splits_moves_rows_with_their_merged_answers_and_reasons(tmp_path):
    path = rows_file(
        tmp_path,
        [
            row(0, "who?", ["advertisers"]),
            row(1, "who", ["reporting"]),
            row(2, "what?", [], context="another context."),
            row(3, "why?", ["it"], context="it."),
        ],
    )
    destination = np.array([1, REMOVED, 2, 0], dtype=np.int8)
    removed = {1: ("exact_duplicate", "duplicate of t:0, its answers merged into it")}
    answers_of = {0: [answer("advertisers"), answer("reporting")]}
    written = write_splits(path, destination, removed, answers_of, tmp_path / "out", tmp_path / "out/removed.parquet")
    assert written == {"train": 1, "validation": 1, "test": 1, "general": 0}
    tables = {name: pq.read_table(tmp_path / f"out/{name}.parquet").to_pylist() for name in (*SPLITS, "removed")}
    assert [r["id"] for r in tables["train"]] == ["t:3"] and [r["id"] for r in tables["test"]] == ["t:2"]
    assert tables["validation"][0]["answers"] == answers_of[0]
    assert [(r["id"], r["reason"], r["detail"]) for r in tables["removed"]] == [("t:1", *removed[1])]
    stats = summary(collect(path, group_by_title=True), destination, removed, {0: [1]}, written)
    assert stats["removed"] == {"exact_duplicate": 1} and stats["duplicates_answers_merged"] == 1
    assert stats["by_answerability"]["test"] == {"answerable": 0, "unanswerable": 1}


def test_summary_refuses_a_context_in_two_splits(tmp_path):
    path = rows_file(tmp_path, [row(0, "who?", ["advertisers"]), row(1, "what?", ["reporting"])])  # one context
    rows = collect(path, group_by_title=True)
    with pytest.raises(AssertionError, match="a context landed in two splits"):
        summary(rows, np.array([0, 1], dtype=np.int8), {}, {}, {"train": 1, "validation": 1, "test": 0})
