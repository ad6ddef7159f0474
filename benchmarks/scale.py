"""Rows/s and peak RSS of ingest -> clean -> split on N generated rows, next to the plain libraries.

    python benchmarks/scale.py [--rows 1000000] [--work benchmarks/out/scale]

The rows come from the sample generator (reproqa/sample_data.py) at scale, with the same noise. Each stage
runs as `dvc.yaml` runs it; we record wall seconds and the peak RSS summed over its processes. The
baselines do one library's core job on the same data, with none of the pipeline's bookkeeping:
  orjson+pyarrow   parse the JSONL and write Parquet                      (floor for ingest)
  pyarrow.compute  NFKC + lowercase + whitespace collapse, vectorised     (floor for clean)
  pandas           duplicated() on normalised question + context          (floor for exact duplicates)
  rensa            MinHash + LSH (RMinHashLSH, 16 bands) on the contexts  (floor for near-duplicates)
  datasketch       the same with datasketch MinHash + MinHashLSH
"""

import argparse
import contextlib
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

REPO = Path(__file__).resolve().parent.parent
STAGES = ("ingest", "clean", "split")


def timed(command: list[str], cwd: Path) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MiB summed over the command's process tree, stdout) of a command.

    The tree matters: clean runs a worker per core. RSS is sampled every 50 ms."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = psutil.Popen(command, cwd=cwd, stdout=out, stderr=err, text=True)
        peak = 0
        while process.poll() is None:
            with contextlib.suppress(psutil.Error):  # a worker may end between listing and reading it
                peak = max(peak, sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]))
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        out.seek(0), err.seek(0)
        if process.returncode:
            sys.exit(f"{shlex.join(command)} failed:\n{out.read()}\n{err.read()}")
        return seconds, peak / 2**20, out.read().strip()


def prepare(work: Path, rows: int) -> None:
    from reproqa.sample_data import generate, write

    lines, benchmark, _ = generate(seed=1, apps=rows // 7 + 1)
    write(lines[:rows], work / "data/raw/app_inventory.jsonl")
    write(benchmark, work / "data/benchmark/app_inventory_benchmark.jsonl")
    (work / "params.yaml").write_text((REPO / "params.yaml").read_text())
    for folder in ("stages", "reproqa"):
        if not (work / folder).exists():
            (work / folder).symlink_to(REPO / folder)


def baseline(name: str, work: Path) -> str:
    """One library's core job on the benchmark's data; runs in its own process (see main)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if name == "orjson+pyarrow":
        import orjson

        records = []
        with open(work / "data/raw/app_inventory.jsonl", "rb") as lines:
            for line in lines:
                with contextlib.suppress(orjson.JSONDecodeError):
                    records.append(orjson.loads(line))
        fields = ("query", "context", "answer")  # the minimum a plain load must check to build a table
        table = pa.Table.from_pylist(
            [r for r in records if isinstance(r, dict) and all(isinstance(r.get(f), str | None) for f in fields)]
        )
        pq.write_table(table, work / "baseline.parquet", compression="zstd")
        return f"{len(records)} records"
    table = pq.read_table(work / "data/interim/ingested.parquet", columns=["question", "context"])
    if name == "pyarrow.compute":
        import pyarrow.compute as pc

        for column in ("question", "context"):
            text = pc.utf8_lower(pc.utf8_normalize(table[column], "NFKC"))
            pc.utf8_trim_whitespace(pc.replace_substring_regex(text, r"\s+", " "))
        return f"{table.num_rows} rows x 2 columns"
    if name == "pandas":
        import pyarrow.compute as pc

        keys = pc.binary_join_element_wise(
            *(
                pc.utf8_lower(pc.replace_substring_regex(pc.utf8_normalize(table[c], "NFKC"), r"[\W_]+", " "))
                for c in ("question", "context")
            ),
            "\x1f",
        )
        duplicates = int(pa.chunked_array(keys).to_pandas().duplicated().sum())
        return f"{duplicates} exact duplicates"
    from reproqa.text import matching_form, word_ngrams

    contexts = list(dict.fromkeys(table["context"].to_pylist()))
    shingles = [list(word_ngrams(matching_form(c), 5)) for c in contexts]
    if name == "rensa":
        from rensa import RMinHash, RMinHashLSH

        lsh = RMinHashLSH(threshold=0.8, num_perm=128, num_bands=16)
        hashes = RMinHash.from_token_sets(shingles, 128, 1)
        for key, minhash in enumerate(hashes):
            lsh.insert(key, minhash)
        candidates = sum(len(lsh.query(minhash)) - 1 for minhash in hashes)
        return f"{len(contexts)} contexts, {candidates} candidate links"
    if name == "datasketch":
        from datasketch import MinHash, MinHashLSH

        lsh = MinHashLSH(num_perm=128, params=(16, 8))
        hashes = []
        for key, tokens in enumerate(shingles):
            minhash = MinHash(num_perm=128, seed=1)
            minhash.update_batch([t.encode() for t in tokens])
            lsh.insert(key, minhash)
            hashes.append(minhash)
        candidates = sum(len(lsh.query(minhash)) - 1 for minhash in hashes)
        return f"{len(contexts)} contexts, {candidates} candidate links"
    raise ValueError(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=REPO / "benchmarks/out/scale")
    parser.add_argument("--baseline", help=argparse.SUPPRESS)  # internal: run one baseline in this process
    parser.add_argument("--skip-baselines", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="keep the rows generated by an earlier run")
    args = parser.parse_args()
    if args.baseline:
        print(baseline(args.baseline, args.work))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    if not args.reuse:
        start = time.perf_counter()
        prepare(args.work, args.rows)
        print(f"generated {args.rows} rows in {time.perf_counter() - start:.1f} s", flush=True)

    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    results = {}
    for stage in STAGES:
        seconds, mib, output = timed(shlex.split(stages[stage]["cmd"]), args.work)
        results[stage] = {"seconds": seconds, "peak_rss_mib": round(mib), "output": output}
        print(
            f"{stage}: {seconds:.1f} s, {args.rows / seconds:,.0f} rows/s, peak RSS {mib:,.0f} MiB | {output}",
            flush=True,
        )
    total = sum(r["seconds"] for r in results.values())
    peak = max(r["peak_rss_mib"] for r in results.values())
    print(f"ingest -> clean -> split: {total:.1f} s, {args.rows / total:,.0f} rows/s, peak RSS {peak:,} MiB")
    results["total"] = {"seconds": round(total, 1), "peak_rss_mib": peak}
    baselines = () if args.skip_baselines else ("orjson+pyarrow", "pyarrow.compute", "pandas", "rensa", "datasketch")
    for name in baselines:
        command = [sys.executable, str(Path(__file__).resolve()), "--work", str(args.work), "--baseline", name]
        seconds, mib, output = timed(command, args.work)
        results[f"baseline {name}"] = {"seconds": seconds, "peak_rss_mib": round(mib), "output": output}
        print(f"baseline {name}: {seconds:.1f} s, peak RSS {mib:,.0f} MiB | {output}", flush=True)
    (args.work / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
