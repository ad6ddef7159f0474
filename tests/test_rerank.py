"""The cross-encoder reranker: its training data, the reordering (reproqa.rerank), the stage on the tiny model
(trained by `dvc repro` in the pipeline fixture) and the answer path with and without it."""

import json
import shutil

import numpy as np
import pytest
from sentence_transformers import CrossEncoder, SentenceTransformer

from conftest import answerer_of, stages_run_after
from reproqa.index import Index
from reproqa.params import Fusion, Rerank, RerankNegatives
from reproqa.rerank import rerank, reranking_samples, training_tuples


class Scores:
    """A cross-encoder stand-in whose logit for (question, context) is given."""

    def __init__(self, logits: dict[str, float]):
        self.logits = logits

    def predict(self, pairs, **kwargs):
        return np.array([self.logits[context] for _, context in pairs], dtype=np.float32)


def test_rerank_orders_the_first_candidates_by_the_logit_and_leaves_the_rest():
    contexts = ["c0", "c1", "c2", "c3", "c4"]
    model = Scores({"c0": 0.5, "c1": 2.0, "c2": 2.0, "c3": -1.0, "c4": 9.0})
    found = np.array([[0, 1, 2, 3, 4], [3, 2, -1, -1, -1]]), np.array([[5.0, 4, 3, 2, 1], [7.0, 6, 0, 0, 0]])
    ids, scores = rerank(model, ["q0", "q1"], contexts, found, depth=4, batch_size=2)
    # question 0: c1 and c2 tie at 2.0 and keep the search's order; c4 is beyond the depth, unscored, last
    assert ids.tolist() == [[1, 2, 0, 3, 4], [2, 3, -1, -1, -1]]
    assert scores[0, :4].tolist() == [2.0, 2.0, 0.5, -1.0] and np.isnan(scores[0, 4])
    assert scores[1, :2].tolist() == [2.0, -1.0]
    assert found[0].tolist()[0] == [0, 1, 2, 3, 4]  # the search's ranking is not changed in place


def test_fused_with_the_search_a_candidate_both_rank_high_goes_first():
    contexts = ["c0", "c1", "c2", "c3"]
    model = Scores({"c0": 1.0, "c1": 3.0, "c2": 2.0, "c3": 4.0})  # reranker's order: c3 c1 c2 c0
    found = np.array([[0, 1, 2, 3]]), np.array([[4.0, 3, 2, 1]])  # the search's: c0 c1 c2 c3
    ids, scores = rerank(model, ["q"], contexts, found, depth=4, batch_size=4, search_weight=0.5, rrf_k=0)
    # c0 1/4 + 1/1, c1 1/2 + 1/2, c2 1/3 + 1/3, c3 1/1 + 1/4 (halved): c0 and c3 tie, the reranker's c3 first
    assert ids.tolist() == [[3, 0, 1, 2]]
    assert scores[0].tolist() == pytest.approx([0.625, 0.625, 0.5, 1 / 3])
    only_search = rerank(model, ["q"], contexts, found, depth=4, batch_size=4, search_weight=1.0, rrf_k=60)
    assert only_search[0].tolist() == [[0, 1, 2, 3]]


@pytest.fixture(scope="module")
def tiny_index(tiny_model):
    contexts = [
        "atlas billing hub has system id 101 and is owned by the payments team.",
        "atlas billing hub is hosted in frankfurt.",
        "nova crm has system id 202 and is owned by the sales team.",
        "nova crm stores customer records of the payments team.",
        "orion wiki has system id 303.",
    ]
    encoder = SentenceTransformer(str(tiny_model), device="cpu")
    return Index.build(contexts, [None] * 5, encoder, 8, Fusion(method="rrf", rrf_k=60, dense_weight=0.5, candidates=5))


def row(question, context, answer):
    answers = [{"text": answer, "answer_start": context.index(answer)}] if answer else []
    return {"question": question, "context": context, "answers": answers, "is_impossible": not answer}


