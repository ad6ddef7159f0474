"""The steps of stage split (stages/split.py), one function each, over the rows collected in one pass.

A step that removes rows returns {row index: (reason, detail)} for rows no earlier step removed; the stage
merges them in step order, so a row keeps the first reason found for it.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from reproqa.dedup import ContaminationIndex, UnionFind, assign_splits, similar_pairs
from reproqa.errors import UserError
from reproqa.params import Decontamination, NearDuplicates
from reproqa.readers import read_source
from reproqa.records import BATCH_ROWS, WITH_REASON_SCHEMA, RowWriter, read_batches
from reproqa.text import char_ngrams, matching_form, text_key, word_ngrams

SPLITS = ("train", "validation", "test")
GENERAL = "general"  # rows of split.general_sources: mixed into training only, never evaluated or searched
OUTPUTS = (*SPLITS, GENERAL)  # the files a row can be written to
REMOVED = len(OUTPUTS)  # the destination of a removed row, after the outputs' indexes

Removals = dict[int, tuple[str, str]]  # row index -> (reason, detail)


@dataclass
class Rows:
    """What the decisions need: one entry per row, in file order, and one per distinct context.

    Texts are held as their matching forms (text.matching_form); each distinct context is held once.
    """

    ids: list[str] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    answers: list[frozenset[str]] = field(default_factory=list)  # gold answer texts; empty: unanswerable
    impossible: list[bool] = field(default_factory=list)
    context_of: list[int] = field(default_factory=list)  # row -> index into contexts
    context_text_of: list[int] = field(default_factory=list)  # row -> key of its context as written
    contexts: list[str] = field(default_factory=list)
    context_keys: list[int] = field(default_factory=list)  # text_key of each context
    titles: dict[str, list[int]] = field(default_factory=dict)  # title -> its rows' contexts, one per row
    general: list[bool] = field(default_factory=list)  # the row comes from one of split.general_sources
    sources: set[str] = field(default_factory=set)  # the sources rows came from


def collect(path: Path, group_by_title: bool, general_sources: list[str] | tuple = ()) -> Rows:
    """Read the rows of a Parquet file once; `titles` stays empty unless group_by_title."""
    rows = Rows()
    context_index: dict[int, int] = {}  # key of a context's matching form -> index into contexts
    index_of_text: dict[int, int] = {}  # key of a context as written -> index (saves forming it again)
    for batch in read_batches(path, ["id", "source", "title", "question", "context", "answers", "is_impossible"]):
        for row in batch:
            text_hash = text_key(row["context"])
            if text_hash not in index_of_text:
                form = matching_form(row["context"])
                key = text_key(form)
                if key not in context_index:
                    context_index[key] = len(rows.contexts)
                    rows.contexts.append(form)
                    rows.context_keys.append(key)
                index_of_text[text_hash] = context_index[key]
            rows.ids.append(row["id"])
            rows.questions.append(matching_form(row["question"]))
            rows.answers.append(frozenset(matching_form(a["text"]) for a in row["answers"]))
            rows.impossible.append(row["is_impossible"])
            rows.context_of.append(index_of_text[text_hash])
            rows.context_text_of.append(text_hash)
            rows.general.append(row["source"] in general_sources)
            rows.sources.add(row["source"])
            if group_by_title and row["title"]:
                rows.titles.setdefault(row["title"], []).append(index_of_text[text_hash])
    return rows


def exact_duplicates(rows: Rows) -> tuple[Removals, dict[int, list[int]]]:
    """Step 1: rows with the matching form of an earlier row's question and context.

    Returns the removals and {kept row: duplicates whose other gold answers it takes}. A duplicate's answers
    are merged only when both rows are answerable and their contexts are the same text as written (the
    offsets must hold). The merged answers are added to rows.answers, as step 3 must compare them.
    """
    removed: Removals = {}
    first_with: dict[int, int] = {}
    merge_into: dict[int, list[int]] = defaultdict(list)
    for i, question in enumerate(rows.questions):
        key = text_key(question, str(rows.context_keys[rows.context_of[i]]))
        if key not in first_with:
            first_with[key] = i
            continue
        kept = first_with[key]
        new_answers = rows.answers[i] - rows.answers[kept]
        if new_answers and rows.answers[kept] and rows.context_text_of[i] == rows.context_text_of[kept]:
            merge_into[kept].append(i)
            rows.answers[kept] |= new_answers
            removed[i] = ("exact_duplicate", f"duplicate of {rows.ids[kept]}, its answers merged into it")
        else:
            removed[i] = ("exact_duplicate", f"duplicate of {rows.ids[kept]}")
    return removed, merge_into


def context_groups(rows: Rows, near: NearDuplicates) -> tuple[UnionFind, list[tuple[int, int]]]:
    """Step 2: groups of contexts (union-find over context indexes) and the near-duplicate context pairs.

    Contexts are grouped when they are near-duplicates (word n-grams) or share a title (rows.titles).
    """
    groups = UnionFind(len(rows.contexts))
    ngrams = partial(word_ngrams, n=near.context_ngram)
    pairs = similar_pairs(rows.contexts, ngrams, near.threshold, near.num_perm, near.bands, near.bucket_window)
    for a, b in pairs:
        groups.union(a, b)
    for members in rows.titles.values():
        for member in members[1:]:
            groups.union(members[0], member)
    return groups, pairs


def near_duplicates(rows: Rows, groups: UnionFind, removed: Removals, near: NearDuplicates) -> Removals:
    """Step 3: rows of one group with the same answers whose questions are near-duplicates (character
    n-grams); the earliest row of each cluster is kept."""
    buckets = defaultdict(list)
    for i in range(len(rows.questions)):
        if i not in removed:
            buckets[(groups.find(rows.context_of[i]), rows.answers[i])].append(i)
    ngrams = partial(char_ngrams, n=near.question_ngram)
    found: Removals = {}
    for members in buckets.values():
        questions = [rows.questions[i] for i in members]
        pairs = similar_pairs(questions, ngrams, near.threshold, near.num_perm, near.bands, near.bucket_window)
        duplicates = UnionFind(len(members))
        for a, b in pairs:
            duplicates.union(a, b)
        for position, i in enumerate(members):
            kept = members[duplicates.find(position)]
            if kept != i:
                found[i] = ("near_duplicate", f"near-duplicate of {rows.ids[kept]}")
    return found


@dataclass
class Benchmark:
    """The benchmark rows' n-grams, indexed for step 4."""

    questions: ContaminationIndex
    contexts: ContaminationIndex
    rows: int  # benchmark rows read


