"""Stage data_report: metrics/data_report/metrics.json, counting every raw row through the data stages.

The raw records are counted again from the raw files, independently of the readers, and the rows are
counted in the Parquet files themselves; the report must balance:
    raw records = rows in a split + quarantined (ingest, clean) + removed (split)
If it does not, the report is still written and the stage fails.
"""

import argparse
import json
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from reproqa.params import load_params
from reproqa.readers import count_records
from reproqa.records import count_rows, write_json

parser = argparse.ArgumentParser()
parser.add_argument("--raw-dir", type=Path, required=True)
parser.add_argument("--ingested", type=Path, required=True)
parser.add_argument("--cleaned", type=Path, required=True)
parser.add_argument("--splits", type=Path, nargs="+", required=True)
parser.add_argument("--quarantined", type=Path, nargs=2, required=True, help="ingest and clean quarantine")
parser.add_argument("--removed", type=Path, required=True)
parser.add_argument("--stats", type=Path, nargs=3, required=True, help="ingest, clean and split stats")
parser.add_argument("--out", type=Path, required=True)
args = parser.parse_args()
params = load_params("ingest")  # which raw sources there are, to count them


def reasons(path: Path) -> dict[str, int]:
    counts = pc.value_counts(pq.read_table(path, columns=["reason"])["reason"]).to_pylist()
    return {item["values"]: item["counts"] for item in sorted(counts, key=lambda item: item["values"])}


raw = {source.name: count_records(source, args.raw_dir) for source in params.sources}
ingest, clean, split = (json.loads(path.read_text()) for path in args.stats)
splits = {path.stem: count_rows(path) for path in args.splits}
ingest_quarantine, clean_quarantine = (reasons(path) for path in args.quarantined)
removed = reasons(args.removed)
quarantined = sum(ingest_quarantine.values()) + sum(clean_quarantine.values())
accounted = sum(splits.values()) + quarantined + sum(removed.values())

report = {
    "raw_records": sum(raw.values()),
    "raw_records_by_source": raw,
    "ingest": {
        "rows": count_rows(args.ingested),
        "quarantined": ingest_quarantine,
        "answers_relocated": ingest["answers_relocated"],
    },
    "clean": {
        "rows": count_rows(args.cleaned),
        "quarantined": clean_quarantine,
        "questions_typo_corrected": clean["questions_corrected"],
    },
    "split": {
        "removed": removed,
        "duplicates_answers_merged": split["duplicates_answers_merged"],
        "rows": splits,
        "by_answerability": split["by_answerability"],
        "contexts": split["contexts"],
        "groups": split["groups"],
        "near_duplicate_context_pairs": split["near_duplicate_context_pairs"],
    },
    "accounting": {
        "raw_records": sum(raw.values()),
        "in_splits": sum(splits.values()),
        "quarantined": quarantined,
        "removed": sum(removed.values()),
        "unaccounted": sum(raw.values()) - accounted,
    },
}
write_json(args.out, report)
print(f"data_report: {json.dumps(report['accounting'])}")
if report["accounting"]["unaccounted"]:
    raise SystemExit(f"error: {report['accounting']['unaccounted']} raw records are unaccounted for; see {args.out}")
