"""Little data of your own (issue 14): a general reader and retriever against the bundled base model, on a few
hundred questions of a domain, and the learning curve.

    python benchmarks/little_data.py --general benchmarks/out/general/squad-v1.1-dev \
        --work benchmarks/out/little_data --sizes 100 250 500

--general: a DVC project whose stages train_retriever and train made the general models, e.g. a workspace of
benchmarks/real_data.py on SQuAD v1.1 (BENCHMARKS.md). The domain: PolicyQA dev split by website (real_data's
policyqa-dev). Each system is one workspace; each size edits its params.yaml and reruns `dvc repro`:
  base             the bundled all-MiniLM-L6-v2 fine-tuned on N domain questions: today's default
  general          the general models as they are (epochs 0), once
  general+domain   the general models fine-tuned on N domain questions
  general+domain+mix  the same with --mix general questions mixed in (split.general_sources), if --mix
The general models come in with `dvc import`, as a user's would (README, "Little data of your own"). Writes
WORK/results.json, the learning curve benchmarks/little_data.json (committed: a plot of dvc.yaml, `dvc plots show`)
and a Markdown table for BENCHMARKS.md.
"""

import argparse
import json
import subprocess
import time
from pathlib import Path

import yaml
from real_data import REPO, RUNS, workspace

from reproqa.models import cpu_description

GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
DOMAIN = [  # PolicyQA as BENCHMARKS.md's PolicyQA rows ran it, without the reranker (it hurts there)
    "train_retriever.max_seq_length=256",
    "train_retriever.eval_steps=4",  # 100 pairs are 4 steps: a curve point each
    "train.allow_unanswerable=false",
    "train.eval_steps=25",  # 100 questions are about 60 steps in 4 epochs: the best of 2 validations
    "train_reranker.epochs=0",  # untrained: answering does not rerank (below)
    "evaluate.retriever=dense",
    "evaluate.rerank.enabled=false",
    "evaluate.scope=title",
]


def set_params(work: Path, values: dict) -> None:
    params = yaml.safe_load((work / "params.yaml").read_text())
    for path, value in values.items():
        *parents, key = path.split(".")
        target = params
        for parent in parents:
            target = target[parent]
        target[key] = value
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def import_general(work: Path, general: Path) -> None:
    """`dvc import` of the general project's reader and retriever into imports/, at its last commit."""
    if subprocess.run(["git", "status", "--porcelain", "dvc.lock"], cwd=general, capture_output=True).stdout:
        subprocess.run(["git", "add", "dvc.lock"], cwd=general, check=True)
        subprocess.run([*GIT, "commit", "-qm", "general models"], cwd=general, check=True)
    for model in ("reader", "retriever"):
        subprocess.run(["dvc", "import", str(general), f"models/{model}", "-o", f"imports/general-{model}"], cwd=work)
    subprocess.run(["git", "add", "-A"], cwd=work, check=True)
    subprocess.run([*GIT, "commit", "-qm", "general models imported"], cwd=work, check=True)


def best_validation_f1(work: Path) -> float | None:
    """The reader's best validation F1 (DVCLive's tsv: a header, then step and F1 a line); None if never validated."""
    lines = (work / "metrics/train/plots/metrics/eval/f1.tsv").read_text().splitlines()[1:]
    return max((float(line.split("\t")[1]) for line in lines), default=None)


