"""The `reproqa` command. `reproqa ask "QUESTION"` answers from the corpus with the models and the index that
`dvc repro` built (or `dvc pull` fetched), with the `evaluate` params, exactly as stage evaluate does
(reproqa.answering.Answerer).

    reproqa ask "what is the name of the application with system id 12345?"
    reproqa ask --json --top-k 5 "who owns atlas billing hub?"
    reproqa ask --filter title="Acme privacy policy" "do you share my information with others?"
    reproqa ask                      # interactive: one question per line, an empty line or Ctrl-D ends

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


def ask(args: argparse.Namespace) -> None:
    # No progress bars of model loading on stderr (transformers and huggingface_hub read this); set it to 0 to see them
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from reproqa.answering import Answerer  # loads the models' libraries: only once a command needs them

    where = parse_filter(args.filter)

    answerer = Answerer.load(
        args.project / INDEX,
        args.project / RETRIEVER,
        args.project / RERANKER,
        args.project / READER,
        load_params("evaluate", args.project / "params.yaml"),
        args.project / EXPORTED,
    )
    if where:
        answerer.index.matching(where)  # an unknown field, or no context kept: said before the first question
    for question in questions(args):
        start = time.perf_counter()
        answer = answerer.answer([question], args.top_k, [where])[0]
        print(show(answer, time.perf_counter() - start, args.json), flush=True)


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
        elif args.command == "experiments":
            from reproqa.review import experiments

            experiments(args.project, passed_on)
        else:
            from reproqa.review import write_report

            print(write_report(args.project, args.base, args.target, args.out))
    except UserError as error:
        sys.exit(f"reproqa: {error}")
