"""`reproqa serve` on the tiny pipeline: the API answers as `reproqa ask` does, feedback becomes rows, bad requests
get a 4xx and the server goes on serving, and exported feedback trains without leaking a test question."""

import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from conftest import REPO, answerer_of, run
from reproqa.feedback import FeedbackStore
from reproqa.serve import create_app, model_version


@pytest.fixture(scope="module")
def served(pipeline, tmp_path_factory):
    root, _, _ = pipeline
    answerer = answerer_of(root)
    database = tmp_path_factory.mktemp("serve") / "feedback.db"
    app = create_app(answerer, FeedbackStore(database), model_version(root))
    with TestClient(app) as client:
        yield client, answerer, database, root


def test_ask_answers_as_the_answerer_does_with_offsets_and_the_model_version(served):
    client, answerer, _, root = served
    questions = [row["question"] for row in pq.read_table(root / "data/processed/test.parquet").to_pylist()]
    answered = next(a for a in answerer.answer(questions, 2) if a.text)  # one the tiny model answers
    response = client.post("/ask", json={"question": answered.question, "top_k": 2})
    assert response.status_code == 200
    body = response.json()
    assert (body["answer"], body["context_id"]) == (answered.text, answered.context_id)
    assert [c["id"] for c in body["contexts"]] == answered.retrieved
    context = next(c["context"] for c in body["contexts"] if c["id"] == body["context_id"])
    assert context[body["start"] : body["end"]] == body["answer"]  # the offsets point at the answer
    locked = model_version(root)
    assert body["model_version"] == locked and locked["models/reader"].endswith(".dir")
    assert client.get("/health").json()["status"] == "ok"
    assert "<title>reproqa</title>" in client.get("/").text
    assert "/ask" in client.get("/openapi.json").json()["paths"]


def test_feedback_is_stored_one_row_each_and_exported_with_exact_offsets(served, tmp_path):
    client, _, database, _ = served
    asked = client.post("/ask", json={"question": "who owns the billing hub?"}).json()
    shown = asked["contexts"][0]
    right_span = {"context_id": shown["id"], "start": 0, "end": 12}
    posts = [{"answer_id": asked["answer_id"], "verdict": "corrected"} | right_span] * 20 + [
        {"answer_id": asked["answer_id"], "verdict": "wrong"}
    ] * 20
    with ThreadPoolExecutor(8) as pool:  # concurrent writers: none lost, none doubled
        statuses = list(pool.map(lambda body: client.post("/feedback", json=body).status_code, posts))
    assert statuses == [201] * 40
    rows = (
        sqlite3.connect(database)
        .execute("SELECT verdict, COUNT(*) FROM feedback WHERE answer_id = ? GROUP BY 1", (asked["answer_id"],))
        .fetchall()
    )
    assert dict(rows) == {"corrected": 20, "wrong": 20}

    out = tmp_path / "feedback.jsonl"
    counts = FeedbackStore(database).export(out, held_out=set())
    records = [json.loads(line) for line in out.read_text().splitlines()]
    mine = [r for r in records if r["query"] == asked["question"]]
    assert mine == [
        {
            "answer": shown["context"][:12],
            "answer_start": 0,
            "context": shown["context"],
            "query": asked["question"],
            "title": shown["title"],
        }
    ]
    assert counts["corrected"] >= 20 and counts["wrong"] >= 20
    first = out.read_bytes()
    FeedbackStore(database).export(out, held_out=set())
    assert out.read_bytes() == first  # deterministic: the same feedback, the same bytes (and DVC hash)


@pytest.mark.parametrize(
    ("path", "body", "status", "says"),
    [
        ("/ask", {"question": ""}, 422, "empty"),
        ("/ask", {"question": "   \n"}, 422, "empty"),
        ("/ask", {"question": "x" * 100_000}, 422, "at most 1000 characters"),
        ("/ask", {"question": 42}, 422, "body.question"),
        ("/ask", {"question": "who?", "top_k": "3"}, 422, "body.top_k"),
        ("/ask", {"question": "who?", "top_k": 0}, 422, "body.top_k"),
        ("/ask", {"question": "who?", "colour": "red"}, 422, "body.colour"),
        ("/ask", {"question": "who?", "filter": {"colour": ["red"]}}, 422, "colour"),
        ("/feedback", {"answer_id": 10**9, "verdict": "wrong"}, 404, "no such answer"),
        ("/feedback", {"answer_id": 2**63, "verdict": "wrong"}, 422, "body.answer_id"),
        ("/feedback", {"answer_id": 1, "verdict": "corrected", "context_id": 0, "start": 0}, 422, "start and end"),
        ("/feedback", {"answer_id": 1, "verdict": "maybe"}, 422, "body.verdict"),
        ("/feedback", {"answer_id": 1, "verdict": "corrected", "context_id": 0, "start": 5, "end": 10**6}, 422, "span"),
        (
            "/feedback",
            {"answer_id": 1, "verdict": "corrected", "context_id": 10**6, "start": 0, "end": 1},
            422,
            "not one",
        ),
    ],
)
def test_a_bad_request_gets_a_4xx_with_a_message_and_the_server_goes_on(served, path, body, status, says):
    client, _, _, _ = served
    if path == "/feedback":
        asked = client.post("/ask", json={"question": "who owns the billing hub?"}).json()
        body = body | ({"answer_id": asked["answer_id"]} if body["answer_id"] == 1 else {})
        if body.get("context_id") == 0:
            body["context_id"] = asked["contexts"][0]["id"]
    response = client.post(path, json=body)
    assert response.status_code == status and says in response.json()["detail"], response.json()
    assert client.post("/ask", json={"question": "who owns the billing hub?"}).status_code == 200


