"""`reproqa serve`: answers over HTTP, a web page to ask and correct them, and feedback stored as data.

The same answering code as stage evaluate and `reproqa ask` (reproqa.answering.Answerer), behind FastAPI:
- POST /ask {"question", "top_k"?, "filter"?} -> the answer, its context and character offsets there, the other
  contexts read, the model version (the models' hashes in dvc.lock) and an answer_id for feedback;
- POST /feedback {"answer_id", "verdict", "context_id"?, "start"?, "end"?} -> stored (reproqa.feedback), 201;
  with REPROQA_FEEDBACK_TOKEN set, only with "Authorization: Bearer <that token>";
- GET /health; GET / the page (reproqa/web/); GET /docs the OpenAPI docs FastAPI writes.
A bad request gets a 4xx with a message saying what is wrong, and the server goes on serving.
"""

import hmac
import math
import os
import sqlite3
from functools import partial
from pathlib import Path
from typing import Annotated, Literal

import anyio
import yaml
from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from reproqa.errors import UserError
from reproqa.feedback import FeedbackError, FeedbackStore, UnknownAnswer

WEB = Path(__file__).parent / "web"
TOKEN_VARIABLE = "REPROQA_FEEDBACK_TOKEN"
MAX_QUESTION_CHARS = 1000  # a question, not a document: longer ones are refused (422) before any model runs
MAX_TOP_K = 20  # contexts read per question: each costs a reader pass (BENCHMARKS.md, latency)


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is a mistake worth a 422, not ignored
    question: Annotated[StrictStr, Field(max_length=MAX_QUESTION_CHARS)]
    top_k: Annotated[StrictInt, Field(ge=1, le=MAX_TOP_K)] | None = None  # default: evaluate.top_k
    filter: dict[StrictStr, list[StrictStr]] | None = None  # {"title": ["Acme"]}: as `reproqa ask --filter`

    @field_validator("question")
    @classmethod
    def not_blank(cls, question: str) -> str:
        if not question.strip():
            raise ValueError("the question is empty")
        return question.strip()


Id = Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]  # SQLite's integers: a bigger one is a 422, not an overflow


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer_id: Id
    verdict: Literal["right", "wrong", "corrected", "not_in_contexts"]
    context_id: Id | None = None  # corrected: one of the contexts shown with the answer
    start: Id | None = None  # corrected: the right span's character offsets in it, [start, end), in code points
    end: Id | None = None

    @model_validator(mode="after")
    def whole_span(self) -> "FeedbackRequest":
        if (self.start is None) != (self.end is None):
            raise ValueError("start and end go together: the span is [start, end)")
        return self


def finite(score: float | None) -> float | None:
    """JSON has no NaN or infinity: a context found but not scored (past the reranked ones) has None."""
    return score if score is not None and math.isfinite(score) else None


def model_version(project: Path) -> dict[str, str]:
    """The hashes dvc.lock gives the trained models and the index: which models answered.

    >>> import tempfile; project = Path(tempfile.mkdtemp())
    >>> lock = {"stages": {"train": {"outs": [{"path": "models/reader", "md5": "ab.dir"}]}}}
    >>> _ = (project / "dvc.lock").write_text(yaml.safe_dump(lock))
    >>> model_version(project)
    {'models/reader': 'ab.dir'}
    """
    lock = project / "dvc.lock"
    if not lock.exists():
        return {}
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    outs = [out for stage in stages.values() for out in stage.get("outs", [])]
    return {
        out["path"]: out.get("md5", "")
        for out in outs
        if out["path"].startswith("models/") and not out["path"].startswith("models/base")
    }


