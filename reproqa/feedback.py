"""Feedback on answers, as data: what `reproqa serve` stores and `reproqa feedback export` turns into training rows.

One SQLite file in WAL mode (readers never wait for the writer; writers take turns: BEGIN IMMEDIATE with a busy
timeout, so concurrent posts queue instead of failing, and a row is acknowledged only once committed). Two tables:
- answers: every answer the server gave: the question, the answer and where it is (context id, character offset),
  the contexts shown, and the model version that answered;
- feedback: verdicts on those answers: "right", "wrong", "corrected" (the right span: a context shown and its
  character offsets) or "not_in_contexts".

`export` writes the confirmed and corrected answers as seed JSONL rows (query, context, answer, answer_start,
title), sorted, so the same feedback always gives the same bytes (and the same DVC hash):

    >>> import tempfile; store = FeedbackStore(Path(tempfile.mkdtemp()) / "feedback.db")
    >>> shown = [{"id": 7, "title": "acme", "context": "acme pays in euro."}]
    >>> answer = store.record_answer("what does acme pay in?", "euro", 7, 13, shown, {"models/reader": "ab12"})
    >>> store.add(answer, "right")
    1
    >>> store.export(Path(tempfile.mkdtemp()) / "feedback.jsonl", held_out=set())
    {'exported': 1, 'held_out': 0, 'right': 1}
"""

import json
import sqlite3
import time
from pathlib import Path

from reproqa.text import matching_form

VERDICTS = ("right", "wrong", "corrected", "not_in_contexts")
BUSY_TIMEOUT_MS = 30_000  # a writer waits this long for another's transaction before the request fails (a 503)

SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,            -- "" when no context answered
    context_id INTEGER,              -- the context the answer is in, or NULL
    answer_start INTEGER,            -- its character offset there
    shown TEXT NOT NULL,             -- JSON: the contexts shown [{id, title, context}], best first
    model_version TEXT NOT NULL,     -- JSON: {model folder: its hash in dvc.lock}
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    answer_id INTEGER NOT NULL REFERENCES answers(id),
    verdict TEXT NOT NULL CHECK (verdict IN ('right', 'wrong', 'corrected', 'not_in_contexts')),
    context_id INTEGER,              -- corrected: the context of the right span
    span_start INTEGER,              -- corrected: its character offsets there, [start, end)
    span_end INTEGER,
    created REAL NOT NULL
);
"""


class FeedbackError(ValueError):
    """A feedback that cannot be stored as given (a span outside the context, a verdict unknown): the client's fault."""


class UnknownAnswer(FeedbackError):
    """A feedback on an answer id this store never gave."""


class FeedbackStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")  # persistent: set once for the file
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        # One connection per call: the server's worker threads never share one. autocommit off, explicit BEGIN.
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        db.execute("PRAGMA synchronous=FULL")  # an acknowledged row survives a crash of the machine, not only ours
        return db

    def _write(self, sql: str, values: tuple) -> int:
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")  # take the write lock now: queue behind other writers, never deadlock
            row_id = db.execute(sql, values).lastrowid
            db.execute("COMMIT")
            return row_id
        finally:
            db.close()

    def record_answer(
        self, question: str, answer: str, context_id: int | None, answer_start: int | None, shown: list[dict], model
    ) -> int:
        """Store an answer given; returns its id (what a feedback refers to)."""
        return self._write(
            "INSERT INTO answers (question, answer, context_id, answer_start, shown, model_version, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (question, answer, context_id, answer_start, json.dumps(shown), json.dumps(model), time.time()),
        )

    def add(self, answer_id: int, verdict: str, context_id: int | None = None, span: tuple | None = None) -> int:
        """Store a verdict on answer `answer_id`; "corrected" needs the right span: `context_id` (one of the
        contexts shown with the answer) and `span` = (start, end) character offsets in it. Returns its id."""
        if verdict not in VERDICTS:
            raise FeedbackError(f"verdict {verdict!r}: expected one of {', '.join(VERDICTS)}")
        with self._connect() as db:
            found = db.execute("SELECT shown FROM answers WHERE id = ?", (answer_id,)).fetchone()
        if found is None:
            raise UnknownAnswer(f"answer_id {answer_id}: no such answer")
        if verdict == "corrected":
            shown = {c["id"]: c["context"] for c in json.loads(found[0])}
            if context_id not in shown:
                raise FeedbackError(f"context_id {context_id}: not one of the contexts shown with answer {answer_id}")
            context = shown[context_id]
            if span is None or not 0 <= span[0] < span[1] <= len(context):
                raise FeedbackError(f"span {span}: expected 0 <= start < end <= {len(context)} (the context's length)")
            if not context[span[0] : span[1]].strip():
                raise FeedbackError(f"span {span}: only spaces; select the words of the right answer")
        elif context_id is not None or span is not None:
            raise FeedbackError(f"context_id and span go with the verdict 'corrected' only, not {verdict!r}")
        start, end = span if span else (None, None)
        return self._write(
            "INSERT INTO feedback (answer_id, verdict, context_id, span_start, span_end, created) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (answer_id, verdict, context_id, start, end, time.time()),
        )

    def rows(self) -> list[dict]:
        """Every feedback with its answer, oldest first."""
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            query = (
                "SELECT f.id, f.answer_id, f.verdict, f.context_id, f.span_start, f.span_end, a.question, a.answer, "
                "a.context_id AS answer_context_id, a.answer_start, a.shown, a.model_version "
                "FROM feedback f JOIN answers a ON a.id = f.answer_id ORDER BY f.id"
            )
            return [dict(row) for row in db.execute(query)]

    def export(self, path: Path, held_out: set[str]) -> dict:
        """Write the feedback that names a right answer as seed JSONL rows to `path`: "right" (the answer as
        shown) and "corrected" (the span chosen); one row per (question, context, span), sorted, so the file's
        bytes depend on the feedback only. "wrong" and "not_in_contexts" name no right answer: counted, not
        written. A question in `held_out` (matching forms, reproqa.text: the validation and test questions) is
        not written either: its correction may lie in another document's context, which the split could put
        into train. Returns the counts (exported, held_out, and each verdict's)."""
        counts, lines = {"exported": 0, "held_out": 0}, set()
        for row in self.rows():
            counts[row["verdict"]] = counts.get(row["verdict"], 0) + 1
            if matching_form(row["question"]) in held_out and row["verdict"] in ("right", "corrected"):
                counts["held_out"] += 1
                continue
            shown = {c["id"]: c for c in json.loads(row["shown"])}
            if row["verdict"] == "right" and row["answer"]:
                context, start = shown[row["answer_context_id"]], row["answer_start"]
                end = start + len(row["answer"])
            elif row["verdict"] == "corrected":
                context, start, end = shown[row["context_id"]], row["span_start"], row["span_end"]
            else:
                continue
            record = {
                "query": row["question"],
                "context": context["context"],
                "answer": context["context"][start:end],
                "answer_start": start,
                "title": context["title"],
            }
            lines.add(json.dumps(record, ensure_ascii=False, sort_keys=True))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line + "\n" for line in sorted(lines)))
        counts["exported"] = len(lines)
        return counts
