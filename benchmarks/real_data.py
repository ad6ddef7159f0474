"""Run the pipeline on the real SQuAD-format sets in ../shared/datasets.

    python benchmarks/real_data.py [--datasets ../shared/datasets] [--work benchmarks/out/real_data]
    python benchmarks/real_data.py --runs squad-v1.1-dev --until evaluate_retriever \
        --set train_retriever.max_train_pairs=2000        # the retriever on a CPU-sized subset of SQuAD
    python benchmarks/real_data.py --runs squad-v1.1-dev --until train \
        --set train.max_train_examples=2000 --set train.allow_unanswerable=false   # the reader, CPU subset
    python benchmarks/real_data.py --runs squad-v1.1-dev --until evaluate ...   # end to end (BENCHMARKS.md)

Each run is a scratch copy of the pipeline (dvc.yaml, stages, reproqa, params.yaml with only the sources
and benchmarks changed) whose data/raw links to the shared file (never a copy). It runs `dvc repro`, checks
that every answer offset in the splits holds and that no context or article spans two splits, and prints
a Markdown table for BENCHMARKS.md.
"""

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from reproqa.records import offsets_hold

REPO = Path(__file__).resolve().parent.parent
RUNS = {  # name: (raw file, benchmark file to decontaminate against or None)
    "squad-v1.1-dev": ("squad-v1.1/dev-v1.1.json", None),
    "squad-v2.0-half": ("squad-v2.0-half/dev-v2.0.json", None),
    "policyqa-dev": ("policyqa/dev.json", None),
    "squad-v2.0-half vs v1.1-dev": ("squad-v2.0-half/dev-v2.0.json", "squad-v1.1/dev-v1.1.json"),
    # SQuAD v1.1 without the v2.0 half's paragraphs: a general reader that never read that run's test contexts
    "squad-v1.1-dev vs v2.0-half": ("squad-v1.1/dev-v1.1.json", "squad-v2.0-half/dev-v2.0.json"),
}