def create_app(answerer, store: FeedbackStore, version: dict[str, str], token: str | None = None) -> FastAPI:
    """The app around a loaded Answerer and a feedback store; `token`: required for feedback if given."""
    app = FastAPI(title="reproqa", description=__doc__)
    # One question at a time in one worker thread (the models use every core already); a question waiting for it
    # holds no thread, so /health and /feedback answer at once however many questions queue.
    answering = anyio.CapacityLimiter(1)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        # One line per problem, naming the field: "body.question: String should have at most 1000 characters"
        problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()]
        return JSONResponse({"detail": "; ".join(problems)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def refused(request: Request, error: StarletteHTTPException) -> JSONResponse:
        detail = error.detail
        if error.status_code == 400 and detail == "There was an error parsing the body":  # FastAPI's words
            detail = "the body is not JSON text in UTF-8"
        return JSONResponse({"detail": detail}, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(sqlite3.OperationalError)
    async def busy(request: Request, error: sqlite3.OperationalError) -> JSONResponse:
        # The database stayed locked past its busy timeout (reproqa.feedback): try again later
        return JSONResponse({"detail": f"feedback database busy: {error}"}, status_code=503)

    @app.get("/health")
    async def health() -> dict:
        return {
            "status": "ok",
            "contexts": len(answerer.index.contexts),
            "model_version": version,
            "feedback_needs_token": token is not None,
        }

    @app.post("/ask")
    async def ask(request: AskRequest) -> dict:
        try:
            if request.filter:
                answerer.index.matching(request.filter)  # an unknown field: said, not searched
            question = partial(answerer.answer, [request.question], request.top_k, [request.filter])
            answer = (await anyio.to_thread.run_sync(question, limiter=answering))[0]
        except UserError as error:  # an unknown filter field, no context kept: the request's fault
            raise HTTPException(422, str(error)) from None
        shown = [
            {"id": i, "title": answerer.index.titles[i], "context": answerer.index.contexts[i]}
            for i in answer.retrieved
        ]
        record = partial(store.record_answer, answer.question, answer.text, answer.context_id, answer.answer_start)
        answer_id = await anyio.to_thread.run_sync(record, shown, version)
        end = answer.answer_start + len(answer.text) if answer.text else None
        return {
            "answer_id": answer_id,
            "question": answer.question,
            "answer": answer.text,
            "score": answer.score,
            "context_id": answer.context_id,
            "start": answer.answer_start,
            "end": end,
            "contexts": [c | {"retrieval_score": finite(s)} for c, s in zip(shown, answer.retrieval_scores)],
            "model_version": version,
        }

    @app.post("/feedback", status_code=201)
    def feedback(request: FeedbackRequest, authorization: Annotated[str | None, Header()] = None) -> dict:
        if token is not None and not hmac.compare_digest((authorization or "").encode(), f"Bearer {token}".encode()):
            message = f"feedback needs 'Authorization: Bearer <token>' ({TOKEN_VARIABLE})"
            raise HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})
        span = None if request.start is None and request.end is None else (request.start, request.end)
        try:
            feedback_id = store.add(request.answer_id, request.verdict, request.context_id, span)
        except FeedbackError as error:
            raise HTTPException(404 if isinstance(error, UnknownAnswer) else 422, str(error)) from None
        return {"feedback_id": feedback_id}

    app.mount("/static", StaticFiles(directory=WEB), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(WEB / "index.html")

    return app


def serve(answerer, project: Path, host: str, port: int, database: Path) -> None:
    """Serve the models `reproqa ask` loads (`answerer`) until interrupted."""
    import uvicorn

    token = os.environ.get(TOKEN_VARIABLE) or None  # empty: no token
    if token is not None and not (token.isascii() and token.isprintable() and token.strip() == token):
        raise UserError(f"{TOKEN_VARIABLE}: use printable ASCII without surrounding spaces (an HTTP header carries it)")
    app = create_app(answerer, FeedbackStore(database), model_version(project), token)
    print(f"reproqa: serving {len(answerer.index.contexts)} contexts on http://{host}:{port} (feedback: {database})")
    uvicorn.run(app, host=host, port=port, log_level="warning")
