"""The canonical QA row and the Parquet files the data stages exchange.

A row: id, source, origin (file:line or JSON path of the raw record), title, question, context,
answers (text + character offset into context; several for SQuAD dev sets), is_impossible (SQuAD v2).
Rows that leave the pipeline keep these columns plus `reason` and `detail`.
"""

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from reproqa.errors import UserError

ANSWER = pa.struct([("text", pa.string()), ("answer_start", pa.int32())])

ROW_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("origin", pa.string()),
        ("title", pa.string()),
        ("question", pa.string()),
        ("context", pa.string()),
        ("answers", pa.list_(ANSWER)),
        ("is_impossible", pa.bool_()),
    ]
)

# A row that left the pipeline: what we could read of it, and why it left.
# reason: a short stable code counted in metrics/data_report/metrics.json; detail: the file/line/field, or
# the kept row.
WITH_REASON_SCHEMA = ROW_SCHEMA.append(pa.field("reason", pa.string())).append(pa.field("detail", pa.string()))

BATCH_ROWS = 50_000


class RowWriter:
    """Writes dict rows to a Parquet file in bounded memory, one row group per BATCH_ROWS rows."""

    def __init__(self, path: str | Path, schema: pa.Schema = ROW_SCHEMA):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self.rows: list[dict] = []
        self.count = 0
        self._writer = pq.ParquetWriter(path, schema, compression="zstd")

    def write(self, row: dict) -> None:
        self.rows.append(row)
        if len(self.rows) >= BATCH_ROWS:
            self._flush()

    def write_table(self, table: pa.Table) -> None:
        self._flush()
        self._writer.write_table(table.select(self.schema.names).cast(self.schema))
        self.count += table.num_rows

    def _flush(self) -> None:
        if self.rows:
            self._writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
            self.count += len(self.rows)
            self.rows = []

    def close(self) -> None:
        self._flush()
        self._writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def read_batches(path: str | Path, columns: list[str] | None = None) -> Iterator[list[dict]]:
    """Rows of a Parquet file as lists of dicts, BATCH_ROWS at a time."""
    for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=columns):
        yield batch.to_pylist()


def read_rows(path: str | Path, columns: list[str] | None = None) -> Iterator[dict]:
    for batch in read_batches(path, columns):
        yield from batch


def count_rows(path: str | Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows


def seeded_draw(dataset, limit: int | None, seed: int, mixed_in: str | None = None):
    """The first `limit` rows (all if None) of a datasets.Dataset shuffled with `seed`: a quick run's subset of a
    split, or the share of the general data (split.general_sources) a training stage mixes in. For the latter,
    `mixed_in` names the params key that asked, and no rows to draw from is a UserError that says so.

    >>> from datasets import Dataset
    >>> list(seeded_draw(Dataset.from_dict({"n": [0, 1, 2, 3]}), 2, seed=0)["n"])
    [2, 0]
    """
    if mixed_in and limit and not len(dataset):
        raise UserError(
            f"{mixed_in}: {limit}, but there is no general data: name its ingest source in split.general_sources"
        )
    dataset = dataset.shuffle(seed=seed)
    return dataset if limit is None else dataset.select(range(min(limit, len(dataset))))


def with_reason(row: dict, reason: str, detail: str) -> dict:
    """The row as it will be kept in a quarantine/removed file."""
    kept = {name: row.get(name) for name in ROW_SCHEMA.names}
    kept["answers"] = kept["answers"] or []
    return kept | {"reason": reason, "detail": detail}


def spans(row: dict) -> list[tuple[int, int]]:
    return [(a["answer_start"], a["answer_start"] + len(a["text"])) for a in row["answers"]]


def offsets_hold(row: dict) -> bool:
    """The invariant every stage keeps: each answer is the exact slice of the context at its offset."""
    return all(row["context"][s:e] == a["text"] for a, (s, e) in zip(row["answers"], spans(row)))


def write_all(path: str | Path, rows: Iterable[dict], schema: pa.Schema = ROW_SCHEMA) -> int:
    with RowWriter(path, schema) as writer:
        for row in rows:
            writer.write(row)
    return writer.count


# Metrics files hold scores to 4 decimal places: what changes below that is float rounding, not a result.
DIGITS = 4


def write_json(path: Path, value, indent: int = 2, sort_keys: bool = False) -> None:
    """A stage's JSON output (stats, metrics, plots, predictions), its folder created, UTF-8 as is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=indent, sort_keys=sort_keys, ensure_ascii=False) + "\n")
