"""The retriever stages on the tiny model (trained, saved, reloaded, evaluated by `dvc repro` in the
pipeline fixture), and the search index they are measured through (reproqa.index)."""

import ast
import hashlib
import json
import re
import shutil

import numpy as np
import pytest
import yaml
from datasets import Dataset
from sentence_transformers import SentenceTransformer

from conftest import run
from reproqa.errors import UserError
from reproqa.index import Index, fuse, ranking_metrics, scale, truncate
from reproqa.params import Fusion, HardNegatives
from reproqa.retriever import with_hard_negatives

METRICS = {"ndcg@10", "mrr@10", "recall@1", "recall@3", "recall@5", "recall@10", "recall@100"}


def test_trained_model_is_saved_as_safetensors_and_reloads(pipeline):
    root, _, _ = pipeline
    folder = root / "models/retriever"
    assert (folder / "model.safetensors").exists() and not (folder / "README.md").exists()
    model = SentenceTransformer(str(folder), device="cpu")
    assert model.encode(["which team owns atlas billing hub?"]).shape == (1, 32)


def test_evaluation_compares_every_retriever_on_the_same_questions(pipeline):
    root, _, _ = pipeline
    report = json.loads((root / "metrics/evaluate_retriever/metrics.json").read_text())
    systems = ("bm25", "base", "fine_tuned_32", "fine_tuned_16", "hybrid", "reranked")
    assert set(report) == {"questions", "corpus", *systems}
    assert report["questions"] > 10 and report["corpus"] > report["questions"] / 10
    for name in systems:
        assert set(report[name]) == METRICS
        recall = [report[name][f"recall@{k}"] for k in (1, 3, 5, 10, 100)]
        assert recall == sorted(recall) and report[name]["mrr@10"] <= report[name]["ndcg@10"] <= recall[3]
    assert report["bm25"]["ndcg@10"] > 0.5  # the sample's questions name their application


def test_training_curves_are_logged_for_dvc_plots(pipeline):
    root, _, _ = pipeline
    curves = root / "metrics/train_retriever/plots/metrics"
    loss = (curves / "train/loss.tsv").read_text().splitlines()
    assert loss[0] == "step\tloss" and len(loss) >= 3
    assert (curves / "eval/ndcg@10.tsv").exists() and not (curves / "eval/precision@3.tsv").exists()
    shown = run(["dvc", "plots", "show", "--json"], root).stdout  # what `dvc plots diff` renders too
    assert "metrics/train_retriever/plots/metrics/train/loss.tsv" in shown
    assert "metrics/train/plots/metrics/eval/f1.tsv" in shown


def test_training_twice_gives_the_same_model(pipeline, tmp_path):
    root, _, _ = pipeline
    project = tmp_path / "again"
    shutil.copytree(root, project)
    digest = lambda p: hashlib.sha256((p / "models/retriever/model.safetensors").read_bytes()).hexdigest()
    run(["dvc", "repro", "--force", "--single-item", "train_retriever"], project)
    assert digest(project) == digest(root)


def test_ranking_metrics_for_known_ranks():
    indices = np.array([[7, 1, 2], [3, 7, 1], [1, 2, 3]])
    metrics = ranking_metrics(indices, relevant=np.array([7, 7, 7]), ndcg_at=10, recall_at=[1, 5])  # ranks 1, 2, none
    assert metrics["recall@1"] == pytest.approx(1 / 3, abs=1e-4) and metrics["recall@5"] == pytest.approx(
        2 / 3, abs=1e-4
    )
    assert metrics["mrr@10"] == pytest.approx((1 + 1 / 2) / 3, abs=1e-4)
    assert metrics["ndcg@10"] == pytest.approx((1 + 1 / np.log2(3)) / 3, abs=1e-4)
    assert ranking_metrics(indices, np.array([7, 7, 7]), ndcg_at=1, recall_at=[1])["ndcg@1"] == pytest.approx(
        1 / 3, abs=1e-4
    )


class Embeddings:
    """A stand-in for the sentence-transformers encoder: fixed vectors per text."""

    def __init__(self, vectors: dict[str, list[float]]):
        self.vectors = vectors

    def encode(self, texts, normalize_embeddings: bool, **kwargs):
        vectors = np.array([self.vectors[t] for t in texts], dtype=np.float32)
        return truncate(vectors, vectors.shape[1]) if normalize_embeddings else vectors


