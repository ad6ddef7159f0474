"""Stage index: the search index over every context of the corpus (all splits), built with the fine-tuned
retriever: faiss exact inner-product search over its embeddings, BM25, and how a hybrid search fuses the
two, with each context's title and source for filtered searches (reproqa/index.py). Stage evaluate_retriever,
stage evaluate and `reproqa ask` search it; it is a DVC output, so `dvc pull` fetches it with the models.
"""

import argparse
from pathlib import Path

from reproqa.index import Index, corpus, load_encoder
from reproqa.models import portable_numerics
from reproqa.params import load_params

parser = argparse.ArgumentParser()
parser.add_argument("--splits", type=Path, nargs="+", required=True, help="all splits: their contexts are the corpus")
parser.add_argument("--retriever", type=Path, required=True)
parser.add_argument("--out", type=Path, required=True)
args = parser.parse_args()
params = load_params("index")
print(f"index: {portable_numerics('float32')}")  # before any computation: its kernels

contexts, titles, sources = corpus(args.splits)
encoder = load_encoder(args.retriever, "float32")  # embedded once, searched by every question: full precision
index = Index.build(contexts, titles, encoder, params.batch_size, params.fusion, sources=sources)
index.save(args.out)
print(f"index: {len(contexts)} contexts from {len(args.splits)} splits")