def read_benchmarks(decon: Decontamination, folder: Path) -> Benchmark:
    """Index the questions and contexts of the benchmark files decon.benchmarks (paths relative to folder)."""
    benchmark = Benchmark(
        questions=ContaminationIndex(decon.question_ngram, decon.max_ngram_frequency, decon.min_overlap),
        contexts=ContaminationIndex(decon.context_ngram, decon.max_ngram_frequency, decon.min_overlap),
        rows=0,
    )
    for source in decon.benchmarks:
        for read in read_source(source, folder):
            if read.row["question"] is None or read.row["context"] is None:
                continue  # an unreadable benchmark record cannot leak into training
            benchmark.rows += 1
            benchmark.questions.add(matching_form(read.row["question"]), read.row["origin"])
            benchmark.contexts.add(matching_form(read.row["context"]), read.row["origin"])
    return benchmark


def decontaminate(rows: Rows, removed: Removals, benchmark: Benchmark) -> tuple[Removals, int]:
    """Step 4: rows whose question or context overlaps a benchmark row; and how many distinct contexts
    overlap one (removed rows' contexts included)."""
    leaked_questions = benchmark.questions.leaks(rows.questions)
    leaked_contexts = benchmark.contexts.leaks(rows.contexts)
    found: Removals = {}
    for i, context in enumerate(rows.context_of):
        if i in removed:
            continue
        if i in leaked_questions:
            found[i] = ("contaminated", f"question overlaps benchmark row {leaked_questions[i]}")
        elif context in leaked_contexts:
            found[i] = ("contaminated", f"context overlaps benchmark row {leaked_contexts[context]}")
    return found, len(leaked_contexts)


def general_overlaps(rows: Rows, groups: UnionFind, removed: Removals) -> Removals:
    """Step 5: rows of split.general_sources whose context is in a group (near-duplicate contexts, or one title)
    with a kept row of the project's own data: trained on, they would teach the answer to a context that may be
    tested. The project's row stays.

    >>> rows = Rows(ids=["own", "gen1", "gen2"], context_of=[0, 0, 1], general=[False, True, True])
    >>> general_overlaps(rows, UnionFind(2), removed={})
    {1: ('general_near_domain', 'its context is in the group of own')}
    """
    own = {}  # group -> a kept row of the project's data in it
    for i, context in enumerate(rows.context_of):
        if i not in removed and not rows.general[i]:
            own.setdefault(groups.find(context), rows.ids[i])
    return {
        i: ("general_near_domain", f"its context is in the group of {own[groups.find(context)]}")
        for i, context in enumerate(rows.context_of)
        if rows.general[i] and i not in removed and groups.find(context) in own
    }


def assign(
    rows: Rows, groups: UnionFind, removed: Removals, seed: int, fractions: dict[str, float]
) -> tuple[np.ndarray, int]:
    """Step 6: each row's destination (an index into OUTPUTS, or REMOVED) and how many groups were assigned;
    a UserError if a split with a fraction above 0 got no group (too few documents for three splits).

    Every group goes whole to one split (dedup.assign_splits, balanced by kept rows); a row of the general
    sources goes to GENERAL (step 5 removed those near the project's own rows). A group is named by its smallest
    context key, so its name does not depend on the order of the rows.
    """
    group_key: dict[int, int] = {}  # root context -> the group's name
    for c, key in enumerate(rows.context_keys):
        root = groups.find(c)
        group_key[root] = min(group_key.get(root, key), key)
    group_of = [group_key[groups.find(c)] for c in rows.context_of]
    group_rows = Counter(group for i, group in enumerate(group_of) if i not in removed and not rows.general[i])
    if not group_rows:
        raise UserError(
            "split: no rows to split: every row was quarantined or removed (see the stages' quarantine files)"
        )
    split_of_group = assign_splits(group_rows, seed, fractions)
    empty = [name for name in SPLITS if fractions[name] > 0 and name not in split_of_group.values()]
    if empty:  # every later stage reads all three splits: fail here, saying why, not in training
        raise UserError(
            f"split: no rows for the {' and '.join(empty)} split{'s' * (len(empty) > 1)}: {len(group_rows)} groups "
            f"of contexts to share out by the fractions {fractions} (with split.group_by_title: true, a document is "
            "one group): add documents, or set group_by_title to false"
        )
    destination = [
        REMOVED if i in removed else OUTPUTS.index(GENERAL) if rows.general[i] else SPLITS.index(split_of_group[group])
        for i, group in enumerate(group_of)
    ]
    return np.array(destination, dtype=np.int8), len(group_rows)


