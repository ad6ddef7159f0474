"""Stage clean: Unicode NFKC, control characters, whitespace, lowercasing, typo correction of questions.

Answer offsets stay exact: every answer is re-derived from the cleaned context (see text.clean_with_spans).
Typo correction needs word counts of the whole corpus, so with it on the rows are read twice: pass 1
cleans and counts, pass 2 corrects questions.
"""

import argparse
import json
from collections import Counter
from pathlib import Path

from reproqa.dedup import text_key
from reproqa.params import load_params
from reproqa.records import SET_ASIDE_SCHEMA, RowWriter, read_rows, set_aside, spans
from reproqa.text import TypoCorrector, clean, clean_with_spans

parser = argparse.ArgumentParser()
parser.add_argument("--rows", type=Path, required=True)
parser.add_argument("--out", type=Path, required=True)
parser.add_argument("--quarantine", type=Path, required=True)
parser.add_argument("--stats", type=Path, required=True)
args = parser.parse_args()
params = load_params("clean")
typos = params.typo_correction


def cleaned(row: dict) -> tuple[dict, str | None]:
    context, new_spans = clean_with_spans(row["context"], spans(row), params.lowercase)
    answers = [{"text": context[s:e], "answer_start": s} for s, e in new_spans]
    row = row | {"question": clean(row["question"], params.lowercase), "context": context, "answers": answers}
    if not row["question"]:
        return row, "question_empty_after_cleaning"
    if any(not a["text"] for a in answers):
        return row, "answer_empty_after_cleaning"
    return row, None


stats = {"rows_in": 0, "quarantined": Counter(), "questions_corrected": 0, "top_corrections": Counter()}
first_pass = args.out.with_name(args.out.stem + ".pass1.parquet") if typos.enabled else args.out
word_counts: Counter = Counter()
seen_contexts: set[int] = set()
with RowWriter(first_pass) as rows, RowWriter(args.quarantine, SET_ASIDE_SCHEMA) as quarantine:
    for row in read_rows(args.rows):
        stats["rows_in"] += 1
        row, problem = cleaned(row)
        if problem:
            quarantine.write(set_aside(row, problem, f"{row['origin']}: {problem.replace('_', ' ')}"))
            stats["quarantined"][problem] += 1
            continue
        rows.write(row)
        if typos.enabled:
            word_counts.update(TypoCorrector.words(row["question"]))
            key = text_key(row["context"])
            if key not in seen_contexts:
                seen_contexts.add(key)
                word_counts.update(TypoCorrector.words(row["context"]))

if typos.enabled:
    corrector = TypoCorrector(word_counts, typos.min_word_length, typos.min_count, typos.min_ratio)
    with RowWriter(args.out) as rows:
        for row in read_rows(first_pass):
            protected = set(TypoCorrector.words(row["context"]))  # never "fix" a word the context uses
            question = corrector.correct(row["question"], protected)
            if question != row["question"]:
                stats["questions_corrected"] += 1
                old, new = row["question"].split(), question.split()
                stats["top_corrections"].update(f"{a} -> {b}" for a, b in zip(old, new) if a != b)
            rows.write(row | {"question": question})
    first_pass.unlink()

stats |= {"rows_out": rows.count, "quarantined_total": quarantine.count,
          "top_corrections": dict(stats["top_corrections"].most_common(25))}
args.stats.write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n")
print(f"clean: {stats['rows_in']} rows -> {rows.count}, {quarantine.count} quarantined, "
      f"{stats['questions_corrected']} questions typo-corrected")
