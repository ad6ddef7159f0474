"""Stage ingest: every raw source listed in params -> one canonical Parquet, verified answer offsets.

Rows whose answer cannot be found in their context, or that are malformed, go to the quarantine file
with a reason and the file/line/field; nothing is dropped.
"""

import argparse
from collections import Counter
from pathlib import Path

from reproqa.params import load_params
from reproqa.readers import read_source
from reproqa.records import WITH_REASON_SCHEMA, RowWriter, with_reason, write_json

parser = argparse.ArgumentParser()
parser.add_argument("--raw-dir", type=Path, required=True)
parser.add_argument("--out", type=Path, required=True)
parser.add_argument("--quarantine", type=Path, required=True)
parser.add_argument("--stats", type=Path, required=True)
args = parser.parse_args()
params = load_params("ingest")

stats = {"raw_records": Counter(), "quarantined": Counter(), "answers_relocated": Counter()}
with RowWriter(args.out) as rows, RowWriter(args.quarantine, WITH_REASON_SCHEMA) as quarantine:
    for source in params.sources:
        for read in read_source(source, args.raw_dir):
            stats["raw_records"][source.name] += 1
            if read.reason:
                quarantine.write(with_reason(read.row, read.reason, read.detail))
                stats["quarantined"][read.reason] += 1
            else:
                rows.write(read.row)
            if read.repair:
                stats["answers_relocated"][read.repair] += 1

stats |= {"rows_out": rows.count, "quarantined_total": quarantine.count}
write_json(args.stats, stats, sort_keys=True)
print(f"ingest: {sum(stats['raw_records'].values())} raw records -> {rows.count} rows, {quarantine.count} quarantined")
