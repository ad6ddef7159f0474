"""Stage base_models: the model each training stage starts from, as an output of the pipeline.

train_retriever.base_model, train.base_model and train_reranker.base_model each name the bundled
all-MiniLM-L6-v2, a local folder, or a Hugging Face Hub id. This stage copies each, byte for byte, into the
folder dvc.yaml gives it, so dvc.lock records the hash of exactly what every training stage started from: a
model brought in with `dvc import <repo> models/reader -o imports/general-reader` keeps its import's hash, and a
Hub id the hash of the revision downloaded. A base that changes (`dvc update imports/general-reader.dvc`, a new
Hub revision) retrains only the stages that start from it: DVC compares each copy's hash.
"""

import argparse
import shutil
from pathlib import Path

from reproqa.models import copy_model
from reproqa.params import load_params

parser = argparse.ArgumentParser()
parser.add_argument("--retriever", type=Path, required=True, help="copy of train_retriever.base_model")
parser.add_argument("--reader", type=Path, required=True, help="copy of train.base_model")
parser.add_argument("--reranker", type=Path, required=True, help="copy of train_reranker.base_model")
args = parser.parse_args()
bases = {
    args.retriever: load_params("train_retriever").base_model,
    args.reader: load_params("train").base_model,
    args.reranker: load_params("train_reranker").base_model,
}

for folder, name in bases.items():
    shutil.rmtree(folder, ignore_errors=True)
    copy_model(name, folder)
    print(f"base_models: {name} -> {folder}")