def test_the_index_searches_dense_bm25_and_hybrid_and_round_trips(tmp_path):
    corpus = ["atlas billing hub is owned by payments", "cobalt claims portal runs in dublin", "nothing here"]
    vectors = {
        corpus[0]: [1.0, 0.0, 5.0],
        corpus[1]: [0.0, 1.0, 5.0],
        corpus[2]: [1.0, 1.0, -5.0],
        "who owns atlas billing hub?": [1.0, 0.0, 5.0],
        "where does cobalt claims portal run?": [0.0, 1.0, 5.0],
    }
    fusion = Fusion(method="rrf", rrf_k=60, dense_weight=0.5, candidates=3)
    index = Index.build(corpus, ["a", "b", "c"], Embeddings(vectors), batch_size=2, fusion=fusion)
    questions = ["who owns atlas billing hub?", "where does cobalt claims portal run?"]
    for method in ("dense", "bm25", "hybrid"):
        assert index.search(questions, 3, method)[0][:, 0].tolist() == [0, 1], method
    ids, scores = index.search(questions[:1], 3, "dense")
    assert ids[0].tolist() == [0, 1, 2] and scores[0, 0] == pytest.approx(1.0)
    assert index.truncated(2).search(questions[:1], 3, "dense")[0][0].tolist() == [0, 2, 1]  # first 2 values only
    index.save(tmp_path / "index")
    loaded = Index.load(tmp_path / "index", Embeddings(vectors), batch_size=2)
    assert (loaded.contexts, loaded.titles, loaded.fusion) == (corpus, ["a", "b", "c"], fusion)
    for method in ("dense", "bm25", "hybrid"):
        for got, expected in zip(loaded.search(questions, 3, method), index.search(questions, 3, method)):
            np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_a_filtered_search_ranks_the_contexts_it_keeps_as_the_whole_corpus_ranks_them(tmp_path):
    """A filter never returns a context outside it; within it, dense and BM25 keep the scores and the order of
    the unfiltered search, and each question has its own filter (None: the whole corpus)."""
    words = ["privacy", "share", "data", "cookies", "partners", "delete", "account", "email"]
    rng = np.random.default_rng(0)
    corpus = [" ".join(rng.choice(words, size=6)) + f" policy {i}" for i in range(9)]
    titles = ["acme", "acme", "acme", "globex", "globex", "globex", "initech", "initech", None]
    sources = ["web", "faq", "web", "web", "web", "faq", "faq", "faq", "web"]
    questions = ["do you share my data with partners?", "can I delete my account?", "what cookies do you use?"]
    vectors = {text: rng.normal(size=4).tolist() for text in corpus + questions}
    fusion = Fusion(method="rrf", rrf_k=60, dense_weight=0.5, candidates=9)
    index = Index.build(corpus, titles, Embeddings(vectors), batch_size=4, fusion=fusion, sources=sources)
    filters = [{"title": ["globex"]}, None, {"title": ["acme", "initech"], "source": ["faq"]}]
    kept = [{3, 4, 5}, set(range(9)), {1, 6, 7}]
    for method in ("dense", "bm25", "hybrid"):
        ids, scores = index.search(questions, 5, method, filters)
        assert ids.shape == scores.shape == (3, 5)
        np.testing.assert_array_equal(ids[1], index.search(questions[1:2], 5, method)[0][0])  # no filter
        whole = index.search(questions, 9, method)
        for question, keep in enumerate(kept):
            found = [i for i in ids[question].tolist() if i >= 0]
            assert set(found) <= keep and len(found) == min(5, len(keep)), method
            assert ids[question, len(found) :].tolist() == [-1] * (5 - len(found))  # fewer kept than asked for
            if method != "hybrid":  # fusion ranks the filtered rankings, not the whole one: no reference here
                reference = dict(zip(whole[0][question].tolist(), whole[1][question].tolist()))
                expected = sorted((reference[c] for c in keep), reverse=True)[: len(found)]
                np.testing.assert_allclose(scores[question, : len(found)], expected, rtol=1e-6)
                np.testing.assert_allclose([reference[c] for c in found], expected, rtol=1e-6)
    # questions that share a filter are searched together: interleaved, each gets what it gets when asked alone
    asked = [questions[0], questions[2], questions[1], questions[1], questions[0], questions[2]]
    mixed = [filters[0], filters[2], filters[0], None, filters[2], {"title": [None]}]  # None: a context without
    for method in ("dense", "bm25", "hybrid"):
        ids, scores = index.search(asked, 4, method, mixed)
        for row, (question, where) in enumerate(zip(asked, mixed)):
            alone = index.search([question], 4, method, [where])
            np.testing.assert_array_equal(ids[row], alone[0][0])
            np.testing.assert_allclose(scores[row], alone[1][0], rtol=1e-6)
        assert ids[5].tolist() == [8, -1, -1, -1], method
    index.save(tmp_path / "index")
    loaded = Index.load(tmp_path / "index", Embeddings(vectors), batch_size=4)
    assert (loaded.titles, loaded.sources) == (titles, sources)
    for got, expected in zip(
        loaded.search(questions, 5, "hybrid", filters), index.search(questions, 5, "hybrid", filters)
    ):
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    with pytest.raises(ValueError, match="filters: expected a list of 3"):
        index.search(questions, 3, "dense", [None])
    with pytest.raises(UserError, match="unknown filter field 'author': a filter names title or source"):
        index.search(questions[:1], 3, "dense", [{"author": ["me"]}])
    with pytest.raises(UserError, match=r"filter field 'title': expected a list of strings \(or null\), got 'acme'"):
        index.search(questions[:1], 3, "dense", [{"title": "acme"}])
    with pytest.raises(UserError, match=r"no context matches the filter title in \['hooli'\]"):
        index.search(questions[:1], 3, "bm25", [{"title": ["hooli"]}])


