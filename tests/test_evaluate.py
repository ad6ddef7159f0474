"""Stage evaluate and `reproqa ask` on the tiny pipeline that `dvc repro` ran (conftest `pipeline`)."""

import json
import subprocess

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from conftest import BIN, answerer_of, run, stage_env
from reproqa import models
from reproqa.answering import Answerer
from reproqa.breakdown import bootstrap_interval
from reproqa.index import ranking_metrics
from reproqa.onnx_models import OnnxEncoder, OnnxReranker
from reproqa.params import SECTIONS
from reproqa.reader import qa_scores


def test_headline_metrics_match_the_splits_and_the_reader_on_gold_contexts(pipeline):
    root, _, _ = pipeline
    metrics = json.loads((root / "metrics/evaluate/metrics.json").read_text())
    assert set(metrics) == {"integrated", "isolated", "scoped", "retriever", "data", "answered_with"}  # scoped: tiny
    rows = {
        split: pq.read_metadata(root / f"data/processed/{split}.parquet").num_rows
        for split in ("train", "validation", "test")
    }
    assert {k: metrics["data"][k] for k in rows} == rows
    rows = [json.loads(line) for line in (root / "results/evaluate/predictions.jsonl").read_text().splitlines()]
    for name in ("integrated", "isolated", "scoped"):  # the headline numbers score the predictions a person reads
        scores = qa_scores([row[name] for row in rows], [row["gold"] for row in rows], digits=4)
        low, high = bootstrap_interval([row[f"{name}_f1"] for row in rows])  # over these questions' F1
        assert {k: v for k, v in metrics[name].items() if k not in ("ndcg@10", "recall@top_k")} == {
            "exact": scores["exact"],
            "f1": scores["f1"],
            "has_answer_f1": scores["HasAns_f1"],
            "no_answer_f1": scores["NoAns_f1"],
            "f1_ci": {"low": round(low, 4), "high": round(high, 4)},
        }
        assert low <= scores["f1"] <= high
    assert metrics["retriever"]["top_k"] == 3
    assert "metrics/evaluate/metrics.json" in run(["dvc", "metrics", "show"], root).stdout


def test_the_retriever_table_measures_the_search_that_ask_runs(pipeline):
    root, _, _ = pipeline
    table = json.loads((root / "metrics/evaluate_retriever/metrics.json").read_text())
    test = [row for row in pq.read_table(root / "data/processed/test.parquet").to_pylist() if not row["is_impossible"]]
    for method in ("bm25", "hybrid"):
        index = answerer_of(root, retriever=method, precision="float32").index
        ranked = index.search([row["question"] for row in test], 100, method)[0]
        relevant = index.ids_of([row["context"] for row in test])
        assert ranking_metrics(ranked, relevant, 10, [1, 3, 5, 10, 100]) == table[method], method
    answerer = answerer_of(root, precision="float32")  # the reranked row: the answer path's search and reranking
    ranked = answerer.search([row["question"] for row in test], 100)[0]
    assert ranking_metrics(ranked, relevant, 10, [1, 3, 5, 10, 100]) == table["reranked"]


def test_in_float32_the_reader_on_gold_contexts_scores_what_stage_train_measured(pipeline):
    """Reader.read, with the settings stage train saved beside the model, post-processes as the Trainer run
    of stage train did: same windows, same answers. In bfloat16 (evaluate.precision) both the reader and
    the question encoder run in bf16."""
    root, _, _ = pipeline
    test = pq.read_table(root / "data/processed/test.parquet").to_pylist()
    answerer = answerer_of(root, precision="float32")
    read = answerer.reader.read([row["question"] for row in test], [[row["context"]] for row in test])
    scores = qa_scores(
        [reading[0][0] for reading in read], [[answer["text"] for answer in row["answers"]] for row in test]
    )
    reader = json.loads((root / "metrics/train/test.json").read_text())
    assert (round(scores["exact"], 4), round(scores["f1"], 4)) == (reader["exact"], reader["f1"])
    for row, ((text, _, start),) in zip(test, read):  # where each answer is, as `reproqa serve` highlights it
        assert (row["context"][start : start + len(text)] == text) if text else start is None
    assert answerer.reader.model.dtype == torch.float32
    fast = answerer_of(root, precision="bfloat16")
    assert fast.reader.model.dtype == torch.bfloat16 and fast.index.encoder[0].auto_model.dtype == torch.bfloat16


