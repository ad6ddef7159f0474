"""Stage clean: Unicode NFKC, control characters, whitespace, lowercasing, typo correction of questions.

Answer offsets stay exact: every answer is re-derived from the cleaned context (see text.clean_with_spans).
Pass 1 cleans batches on every core and counts the corpus's words; typo correction needs those counts,
so pass 2 re-reads the cleaned rows and corrects questions.
"""

import argparse
import multiprocessing
import os
from collections import Counter
from functools import partial
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from reproqa.params import load_params
from reproqa.records import (
    BATCH_ROWS,
    ROW_SCHEMA,
    WITH_REASON_SCHEMA,
    RowWriter,
    read_rows,
    spans,
    with_reason,
    write_json,
)
from reproqa.text import TypoCorrector, clean, clean_with_spans, text_key


def cleaned(row: dict, lowercase: bool) -> tuple[dict, str | None]:
    context, new_spans = clean_with_spans(row["context"], spans(row), lowercase)
    answers = [{"text": context[s:e], "answer_start": s} for s, e in new_spans]
    row = row | {"question": clean(row["question"], lowercase), "context": context, "answers": answers}
    if not row["context"]:  # only characters cleaning removes, such as zero-width spaces
        return row, "context_empty_after_cleaning"
    if not row["question"]:
        return row, "question_empty_after_cleaning"
    if any(not a["text"] for a in answers):
        return row, "answer_empty_after_cleaning"
    return row, None


def clean_batch(batch: pa.RecordBatch, lowercase: bool) -> tuple[pa.Table, list[dict]]:
    """Runs in a worker process: (cleaned rows, quarantined rows) of one batch."""
    kept, quarantined = [], []
    for row in batch.to_pylist():
        row, problem = cleaned(row, lowercase)
        if problem:
            quarantined.append(with_reason(row, problem, f"{row['origin']}: {problem.replace('_', ' ')}"))
        else:
            kept.append(row)
    return pa.Table.from_pylist(kept, schema=ROW_SCHEMA), quarantined


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quarantine", type=Path, required=True)
    parser.add_argument("--stats", type=Path, required=True)
    args = parser.parse_args()
    params = load_params("clean")
    typos = params.typo_correction

    stats = {"rows_in": 0, "quarantined": Counter(), "questions_corrected": 0, "top_corrections": Counter()}
    first_pass = args.out.with_name(args.out.stem + ".pass1.parquet") if typos.enabled else args.out
    word_counts: Counter = Counter()  # questions, and each distinct context once
    seen_contexts: set[int] = set()
    batches = pq.ParquetFile(args.rows).iter_batches(batch_size=BATCH_ROWS)
    # spawn, not fork: forking after pyarrow has started its threads can deadlock
    with (
        multiprocessing.get_context("spawn").Pool(os.cpu_count()) as pool,
        RowWriter(first_pass) as rows,
        RowWriter(args.quarantine, WITH_REASON_SCHEMA) as quarantine,
    ):
        for table, quarantined in pool.imap(partial(clean_batch, lowercase=params.lowercase), batches):
            rows.write_table(table)
            for row in quarantined:
                quarantine.write(row)
                stats["quarantined"][row["reason"]] += 1
            stats["rows_in"] += table.num_rows + len(quarantined)
            if typos.enabled:
                for question, context in zip(table["question"].to_pylist(), table["context"].to_pylist()):
                    word_counts.update(TypoCorrector.words(question))
                    key = text_key(context)
                    if key not in seen_contexts:
                        seen_contexts.add(key)
                        word_counts.update(TypoCorrector.words(context))

    if typos.enabled:
        corrector = TypoCorrector(word_counts, typos.min_word_length, typos.min_count, typos.min_ratio)
        with RowWriter(args.out) as rows:
            for row in read_rows(first_pass):
                question = corrector.correct(row["question"], row["context"])
                if question != row["question"]:
                    stats["questions_corrected"] += 1
                    old, new = row["question"].split(), question.split()
                    stats["top_corrections"].update(f"{a} -> {b}" for a, b in zip(old, new) if a != b)
                rows.write(row | {"question": question})
        first_pass.unlink()

    stats |= {
        "rows_out": rows.count,
        "quarantined_total": quarantine.count,
        "top_corrections": dict(stats["top_corrections"].most_common(25)),  # for a person to check; not a result
    }
    write_json(args.stats, stats, sort_keys=True)
    print(
        f"clean: {stats['rows_in']} rows -> {rows.count}, {quarantine.count} quarantined, "
        f"{stats['questions_corrected']} questions typo-corrected"
    )


if __name__ == "__main__":
    main()