def workspace(work: Path, datasets: Path, raw: str, benchmark: str | None, overrides: list[str]) -> Path:
    shutil.rmtree(work, ignore_errors=True)
    (work / "data/raw").mkdir(parents=True)
    (work / "data/benchmark").mkdir(parents=True)
    shutil.copy(REPO / "dvc.yaml", work)
    for folder in ("stages", "reproqa", "imports"):
        shutil.copytree(REPO / folder, work / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (work / "data/raw" / Path(raw).name).symlink_to(datasets / raw)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["ingest"]["sources"] = [{"name": "squad", "format": "squad_json", "path": Path(raw).name}]
    benchmarks = []
    if benchmark:
        (work / "data/benchmark" / "bench.json").symlink_to(datasets / benchmark)
        benchmarks = [{"name": "bench", "format": "squad_json", "path": "bench.json"}]
    params["split"]["decontamination"]["benchmarks"] = benchmarks
    for override in overrides:  # section.key[.key]=value, the value parsed as YAML
        path, value = override.split("=", 1)
        *parents, key = path.split(".")
        target = params
        for parent in parents:
            target = target[parent]
        target[key] = yaml.safe_load(value)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for command in (
        ["git", "init", "-q"],
        ["dvc", "init", "-q"],
        ["dvc", "config", "core.analytics", "false"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", "workspace"],
    ):  # DVCLive needs a commit
        subprocess.run(command, cwd=work, check=True)
    return work


def check(work: Path) -> dict:
    contexts, titles, broken = {}, {}, 0
    for split in ("train", "validation", "test"):
        for row in pq.read_table(work / f"data/processed/{split}.parquet").to_pylist():
            broken += not offsets_hold(row)
            contexts.setdefault(row["context"], set()).add(split)
            titles.setdefault(row["title"], set()).add(split)
    return {
        "broken_offsets": broken,
        "contexts_in_two_splits": sum(len(s) > 1 for s in contexts.values()),
        "titles_in_two_splits": sum(len(s) > 1 for s in titles.values()),
        "titles": len(titles),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared/datasets")
    parser.add_argument("--work", type=Path, default=REPO / "benchmarks/out/real_data")
    parser.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS))
    parser.add_argument("--until", default="data_report", help="the last stage to run (dvc repro STAGE)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args()
    if not args.datasets.is_dir():
        sys.exit(f"error: {args.datasets} not found: pass --datasets PATH to the shared SQuAD-format sets")
    results = {}
    for name in args.runs:
        raw, benchmark = RUNS[name]
        work = workspace(args.work / name.replace(" ", "_"), args.datasets.resolve(), raw, benchmark, args.overrides)
        start = time.perf_counter()
        stages = subprocess.run(["dvc", "repro", "-q", "data_report", args.until], cwd=work, stderr=subprocess.PIPE)
        seconds = time.perf_counter() - start
        if stages.returncode:  # e.g. decontamination removed every row: the stage's one-line error is the result
            errors = [line for line in stages.stderr.decode().splitlines() if line.startswith("error:")]
            results[name] = {"seconds": round(seconds, 1), "error": errors[0] if errors else stages.stderr.decode()}
            continue
        report = json.loads((work / "metrics/data_report/metrics.json").read_text())
        results[name] = {"seconds": round(seconds, 1), "report": report, "checks": check(work)}
        for key, path in (
            ("retriever", "evaluate_retriever/metrics.json"),
            ("reader", "train/test.json"),
            ("metrics", "evaluate/metrics.json"),
        ):  # the last: stage evaluate's headline numbers
            if (work / "metrics" / path).exists():
                results[name][key] = json.loads((work / "metrics" / path).read_text())
    (args.work / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(
        "| run | raw | quarantined | exact dup | near dup | contaminated | train / val / test | groups "
        "| offsets broken | contexts or titles in 2 splits | dvc repro s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, result in results.items():
        if "error" in result:
            print(f"| {name} | stopped: {result['error']} |||||||||| {result['seconds']} |")
            continue
        report, checks, removed = result["report"], result["checks"], result["report"]["split"]["removed"]
        rows = report["split"]["rows"]
        print(
            f"| {name} | {report['raw_records']} | {report['accounting']['quarantined']} "
            f"({', '.join(f'{k} {v}' for k, v in report['ingest']['quarantined'].items()) or '-'}) "
            f"| {removed.get('exact_duplicate', 0)} | {removed.get('near_duplicate', 0)} "
            f"| {removed.get('contaminated', 0)} | {rows['train']} / {rows['validation']} / {rows['test']} "
            f"| {report['split']['groups']} | {checks['broken_offsets']} "
            f"| {checks['contexts_in_two_splits']} / {checks['titles_in_two_splits']} | {result['seconds']} |"
        )
    for name, result in results.items():
        if "retriever" in result:
            retriever = result["retriever"]
            print(f"\n{name}: {retriever['questions']} test questions, {retriever['corpus']} contexts\n")
            names = list(retriever["bm25"])  # ndcg@k, mrr@k, recall@k as evaluate_retriever's params say
            print("| retriever | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
            for system, metrics in retriever.items():
                if isinstance(metrics, dict):
                    print(f"| {system} | " + " | ".join(f"{metrics[m]:.3f}" for m in names) + " |")
    for name, result in results.items():
        if "reader" in result:  # the reader on the test split, gold contexts
            reader = result["reader"]
            print(
                f"\n{name}: reader on {reader['total']} test questions (gold context), dvc repro "
                f"{result['seconds']} s\n\n| EM | F1 | HasAns EM/F1 (n) | NoAns EM (n) | BLEU | ROUGE-L |\n"
                "|---|---|---|---|---|---|"
            )
            has = (
                f"{reader.get('HasAns_exact', 0):.1f} / {reader.get('HasAns_f1', 0):.1f} "
                f"({reader.get('HasAns_total', 0)})"
            )
            no = f"{reader['NoAns_exact']:.1f} ({reader['NoAns_total']})" if reader.get("NoAns_total") else "-"
            print(
                f"| {reader['exact']:.1f} | {reader['f1']:.1f} | {has} | {no} | {reader['bleu']:.1f} "
                f"| {reader['rougeL']:.1f} |"
            )
    for name, result in results.items():
        if "metrics" in result:  # end to end: retrieve from the whole corpus, then read
            m = result["metrics"]
            print(
                f"\n{name}: end to end, {m['data']['test']} test questions, {m['data']['contexts']} contexts\n\n"
                f"| integrated EM / F1 | isolated EM / F1 | retriever NDCG@10 | Recall@{m['retriever']['top_k']} |\n"
                f"|---|---|---|---|\n| {m['integrated']['exact']:.1f} / {m['integrated']['f1']:.1f} "
                f"| {m['isolated']['exact']:.1f} / {m['isolated']['f1']:.1f} | {m['retriever']['ndcg@10']:.3f} "
                f"| {m['retriever']['recall@top_k']:.3f} |"
            )


if __name__ == "__main__":
    main()
