"""The same bytes on any x86 CPU (issue 15): do the training stages write the same models under two instruction sets?

    python benchmarks/portable_bytes.py              # small subsets of the sample: ~2 min a run, 6 runs
    python benchmarks/portable_bytes.py --full       # the sample's whole training, as `dvc repro` runs it

Runs stages train_retriever, train, index and train_reranker (their dvc.yaml commands, on this project's
data/processed and models/base, params.yaml with every precision float32) in a workspace under
benchmarks/out/portable_bytes/, once per environment that stands in for a kind of CPU:
- this CPU as it is;
- an AVX2-only CPU: ATen, oneDNN and MKL told to use nothing wider than AVX2 (what the issue's EPYC had);
- a 1-core machine: OMP_NUM_THREADS=1;
each with the stages' portable numerics (reproqa.models.portable_numerics) and without (REPROQA_NATIVE_CPU=1,
the kernels and threads the machine offers). Prints an md5 of each output folder's files per run: portable
numerics work when the portable runs agree and the native ones show what they fix.
"""

import argparse
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from reproqa.models import NATIVE_CPU, cpu_description

REPO = Path(__file__).resolve().parent.parent
STAGES = ["train_retriever", "train", "index", "train_reranker"]
OUTPUTS = {"train_retriever": "models/retriever", "train": "models/reader", "index": "models/index"}
OUTPUTS["train_reranker"] = "models/reranker"
CPUS = {
    "this CPU": {},
    "AVX2-only": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "1 core": {"OMP_NUM_THREADS": "1"},
}
SMALL = {  # seconds, not minutes, a stage; enough steps for the kernels' differences to reach the weights
    "train_retriever": {"max_train_pairs": 256},
    "train": {"max_train_examples": 200, "epochs": 1, "eval_steps": 25},
    "train_reranker": {"max_train_questions": 64},
}


def workspace(work: Path, full: bool) -> None:
    """The pipeline's code, this project's splits and base models, params.yaml with float32 training."""
    shutil.rmtree(work, ignore_errors=True)
    for folder in ("stages", "reproqa", "data/processed", "models/base"):
        shutil.copytree(REPO / folder, work / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "dvc.yaml", work)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for stage in ("train_retriever", "train", "train_reranker"):
        params[stage]["precision"] = "float32"  # bf16 (auto on a CPU that has it) needs the CPU's own kernels
        params[stage] |= {} if full else SMALL[stage]
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def folder_md5(folder: Path) -> str:
    digest = hashlib.md5()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def run(work: Path, env: dict) -> tuple[dict, float]:
    commands = yaml.safe_load((work / "dvc.yaml").read_text())["stages"]
    start = time.perf_counter()
    for stage in STAGES:
        shutil.rmtree(work / "scratch", ignore_errors=True)  # no resuming from another run's checkpoint
        command = [sys.executable, *shlex.split(commands[stage]["cmd"])[1:]]  # python: this venv's
        subprocess.run(command, cwd=work, env=os.environ | env, check=True)
    return {stage: folder_md5(work / OUTPUTS[stage]) for stage in STAGES}, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="the sample's whole training (params.yaml's sizes)")
    args = parser.parse_args()
    work = REPO / "benchmarks/out/portable_bytes"
    workspace(work, args.full)
    rows = []
    for numerics, extra in (("portable", {}), ("native", {NATIVE_CPU: "1"})):
        for cpu, env in CPUS.items():
            hashes, seconds = run(work, env | extra | {"HF_HUB_OFFLINE": "1"})
            rows.append((numerics, cpu, hashes, seconds))
    print(f"\n{cpu_description()}; {'full' if args.full else 'small'} training, float32")
    print(f"| numerics | stands in for | {' | '.join(STAGES)} | s |\n|---|---|{'---|' * len(STAGES)}---:|")
    for numerics, cpu, hashes, seconds in rows:
        print(f"| {numerics} | {cpu} | {' | '.join(hashes[s] for s in STAGES)} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
