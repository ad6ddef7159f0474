"""The reader (reproqa.reader): features, post-processing, scores and training, with the real (bundled,
uncased) tokenizer."""

import numpy as np
import pytest
from transformers import AutoTokenizer

from reproqa.models import resolve_model
from reproqa.reader import ReaderSettings, eval_features, postprocess, prediction_at, qa_scores, windows
from reproqa.reader_training import train_features

CONTEXT = (
    "atlas billing hub is registered under system id 48213. it is owned by the payments platform team. "
    "it runs in aws eu-west-1. its data lives in postgresql 15. support requests go to anna keller."
)
ANSWER = "payments platform"


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(resolve_model("all-MiniLM-L6-v2"))


def examples(answers):
    return {
        "id": ["q1"],
        "question": ["which team owns atlas billing hub?"],
        "context": [CONTEXT],
        "answers": [answers],
    }


def test_windows_label_the_answer_where_it_fits_and_cls_elsewhere(tokenizer):
    answer = [{"text": ANSWER, "answer_start": CONTEXT.index(ANSWER)}]
    features = train_features(tokenizer, examples(answer), max_seq_length=32, doc_stride=8)
    assert len(features["input_ids"]) > 2  # the context was cut into overlapping windows
    labelled = [(s, e) for s, e in zip(features["start_positions"], features["end_positions"]) if s != 0]
    assert labelled  # some window holds the whole answer...
    for window, (start, end) in enumerate(zip(features["start_positions"], features["end_positions"])):
        if start:
            assert tokenizer.decode(features["input_ids"][window][start : end + 1]) == ANSWER
    assert len(labelled) < len(features["input_ids"])  # ...and the others point at CLS (0)
    unanswerable = train_features(tokenizer, examples([]), max_seq_length=32, doc_stride=8)
    assert set(unanswerable["start_positions"]) == {0} == set(unanswerable["end_positions"])


