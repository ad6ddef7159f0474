"""Readers for the raw formats, all yielding canonical rows (see records.py) with verified answer offsets.

Every raw record yields exactly one `Read`: a row, or a problem (reason code + where: file, line or JSON
path, and field) for the quarantine. Only a file that cannot be read at all raises UserError.

Formats:
- seed_jsonl: one JSON object per line, {"query", "context", "answer"} and an optional "title" (the document)
  and "answer_start" (the answer's character offset, where it occurs more than once; `reproqa feedback export`
  writes it); answer null or "" = unanswerable.
- squad_json: SQuAD v1.1 / v2.0 (data -> paragraphs -> qas; is_impossible; several gold answers).
- hf_dataset: a Hugging Face dataset with SQuAD columns (question, context, answers{text, answer_start},
  optional id/title), from the Hub (hub_id) or a local save_to_disk folder or json/jsonl/parquet/csv file.
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
    yield from readers[source.format](source, folder)


def count_records(source: Source, folder: Path) -> int:
    """How many raw records a source holds, counted without parsing them the way the readers do."""
    if source.format == "seed_jsonl":
        with open(_local(source, folder), "rb") as lines:
            return sum(1 for line in lines if line.strip())
    if source.format == "squad_json":
        document = orjson.loads(_local(source, folder).read_bytes())
        return sum(len(p.get("qas", [])) for a in document["data"] for p in a.get("paragraphs", []))
    return _load_hf(source, folder).num_rows


def _local(source: Source, folder: Path) -> Path:
    path = folder / source.path
    if not path.exists():
        raise UserError(f"source '{source.name}': {path} does not exist")
    return path


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
                row["id"] = f"{source.name}:{qa.get('id', f'{a}.{p}.{q}')}"
                row["title"] = title
                if "context" not in paragraph:
                    yield Read(
                        row, "missing_field", f"{path.name}:data[{a}].paragraphs[{p}]: field 'context' is missing"
                    )
                    continue
                impossible = bool(qa.get("is_impossible", False))
                answers = [] if impossible else qa.get("answers")
                if not isinstance(answers, list):
                    yield Read(row, "missing_field", f"{origin}: field 'answers' is missing or not a list")
                    continue
                yield _verified(row, qa.get("question"), paragraph["context"], answers, impossible, origin, "question")


def _expect(structure_holds: bool, path: Path, where: str) -> None:
    if not structure_holds:
        raise UserError(f"{path}: {where} is not a SQuAD article/paragraph (an object with a list of paragraphs/qas)")


def _load_hf(source: Source, folder: Path):
    import datasets  # slow import, needed by this format only

    if source.hub_id:
        return datasets.load_dataset(source.hub_id, revision=source.revision, split=source.split or "train")
    path = _local(source, folder)
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
        gold = record["answers"] or {}
        texts, starts = gold.get("text") or [], gold.get("answer_start") or []
        answers = [{"text": t, "answer_start": s} for t, s in zip(texts, starts)]
        impossible = bool(record.get("is_impossible", not answers))
        yield _verified(row, record["question"], record["context"], answers, impossible, origin, "question")


def _verified(row, question, context, answers, impossible, origin, question_field) -> Read:
    """Fill the row, checking types and that every answer is found in the context at a verified offset."""
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
        if not isinstance(text, str) or not text.strip() or not (hint is None or isinstance(hint, int)):
            return Read(
                row, "wrong_type", f"{origin}: answers[{index}] needs a text string and an integer answer_start"
            )
        start, found, how = locate(context, text, hint)
        if start is None:
            return Read(row, "answer_not_in_context", f"{origin}: answers[{index}].text {text!r} is not in the context")
        verified.append({"text": found, "answer_start": start})  # the context's own spelling: offsets hold
        if how == "located_loosely" or (how == "located" and hint is not None):
            repairs.add(how)
    row["answers"] = verified
    return Read(row, repair=max(repairs, default=None))  # "located_loosely" > "located"


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
