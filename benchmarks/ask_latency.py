"""Latency of `reproqa ask`: one question at a time through reproqa.answering.Answerer, as the command runs it
(models loaded once, then retrieve, read and combine per question).

    python benchmarks/ask_latency.py                      # the sample corpus: models/ and the test questions
    python benchmarks/ask_latency.py --squad ../shared/datasets/squad-v1.1/dev-v1.1.json --contexts 10000
    python benchmarks/ask_latency.py --precision float32 --rerank off      # without the reranker
    python benchmarks/ask_latency.py --precision float32 --candidates 10   # reranking the top 10
    python benchmarks/ask_latency.py --backend onnx                        # stage export's graphs, ONNX Runtime

With --squad, a corpus of --contexts contexts is indexed (into benchmarks/out/ask_latency) with the project's
retriever: every paragraph of the file, then two-sentence passages cut from them until the count is reached.
The questions are the file's, sampled with a fixed seed. Prints p50/p95/mean per question and the share of
retrieval (with reranking, when on) in it, and the floor: the time the models' arithmetic alone takes at this
CPU's float32 matrix-multiply rate (the FLOPs of every token through the encoder, the reranker and the reader, per
question, over the GFLOP/s numpy's BLAS reaches on the layer shapes), so a figure reads against what the CPU can do.
"""

import argparse
import json
import random
import re
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from reproqa.answering import Answerer
from reproqa.index import Index, load_encoder
from reproqa.models import cpu_description, resolve_precision
from reproqa.onnx_models import OnnxEncoder, OnnxReranker
from reproqa.params import load_params
from reproqa.reader import windows

REPO = Path(__file__).resolve().parent.parent


def squad_corpus(path: Path, size: int, questions: int) -> tuple[list[str], list[str], list[str]]:
    articles = json.loads(path.read_text())["data"]
    paragraphs = [(a["title"], p) for a in articles for p in a["paragraphs"]]
    contexts = {p["context"]: title for title, p in paragraphs}
    for title, paragraph in paragraphs:
        sentences = re.split(r"(?<=[.!?])\s+", paragraph["context"])
        for first in range(len(sentences) - 1):
            if len(contexts) >= size:
                break
            contexts.setdefault(" ".join(sentences[first : first + 2]), title)
    if len(contexts) < size:
        raise SystemExit(f"{path} gives only {len(contexts)} contexts, fewer than --contexts {size}")
    texts = list(contexts)[:size]  # the paragraphs first
    asked = [q["question"] for _, p in paragraphs for q in p["qas"]]
    return texts, [contexts[t] for t in texts], random.Random(0).sample(asked, questions)


def flops_per_token(config: dict, length: int) -> float:
    """A BERT layer stack's multiply-adds x 2 per token of a sequence of `length` tokens: the weight matrices
    (attention 4 h^2, feed-forward 2 h i per layer) and the attention scores and mixing (2 x length x h).

    >>> round(flops_per_token({"num_hidden_layers": 6, "hidden_size": 384, "intermediate_size": 1536}, 0) / 1e6, 1)
    21.2
    """
    h, i, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    return 2 * layers * (4 * h * h + 2 * h * i + 2 * length * h)


def matmul_gflops(hidden: int = 384, tokens: int = 384, seconds: float = 1.0) -> float:
    """float32 GFLOP/s of numpy's BLAS on a layer's shapes: (tokens x hidden) @ (hidden x 4 hidden)."""
    a, b = np.ones((tokens, hidden), np.float32), np.ones((hidden, 4 * hidden), np.float32)
    a @ b
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        done += 1
    return done * 2 * tokens * hidden * 4 * hidden / (time.perf_counter() - start) / 1e9