def merged_answers(path: Path, merge_into: dict[int, list[int]]) -> dict[int, list[dict]]:
    """{kept row: its answers, then its duplicates' answers it lacks}, read from the Parquet file at path.

    E.g. merge_into {0: [2]}, row 0 answers [a], row 2 answers [b, a] -> {0: [a, b]}.
    """
    column = pq.read_table(path, columns=["answers"])["answers"]
    merged = {}
    for kept, duplicates in merge_into.items():
        answers = column[kept].as_py()
        for duplicate in duplicates:
            answers += [a for a in column[duplicate].as_py() if a not in answers]
        merged[kept] = answers
    return merged


def _with_answers(batch: pa.RecordBatch, offset: int, answers_of: dict[int, list[dict]]) -> pa.RecordBatch:
    """The batch (rows offset, offset + 1, ...) with the answers of the rows in answers_of replaced."""
    here = [i for i in range(offset, offset + batch.num_rows) if i in answers_of]
    if not here:
        return batch
    answers = batch.column("answers").to_pylist()
    for i in here:
        answers[i - offset] = answers_of[i]
    column = batch.schema.get_field_index("answers")
    return batch.set_column(column, "answers", pa.array(answers, batch.schema.field("answers").type))


def write_splits(
    path: Path,
    destination: np.ndarray,
    removed: Removals,
    answers_of: dict[int, list[dict]],
    out_dir: Path,
    removed_path: Path,
) -> dict[str, int]:
    """Step 7: copy each row of the Parquet file at path to out_dir/<output>.parquet (OUTPUTS) or, with its reason
    and detail, to removed_path; answers_of replaces some rows' answers. Returns the rows written per output."""
    out_dir.mkdir(parents=True, exist_ok=True)
    writers = [RowWriter(out_dir / f"{name}.parquet") for name in OUTPUTS]
    with RowWriter(removed_path, WITH_REASON_SCHEMA) as removed_writer:
        offset = 0
        # Arrow filters move the rows without converting them to Python objects.
        for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
            batch = _with_answers(batch, offset, answers_of)
            here = destination[offset : offset + batch.num_rows]
            for split, writer in enumerate(writers):
                writer.write_table(pa.Table.from_batches([batch.filter(pa.array(here == split))]))
            gone = [offset + i for i in np.flatnonzero(here == REMOVED)]
            table = pa.Table.from_batches([batch.filter(pa.array(here == REMOVED))])
            reasons = pa.array([removed[i][0] for i in gone], pa.string())
            details = pa.array([removed[i][1] for i in gone], pa.string())
            removed_writer.write_table(table.append_column("reason", reasons).append_column("detail", details))
            offset += batch.num_rows
    for writer in writers:
        writer.close()
    return {name: writer.count for name, writer in zip(OUTPUTS, writers)}


def summary(
    rows: Rows, destination: np.ndarray, removed: Removals, merge_into: dict[int, list[int]], written: dict[str, int]
) -> dict:
    """The split's stats: rows in, removed by reason, rows / answerability / contexts per split.

    Raises AssertionError if a context landed in two splits (cannot happen: groups are assigned whole).
    """
    impossible = np.array(rows.impossible, dtype=bool)
    context_of = np.array(rows.context_of, dtype=np.int64)
    contexts_in = {name: set(np.unique(context_of[destination == k]).tolist()) for k, name in enumerate(OUTPUTS)}
    shared = [(a, b) for a in OUTPUTS for b in OUTPUTS if a < b and contexts_in[a] & contexts_in[b]]
    if shared:
        raise AssertionError(f"a context landed in two splits: {shared}")
    return {
        "rows_in": len(rows.questions),
        "removed": dict(Counter(reason for reason, _ in removed.values())),
        "removed_total": len(removed),
        "duplicates_answers_merged": sum(map(len, merge_into.values())),
        "rows": written,
        "by_answerability": {
            name: {
                "answerable": int(((destination == k) & ~impossible).sum()),
                "unanswerable": int(((destination == k) & impossible).sum()),
            }
            for k, name in enumerate(OUTPUTS)
        },
        "contexts": {name: len(found) for name, found in contexts_in.items()},
        "distinct_contexts": len(rows.contexts),
    }