@pytest.mark.parametrize("max_seq_length, doc_stride", [(32, 8), (48, 16), (384, 128)])
def test_windows_are_the_ones_transformers_cuts(tokenizer, max_seq_length, doc_stride):
    """reproqa.reader.windows on the Rust tokenizer (what answering loads, without transformers) against the
    reference: the transformers tokenizer's own call, as run_qa.py makes it."""
    batch = {"question": ["which team owns atlas billing hub?", "  who?  "], "context": [CONTEXT * 10, "anna keller."]}
    ours = windows(tokenizer.backend_tokenizer, batch, max_seq_length, doc_stride)
    reference = tokenizer(
        batch["question"],
        batch["context"],
        truncation="only_second",
        max_length=max_seq_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    for name in ("input_ids", "token_type_ids", "attention_mask", "offset_mapping", "overflow_to_sample_mapping"):
        assert ours[name] == [list(row) if isinstance(row, list) else row for row in reference[name]], name
    assert ours["sequence_ids"] == [reference.sequence_ids(i) for i in range(len(reference["input_ids"]))]
    assert len(ours["input_ids"]) > 2  # the long context was cut into several windows


def test_postprocessing_maps_logits_back_to_context_characters(tokenizer):
    features = eval_features(tokenizer.backend_tokenizer, examples([]), max_seq_length=32, doc_stride=8)
    rows = [{"example_id": i, "offset_mapping": o} for i, o in zip(features["example_id"], features["offset_mapping"])]
    start_char = CONTEXT.index(ANSWER)
    starts = np.full((len(rows), 32), -10.0)
    ends = np.full((len(rows), 32), -10.0)
    for window, row in enumerate(rows):
        offsets = row["offset_mapping"]
        for token, offset in enumerate(offsets):
            if offset and offset[0] == start_char:
                starts[window, token] = 5.0
            if offset and offset[1] == start_char + len(ANSWER):
                ends[window, token] = 5.0
    example = [{"id": "q1", "context": CONTEXT}]
    v2 = ReaderSettings(
        max_seq_length=32,
        doc_stride=8,
        n_best=5,
        max_answer_length=10,
        allow_unanswerable=True,
        null_score_diff_threshold=0.0,
    )
    predictions, nbest = postprocess(example, rows, starts, ends, v2)
    assert predictions == {"q1": ANSWER} and nbest["q1"][0]["answer_start"] == start_char
    starts[:, 0] = ends[:, 0] = 9.0  # the null score (CLS) now beats every span
    assert postprocess(example, rows, starts, ends, v2)[0] == {"q1": ""}
    v1 = ReaderSettings(**{**v2.__dict__, "allow_unanswerable": False})  # SQuAD v1.1: always a span
    assert postprocess(example, rows, starts, ends, v1)[0] == {"q1": ANSWER}
    too_short = ReaderSettings(**{**v1.__dict__, "max_answer_length": 1})  # "payments platform" is 2 tokens
    assert postprocess(example, rows, starts, ends, too_short)[0]["q1"] not in ("", ANSWER)


def test_scores_follow_the_official_squad_rules():
    result = qa_scores(
        ["The Broncos!", "denver", "", "something"], [["Denver Broncos", "broncos"], ["Denver Broncos"], [], []]
    )
    assert result["HasAns_exact"] == 50.0  # "The Broncos!" normalises to "broncos"
    assert result["HasAns_f1"] == pytest.approx((100 + 100 * 2 * 1 * 0.5 / 1.5) / 2)
    assert result["NoAns_exact"] == 50.0 and result["total"] == 4 and result["HasAns_total"] == 2
    assert 0 < result["bleu"] <= 100 and 0 < result["rougeL"] <= 100


def f1_at(examples, nbest, threshold):
    """F1 of the answers at a threshold (postprocess's rule): the reference for best_null_threshold."""
    predictions = [prediction_at(nbest[e["id"]], threshold) for e in examples]
    return qa_scores(predictions, [[a["text"] for a in e["answers"]] for e in examples])["f1"]


def test_the_null_threshold_chosen_is_the_best_of_every_threshold():
    """best_null_threshold against a brute force: F1 at every threshold between two questions' scores."""
    from reproqa.reader import best_null_threshold

    rng = np.random.default_rng(0)
    texts = ["payments platform", "anna keller", "aws eu-west-1", "postgresql 15"]
    for trial in range(30):
        examples, nbest = [], {}
        for i in range(int(rng.integers(1, 12))):
            gold = [] if rng.random() < 0.4 else [{"text": str(rng.choice(texts))}]
            span, null = float(rng.normal()), float(rng.choice([0.0, 0.5, rng.normal()]))  # ties too
            examples.append({"id": str(i), "answers": gold})
            nbest[str(i)] = [{"text": str(rng.choice(texts)), "score": span}, {"text": "", "score": null}]
            if rng.random() < 0.1:
                nbest[str(i)] = [{"text": "", "score": null}]  # no span fits: always ""
        diffs = sorted(n[-1]["score"] - n[0]["score"] for n in nbest.values() if len(n) == 2)
        candidates = [d - 1 for d in diffs[:1]] + [(a + b) / 2 for a, b in zip(diffs, diffs[1:])] + diffs[-1:]
        best = max(f1_at(examples, nbest, t) for t in candidates or [0.0])
        assert f1_at(examples, nbest, best_null_threshold(examples, nbest)) == pytest.approx(best), trial


def test_distractors_are_other_contexts_of_the_split_trained_as_no_answer(tmp_path, tokenizer):
    """Each question also reads the split's other context that BM25 ranks best for it, labelled at CLS, but
    never its own context or one that holds its answer (that would teach it to miss a right answer)."""
    import pandas as pd

    from reproqa.reader_training import training_windows

    sibling = "atlas billing hub v2 is owned by the ledger team. it runs in aws us-east-1."
    holds_answer = "atlas billing hub was once run by the payments platform team."
    rows = [
        ("which team owns atlas billing hub?", CONTEXT, ANSWER),
        ("where does atlas billing hub v2 run?", sibling, "aws us-east-1"),
        ("who founded atlas billing hub?", holds_answer, None),  # unanswerable: any other context will do
    ]
    pd.DataFrame(
        {
            "id": ["q1", "q2", "q3"],
            "question": [question for question, _, _ in rows],
            "context": [context for _, context, _ in rows],
            "answers": [[{"text": a, "answer_start": c.index(a)}] if a else [] for _, c, a in rows],
            "title": ["atlas billing hub", "atlas billing hub v2", "atlas billing hub"],
        }
    ).to_parquet(tmp_path / "train.parquet")
    settings = ReaderSettings(384, 64, 20, 30, True, 0.0)  # one window per (question, context)
    plain = training_windows(tmp_path / "train.parquet", tokenizer, settings, seed=0, limit=None, per_question=0)
    windows = training_windows(tmp_path / "train.parquet", tokenizer, settings, seed=0, limit=None, per_question=1)
    assert len(plain) == 3 and len(windows) == 6 and windows["input_ids"][:3] == plain["input_ids"]
    assert windows["start_positions"][3:] == windows["end_positions"][3:] == [0, 0, 0]  # CLS: "no answer"
    read = {tuple(ids) for ids in windows["input_ids"][3:]}
    pair = {(q, c): tuple(tokenizer(q, c)["input_ids"]) for q, _, _ in rows for c in (CONTEXT, sibling, holds_answer)}
    # q1's best other hit is holds_answer (it names the team too), which holds q1's answer: skipped
    assert pair[rows[0][0], sibling] in read and pair[rows[0][0], holds_answer] not in read
    for question, own, answer in rows:
        found = [c for c in (CONTEXT, sibling, holds_answer) if pair[question, c] in read]
        assert len(found) == 1 and found[0] != own and (answer is None or answer not in found[0])
    # within its own document (distractors_scope: title): q1's one other context holds its answer, q2's document
    # has no other, and q3 (unanswerable) reads q1's context
    scoped = training_windows(tmp_path / "train.parquet", tokenizer, settings, 0, None, per_question=1, scope="title")
    assert len(scoped) == 4 and scoped["input_ids"][3] == list(pair[rows[2][0], CONTEXT])
    assert scoped.column_names == windows.column_names


def test_prediction_batches_keep_window_order_under_length_grouping(tmp_path, tokenizer):
    """transformers 5 length-groups evaluation too; reordered logits gave ~5% EM on the sample."""
    from datasets import Dataset
    from transformers import AutoModelForQuestionAnswering, DataCollatorWithPadding, TrainingArguments

    from reproqa.reader_training import SpanTrainer

    texts = [" ".join(["word"] * n) for n in (3, 40, 7, 60, 1, 25, 12, 50)]
    windows = Dataset.from_dict(dict(tokenizer(texts)))
    args = TrainingArguments(
        output_dir=str(tmp_path),
        per_device_eval_batch_size=2,
        report_to="none",
        train_sampling_strategy="group_by_length",
    )
    model = AutoModelForQuestionAnswering.from_pretrained(resolve_model("all-MiniLM-L6-v2"))
    trainer = SpanTrainer(model=model, args=args, data_collator=DataCollatorWithPadding(tokenizer))
    lengths = [
        int(batch["attention_mask"].sum(1)[i])
        for batch in trainer.get_test_dataloader(windows)
        for i in range(len(batch["attention_mask"]))
    ]
    assert lengths == [len(ids) for ids in windows["input_ids"]]


@pytest.mark.parametrize("by_length", [True, False])
def test_training_order_depends_only_on_seed_and_epoch(tokenizer, by_length):
    """DDP processes and a resumed run must draw the same batches, whatever the global RNG did before."""
    import torch
    from datasets import Dataset

    from reproqa.reader_training import EpochSeededSampler

    windows = Dataset.from_dict(dict(tokenizer([" ".join(["word"] * (n % 17 + 1)) for n in range(40)])))
    sampler = EpochSeededSampler(4, windows, seed=7, by_length=by_length)
    first = list(sampler)
    torch.manual_seed(123), torch.rand(10)  # another process, or a resumed one, with other RNG state
    assert list(EpochSeededSampler(4, windows, seed=7, by_length=by_length)) == first == list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first and sorted(sampler) == sorted(first) == list(range(40))
    lengths = [len(windows[i]["input_ids"]) for i in first]
    # transformers' "megabatches" here are 2 batches of 4 (40 windows), each sorted longest first
    megabatches = [lengths[i : i + 8] for i in range(0, 40, 8)]
    sorted_ones = sum(megabatch == sorted(megabatch, reverse=True) for megabatch in megabatches)
    assert sorted_ones == (5 if by_length else 0)  # length-grouped, or shuffled
    if by_length:
        assert lengths[0] == max(lengths)  # the longest batch comes first


def test_a_windows_loss_does_not_depend_on_the_padding_of_its_batch(tmp_path, tokenizer):
    import torch
    from transformers import AutoModelForQuestionAnswering, DataCollatorWithPadding, TrainingArguments

    from reproqa.reader_training import SpanTrainer

    short = dict(tokenizer("which team?", "the payments team."), start_positions=6, end_positions=6)
    long = dict(tokenizer("which team?", CONTEXT), start_positions=9, end_positions=10)
    torch.manual_seed(0)
    model = AutoModelForQuestionAnswering.from_pretrained(resolve_model("all-MiniLM-L6-v2")).eval()
    trainer = SpanTrainer(model=model, args=TrainingArguments(output_dir=str(tmp_path), report_to="none"))
    collate = DataCollatorWithPadding(tokenizer)
    alone = trainer.compute_loss(model, collate([short]))
    together = trainer.compute_loss(model, collate([short, long]))
    assert torch.allclose(together, (alone + trainer.compute_loss(model, collate([long]))) / 2, atol=1e-5)
    model_loss = model(**collate([short, long])).loss  # the model's own loss counts padding positions
    assert not torch.allclose(together, model_loss, atol=1e-3)


def test_no_answer_weight_scales_the_loss_of_the_windows_labelled_at_cls(tmp_path, tokenizer):
    import torch
    from transformers import AutoModelForQuestionAnswering, DataCollatorWithPadding, TrainingArguments

    from reproqa.reader_training import SpanTrainer

    answered = dict(tokenizer("which team?", CONTEXT), start_positions=9, end_positions=10)
    no_answer = dict(tokenizer("which data centre?", CONTEXT), start_positions=0, end_positions=0)  # CLS
    torch.manual_seed(0)
    model = AutoModelForQuestionAnswering.from_pretrained(resolve_model("all-MiniLM-L6-v2")).eval()
    collate = DataCollatorWithPadding(tokenizer)

    def loss(weight, windows, end=None, step=0):
        args = TrainingArguments(output_dir=str(tmp_path), report_to="none")
        trainer = SpanTrainer(
            model=model, args=args, processing_class=tokenizer, no_answer_weight=weight, no_answer_weight_end=end
        )
        trainer.state.global_step, trainer.state.max_steps = step, 8
        return trainer.compute_loss(model, collate(windows))

    span, null = loss(1.0, [answered]), loss(1.0, [no_answer])
    assert torch.allclose(loss(1.0, [answered, no_answer]), (span + null) / 2, atol=1e-6)  # run_qa.py's mean
    assert torch.allclose(loss(0.25, [answered, no_answer]), (span + 0.25 * null) / 2, atol=1e-6)
    assert torch.allclose(loss(0.25, [answered]), span, atol=1e-6)
    # a ramp from 0.25 at step 0 to 1.0 at step 8: 0.625 half way, 1.0 at the end
    assert torch.allclose(loss(0.25, [answered, no_answer], end=1.0), (span + 0.25 * null) / 2, atol=1e-6)
    assert torch.allclose(loss(0.25, [answered, no_answer], end=1.0, step=4), (span + 0.625 * null) / 2, atol=1e-6)
    assert torch.allclose(loss(0.25, [answered, no_answer], end=1.0, step=8), (span + null) / 2, atol=1e-6)


def test_shared_normalization_is_one_softmax_over_a_groups_windows(tmp_path, tokenizer):
    """A group's loss is that of finding its answer among all its windows' tokens (Clark & Gardner's shared
    normalization), computed here by hand from the model's logits; a FILLER window is left out of it."""
    import torch
    from transformers import AutoModelForQuestionAnswering, DataCollatorWithPadding, TrainingArguments

    from reproqa.reader_training import FILLER, NOT_TARGET, SpanTrainer

    question, wrong = "which team owns atlas billing hub?", "atlas billing hub v2 is owned by the ledger team."
    answered = dict(tokenizer(question, CONTEXT), start_positions=9, end_positions=10)
    distractor = dict(tokenizer(question, wrong), start_positions=NOT_TARGET, end_positions=NOT_TARGET)
    filler = dict(answered, start_positions=FILLER, end_positions=FILLER)
    torch.manual_seed(0)
    model = AutoModelForQuestionAnswering.from_pretrained(resolve_model("all-MiniLM-L6-v2")).eval()
    collate = DataCollatorWithPadding(tokenizer)
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none")
    trainer = SpanTrainer(model=model, args=args, processing_class=tokenizer, group_size=2)

    def by_hand(windows, target):
        with torch.no_grad():
            logits = [model(**collate([w])) for w in windows]
        return (
            sum(
                torch.nn.functional.cross_entropy(
                    torch.cat([getattr(o, name)[0] for o in logits])[None], torch.tensor([t])
                )
                for name, t in (("start_logits", target[0]), ("end_logits", target[1]))
            )
            / 2
        )

    with torch.no_grad():
        shared = trainer.compute_loss(model, collate([answered, distractor]))
        alone = SpanTrainer(model=model, args=args).compute_loss(model, collate([answered]))
        two_groups = trainer.compute_loss(model, collate([answered, distractor, answered, filler]))
    assert torch.allclose(shared, by_hand([answered, distractor], (9, 10)), atol=1e-5)
    assert shared > alone  # the wrong context's tokens compete for the answer
    assert torch.allclose(two_groups, (shared + alone) / 2, atol=1e-5)  # a filler is not in the softmax
    with pytest.raises(ValueError, match="not whole groups of 2"):
        trainer.compute_loss(model, collate([answered, distractor, answered]))


def test_shared_normalization_groups_each_question_with_its_distractors(tmp_path, tokenizer):
    """Groups of 1 + distractors windows: the answer's window first with its label, then the distractor's, not
    labelled "no answer"; a question without a distractor gets a filler the loss leaves out."""
    import pandas as pd

    from reproqa.reader_training import FILLER, NOT_TARGET, training_windows

    sibling = "atlas billing hub v2 is owned by the ledger team. it runs in aws us-east-1."
    rows = [
        ("which team owns atlas billing hub?", CONTEXT, ANSWER, "a"),
        ("where is it run?", sibling, "us-east-1", "b"),
    ]
    pd.DataFrame(
        {
            "id": ["q1", "q2"],
            "question": [q for q, _, _, _ in rows],
            "context": [c for _, c, _, _ in rows],
            "answers": [[{"text": a, "answer_start": c.index(a)}] for _, c, a, _ in rows],
            "title": [t for _, _, _, t in rows],
        }
    ).to_parquet(tmp_path / "train.parquet")
    settings = ReaderSettings(384, 64, 20, 30, True, 0.0)
    plain = training_windows(tmp_path / "train.parquet", tokenizer, settings, seed=0, limit=None, per_question=1)
    shared = training_windows(tmp_path / "train.parquet", tokenizer, settings, 0, None, per_question=1, shared=True)
    assert shared.column_names == plain.column_names and len(shared) == 4
    for group in (0, 2):
        first, other = shared[group], shared[group + 1]
        question = tokenizer.decode(first["input_ids"][1 : first["input_ids"].index(tokenizer.sep_token_id)])
        own, answer = next((c, a) for q, c, a, _ in rows if q == question)
        assert first["input_ids"] == tokenizer(question, own)["input_ids"] and first["start_positions"] > 0
        span = tokenizer.decode(first["input_ids"][first["start_positions"] : first["end_positions"] + 1])
        assert span.replace(" ", "") == answer.replace(" ", "") and other["input_ids"] != first["input_ids"]
        assert other["start_positions"] == other["end_positions"] == NOT_TARGET  # in the softmax, not a target
    # within its own title, neither question has another context: each group is its window and a filler
    scoped = training_windows(tmp_path / "train.parquet", tokenizer, settings, 0, None, 1, scope="title", shared=True)
    assert (
        scoped["start_positions"][1::2] == [FILLER, FILLER] and scoped["input_ids"][0::2] == scoped["input_ids"][1::2]
    )


def test_a_tie_on_validation_keeps_the_later_checkpoint(tmp_path):
    """On the "no answer" plateau every checkpoint scores the unanswerable share: keep the one trained longest."""
    from transformers import AutoModelForQuestionAnswering, TrainingArguments

    from reproqa.reader_training import SpanTrainer

    model = AutoModelForQuestionAnswering.from_pretrained(resolve_model("all-MiniLM-L6-v2"))
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", metric_for_best_model="f1")
    trainer = SpanTrainer(model=model, args=args)
    kept = []
    for step, f1 in ((50, 60.5), (100, 60.5), (150, 58.0), (200, 61.0), (250, 61.0), (300, 60.9)):
        trainer.state.global_step = step
        trainer._determine_best_metric({"eval_f1": f1}, trial=None)
        kept.append(trainer.state.best_global_step)
    assert kept == [50, 100, 100, 200, 250, 250] and trainer.state.best_metric == 61.0


def test_the_saved_tokenizer_does_not_depend_on_its_last_call(tmp_path, tokenizer):
    """datasets' cache decides whether stage train tokenizes in its own process; the saved reader must not
    record which (tokenizer.json kept the last call's truncation: two model folders for the same inputs)."""
    from transformers import AutoModelForQuestionAnswering

    from reproqa.reader_training import save_reader

    model = AutoModelForQuestionAnswering.from_pretrained(resolve_model("all-MiniLM-L6-v2"))
    settings = ReaderSettings(256, 64, 20, 30, True, 0.0)
    save_reader(model, tokenizer, settings, tmp_path / "untouched")
    train_features(tokenizer, examples([]), max_seq_length=32, doc_stride=8)  # a call that sets truncation
    save_reader(model, tokenizer, settings, tmp_path / "after_a_call")
    for name in ("tokenizer.json", "tokenizer_config.json", "inference.json"):
        assert (tmp_path / "untouched" / name).read_bytes() == (tmp_path / "after_a_call" / name).read_bytes(), name


def test_the_saved_tokenizer_does_not_record_whether_it_was_loaded_offline(tmp_path):
    """make repro sets HF_HUB_OFFLINE=1, a user's shell may not: the same inputs must give the same reader."""
    from transformers import AutoModelForQuestionAnswering

    from reproqa.reader_training import save_reader

    model = AutoModelForQuestionAnswering.from_pretrained(resolve_model("all-MiniLM-L6-v2"))
    settings = ReaderSettings(256, 64, 20, 30, True, 0.0)
    for offline in (True, False):
        tokenizer = AutoTokenizer.from_pretrained(resolve_model("all-MiniLM-L6-v2"), local_files_only=offline)
        save_reader(model, tokenizer, settings, tmp_path / str(offline))
    config = (tmp_path / "True" / "tokenizer_config.json").read_text()
    assert "local_files_only" not in config
    assert config == (tmp_path / "False" / "tokenizer_config.json").read_text()