def test_truncation_keeps_unit_length():
    cut = truncate(np.array([[3.0, 4.0, 12.0]]), 2)
    np.testing.assert_allclose(cut, [[0.6, 0.8]])


def test_fusion_combines_both_rankings():
    bm25 = (np.array([[0, 1, 2]]), np.array([[9.0, 1.0, 0.5]]))
    dense = (np.array([[1, 2, 0]]), np.array([[0.9, 0.8, 0.1]]))
    fusion = lambda method, dense_weight: Fusion(method=method, rrf_k=60, dense_weight=dense_weight, candidates=3)
    assert fuse(bm25, dense, fusion("rrf", 0.5), 3)[0][0].tolist() == [1, 0, 2]
    assert fuse(bm25, dense, fusion("weighted", 0.2), 3)[0][0].tolist() == [0, 1, 2]
    assert fuse(bm25, dense, fusion("weighted", 0.8), 3)[0][0].tolist() == [1, 2, 0]
    ids, scores = fuse(bm25, dense, fusion("rrf", 0.5), 5)  # fewer contexts found than asked for
    assert ids[0, 3:].tolist() == [-1, -1] and scores[0, 3:].tolist() == [0.0, 0.0]


def test_scale_spreads_a_ranking_over_0_to_1_and_gives_ties_0():
    assert scale(np.array([3.0, 2.0, 1.0])).tolist() == [1.0, 0.5, 0.0]
    assert scale(np.array([0.0, 0.0, 0.0])).tolist() == [0.0, 0.0, 0.0]  # BM25 matched nothing: no information
    bm25 = (np.array([[4, 5]]), np.array([[0.0, 0.0]]))
    dense = (np.array([[1, 2]]), np.array([[0.9, 0.1]]))
    weighted = Fusion(method="weighted", rrf_k=60, dense_weight=0.5, candidates=2)
    assert fuse(bm25, dense, weighted, 2)[0][0].tolist() == [1, 2]  # BM25's non-matches do not outrank dense hits


def test_pairs_without_a_hard_negative_still_train(tiny_model):
    # The hardest negative allowed is the best non-positive (range_max 1), and it must score below the positive
    # (margin 0). A pair whose question is word for word another context can never have one: that context
    # outscores its positive. mine_hard_negatives drops such pairs; they must still train, as plain pairs.
    hub, payroll, ledger = "atlas billing hub issues invoices", "raven payroll pays salaries", "nimbus ledger books"
    train = Dataset.from_dict({"anchor": [hub, ledger, payroll], "positive": [hub, payroll, ledger]})
    negatives = HardNegatives(enabled=True, num_negatives=1, range_min=0, range_max=1, relative_margin=0.0)
    datasets = with_hard_negatives(train, SentenceTransformer(str(tiny_model), device="cpu"), negatives, 8)
    assert datasets["hard_negatives"]["anchor"] == [hub]
    assert datasets["hard_negatives"]["negative_1"][0] in (payroll, ledger)
    assert list(zip(datasets["pairs"]["anchor"], datasets["pairs"]["positive"])) == [
        (ledger, payroll),
        (payroll, ledger),
    ]


def test_the_stage_trains_every_pair_with_hard_negatives_on(pipeline, tmp_path):
    root, _, _ = pipeline
    project = tmp_path / "hard_negatives"
    shutil.copytree(root, project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train_retriever"]["hard_negatives"]["enabled"] = True
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    printed = run(["dvc", "repro", "--single-item", "train_retriever"], project).stdout
    sizes = ast.literal_eval(re.search(r"training examples (\{.*\})", printed).group(1))
    assert sizes["hard_negatives"] > 0
    assert sum(sizes.values()) == params["train_retriever"]["max_train_pairs"]  # none dropped
    assert (project / "models/retriever/model.safetensors").exists()
