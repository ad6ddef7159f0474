"""ONNX Runtime against PyTorch (issue 15): does stage export's graph answer as the model does?

    python benchmarks/onnx_parity.py                                   # this project: the sample's test split
    python benchmarks/onnx_parity.py --project benchmarks/out/general/squad-v1.1-dev --limit 1000

For a project whose models/retriever and models/reader were trained (a `dvc repro` workspace), exports both as
stage export does (reproqa.onnx_models.export: float32, and int8 weights as with export.quantize) into
benchmarks/out/onnx_parity/, then on the first --limit questions of --split:
- the reader on each question's gold context (isolated EM/F1), in PyTorch float32, PyTorch at the precision
  `auto` picks on this CPU, ONNX float32 and ONNX int8, with the paired difference of each from PyTorch float32
  (mean per-question F1 and its bootstrap 95% interval, reproqa.breakdown.bootstrap_interval) and the reading time;
- the question encoder: Recall@1/3 of the gold context among the split's contexts (embedded once by PyTorch),
  with the questions embedded by each backend, and the least cosine between a question's two embeddings.
The issue's bar: EM/F1 within 0.5 points of PyTorch's, or the option stays off.
"""

import argparse
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from reproqa.breakdown import bootstrap_interval
from reproqa.index import encode, load_encoder
from reproqa.models import cpu_description, resolve_precision
from reproqa.onnx_models import export
from reproqa.reader import Reader, qa_scores

REPO = Path(__file__).resolve().parent.parent
BATCH = 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, default=REPO)
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=1000, help="questions (the first of the split)")
    args = parser.parse_args()
    models = args.project / "models"
    rows = pq.read_table(args.project / f"data/processed/{args.split}.parquet").to_pylist()[: args.limit]
    questions, contexts = [r["question"] for r in rows], [[r["context"]] for r in rows]
    golds = [[a["text"] for a in r["answers"]] for r in rows]

    # 1. The exports, as stage export writes them
    out = REPO / "benchmarks/out/onnx_parity" / args.project.resolve().name
    for name, quantize in (("float32", False), ("int8", True)):
        export("encoder", models / "retriever", out / name / "retriever", quantize)
        export("reader", models / "reader", out / name / "reader", quantize)
    auto = resolve_precision("auto")
    systems = {
        "torch float32": (models, "float32"),
        f"torch auto ({auto})": (models, auto),
        "onnx float32": (out / "float32", "float32"),
        "onnx int8": (out / "int8", "float32"),
    }

    # 2. The reader on gold contexts
    print(f"{len(rows)} questions of {args.project}/{args.split}; {cpu_description()}")
    print("| system | EM | F1 | F1 vs torch float32 (95% CI) | reading s |\n|---|---:|---:|---|---:|")
    reference = None
    for name, (folder, precision) in systems.items():
        reader = Reader(folder / "reader", precision, BATCH)
        start = time.perf_counter()
        answers = [reading[0][0] for reading in reader.read(questions, contexts)]
        seconds = time.perf_counter() - start
        f1 = np.array([qa_scores([a], [g])["f1"] for a, g in zip(answers, golds)])
        scores = qa_scores(answers, golds)
        reference = f1 if reference is None else reference
        low, high = bootstrap_interval((f1 - reference).tolist())
        print(
            f"| {name} | {scores['exact']:.2f} | {scores['f1']:.2f} | {np.mean(f1 - reference):+.2f} "
            f"({low:+.2f} to {high:+.2f}) | {seconds:.1f} |"
        )

    # 3. The question encoder: the gold context's rank among the split's contexts
    corpus = sorted({r["context"] for r in rows})
    gold = np.array([corpus.index(r["context"]) for r in rows])
    embedded = encode(load_encoder(models / "retriever", "float32"), corpus, BATCH)
    print("\n| question encoder | Recall@1 | Recall@3 | least cosine to torch float32 |\n|---|---:|---:|---:|")
    reference = None
    for name, (folder, precision) in systems.items():
        asked = encode(load_encoder(folder / "retriever", precision), questions, BATCH)
        reference = asked if reference is None else reference
        top = np.argsort(-(asked @ embedded.T), axis=1)[:, :3]
        recall = [float(np.mean(np.any(top[:, :k] == gold[:, None], axis=1))) for k in (1, 3)]
        cosine = float(np.min(np.sum(asked * reference, axis=1)))
        print(f"| {name} | {recall[0]:.3f} | {recall[1]:.3f} | {cosine:.5f} |")


if __name__ == "__main__":
    main()
