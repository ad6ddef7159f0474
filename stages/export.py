"""Stage export: the models answering runs (the question encoder of the fine-tuned retriever, the reranker, the
reader) as ONNX graphs, for ONNX Runtime (reproqa/onnx_models.py). Stage evaluate and `reproqa ask` load them
with evaluate.backend: onnx, a fast path on CPUs without native bfloat16 (BENCHMARKS.md, "ONNX Runtime").
Each graph is checked against PyTorch on a sample batch as it is written; with export.quantize the weights are
int8 (dynamic quantization), measured rather than checked.
"""

import argparse
import shutil
from pathlib import Path

from reproqa.onnx_models import export
from reproqa.params import load_params

parser = argparse.ArgumentParser()
parser.add_argument("--retriever", type=Path, required=True, help="stage train_retriever's model")
parser.add_argument("--reranker", type=Path, required=True, help="stage train_reranker's model")
parser.add_argument("--reader", type=Path, required=True, help="stage train's model")
parser.add_argument("--out", type=Path, required=True, help="folder: retriever/, reranker/, reader/")
args = parser.parse_args()
params = load_params("export")

shutil.rmtree(args.out, ignore_errors=True)
for kind, name, folder in [
    ("encoder", "retriever", args.retriever),
    ("reranker", "reranker", args.reranker),
    ("reader", "reader", args.reader),
]:
    export(kind, folder, args.out / name, quantize=params.quantize)
    print(f"export: {folder} -> {args.out / name} ({'int8 weights' if params.quantize else 'float32'})")