def test_negatives_come_from_the_split_and_never_hold_an_answer(tiny_index):
    contexts = tiny_index.contexts
    rows = [
        row("which team owns atlas billing hub?", contexts[0], "payments team"),
        row("what is the system id of nova crm?", contexts[2], "202"),
        row("who owns orion wiki?", contexts[4], None),  # unanswerable: no pair
    ]
    split = tiny_index.subset(contexts[:4])  # the split's contexts: orion wiki is another split's
    assert split.contexts == contexts[:4]
    negatives = RerankNegatives(retriever="bm25", per_question=2, in_batch=1, depth=4, scope=None)
    tuples = training_tuples(rows, split, negatives)
    assert list(tuples) == ["hard_negatives"]  # the unanswerable row is left out
    atlas, nova = tuples["hard_negatives"].to_list()
    assert (atlas["query"], atlas["positive"], nova["positive"]) == (rows[0]["question"], contexts[0], contexts[2])
    # contexts[3] holds "payments team" (it might answer): the atlas question's negatives are the other two
    assert {atlas["negative_1"], atlas["negative_2"]} == {contexts[1], contexts[2]}
    assert {nova["negative_1"], nova["negative_2"]} <= {contexts[0], contexts[1], contexts[3]}
    fewer = training_tuples(rows, split, negatives.model_copy(update={"per_question": 3}))
    assert fewer["in_batch"].to_list() == [{"query": rows[0]["question"], "positive": contexts[0]}]
    assert [row["query"] for row in fewer["hard_negatives"]] == [rows[1]["question"]]


def test_scoped_negatives_and_candidates_come_from_the_question_s_own_document(tiny_model):
    """Questions that do not name their document (a policy's "do you share my data?") are answered with a filter;
    the reranker then learns to tell apart the contexts of one document, not of all."""
    contexts = [
        "we share your data with partners.",
        "we never sell your data.",
        "we share your data with advertisers.",
        "your data is never sold.",
        "we keep logs for a year.",
        "initech does not track you.",
    ]
    titles = ["acme", "acme", "globex", "globex", "acme", "initech"]
    encoder = SentenceTransformer(str(tiny_model), device="cpu")
    fusion = Fusion(method="rrf", rrf_k=60, dense_weight=0.5, candidates=5)
    index = Index.build(contexts, titles, encoder, 8, fusion)
    rows = [row("do you share my data?", contexts[0], "partners"), row("do you sell my data?", contexts[3], "never")]
    alone = row("do you track me?", contexts[5], "does not track")  # its document has one context: nothing to reorder
    for retriever in ("bm25", "dense", "hybrid"):
        negatives = RerankNegatives(retriever=retriever, per_question=2, in_batch=0, depth=4, scope="title")
        tuples = training_tuples(rows, index, negatives)
        [acme] = tuples["hard_negatives"].to_list()
        assert {acme["negative_1"], acme["negative_2"]} == {contexts[1], contexts[4]}, retriever
        # globex has one wrong context, short of two: it learns from its batch only
        assert tuples["in_batch"].to_list() == [{"query": rows[1]["question"], "positive": contexts[3]}]
        samples = reranking_samples(rows + [alone], index, negatives)
        assert len(samples) == 2, retriever
        assert sorted(samples[0]["documents"]) == sorted(contexts[i] for i in (0, 1, 4)), retriever
        assert sorted(samples[1]["documents"]) == sorted(contexts[2:4]), retriever
    unscoped = RerankNegatives(retriever="bm25", per_question=2, in_batch=0, depth=4, scope=None)
    acme = training_tuples(rows, index, unscoped)["hard_negatives"].to_list()[0]
    assert contexts[2] in (acme["negative_1"], acme["negative_2"])  # another document's: what the scope removes


