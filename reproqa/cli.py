"""The `reproqa` command. `reproqa ask "QUESTION"` answers from the corpus with the models and the index that
`dvc repro` built (or `dvc pull` fetched), with the `evaluate` params, exactly as stage evaluate does
(reproqa.answering.Answerer).

    reproqa ask "what is the name of the application with system id 12345?"
    reproqa ask --json --top-k 5 "who owns atlas billing hub?"
    reproqa ask --filter title="Acme privacy policy" "do you share my information with others?"
    reproqa ask                      # interactive: one question per line, an empty line or Ctrl-D ends
    reproqa serve [--port 8000]      # http://127.0.0.1:8000: the API, a page to ask and correct, /docs
    reproqa feedback export          # the feedback collected, as training rows in data/raw/feedback.jsonl

`reproqa experiments [dvc exp show options]` and `reproqa report [--base main]`: what a team reviews
(reproqa/review.py).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

from reproqa.errors import UserError
from reproqa.params import load_params

# Where the pipeline writes them (dvc.yaml), relative to the project root.
INDEX, RETRIEVER, RERANKER, READER = "models/index", "models/retriever", "models/reranker", "models/reader"
EXPORTED = "models/onnx"  # stage export's ONNX graphs, for evaluate.backend onnx
FEEDBACK = "feedback/feedback.db"  # what `reproqa serve` stores: not data until exported (git-ignored)
FEEDBACK_DATA = "data/raw/feedback.jsonl"  # `reproqa feedback export` writes it; params.yaml's ingest reads it


def show(answer, seconds: float, as_json: bool) -> str:
    if as_json:
        return json.dumps(answer.to_dict() | {"seconds": round(seconds, 4)}, ensure_ascii=False)
    if not answer.text:
        return f"(no answer in the {len(answer.retrieved)} contexts read)  [{seconds * 1000:.0f} ms]"
    source = f"context {answer.context_id}" + (f" ({answer.title})" if answer.title else "")
    return f"{answer.text}\n  score {answer.score:.2f} · {source}  [{seconds * 1000:.0f} ms]\n  {answer.context}"


def questions(args: argparse.Namespace):
    """The question given, or one per line from the terminal (an empty line ends) or from piped stdin."""
    if args.question:
        yield args.question
        return
    interactive = sys.stdin.isatty()
    while True:
        try:
            line = input("question> " if interactive else "").strip()
        except EOFError:
            return
        if line:
            yield line
        elif interactive:
            return


def parse_filter(pairs: list[str]) -> dict[str, list[str]] | None:
    """--filter FIELD=VALUE options as a filter (reproqa.index.Filter); a field given twice keeps either value.

    >>> parse_filter(["title=Acme", "source=faq", "title=Globex"])
    {'title': ['Acme', 'Globex'], 'source': ['faq']}
    """
    where: dict[str, list[str]] = {}
    for pair in pairs:
        field, equals, value = pair.partition("=")
        if not equals or not field:
            raise UserError(f"--filter {pair!r}: expected FIELD=VALUE, such as title=Acme")
        where.setdefault(field, []).append(value)
    return where or None


def load_answerer(project: Path):
    """The Answerer of `project` as stage evaluate loads it: its models, index and `evaluate` params."""
    # No progress bars of model loading on stderr (transformers and huggingface_hub read this); set it to 0 to see them
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from reproqa.answering import Answerer  # loads the models' libraries: only once a command needs them

    return Answerer.load(
        project / INDEX,
        project / RETRIEVER,
        project / RERANKER,
        project / READER,
        load_params("evaluate", project / "params.yaml"),
        project / EXPORTED,
    )


def ask(args: argparse.Namespace) -> None:
    where = parse_filter(args.filter)
    answerer = load_answerer(args.project)
    if where:
        answerer.index.matching(where)  # an unknown field, or no context kept: said before the first question
    for question in questions(args):
        start = time.perf_counter()
        answer = answerer.answer([question], args.top_k, [where])[0]
        print(show(answer, time.perf_counter() - start, args.json), flush=True)


def serve(args: argparse.Namespace) -> None:
    from reproqa.serve import serve

    serve(load_answerer(args.project), args.project, args.host, args.port, args.project / args.database)


def export_feedback(args: argparse.Namespace) -> None:
    """Write the stored feedback into data/raw/ as seed JSONL, holding out validation and test questions."""
    from reproqa.feedback import FeedbackStore
    from reproqa.records import read_rows
    from reproqa.text import matching_form

    database = args.project / args.database
    if not database.exists():
        raise UserError(f"{database}: no feedback yet (`reproqa serve` writes it)")
    held_out = set()
    for split in ("validation", "test"):  # as the pipeline split them: `dvc repro` (or `dvc pull`) first
        path = args.project / f"data/processed/{split}.parquet"
        if not path.exists():
            raise UserError(f"{path}: not found; run `dvc repro` (or `dvc pull`) first: its questions are held out")
        held_out |= {matching_form(row["question"]) for row in read_rows(path, ["question"])}
    counts = FeedbackStore(database).export(args.project / args.out, held_out)
    others = ", ".join(f"{verdict}: {n}" for verdict, n in counts.items() if verdict not in ("exported", "held_out"))
    print(
        f"feedback: {counts['exported']} rows written to {args.out} ({counts['held_out']} held out: validation or "
        f"test questions; feedback by verdict: {others or 'none'})"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="reproqa", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    project = argparse.ArgumentParser(add_help=False)
    project.add_argument("--project", type=Path, default=Path("."), help="the project root (default: .)")
    commands = parser.add_subparsers(dest="command", required=True)
    ask_parser = commands.add_parser("ask", parents=[project], help="answer a question from the corpus")
    ask_parser.add_argument("question", nargs="?", help="without one: read questions from the terminal or stdin")
    ask_parser.add_argument("--top-k", type=int, default=None, help="contexts to read (default: evaluate.top_k)")
    ask_parser.add_argument("--json", action="store_true", help="one JSON object per answer")
    ask_parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="answer only from contexts whose FIELD (title or source) is VALUE; repeatable: a field given twice "
        "keeps either value, two fields must both match",
    )
    serve_parser = commands.add_parser("serve", parents=[project], help="an HTTP API and a web page, with feedback")
    serve_parser.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1: this machine only")
    serve_parser.add_argument("--port", type=int, default=8000)
    serve_parser.add_argument("--database", type=Path, default=Path(FEEDBACK), help=f"default {FEEDBACK}")
    feedback_parser = commands.add_parser("feedback", parents=[project], help="export feedback as training data")
    feedback_parser.add_argument("action", choices=["export"])
    feedback_parser.add_argument("--database", type=Path, default=Path(FEEDBACK), help=f"default {FEEDBACK}")
    feedback_parser.add_argument("--out", type=Path, default=Path(FEEDBACK_DATA), help=f"default {FEEDBACK_DATA}")
    commands.add_parser(
        "experiments",
        parents=[project],
        help="dvc exp show: changed params, headline metrics; other options go to dvc exp show (--md, -A, -n 5...)",
    )
    report_parser = commands.add_parser("report", parents=[project], help="a pull request's Markdown report")
    report_parser.add_argument("--base", default="main", help="the revision to compare with (default: main)")
    report_parser.add_argument("--target", help="a revision (default: the working tree)")
    report_parser.add_argument("--out", type=Path, default=Path("report"), help="folder for report.md and plots/")
    args, passed_on = parser.parse_known_args(argv)
    if passed_on and args.command != "experiments":
        parser.error(f"unrecognized arguments: {' '.join(passed_on)}")
    if args.command == "ask" and args.top_k is not None and args.top_k < 1:
        parser.error("--top-k must be at least 1")
    try:
        if args.command == "ask":
            ask(args)
        elif args.command == "serve":
            serve(args)
        elif args.command == "feedback":
            export_feedback(args)
        elif args.command == "experiments":
            from reproqa.review import experiments

            experiments(args.project, passed_on)
        else:
            from reproqa.review import write_report

            print(write_report(args.project, args.base, args.target, args.out))
    except UserError as error:
        sys.exit(f"reproqa: {error}")
