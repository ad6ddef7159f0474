"""Stage split: exact and near-duplicates, decontamination, then group-aware train/validation/test.

1. exact duplicates: same matching form of question + context; the first row is kept, and takes the
   duplicate's other gold answers when the context text is the same (SQuAD keeps several per question);
2. groups: rows whose contexts have the same matching form, are near-duplicates (MinHash-LSH on word
   n-grams) or, with group_by_title, share a title, form one group (union-find);
3. near-duplicates: in one group, rows with the same answers whose questions are near-duplicates
   (character n-grams; questions are too short for word n-grams);
4. decontamination: rows whose question or context overlaps a benchmark row (n-gram overlap, see
   dedup.ContaminationIndex);
5. every group goes whole to one split: seeded, balanced by rows (dedup.assign_splits).
Removed rows are kept in their own file with the reason and the row they duplicate / the benchmark row.
"""

import argparse
import json
from collections import Counter, defaultdict
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from reproqa.dedup import ContaminationIndex, UnionFind, assign_splits, similar_pairs, text_key
from reproqa.params import load_params
from reproqa.readers import read_source
from reproqa.records import BATCH_ROWS, SET_ASIDE_SCHEMA, RowWriter, read_batches
from reproqa.text import char_ngrams, matching_form, word_ngrams

parser = argparse.ArgumentParser()
parser.add_argument("--rows", type=Path, required=True)
parser.add_argument("--benchmark-dir", type=Path, required=True)
parser.add_argument("--out-dir", type=Path, required=True)
parser.add_argument("--removed", type=Path, required=True)
parser.add_argument("--stats", type=Path, required=True)
args = parser.parse_args()
params = load_params("split")
near, decon = params.near_duplicates, params.decontamination

# One pass to collect what the decisions need: matching forms (text.matching_form) of the questions and
# of each distinct context, held once.
ids, questions, answer_sets, context_of, context_text_of = [], [], [], [], []
context_index: dict[int, int] = {}  # key of a context's matching form -> index into contexts
index_of_text: dict[int, int] = {}  # key of a context as written -> index into contexts (saves forms)
contexts, context_keys, titles = [], [], defaultdict(list)
for batch in read_batches(args.rows, ["id", "title", "question", "context", "answers"]):
    for row in batch:
        text_hash = text_key(row["context"])
        if text_hash not in index_of_text:
            form = matching_form(row["context"])
            key = text_key(form)
            if key not in context_index:
                context_index[key] = len(contexts)
                contexts.append(form)
                context_keys.append(key)
            index_of_text[text_hash] = context_index[key]
        ids.append(row["id"])
        questions.append(matching_form(row["question"]))
        answer_sets.append(frozenset(matching_form(a["text"]) for a in row["answers"]))  # empty: unanswerable
        context_of.append(index_of_text[text_hash])
        context_text_of.append(text_hash)
        if params.group_by_title and row["title"]:
            titles[row["title"]].append(index_of_text[text_hash])

removed: dict[int, tuple[str, str]] = {}  # row index -> (reason, detail)

# 1. exact duplicates
first_with: dict[int, int] = {}
merge_into: dict[int, list[int]] = defaultdict(list)  # kept row -> duplicates whose answers it takes
for i, question in enumerate(questions):
    key = text_key(question, str(context_keys[context_of[i]]))
    if key not in first_with:
        first_with[key] = i
        continue
    kept = first_with[key]
    new_answers = answer_sets[i] - answer_sets[kept]
    if new_answers and answer_sets[kept] and context_text_of[i] == context_text_of[kept]:
        merge_into[kept].append(i)
        answer_sets[kept] |= new_answers  # near-duplicates (step 3) must compare the merged answers
        removed[i] = ("exact_duplicate", f"duplicate of {ids[kept]}, its answers merged into it")
    else:
        removed[i] = ("exact_duplicate", f"duplicate of {ids[kept]}")

# 2. groups of contexts
groups = UnionFind(len(contexts))
context_ngrams = partial(word_ngrams, n=near.context_ngram)
near_duplicate_contexts = similar_pairs(contexts, context_ngrams, near.threshold, near.num_perm, near.bands)
for a, b in near_duplicate_contexts:
    groups.union(a, b)
for members in titles.values():
    for member in members[1:]:
        groups.union(members[0], member)

# 3. near-duplicate rows: same group, same answers, near-duplicate questions
buckets = defaultdict(list)
for i in range(len(questions)):
    if i not in removed:
        buckets[(groups.find(context_of[i]), answer_sets[i])].append(i)
question_ngrams = partial(char_ngrams, n=near.question_ngram)
for members in buckets.values():
    pairs = similar_pairs([questions[i] for i in members], question_ngrams, near.threshold, near.num_perm, near.bands)
    duplicates = UnionFind(len(members))
    for a, b in pairs:
        duplicates.union(a, b)
    for position, i in enumerate(members):
        kept = members[duplicates.find(position)]
        if kept != i:
            removed[i] = ("near_duplicate", f"near-duplicate of {ids[kept]}")

