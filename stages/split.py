"""Stage split: exact and near-duplicates, decontamination, then group-aware train/validation/test.

1. exact duplicates: same matching form of question + context; the first row is kept, and takes the
   duplicate's other gold answers when the context text is the same (SQuAD keeps several per question);
2. groups: rows whose contexts have the same matching form, are near-duplicates (MinHash-LSH on word
   n-grams) or, with group_by_title, share a title, form one group (union-find);
3. near-duplicates: in one group, rows with the same answers whose questions are near-duplicates
   (character n-grams; questions are too short for word n-grams);
4. decontamination: rows whose question or context overlaps a benchmark row (n-gram overlap, see
   dedup.ContaminationIndex);
5. general data: rows of split.general_sources (public QA data, mixed into training with train.general_examples
   and train_retriever.general_pairs) whose context group holds the project's own rows;
6. every group goes whole to one split: seeded, balanced by rows (dedup.assign_splits); the general sources'
   rows go to general.parquet, never to a split: they are not evaluated, nor searched when answering.
Removed rows are kept in their own file with the reason and the row they duplicate / the benchmark row.
The steps are the functions of reproqa.split.
"""

import argparse
from pathlib import Path

from reproqa import split as steps
from reproqa.errors import UserError
from reproqa.params import load_params
from reproqa.records import write_json

parser = argparse.ArgumentParser()
parser.add_argument("--rows", type=Path, required=True)
parser.add_argument("--benchmark-dir", type=Path, required=True)
parser.add_argument("--out-dir", type=Path, required=True)
parser.add_argument("--removed", type=Path, required=True)
parser.add_argument("--stats", type=Path, required=True)
args = parser.parse_args()
params = load_params("split")

rows = steps.collect(args.rows, params.group_by_title, params.general_sources)  # one pass: what the decisions need
if unknown := set(params.general_sources) - rows.sources:
    raise UserError(f"split.general_sources: no rows from {sorted(unknown)}; the sources are {sorted(rows.sources)}")
# 1. exact duplicates. Steps 1, 3 and 4 return the rows they remove: a row keeps the first reason found for it.
removed, merge_into = steps.exact_duplicates(rows)
# 2. groups of contexts
groups, near_duplicate_contexts = steps.context_groups(rows, params.near_duplicates)
# 3. near-duplicate rows
removed |= steps.near_duplicates(rows, groups, removed, params.near_duplicates)
# 4. decontamination against the benchmark files
benchmark = steps.read_benchmarks(params.decontamination, args.benchmark_dir)
contaminated, benchmark_contexts_matched = steps.decontaminate(rows, removed, benchmark)
removed |= contaminated
# 5. general rows near the project's own
removed |= steps.general_overlaps(rows, groups, removed)
# 6. whole groups to splits, general rows to their own file
destination, group_count = steps.assign(rows, groups, removed, params.seed, params.fractions.model_dump())
# 7. write the splits, the general rows, the removed rows and the stats
written = steps.write_splits(
    args.rows, destination, removed, steps.merged_answers(args.rows, merge_into), args.out_dir, args.removed
)
stats = steps.summary(rows, destination, removed, merge_into, written) | {
    "groups": group_count,
    "near_duplicate_context_pairs": len(near_duplicate_contexts),
    "benchmark_rows": benchmark.rows,
    "benchmark_contexts_matched": benchmark_contexts_matched,
}
write_json(args.stats, stats, sort_keys=True)
print(f"split: {stats['rows_in']} rows -> {stats['rows']}, removed {stats['removed']}, {group_count} groups")