def floor_ms(answerer: Answerer, exported: Path, questions: list[str], top_k: int, gflops: float) -> float:
    """The median over `questions` of the models' FLOPs for one answer, in ms at `gflops`: the question through
    the encoder, each reranked (question, candidate) pair through the reranker, each window read."""
    configs = {name: json.loads((exported / name / "config.json").read_text()) for name in ("retriever", "reader")}
    encoder = OnnxEncoder(exported / "retriever")
    if answerer.reranker is not None:
        configs["reranker"] = json.loads((exported / "reranker/config.json").read_text())
        reranker = OnnxReranker(exported / "reranker")

    def cost(name: str, lengths: list[int]) -> float:
        return sum(n * flops_per_token(configs[name], n) for n in lengths)

    floors = []
    for question in questions:
        flops = 0.0
        if answerer.params.retriever != "bm25":
            flops += cost("retriever", encoder.tokenize([question])["attention_mask"].sum(axis=1).tolist())
        if answerer.reranker is not None:
            depth, method = answerer.params.rerank.candidates, answerer.params.retriever
            found = answerer.index.search([question], depth, method)[0][0]
            candidates = [answerer.index.contexts[i] for i in found if i >= 0]
            pairs = reranker.tokenize([question] * len(candidates), candidates)
            flops += cost("reranker", pairs["attention_mask"].sum(axis=1).tolist())
        read = [answerer.index.contexts[i] for i in answerer.search([question], top_k)[0][0] if i >= 0]
        settings = answerer.reader.settings
        batch = {"question": [question] * len(read), "context": read}
        cut = windows(answerer.reader.tokenizer, batch, settings.max_seq_length, settings.doc_stride)
        flops += cost("reader", [len(ids) for ids in cut["input_ids"]])
        floors.append(flops / (gflops * 1e9) * 1000)
    return float(np.median(floors))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, default=REPO, help="models/ and params.yaml come from here")
    parser.add_argument("--squad", type=Path, help="a SQuAD JSON file to build a bigger corpus from")
    parser.add_argument("--contexts", type=int, default=10000)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--reader", type=Path, help="another reader (default: the project's models/reader)")
    parser.add_argument("--top-k", type=int, help="default: evaluate.top_k")
    parser.add_argument("--precision", choices=("auto", "float32", "bfloat16"), help="default: evaluate.precision")
    parser.add_argument("--backend", choices=("torch", "onnx"), help="default: evaluate.backend")
    parser.add_argument("--rerank", choices=("on", "off"), help="default: evaluate.rerank.enabled")
    parser.add_argument("--candidates", type=int, help="reranked per question (default: evaluate.rerank.candidates)")
    args = parser.parse_args()
    params = args.project / "params.yaml"
    evaluate = load_params("evaluate", params)
    rerank = evaluate.rerank.model_copy(
        update={
            "enabled": evaluate.rerank.enabled if args.rerank is None else args.rerank == "on",
            "candidates": args.candidates or evaluate.rerank.candidates,
        }
    )
    evaluate = evaluate.model_copy(
        update={
            "precision": args.precision or evaluate.precision,
            "backend": args.backend or evaluate.backend,
            "rerank": rerank,
        }
    )
    index, retriever = args.project / "models/index", args.project / "models/retriever"
    if args.squad:
        if not args.squad.is_file():
            raise SystemExit(f"{args.squad} not found: pass --squad PATH to a SQuAD JSON file (../shared/datasets)")
        contexts, titles, questions = squad_corpus(args.squad, args.contexts, args.questions)
        index = REPO / "benchmarks/out/ask_latency/index"
        built = load_params("index", params)  # as stage index builds it
        Index.build(contexts, titles, load_encoder(retriever, "float32"), built.batch_size, built.fusion).save(index)
    else:
        questions = pq.read_table(args.project / "data/processed/test.parquet")["question"].to_pylist()[
            : args.questions
        ]
    reranker, reader = args.project / "models/reranker", args.reader or args.project / "models/reader"
    exported = args.project / "models/onnx"
    answerer = Answerer.load(index, retriever, reranker, reader, evaluate, exported)
    top_k = args.top_k or evaluate.top_k
    for question in questions[:5]:  # warm-up: first calls allocate and pick kernels
        answerer.answer([question], top_k)
    total, retrieval = [], []
    for question in questions:
        start = time.perf_counter()
        answerer.search([question], top_k)
        middle = time.perf_counter()
        answerer.answer([question], top_k)
        end = time.perf_counter()
        retrieval.append(middle - start)
        total.append(end - middle)
    ms = np.array(total) * 1000
    reranked = f", reranking {rerank.candidates}" if rerank.enabled else ", no reranker"
    gflops = matmul_gflops()
    floor = floor_ms(answerer, exported, questions, top_k, gflops)
    numerics = (
        "onnx"
        if evaluate.backend == "onnx"
        else f"torch {evaluate.precision} ({resolve_precision(evaluate.precision)})"
    )
    print(
        f"{len(answerer.index.contexts)} contexts, {len(questions)} questions, {evaluate.retriever} top {top_k}"
        f"{reranked}, {numerics}: "
        f"p50 {np.percentile(ms, 50):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms, mean {ms.mean():.1f} ms "
        f"(retrieval alone: p50 {np.percentile(np.array(retrieval) * 1000, 50):.1f} ms); "
        f"float32 floor p50 {floor:.1f} ms at {gflops:.0f} GFLOP/s; {cpu_description()}"
    )


if __name__ == "__main__":
    main()
