"""The retriever stages on the tiny model (trained, saved, reloaded, evaluated by `dvc repro` in the
pipeline fixture), and the ranking helpers they share."""

import hashlib
import json
import shutil

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from conftest import run
from reproqa.retrieval import BM25, dense_search, fuse, ranking_metrics, truncate

METRICS = {"ndcg@10", "mrr@10", "recall@1", "recall@5", "recall@10", "recall@100"}


def test_trained_model_is_saved_as_safetensors_and_reloads(pipeline):
    root, _, _ = pipeline
    folder = root / "models/retriever"
    assert (folder / "model.safetensors").exists() and not (folder / "README.md").exists()
    model = SentenceTransformer(str(folder), device="cpu")
    assert model.encode(["which team owns atlas billing hub?"]).shape == (1, 32)


def test_evaluation_compares_every_retriever_on_the_same_queries(pipeline):
    root, _, _ = pipeline
    report = json.loads((root / "metrics/retriever.json").read_text())
    assert set(report) == {"queries", "corpus", "bm25", "base", "fine_tuned_32", "fine_tuned_16", "hybrid"}
    assert report["queries"] > 10 and report["corpus"] > report["queries"] / 10
    for name in ("bm25", "base", "fine_tuned_32", "fine_tuned_16", "hybrid"):
        assert set(report[name]) == METRICS and all(0 <= v <= 1 for v in report[name].values())
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
    metrics = ranking_metrics(indices, relevant=np.array([7, 7, 7]))  # ranks 1, 2, not found
    assert metrics["recall@1"] == pytest.approx(1 / 3, abs=1e-4) and metrics["recall@5"] == pytest.approx(2 / 3, abs=1e-4)
    assert metrics["mrr@10"] == pytest.approx((1 + 1 / 2) / 3, abs=1e-4)
    assert metrics["ndcg@10"] == pytest.approx((1 + 1 / np.log2(3)) / 3, abs=1e-4)


def test_bm25_and_dense_search_rank_the_obvious_document_first():
    corpus = ["atlas billing hub is owned by payments", "cobalt claims portal runs in dublin", "nothing here"]
    indices, _ = BM25(corpus).search(["who owns atlas billing hub?", "where does cobalt claims portal run?"], k=3)
    assert indices[:, 0].tolist() == [0, 1]
    embeddings = truncate(np.array([[1.0, 0.0, 5.0], [0.0, 1.0, 5.0], [1.0, 1.0, -5.0]]), 2)
    found, scores = dense_search(embeddings[:1], embeddings, k=3)
    assert found[0].tolist() == [0, 2, 1] and scores[0, 0] == pytest.approx(1.0)


def test_fusion_combines_both_rankings():
    bm25 = (np.array([[0, 1, 2]]), np.array([[9.0, 1.0, 0.5]]))
    dense = (np.array([[1, 2, 0]]), np.array([[0.9, 0.8, 0.1]]))
    assert fuse([bm25, dense], "rrf", 3, 60, [0.5, 0.5])[0][0].tolist() == [1, 0, 2]
    assert fuse([bm25, dense], "weighted", 3, 60, [0.8, 0.2])[0][0].tolist() == [0, 1, 2]
    assert fuse([bm25, dense], "weighted", 3, 60, [0.2, 0.8])[0][0].tolist() == [1, 2, 0]