@pytest.mark.parametrize("bf16_cpu", [False, True])
def test_auto_answers_in_what_this_cpu_runs_faster(pipeline, monkeypatch, bf16_cpu):
    """evaluate.backend and evaluate.precision auto (the defaults): PyTorch in bf16 on a CPU where bf16 is faster
    (reproqa.models.cpu_prefers_bf16, mocked here), stage export's graphs in ONNX Runtime (float32) elsewhere."""
    monkeypatch.setattr(models, "cpu_prefers_bf16", lambda: bf16_cpu)
    monkeypatch.setattr(models, "may_have_gpu", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    answerer = answerer_of(pipeline[0], precision="auto", backend="auto")
    if bf16_cpu:
        assert answerer.answered_with == {"backend": "torch", "precision": "bfloat16"}
        assert answerer.reader.model.dtype == torch.bfloat16 == answerer.index.encoder[0].auto_model.dtype
    else:
        assert answerer.answered_with == {"backend": "onnx", "precision": "float32"}
        assert answerer.reader.model is None and isinstance(answerer.index.encoder, OnnxEncoder)
        assert isinstance(answerer.reranker, OnnxReranker)


def test_every_test_question_has_a_readable_prediction_row(pipeline):
    root, _, _ = pipeline
    test = pq.read_table(root / "data/processed/test.parquet").to_pylist()
    rows = [json.loads(line) for line in (root / "results/evaluate/predictions.jsonl").read_text().splitlines()]
    assert [row["id"] for row in rows] == [row["id"] for row in test]
    contexts = pq.read_table(root / "models/index/contexts.parquet")["context"].to_pylist()
    for row in rows:
        assert len(row["retrieved"]) == 3 == len(row["retrieval_scores"])
        assert row["integrated"] == "" or row["integrated"] in contexts[row["answer_context_id"]]
        assert row["gold_context_rank"] in (None, 1, 2, 3)
        assert (row["gold_context_rank"] is None) == (row["gold_context_id"] not in row["retrieved"])


def test_plots_are_declared_and_recall_grows_with_k(pipeline):
    root, _, _ = pipeline
    recall = json.loads((root / "metrics/evaluate/plots/recall_at_k.json").read_text())
    assert [point["k"] for point in recall] == [1, 3, 5, 10, 20]
    assert all(a["recall"] <= b["recall"] for a, b in zip(recall, recall[1:]))
    by_type = json.loads((root / "metrics/evaluate/plots/f1_by_question_type.json").read_text())
    assert (
        sum(group["questions"] for group in by_type) == pq.read_metadata(root / "data/processed/test.parquet").num_rows
    )
    plots = json.loads(run(["dvc", "plots", "show", "--json"], root).stdout)["data"]
    titles = {plot_id: renderings[0]["content"]["title"]["text"] for plot_id, renderings in plots.items()}
    assert {plot_id: title for plot_id, title in titles.items() if plot_id.startswith("metrics/evaluate/")} == {
        "metrics/evaluate/plots/recall_at_k.json": "Recall@k of the gold context",
        "metrics/evaluate/plots/f1_by_question_type.json": "F1 by question type (integrated)",
        "metrics/evaluate/plots/f1_by_answer_length.json": "F1 by answer length (integrated)",
    }
    assert "metrics/train/plots/metrics/eval/f1.tsv" in plots  # the reader's curves, from DVCLive
    curve = plots["Learning curve, PolicyQA (benchmarks/little_data.py)"][0]["content"]["data"]["values"]
    assert {point["field"] for point in curve} == {
        f"{system} {score}" for system in ("base", "general+domain") for score in ("isolated", "scoped")
    }


def test_with_one_context_read_the_answer_is_the_readers_answer_on_that_context(pipeline):
    """The combination adds nothing when one context is read: retrieving the gold context first must give
    the isolated answer; retrieving another context must give what the reader says on that one."""
    root, _, _ = pipeline
    answerer = answerer_of(root, top_k=1)
    rows = [json.loads(line) for line in (root / "results/evaluate/predictions.jsonl").read_text().splitlines()]
    answers = answerer.answer([row["question"] for row in rows])
    read_alone = answerer.reader.read(
        [row["question"] for row in rows], [[answerer.index.contexts[a.retrieved[0]]] for a in answers]
    )
    for row, answer, ((text, _, start),) in zip(rows, answers, read_alone):
        assert (answer.text, answer.answer_start) == (text, start)
        if answer.retrieved[0] == row["gold_context_id"]:
            assert answer.text == row["isolated"]


def test_ask_answers_from_the_corpus_as_json_and_from_stdin(pipeline):
    root, _, _ = pipeline
    contexts = pq.read_table(root / "models/index/contexts.parquet")["context"].to_pylist()
    question = pq.read_table(root / "data/processed/test.parquet")["question"][0].as_py()
    answer = json.loads(run([str(BIN / "reproqa"), "ask", "--json", "--top-k", "2", question], root).stdout)
    assert answer["question"] == question and len(answer["retrieved"]) == 2
    assert answer["text"] == "" or (
        answer["context"] == contexts[answer["context_id"]] and answer["text"] in answer["context"]
    )
    piped = subprocess.run(
        [str(BIN / "reproqa"), "ask", "--json"],
        cwd=root,
        env=stage_env(),
        text=True,
        input=f"{question}\n\nwho owns it?\n",
        capture_output=True,
        check=True,
    )
    lines = [json.loads(line) for line in piped.stdout.splitlines()]
    assert [line["question"] for line in lines] == [question, "who owns it?"]  # the blank line is skipped
    assert lines[0]["retrieved"][:2] == answer["retrieved"]  # evaluate.top_k (3) contexts, the same ranking


def test_scoped_to_the_one_source_of_the_sample_the_answers_are_the_integrated_ones(pipeline):
    """The tiny profile sets evaluate.scope: source, and the sample has one source: each question's scope is the
    whole corpus, so the filtered search must answer exactly as the unfiltered one."""
    root, _, _ = pipeline
    metrics = json.loads((root / "metrics/evaluate/metrics.json").read_text())
    scoped = dict(metrics["scoped"])
    assert (scoped.pop("ndcg@10"), scoped.pop("recall@top_k")) == (
        metrics["retriever"]["ndcg@10"],
        metrics["retriever"]["recall@top_k"],
    )
    assert scoped == metrics["integrated"]
    rows = [json.loads(line) for line in (root / "results/evaluate/predictions.jsonl").read_text().splitlines()]
    assert [row["scoped"] for row in rows] == [row["integrated"] for row in rows]


def test_ask_answers_within_a_filter_and_names_what_is_wrong_with_one(pipeline):
    root, _, _ = pipeline
    question = pq.read_table(root / "data/processed/test.parquet")["question"][0].as_py()
    ask = [str(BIN / "reproqa"), "ask", "--json"]
    whole = json.loads(run([*ask, question], root).stdout)
    within = json.loads(run([*ask, "--filter", "source=app_inventory", question], root).stdout)
    assert (within["text"], within["retrieved"]) == (whole["text"], whole["retrieved"])
    for option, message in (
        ("author=me", "unknown filter field 'author': a filter names title or source"),
        ("source=elsewhere", "no context matches the filter source in ['elsewhere']"),
        ("title", "--filter 'title': expected FIELD=VALUE"),
    ):
        result = run([*ask, "--filter", option, question], root, check=False)
        assert result.returncode != 0 and f"reproqa: {message}" in result.stderr, option


def test_ask_without_a_trained_pipeline_says_what_to_run(pipeline, tmp_path):
    root, _, _ = pipeline
    (tmp_path / "params.yaml").write_text((root / "params.yaml").read_text())
    result = run([str(BIN / "reproqa"), "ask", "--project", str(tmp_path), "anything?"], tmp_path, check=False)
    assert result.returncode != 0 and "models/index: not found; run `dvc repro` (or `dvc pull`) first" in result.stderr


class Given:
    """An index and a reader that return given results, and know the three contexts."""

    def __init__(self, retrieval_scores, readings):
        self.contexts, self.titles = [f"context {i}" for i in range(3)], ["t0", "t1", "t2"]
        self.retrieval_scores, self.readings = retrieval_scores, readings

    def search(self, questions, k, method, filters=None):
        return np.array([[0, 1, 2]]), np.array([self.retrieval_scores])

    def read(self, questions, contexts):
        assert contexts == [self.contexts]
        return [self.readings]


def combine(readings, retrieval_scores, weight):
    """Answerer.answer's choice for one question, with the index and the reader replaced by given results."""
    params = SECTIONS["evaluate"].model_validate(
        {
            "retriever": "dense",
            "top_k": 3,
            "rerank": {"enabled": False, "candidates": 3, "search_weight": 0.0, "rrf_k": 0},
            "retrieval_weight": weight,
            "recall_at": [1],
            "ndcg_at": 10,
            "batch_size": 1,
            "precision": "float32",
            "backend": "torch",
            "scope": None,
        }
    )
    given = Given(retrieval_scores, readings)
    return Answerer(given, given, params).answer(["q?"])[0]


def test_a_well_retrieved_no_answer_beats_a_span_from_a_poorly_retrieved_context():
    readings = [("", 6.0, None), ("2009", 7.0, 4), ("tier 1", 2.0, 0)]  # the top context says: no answer here
    assert combine(readings, [0.9, 0.5, 0.4], weight=10.0).text == ""  # 6 + 10 > 7 + 2
    chosen = combine(readings, [0.9, 0.5, 0.4], weight=0.0)  # the reader alone: its best span
    assert (chosen.text, chosen.context_id, chosen.title, chosen.score, chosen.answer_start) == (
        "2009",
        1,
        "t1",
        7.0,
        4,
    )
    assert combine([("", -np.inf, None)] * 3, [0.9, 0.5, 0.4], weight=1.0).score is None


def test_retrieval_weight_trades_the_readers_score_against_the_retrievers():
    readings = [("alpha", 5.0, 0), ("beta", 6.0, 0), ("gamma", 1.0, 0)]
    assert combine(readings, [0.8, 0.6, 0.0], weight=1.0).text == "beta"  # 6 + 0.75 > 5 + 1
    assert combine(readings, [0.8, 0.6, 0.0], weight=5.0).text == "alpha"  # 5 + 5 > 6 + 3.75