def test_a_subset_ranks_its_contexts_as_the_whole_index_ranks_them(tiny_index):
    questions = ["which team owns atlas billing hub?", "system id 202"]
    kept = [0, 2, 3]
    subset = tiny_index.subset([tiny_index.contexts[i] for i in kept])
    for method in ("dense", "bm25"):
        whole = tiny_index.search(questions, 5, method)[0].tolist()
        assert [[kept[i] for i in found] for found in subset.search(questions, 3, method)[0].tolist()] == [
            [i for i in ranking if i in kept] for ranking in whole
        ], method


def test_the_stage_trains_a_cross_encoder_whose_order_answering_reads(pipeline):
    root, _, _ = pipeline
    model = CrossEncoder(str(root / "models/reranker"), device="cpu")
    assert model.num_labels == 1 and not (root / "models/reranker/README.md").exists()
    curves = root / "metrics/train_reranker/plots/metrics"
    assert len((curves / "train/loss.tsv").read_text().splitlines()) >= 3
    assert (curves / "eval/ndcg@10.tsv").exists() and (curves / "eval/mrr@10.tsv").exists()
    table = json.loads((root / "metrics/evaluate_retriever/metrics.json").read_text())
    assert set(table["reranked"]) == set(table["hybrid"])

    # The reader reads the search's top candidates in the reranker's order (not fused with the search's order),
    # and the retrieval scores are its logits
    answerer = answerer_of(root, precision="float32", top_k=3)
    fused = answerer.params.rerank
    answerer.params = answerer.params.model_copy(update={"rerank": fused.model_copy(update={"search_weight": 0.0})})
    questions = ["which team owns atlas billing hub?", "what is the system id of nova crm?"]
    found = answerer.index.search(questions, answerer.params.rerank.candidates, answerer.params.retriever)[0]
    for question, candidates, answer in zip(questions, found.tolist(), answerer.answer(questions)):
        logits = answerer.reranker.predict(
            [(question, answerer.index.contexts[i]) for i in candidates], activation_fn=lambda x: x
        )
        expected = [candidates[j] for j in np.argsort(-logits, kind="stable")[:3]]
        assert answer.retrieved == expected
        assert answer.retrieval_scores == pytest.approx(sorted(logits.tolist(), reverse=True)[:3], abs=1e-4)

    # Fused (the default), answering reads the order `rerank` fuses
    answerer.params = answerer.params.model_copy(update={"rerank": fused})
    assert fused.search_weight > 0
    found = answerer.index.search(questions, fused.candidates, answerer.params.retriever)
    expected = rerank(
        answerer.reranker,
        questions,
        answerer.index.contexts,
        found,
        fused.candidates,
        8,
        fused.search_weight,
        fused.rrf_k,
    )
    assert [answer.retrieved for answer in answerer.answer(questions)] == expected[0][:, :3].tolist()


def test_without_the_reranker_answering_needs_no_reranker_and_reads_the_search_order(pipeline, tmp_path):
    root, _, _ = pipeline
    project = tmp_path / "copy"
    shutil.copytree(root, project)
    shutil.rmtree(project / "models/reranker")
    off = Rerank(enabled=False, candidates=20, search_weight=0.5, rrf_k=0)
    answerer = answerer_of(project, precision="float32", rerank=off)
    assert answerer.reranker is None
    questions = ["which team owns atlas billing hub?"]
    searched = answerer.index.search(questions, 3, answerer.params.retriever)[0][0].tolist()
    assert answerer.answer(questions)[0].retrieved == searched


def test_switching_the_reranker_off_reruns_only_the_evaluation(pipeline, tmp_path):
    root, _, _ = pipeline
    project = tmp_path / "copy"
    shutil.copytree(root, project)
    assert stages_run_after(project, "evaluate.rerank.enabled", False) == {"evaluate"}
    assert stages_run_after(project, "evaluate.rerank.candidates", 5) == {"evaluate_retriever", "evaluate"}
    metrics = json.loads((project / "metrics/evaluate/metrics.json").read_text())
    assert metrics["retriever"]["top_k"] == 3