@pytest.mark.parametrize(
    ("raw", "says"),
    [(b"{not json", "JSON decode error"), (b'{"question": "caf\xe9?"}', "UTF-8"), (b"[1, 2]", "body")],
)
def test_a_body_that_is_not_a_json_object_gets_a_4xx(served, raw, says):
    client, _, _, _ = served
    response = client.post("/ask", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422) and says in response.json()["detail"], response.text
    assert client.get("/health").status_code == 200


def test_feedback_needs_the_token_when_one_is_set(served, tmp_path):
    _, answerer, _, root = served
    app = create_app(answerer, FeedbackStore(tmp_path / "f.db"), {}, token="s3cret")
    with TestClient(app) as client:
        answer_id = client.post("/ask", json={"question": "who owns the billing hub?"}).json()["answer_id"]
        body = {"answer_id": answer_id, "verdict": "right"}
        assert client.post("/feedback", json=body).status_code == 401
        assert client.post("/feedback", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.post("/feedback", json=body, headers={"Authorization": "Bearer s3cret"}).status_code == 201
        assert client.get("/health").json()["feedback_needs_token"] is True


def test_exported_feedback_trains_but_never_puts_a_test_question_into_train(pipeline, tmp_path):
    """The loop: feedback on a test question and on a training question, exported into data/raw/ (an ingest
    source), `dvc repro`: the training question's correction is ingested, the test question is held out and
    stays out of train."""
    root, _, _ = pipeline
    project = tmp_path / "loop"
    run(["cp", "-r", str(root), str(project)], tmp_path)
    split = {s: pq.read_table(project / f"data/processed/{s}.parquet").to_pylist() for s in ("train", "test")}
    answerer = answerer_of(project)
    store = FeedbackStore(project / "feedback/feedback.db")
    for row in (split["test"][0], split["train"][0]):
        answer = answerer.answer([row["question"]])[0]
        shown = [
            {"id": i, "title": answerer.index.titles[i], "context": answerer.index.contexts[i]}
            for i in answer.retrieved
        ]
        answer_id = store.record_answer(row["question"], answer.text, answer.context_id, answer.answer_start, shown, {})
        store.add(answer_id, "corrected", shown[0]["id"], (0, 5))
    exported = run(["reproqa", "feedback", "export", "--project", str(project)], project).stdout
    assert "1 rows" in exported and "1 held out" in exported
    run(["dvc", "repro"], project)
    ingested = pq.read_table(project / "data/interim/ingested.parquet").to_pylist()
    assert [r["question"] for r in ingested if r["source"] == "feedback"] == [split["train"][0]["question"]]
    train_questions = {r["question"] for r in pq.read_table(project / "data/processed/train.parquet").to_pylist()}
    assert split["test"][0]["question"] not in train_questions
    report = json.loads((project / "metrics/data_report/metrics.json").read_text())
    assert report["accounting"]["unaccounted"] == 0


def test_serve_without_models_says_to_pull_or_repro(tmp_path):
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    result = run(["reproqa", "serve", "--project", str(tmp_path), "--port", "0"], tmp_path, check=False)
    assert result.returncode != 0
    assert result.stderr.startswith("reproqa: ") and "`dvc repro` (or `dvc pull`)" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_correction_of_only_spaces_is_refused(served):
    client, _, _, _ = served
    asked = client.post("/ask", json={"question": "who owns the billing hub?"}).json()
    context = asked["contexts"][0]
    space = context["context"].index(" ")
    body = {"answer_id": asked["answer_id"], "verdict": "corrected", "context_id": context["id"]}
    response = client.post("/feedback", json=body | {"start": space, "end": space + 1})
    assert response.status_code == 422 and "only spaces" in response.json()["detail"]
