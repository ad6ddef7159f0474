from pathlib import Path

from reproqa.sample_data import BENCHMARK_FILE, RAW_FILE, generate, write

REPO = Path(__file__).resolve().parent.parent


def test_committed_sample_is_reproduced_byte_for_byte(tmp_path):
    lines, benchmark, _ = generate()  # the defaults wrote the committed files (make sample-data)
    write(lines, tmp_path / "raw.jsonl")
    write(benchmark, tmp_path / "benchmark.jsonl")
    assert (tmp_path / "raw.jsonl").read_bytes() == (REPO / RAW_FILE).read_bytes()
    assert (tmp_path / "benchmark.jsonl").read_bytes() == (REPO / BENCHMARK_FILE).read_bytes()


def test_sample_has_the_noise_it_promises():
    lines, benchmark, manifest = generate()
    assert 1500 < len(lines) < 4000 and sum(map(len, lines)) < 3_000_000
    for noise in ("typos", "casing", "spacing", "missing_answer", "exact_duplicates", "near_duplicates", "malformed"):
        assert manifest[noise] > 0, noise
    assert any('"answer": null' in line for line in lines)  # unanswerable questions
    assert len(manifest["leaked_apps"]) > 0 and len(benchmark) > 100


def test_a_different_seed_gives_different_data():
    assert generate(seed=1)[0] != generate(seed=2)[0]
