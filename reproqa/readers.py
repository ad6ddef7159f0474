"""Readers for the raw formats, all yielding canonical rows (see records.py) with verified answer offsets.

Every raw record yields exactly one `Read`: a row, or a problem (reason code + where: file, line or JSON
path, and field) for the quarantine. Only a file that cannot be read at all raises UserError.

Formats:
- seed_jsonl: one JSON object per line, {"query", "context", "answer"} and an optional "title" (the document)
  and "answer_start" (the answer's character offset, where it occurs more than once; `reproqa feedback export`
  writes it); answer null, "" or only spaces = unanswerable.
- squad_json: SQuAD v1.1 / v2.0 (data -> paragraphs -> qas; is_impossible; several gold answers).
- hf_dataset: a Hugging Face dataset with SQuAD columns (question, context, answers, optional id/title/
  is_impossible), from the Hub (hub_id) or a local save_to_disk folder or json/jsonl/parquet/csv file. answers:
  {"text": [...], "answer_start": [...]} as the Hub's squad, or a list of {"text", "answer_start"} as SQuAD JSON
  (in a CSV: either as JSON text); null or empty: unanswerable.
In both SQuAD formats is_impossible (true, false or absent) decides: an unanswerable question's answers are not
gold (SQuAD v2 keeps its decoys in plausible_answers). Within a source every id is unique: a repeated one is
quarantined, since two questions under one id would share their predictions.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from reproqa.errors import UserError
from reproqa.params import Source


@dataclass(frozen=True)
class Read:
    row: dict
    reason: str | None = None  # None: the row is good
    detail: str = ""  # where the problem is: file:line or JSON path, and field
    repair: str | None = None  # "located" / "located_loosely" when an answer offset had to be found


def read_source(source: Source, folder: Path) -> Iterator[Read]:
    readers = {"seed_jsonl": _seed_jsonl, "squad_json": _squad_json, "hf_dataset": _hf_dataset}
    first: dict[str, str] = {}  # id -> the origin of the good row that has it
    for read in readers[source.format](source, folder):
        row = read.row
        if read.reason is None and first.setdefault(row["id"], row["origin"]) != row["origin"]:
            read = Read(row, "duplicate_id", f"{row['origin']}: id {row['id']!r} is also {first[row['id']]}'s")
        yield read


def count_records(source: Source, folder: Path) -> int:
    """How many raw records a source holds, counted without parsing them the way the readers do."""
    if source.format == "seed_jsonl":
        with open(_local(source, folder), "rb") as lines:
            return sum(1 for line in lines if line.strip())
    if source.format == "squad_json":
        document = orjson.loads(_local(source, folder).read_bytes())
        return sum(len(p.get("qas", [])) for a in document["data"] for p in a.get("paragraphs", []))
    return _load_hf(source, folder).num_rows


def _local(source: Source, folder: Path, folder_ok: bool = False) -> Path:
    path = folder / source.path
    if not path.exists():
        raise UserError(f"source '{source.name}': {path} does not exist")
    if path.is_dir() and not folder_ok:
        raise UserError(f"source '{source.name}': {path} is a folder; format {source.format} reads one file")
    return path


def _texts(question, context) -> dict:
    """The question and context of a record, where they are strings: a quarantined row shows them, and a
    benchmark record the readers reject still decontaminates (split.read_benchmarks)."""
    return {field: value for field, value in (("question", question), ("context", context)) if isinstance(value, str)}


def _empty_row(source: Source, record_id: str, origin: str) -> dict:
    return {
        "id": f"{source.name}:{record_id}",
        "source": source.name,
        "origin": origin,
        "title": None,
        "question": None,
        "context": None,
        "answers": [],
        "is_impossible": False,
    }


def _seed_jsonl(source: Source, folder: Path) -> Iterator[Read]:
    path = _local(source, folder)
    with open(path, "rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            origin = f"{path.name}:{number}"
            row = _empty_row(source, f"L{number}", origin)
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as error:
                yield Read(row, "malformed_json", f"{origin}: {error}")
                continue
            if not isinstance(record, dict):
                yield Read(row, "not_an_object", f"{origin}: expected a JSON object, got {type(record).__name__}")
                continue
            row |= _texts(record.get("query"), record.get("context"))
            missing = [field for field in ("query", "context", "answer") if field not in record]
            if missing:
                yield Read(row, "missing_field", f"{origin}: field '{missing[0]}' is missing")
                continue
            answer = record["answer"]
            if answer is not None and not isinstance(answer, str):
                yield Read(row, "wrong_type", f"{origin}: field 'answer' must be a string or null, got {answer!r}")
                continue
            row["title"] = record.get("title")  # optional: the document, for filtered search (`reproqa ask --filter`)
            hint = record.get("answer_start")  # optional: which occurrence (checked by _verified)
            answers = [{"text": answer, "answer_start": hint}] if answer and answer.strip() else []
            yield _verified(row, record["query"], record["context"], answers, not answers, origin, "query")


def _squad_json(source: Source, folder: Path) -> Iterator[Read]:
    path = _local(source, folder)
    try:
        document = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as error:
        raise UserError(f"{path}: not valid JSON: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise UserError(f"{path}: expected an object with a 'data' list (SQuAD format)")
    for a, article in enumerate(document["data"]):
        _expect(isinstance(article, dict) and isinstance(article.get("paragraphs", []), list), path, f"data[{a}]")
        title = article.get("title")
        for p, paragraph in enumerate(article.get("paragraphs", [])):
            where = f"data[{a}].paragraphs[{p}]"
            _expect(isinstance(paragraph, dict) and isinstance(paragraph.get("qas", []), list), path, where)
            for q, qa in enumerate(paragraph.get("qas", [])):
                origin = f"{path.name}:{where}.qas[{q}]"
                row = _empty_row(source, f"{a}.{p}.{q}", origin)
                if not isinstance(qa, dict):
                    yield Read(row, "not_an_object", f"{origin}: expected a JSON object")
                    continue
                qa_id = qa.get("id")
                row["id"] = f"{source.name}:{f'{a}.{p}.{q}' if qa_id is None else qa_id}"
                row["title"] = title
                row |= _texts(qa.get("question"), paragraph.get("context"))
                if "context" not in paragraph:
                    yield Read(
                        row, "missing_field", f"{path.name}:data[{a}].paragraphs[{p}]: field 'context' is missing"
                    )
                    continue
                impossible = qa.get("is_impossible")
                if not isinstance(impossible, bool | None):
                    yield _not_a_flag(row, origin, impossible)
                    continue
                impossible = bool(impossible)  # absent or null: SQuAD v1.1, answerable
                answers = [] if impossible else qa.get("answers")
                if not isinstance(answers, list):
                    yield Read(row, "missing_field", f"{origin}: field 'answers' is missing or not a list")
                    continue
                yield _verified(row, qa.get("question"), paragraph["context"], answers, impossible, origin, "question")


def _expect(structure_holds: bool, path: Path, where: str) -> None:
    if not structure_holds:
        raise UserError(f"{path}: {where} is not a SQuAD article/paragraph (an object with a list of paragraphs/qas)")


def _not_a_flag(row: dict, origin: str, value) -> Read:
    return Read(row, "wrong_type", f"{origin}: field 'is_impossible' must be true, false or null, got {value!r}")


def _load_hf(source: Source, folder: Path):
    """The dataset of an hf_dataset source; a file or Hub id that datasets cannot load is a UserError."""
    try:
        return _open_hf(source, folder)
    except UserError:
        raise
    except Exception as error:  # datasets raises many kinds: generation, Arrow, file-not-found, StopIteration...
        cause = error.__cause__ or error  # DatasetGenerationError wraps the parser's error, which names the line
        message = ": ".join([type(cause).__name__, *str(cause).strip().splitlines()[:1]])
        where = source.hub_id or folder / source.path
        raise UserError(f"source '{source.name}': cannot load {where}: {message}") from None


def _open_hf(source: Source, folder: Path):
    import datasets  # slow import, needed by this format only

    if source.hub_id:
        return datasets.load_dataset(source.hub_id, revision=source.revision, split=source.split or "train")
    path = _local(source, folder, folder_ok=True)
    if path.is_file() and path.stat().st_size == 0:
        raise UserError(f"source '{source.name}': {path} is empty")
    if path.is_dir() and any((path / f).exists() for f in ("dataset_info.json", "state.json", "dataset_dict.json")):
        dataset = datasets.load_from_disk(str(path))
        return dataset[source.split or "train"] if isinstance(dataset, datasets.DatasetDict) else dataset
    if path.is_dir():
        return datasets.load_dataset(str(path), split=source.split or "train")
    builders = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}
    if path.suffix not in builders:
        raise UserError(f"source '{source.name}': cannot read {path} as a dataset (use .json, .jsonl, .parquet, .csv)")
    return datasets.load_dataset(builders[path.suffix], data_files=str(path), split=source.split or "train")


def _hf_dataset(source: Source, folder: Path) -> Iterator[Read]:
    dataset = _load_hf(source, folder)
    missing = {"question", "context", "answers"} - set(dataset.column_names)
    if missing:
        raise UserError(
            f"source '{source.name}': dataset lacks SQuAD column(s) {sorted(missing)}; has {dataset.column_names}"
        )
    where = source.path or source.hub_id
    for index, record in enumerate(dataset):
        origin = f"{where}[{source.split or 'train'}][{index}]"
        row = _empty_row(source, str(record.get("id") or index), origin)
        row["title"] = record.get("title")
        row |= _texts(record["question"], record["context"])
        answers = _hf_answers(record["answers"])
        if answers is None:
            yield Read(row, "wrong_type", f"{origin}: field 'answers' is not SQuAD answers: {record['answers']!r:.200}")
            continue
        impossible = record.get("is_impossible")
        if not isinstance(impossible, bool | None):
            yield _not_a_flag(row, origin, impossible)
            continue
        impossible = not answers if impossible is None else impossible
        answers = [] if impossible else answers
        yield _verified(row, record["question"], record["context"], answers, impossible, origin, "question")


def _hf_answers(gold) -> list | None:
    """The answers column as SQuAD JSON's list of {"text", "answer_start"} (each checked by _verified), from the
    Hub's {"text": [...], "answer_start": [...]} or such a list, or either as JSON text (a CSV cell); None if it is
    none of these (or its lists differ in length: which start goes with which text is unknown). A missing
    answer_start is None: the text is located.

    >>> _hf_answers({"text": ["Atlas"], "answer_start": [0]})
    [{'text': 'Atlas', 'answer_start': 0}]
    >>> _hf_answers(None), _hf_answers({"text": ["Atlas", "Hub"], "answer_start": [0]}), _hf_answers("Atlas")
    ([], None, None)
    """
    if isinstance(gold, str):  # a CSV cell holds them as JSON text
        try:
            gold = orjson.loads(gold)
        except orjson.JSONDecodeError:
            return None
    if gold is None or isinstance(gold, list):
        return gold or []
    if not isinstance(gold, dict):
        return None
    texts, starts = gold.get("text") or [], gold.get("answer_start")
    starts = [None] * len(texts) if starts is None else starts
    if not isinstance(texts, list) or not isinstance(starts, list) or len(texts) != len(starts):
        return None
    return [{"text": text, "answer_start": start} for text, start in zip(texts, starts)]


def _verified(row, question, context, answers, impossible, origin, question_field) -> Read:
    """Fill the row, checking types and that every answer is found in the context at a verified offset (the
    readers have put the question and context in already where they are strings: _texts)."""
    if row["title"] is not None and not isinstance(row["title"], str):  # the one metadata field of every format
        return Read(
            row | {"title": None},
            "wrong_type",
            f"{origin}: field 'title' must be a string or null, got {row['title']!r}",
        )
    for field, value in ((question_field, question), ("context", context)):
        if not isinstance(value, str):
            return Read(row, "wrong_type", f"{origin}: field '{field}' must be a string, got {value!r}")
        if not value.strip():
            reason = "empty_question" if field == question_field else "empty_context"
            return Read(row, reason, f"{origin}: field '{field}' is empty")
    row |= {"question": question, "context": context, "is_impossible": impossible}
    if not impossible and not answers:
        return Read(row, "no_answers", f"{origin}: answerable question without answers")
    verified, repairs = [], set()
    for index, answer in enumerate(answers):
        text, hint = (answer.get("text"), answer.get("answer_start")) if isinstance(answer, dict) else (None, None)
        if not isinstance(text, str) or not text.strip() or not (hint is None or _is_offset(hint)):
            return Read(
                row,
                "wrong_type",
                f"{origin}: answers[{index}] needs a text string and an answer_start that is an integer >= 0",
            )
        start, found, how = locate(context, text, hint)
        if start is None:
            return Read(row, "answer_not_in_context", f"{origin}: answers[{index}].text {text!r} is not in the context")
        verified.append({"text": found, "answer_start": start})  # the context's own spelling: offsets hold
        if how == "located_loosely" or (how == "located" and hint is not None):
            repairs.add(how)
    row["answers"] = verified
    return Read(row, repair=max(repairs, default=None))  # "located_loosely" > "located"


def _is_offset(value) -> bool:
    """An integer >= 0 (not a bool: JSON's true is no offset; not negative: Python would count from the end)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def locate(context: str, text: str, hint: int | None) -> tuple[int | None, str, str]:
    """Find `text` in `context` and return (start, the matched slice of context, how).

    how: "given" (the offset was right), "located" (the exact occurrence nearest the given offset, or the
    first one when none was given), "located_loosely" (case- and spacing-insensitive), "missing".
    """
    if hint is not None and context[hint : hint + len(text)] == text:
        return hint, text, "given"
    target = hint or 0
    exact, position = [], context.find(text)
    while position != -1:  # str.find, not a regex: answers are all different, a regex would compile each
        exact.append(position)
        position = context.find(text, position + 1)
    if exact:
        return min(exact, key=lambda s: abs(s - target)), text, "located"
    pattern = r"\s+".join(map(re.escape, text.split()))
    loose = list(re.finditer(pattern, context, flags=re.IGNORECASE))
    if loose:
        match = min(loose, key=lambda m: abs(m.start() - target))
        return match.start(), match.group(0), "located_loosely"
    return None, "", "missing"