# 4. decontamination against the benchmark files
benchmark_questions = ContaminationIndex(decon.question_ngram, decon.max_ngram_frequency, decon.min_overlap)
benchmark_contexts = ContaminationIndex(decon.context_ngram, decon.max_ngram_frequency, decon.min_overlap)
benchmark_rows = 0
for source in decon.benchmarks:
    for read in read_source(source, args.benchmark_dir):
        if read.row["question"] is None or read.row["context"] is None:
            continue  # an unreadable benchmark record cannot leak into training
        benchmark_rows += 1
        benchmark_questions.add(matching_form(read.row["question"]), read.row["origin"])
        benchmark_contexts.add(matching_form(read.row["context"]), read.row["origin"])
leaked_questions = benchmark_questions.leaks(questions)
leaked_contexts = benchmark_contexts.leaks(contexts)
for i in range(len(questions)):
    if i in removed:
        continue
    if i in leaked_questions:
        removed[i] = ("contaminated", f"question overlaps benchmark row {leaked_questions[i]}")
    elif context_of[i] in leaked_contexts:
        removed[i] = ("contaminated", f"context overlaps benchmark row {leaked_contexts[context_of[i]]}")

# 5. group-aware assignment; a group is named by its smallest context key, independent of row order
group_key: dict[int, int] = {}
for c, key in enumerate(context_keys):
    root = groups.find(c)
    group_key[root] = min(group_key.get(root, key), key)
group_rows = Counter(group_key[groups.find(context_of[i])] for i in range(len(questions)) if i not in removed)
split_of_group = assign_splits(group_rows, params.seed, params.fractions.model_dump())

# 6. write: each row's destination is decided; Arrow filters move the rows without touching them in Python
SPLITS = ("train", "validation", "test")
REMOVED = len(SPLITS)
destination = np.array([REMOVED if i in removed else SPLITS.index(split_of_group[group_key[groups.find(c)]])
                        for i, c in enumerate(context_of)], dtype=np.int8)
answers_column = pq.read_table(args.rows, columns=["answers"])["answers"]
merged_answers = {}  # kept row -> its answers followed by its duplicates' new ones
for kept, duplicates in merge_into.items():
    answers = answers_column[kept].as_py()
    for duplicate in duplicates:
        answers += [a for a in answers_column[duplicate].as_py() if a not in answers]
    merged_answers[kept] = answers


def with_merged_answers(batch: pa.RecordBatch, offset: int) -> pa.RecordBatch:
    rows = [i for i in range(offset, offset + batch.num_rows) if i in merged_answers]
    if not rows:
        return batch
    answers = batch.column("answers").to_pylist()
    for i in rows:
        answers[i - offset] = merged_answers[i]
    column = batch.schema.get_field_index("answers")
    return batch.set_column(column, "answers", pa.array(answers, batch.schema.field("answers").type))


args.out_dir.mkdir(parents=True, exist_ok=True)
writers = [RowWriter(args.out_dir / f"{name}.parquet") for name in SPLITS]
with RowWriter(args.removed, SET_ASIDE_SCHEMA) as removed_writer:
    offset = 0
    for batch in pq.ParquetFile(args.rows).iter_batches(batch_size=BATCH_ROWS):
        batch = with_merged_answers(batch, offset)
        here = destination[offset : offset + batch.num_rows]
        for split, writer in enumerate(writers):
            writer.write_table(pa.Table.from_batches([batch.filter(pa.array(here == split))]))
        gone = [offset + i for i in np.flatnonzero(here == REMOVED)]
        table = pa.Table.from_batches([batch.filter(pa.array(here == REMOVED))])
        removed_writer.write_table(table.append_column("reason", pa.array([removed[i][0] for i in gone], pa.string()))
                                        .append_column("detail", pa.array([removed[i][1] for i in gone], pa.string())))
        offset += batch.num_rows
for writer in writers:
    writer.close()

impossible = pq.read_table(args.rows, columns=["is_impossible"])["is_impossible"].to_numpy()
context_array = np.array(context_of)
contexts_in = {name: set(np.unique(context_array[destination == k]).tolist()) for k, name in enumerate(SPLITS)}
shared = [(a, b) for a in SPLITS for b in SPLITS if a < b and contexts_in[a] & contexts_in[b]]
assert not shared, f"a context landed in two splits: {shared}"  # cannot happen: groups are assigned whole
summary = {
    "rows_in": len(questions),
    "removed": dict(Counter(reason for reason, _ in removed.values())),
    "removed_total": len(removed),
    "duplicates_answers_merged": sum(map(len, merge_into.values())),
    "rows": {name: writer.count for name, writer in zip(SPLITS, writers)},
    "by_answerability": {name: {"answerable": int(((destination == k) & ~impossible).sum()),
                                "unanswerable": int(((destination == k) & impossible).sum())}
                         for k, name in enumerate(SPLITS)},
    "contexts": {name: len(found) for name, found in contexts_in.items()},
    "distinct_contexts": len(contexts),
    "groups": len(group_rows),
    "near_duplicate_context_pairs": len(near_duplicate_contexts),
    "benchmark_rows": benchmark_rows,
    "benchmark_contexts_matched": len(leaked_contexts),
}
args.stats.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
print(f"split: {len(questions)} rows -> {summary['rows']}, removed {summary['removed']}, {len(group_rows)} groups")