def measure(work: Path, values: dict) -> dict:
    set_params(work, values)
    start = time.perf_counter()
    subprocess.run(["dvc", "repro", "-q", "evaluate", "evaluate_retriever"], cwd=work, check=True)
    seconds = time.perf_counter() - start
    read = lambda path: json.loads((work / "metrics" / path).read_text())  # noqa: E731
    answers, retrieval = read("evaluate/metrics.json"), read("evaluate_retriever/metrics.json")
    dims = yaml.safe_load((work / "params.yaml").read_text())["train_retriever"]["matryoshka_dims"]
    return {
        "params": values,
        "seconds": round(seconds),
        "isolated_f1": answers["isolated"]["f1"],
        "integrated_f1": answers["integrated"]["f1"],
        "scoped_f1": answers["scoped"]["f1"],
        "ndcg@10_base": retrieval["base"]["ndcg@10"],
        "ndcg@10_trained": retrieval[f"fine_tuned_{dims[0]}"]["ndcg@10"],
        "scoped_ndcg@10": answers["scoped"]["ndcg@10"],
        "validation_f1": best_validation_f1(work),
        "data": answers["data"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--general", type=Path, required=True, help="the project that trained the general models")
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared/datasets")
    parser.add_argument("--work", type=Path, default=REPO / "benchmarks/out/little_data")
    parser.add_argument("--curve", type=Path, default=REPO / "benchmarks/little_data.json", help="the learning curve")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 250, 500], help="domain training questions")
    parser.add_argument("--systems", nargs="+", default=["base", "general", "general+domain"])
    parser.add_argument("--general-lr", type=float, default=5e-5, help="train.lr when fine-tuning the general reader")
    parser.add_argument("--mix", type=int, default=500, help="general questions mixed in (general+domain+mix)")
    parser.add_argument("--mix-source", default="squad-v1.1/dev-v1.1.json", help="general data, under --datasets")
    args = parser.parse_args()
    raw, benchmark = RUNS["policyqa-dev"]
    general = args.general.resolve()
    results = {"cpu": cpu_description(), "systems": {}}
    for system in args.systems:
        work = workspace(args.work / system.replace("+", "_"), args.datasets.resolve(), raw, benchmark, DOMAIN)
        values = {}
        if system != "base":
            import_general(work, general)
            values = {
                "train.base_model": "imports/general-reader",
                "train_retriever.base_model": "imports/general-retriever",
            }
        if system == "general+domain+mix":
            (work / "data/raw/general.json").symlink_to(args.datasets.resolve() / args.mix_source)
            sources = yaml.safe_load((work / "params.yaml").read_text())["ingest"]["sources"]
            sources.append({"name": "general", "format": "squad_json", "path": "general.json"})
            values |= {"ingest.sources": sources, "split.general_sources": ["general"]}
            values |= {"train.general_examples": args.mix, "train_retriever.general_pairs": args.mix}
        if system == "general":  # as they are: one run, no domain training
            values |= {"train.epochs": 0, "train_retriever.epochs": 0}
            results["systems"][system] = {"0": measure(work, values)}
            continue
        if system != "base":
            values["train.lr"] = args.general_lr
        results["systems"][system] = {}
        for size in args.sizes:
            sized = values | {"train.max_train_examples": size, "train_retriever.max_train_pairs": size}
            results["systems"][system][str(size)] = measure(work, sized)
            print(system, size, results["systems"][system][str(size)], flush=True)
        (args.work / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.work / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    # One row per size, one column per system and score: a DVC plot draws each column as a line (dvc.yaml's plots)
    sizes = sorted(
        {int(size) for system, by_size in results["systems"].items() if system != "general" for size in by_size}
    )
    curve = [
        {"questions": size}
        | {
            f"{system} {score}": by_size[str(size)][f"{score}_f1"]
            for system, by_size in results["systems"].items()
            if str(size) in by_size and system != "general"
            for score in ("isolated", "scoped")
        }
        for size in sizes
    ]
    args.curve.write_text(json.dumps(curve, indent=1) + "\n")
    print(f"\n{results['cpu']}\n")
    print("| system | domain questions | validation F1 | isolated F1 | integrated F1 | scoped F1 ", end="")
    print("| retriever NDCG@10 base / trained | scoped NDCG@10 | dvc repro s |")
    print("|---|---:|---:|---:|---:|---:|---|---:|---:|")
    for system, sizes in results["systems"].items():
        for size, r in sizes.items():
            cells = [system, size, f"{r['validation_f1'] or 0:.1f}"]
            cells += [f"{r[key]:.1f}" for key in ("isolated_f1", "integrated_f1", "scoped_f1")]
            cells += [f"{r['ndcg@10_base']:.3f} / {r['ndcg@10_trained']:.3f}", f"{r['scoped_ndcg@10']:.3f}"]
            print("| " + " | ".join(cells + [str(r["seconds"])]) + " |")


if __name__ == "__main__":
    main()
