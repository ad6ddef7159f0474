"""Stage index: the search index over every context of the corpus (all splits), built with the fine-tuned
retriever: faiss exact inner-product search over its embeddings, and BM25. Stage evaluate and the
`reproqa ask` command search it; it is a DVC output, so `dvc pull` fetches it with the models.
"""

import argparse
from pathlib import Path

from reproqa.answering import build_index
from reproqa.params import load_params
from reproqa.records import read_rows

parser = argparse.ArgumentParser()
parser.add_argument("--splits", nargs="+", required=True, help="all splits: their contexts are the corpus")
parser.add_argument("--retriever", type=Path, required=True)
parser.add_argument("--out", type=Path, required=True)
args = parser.parse_args()
params = load_params("index")

titles = {}  # context -> title; a context appears under one title (split keeps articles together)
for path in args.splits:
    for row in read_rows(path, ["title", "context"]):
        titles.setdefault(row["context"], row["title"])
contexts = sorted(titles)  # the order evaluate_retriever's corpus has
build_index(contexts, [titles[c] for c in contexts], args.retriever, args.out, params.batch_size)
print(f"index: {len(contexts)} contexts from {len(args.splits)} splits")
