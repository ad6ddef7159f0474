import json
import re
from pathlib import Path

from reproqa.sample_data import _PEOPLE, BENCHMARK_FILE, RAW_FILE, generate, write

REPO = Path(__file__).resolve().parent.parent


def test_committed_sample_is_reproduced_byte_for_byte(tmp_path):
    lines, benchmark, _ = generate()  # the defaults wrote the committed files (make sample-data)
    write(lines, tmp_path / "raw.jsonl")
    write(benchmark, tmp_path / "benchmark.jsonl")
    assert (tmp_path / "raw.jsonl").read_bytes() == (REPO / RAW_FILE).read_bytes()
    assert (tmp_path / "benchmark.jsonl").read_bytes() == (REPO / BENCHMARK_FILE).read_bytes()


def test_sample_has_the_noise_it_promises():
    lines, benchmark, manifest = generate()
    assert 800 < len(lines) < 4000 and sum(map(len, lines)) < 3_000_000
    for noise in ("typos", "casing", "spacing", "missing_answer", "exact_duplicates", "near_duplicates", "malformed"):
        assert manifest[noise] > 0, noise
    assert any('"answer": null' in line for line in lines)  # unanswerable questions
    assert len(manifest["leaked_apps"]) > 0 and len(benchmark) > 100


def test_a_different_seed_gives_different_data():
    assert generate(seed=1)[0] != generate(seed=2)[0]


def rows(lines: list[str]) -> list[dict]:
    parsed = []
    for line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and isinstance(row.get("query"), str) and "context" in row:
            parsed.append(row)
    return parsed


def test_sample_is_hard_in_the_ways_real_inventories_are():
    sample = rows(generate()[0])
    contexts = {row["context"] for row in sample}
    # families: a context names another application whose system id differs from its own in one digit
    ids = [re.findall(r"system id (\d+)", context) for context in contexts]
    one_digit_apart = [own for own, *others in ids for other in others if sum(a != b for a, b in zip(own, other)) == 1]
    assert len(one_digit_apart) > len(contexts) / 4
    # other applications, and several numbers, in every context; some longer than one reader window
    assert all(len(found) >= 1 for found in ids)
    assert all(len(re.findall(r"\d+", context)) >= 4 for context in contexts)
    assert sum(len(context.split()) > 160 for context in contexts) > len(contexts) / 100  # ~256 tokens
    # questions that name the application other ways than by name, and answers of several kinds
    questions = [row["query"].lower() for row in sample]
    for way in ("system id", "formerly called", "used to be", "stand for?", " tool for "):
        assert any(way in q for q in questions), way
    answers = [row["answer"] for row in sample if row["answer"]]
    assert any(re.fullmatch(r"\d+ \w+ \d{4}", a) for a in answers)  # dates
    assert any(a.startswith("EUR ") for a in answers) and any(len(a.split()) >= 4 for a in answers)
    # the answer's kind alone does not find it: beside a person, date or count asked for, the context holds
    # another of the same kind (a second role, a sibling's value, the value it replaced)
    kinds = {
        "person": "|".join(map(re.escape, _PEOPLE)),
        "date": r"\d{1,2} [A-Z][a-z]+ \d{4}",
        "count": r"(?<![\d,.])\d{1,2},\d{3}(?![\d,])",
    }
    for kind, pattern in kinds.items():
        asked = [row for row in sample if row["answer"] and re.fullmatch(pattern, row["answer"])]
        competing = [row for row in asked if len(set(re.findall(pattern, row["context"]))) >= 2]
        assert len(asked) > 30 and len(competing) > 0.6 * len(asked), kind
    # unanswerable questions about a real application of the inventory
    unanswerable = [row for row in sample if row["answer"] is None]
    assert 0.05 < len(unanswerable) / len(sample) < 0.3
