"""The reader: its settings, how it cuts contexts into windows, post-processing, scores and inference, as the
reference transformers run_qa.py does them; its training (stage train) is in reproqa/reader_training.py.

Stage train fine-tunes it and saves, next to the weights, the settings it reads with (inference.json: windows
and post-processing); `Reader` loads both, so stage evaluate and `reproqa ask` read contexts exactly as the
model was validated, without the train params. This module imports neither torch nor transformers at the top:
answering in ONNX Runtime (evaluate.backend: onnx) needs neither, and `reproqa ask` starts faster without them.

Features: question + context windows of max_seq_length tokens overlapping by doc_stride, with offset
mappings; a window that does not hold the whole answer (or an unanswerable question) is labelled at CLS.
Post-processing: the n-best (start, end) pairs over all windows of an example, skipping spans outside the
context, reversed or longer than max_answer_length; with unanswerable questions allowed, the answer is ""
when the best null score (CLS) beats the best span by more than the threshold (SQuAD v2). Stage train chooses
that threshold on the validation split (best_null_threshold), as the official SQuAD v2 evaluation does.
"""

import inspect
import json
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from reproqa.errors import UserError
from reproqa.models import device
from reproqa.onnx_models import MODEL as ONNX_MODEL
from reproqa.onnx_models import OnnxSession, is_exported
from reproqa.records import write_json

COLUMNS = ["id", "question", "context", "answers"]  # what the reader reads of a split
INPUTS = ("input_ids", "token_type_ids", "attention_mask")  # what `windows` gives a model (it takes those it knows)

SETTINGS = "inference.json"  # in the reader's model folder, next to config.json


@dataclass(frozen=True)
class ReaderSettings:
    """How the reader cuts contexts into windows and turns logits into an answer: the train params that
    matter at inference time, saved with the model."""

    max_seq_length: int  # tokens per window (question + context)
    doc_stride: int  # overlap of consecutive windows of a long context
    n_best: int  # start and end candidates per window
    max_answer_length: int  # tokens
    allow_unanswerable: bool  # SQuAD v2: "" when the null score beats the best span by more than...
    null_score_diff_threshold: float  # ...this

    @classmethod
    def of(cls, params) -> "ReaderSettings":
        """The settings in the train params (reproqa.params.TrainParams); a null threshold to be chosen on
        "validation" starts at 0, the SQuAD v2 default, until ReaderTrainer chooses it."""
        settings = {name: getattr(params, name) for name in cls.__dataclass_fields__}
        if settings["null_score_diff_threshold"] == "validation":
            settings["null_score_diff_threshold"] = 0.0
        return cls(**settings)

    def save(self, folder: Path) -> None:
        write_json(Path(folder) / SETTINGS, asdict(self))

    @classmethod
    def load(cls, folder: Path) -> "ReaderSettings":
        return cls(**json.loads((Path(folder) / SETTINGS).read_text()))


def windows(tokenizer: Tokenizer, examples: dict, max_seq_length: int, doc_stride: int) -> dict[str, list]:
    """Question + context windows of max_seq_length tokens overlapping by doc_stride: per window, the model's
    inputs (INPUTS), each token's character offsets and which text it comes from (sequence_ids: 0 the question, 1
    the context, None a special token), and the example it comes from (overflow_to_sample_mapping). `tokenizer` is
    the Rust tokenizer itself (a transformers tokenizer's backend_tokenizer, or tokenizer.json loaded by
    `tokenizers`), cutting as transformers' fast tokenizers do with truncation="only_second", stride and
    return_overflowing_tokens (tests/test_reader.py compares the two)."""
    tokenizer.enable_truncation(max_seq_length, stride=doc_stride, strategy="only_second")
    tokenizer.no_padding()
    try:
        cut = tokenizer.encode_batch(list(zip(examples["question"], examples["context"])))
    finally:
        tokenizer.no_truncation()  # a tokenizer saved afterwards (save_reader) keeps no call's settings
    encoded: dict[str, list] = {name: [] for name in (*INPUTS, "offset_mapping", "sequence_ids")}
    encoded["overflow_to_sample_mapping"] = []
    for example, first in enumerate(cut):
        for window in [first, *first.overflowing]:  # in transformers' order
            encoded["input_ids"].append(window.ids)
            encoded["token_type_ids"].append(window.type_ids)
            encoded["attention_mask"].append(window.attention_mask)
            encoded["offset_mapping"].append(window.offsets)
            encoded["sequence_ids"].append(window.sequence_ids)
            encoded["overflow_to_sample_mapping"].append(example)
    return encoded


def eval_features(tokenizer: Tokenizer, examples: dict, max_seq_length: int, doc_stride: int) -> dict:
    """Batched `datasets.map` function: windows keeping their example id and the offsets of context tokens
    (None elsewhere), so predicted token spans map back to characters of the context."""
    encoded = windows(tokenizer, examples, max_seq_length, doc_stride)
    encoded["example_id"] = [examples["id"][example] for example in encoded.pop("overflow_to_sample_mapping")]
    encoded["offset_mapping"] = [
        [offset if sequence == 1 else None for offset, sequence in zip(offsets, sequences)]
        for offsets, sequences in zip(encoded["offset_mapping"], encoded.pop("sequence_ids"))
    ]
    return encoded


def postprocess(
    examples: list[dict],
    features: list[dict],
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    settings: ReaderSettings,
) -> tuple[dict[str, str], dict[str, list[dict]]]:
    """(prediction per example id, n-best list per example id) from the logits of each feature (window)."""
    n_best, max_answer_length = settings.n_best, settings.max_answer_length
    features_of: dict[str, list[int]] = {}  # example id -> its features' positions
    for index, feature in enumerate(features):
        features_of.setdefault(feature["example_id"], []).append(index)
    predictions, nbest = {}, {}
    for example in examples:
        candidates, null_score = [], None
        for index in features_of.get(example["id"], []):
            starts, ends, offsets = start_logits[index], end_logits[index], features[index]["offset_mapping"]
            score = float(starts[0] + ends[0])  # CLS: "no answer in this window"
            null_score = score if null_score is None else min(null_score, score)
            for start in np.argsort(starts)[::-1][:n_best]:
                for end in np.argsort(ends)[::-1][:n_best]:
                    if (
                        start >= len(offsets)
                        or end >= len(offsets)
                        or offsets[start] is None
                        or offsets[end] is None
                        or len(offsets[start]) < 2
                        or len(offsets[end]) < 2
                        or end < start
                        or end - start + 1 > max_answer_length
                    ):
                        continue
                    first, last = offsets[start][0], offsets[end][1]
                    candidates.append(
                        {
                            "text": example["context"][first:last],
                            "answer_start": first,
                            "score": float(starts[start] + ends[end]),
                        }
                    )
        candidates = sorted(candidates, key=lambda c: -c["score"])[:n_best]
        if settings.allow_unanswerable:
            nbest[example["id"]] = candidates + [{"text": "", "score": null_score}]
            predictions[example["id"]] = prediction_at(nbest[example["id"]], settings.null_score_diff_threshold)
        else:
            nbest[example["id"]] = candidates
            predictions[example["id"]] = candidates[0]["text"] if candidates else ""
    return predictions, nbest


def prediction_at(listed: list[dict], threshold: float) -> str:
    """The answer at a null threshold from an n-best list of postprocess with unanswerable questions allowed
    (the spans best first, then the null score): "" when the null score beats the best span by more than the
    threshold, or when no span fits; the best span when no window gave a null score.

    >>> listed = [{"text": "payments", "score": 4.0}, {"text": "", "score": 5.0}]
    >>> prediction_at(listed, 0.0), prediction_at(listed, 1.5)
    ('', 'payments')
    """
    *spans, null = listed
    if not spans:
        return ""
    if null["score"] is None:
        return spans[0]["text"]
    return "" if null["score"] - spans[0]["score"] > threshold else spans[0]["text"]


@cache
def _scores_module():
    import evaluate  # here, not above: it loads datasets, and answering does not score

    return evaluate.load(str(Path(__file__).resolve().parent / "evaluate_modules/qa_scores"))


def qa_scores(predictions: list[str], references: list[list[str]], digits: int | None = None) -> dict:
    """EM and F1 (with HasAns/NoAns; an empty reference list is an unanswerable question), BLEU and ROUGE-L,
    from the project's own evaluate module, loaded from its local path (the Hub's cannot load offline).
    The metrics files hold them rounded to digits=4 places; the training curves unrounded.

    >>> qa_scores(["core banking", ""], [["core banking"], ["payments"]], digits=4)["f1"]
    50.0
    """
    metrics = _scores_module().compute(predictions=predictions, references=references)
    if digits is None:
        return metrics
    return {name: round(value, digits) if isinstance(value, float) else value for name, value in metrics.items()}


def best_null_threshold(examples: list[dict], nbest: dict[str, list[dict]]) -> float:
    """The null threshold that maximises F1 over `examples` (rows with id and answers), from their n-best lists
    (postprocess with unanswerable questions allowed: the spans best first, then the null score). As the
    official SQuAD v2 evaluation's best_f1_thresh: sort the questions by null score - best span score and
    answer the first n with their span, for the n that scores best. The threshold lies halfway between the
    last question answered and the next, so a question scored near either falls the same way.

    >>> rows = [{"id": "a", "answers": [{"text": "payments"}]}, {"id": "b", "answers": []}]
    >>> nbest = {"a": [{"text": "payments", "score": 4.0}, {"text": "", "score": 5.0}],
    ...          "b": [{"text": "atlas", "score": 2.0}, {"text": "", "score": 5.0}]}
    >>> best_null_threshold(rows, nbest)  # answer a (null - span = 1), not b (3)
    2.0
    """
    from reproqa.evaluate_modules.qa_scores.qa_scores import best_f1  # its module loads evaluate: not for answering

    total, flips = 0.0, []  # F1 summed with "" wherever the threshold decides; (null - span, F1 gained by the span)
    for example in examples:
        gold = [answer["text"] for answer in example["answers"]]
        *spans, null = listed = nbest[example["id"]]
        if not spans or null["score"] is None:  # no span fits, or no window: the threshold does not decide
            total += best_f1(gold, prediction_at(listed, 0.0))
            continue
        total += best_f1(gold, "")
        flips.append((null["score"] - spans[0]["score"], best_f1(gold, spans[0]["text"]) - best_f1(gold, "")))
    if not flips:
        return 0.0
    flips.sort(key=lambda flip: flip[0])
    diffs = [diff for diff, _ in flips]
    best, answered = total, 0  # answer the first `answered` questions
    for n, (_, gain) in enumerate(flips, start=1):
        total += gain
        if total > best and (n == len(diffs) or diffs[n] > diffs[n - 1]):  # equal scores fall the same way
            best, answered = total, n
    if answered == 0:
        return diffs[0] - 1.0
    if answered == len(diffs):
        return diffs[-1] + 1.0
    return (diffs[answered - 1] + diffs[answered]) / 2


def scores(examples: list[dict], predictions: dict[str, str], digits: int | None = None) -> dict:
    """qa_scores of the predictions for `examples` (rows with id and answers)."""
    answers = [[a["text"] for a in e["answers"]] for e in examples]
    return qa_scores([predictions[e["id"]] for e in examples], answers, digits)


def span_logits(
    forward, tokenizer: Tokenizer, examples: dict, settings: ReaderSettings, batch_size: int
) -> tuple[list[dict], list[np.ndarray], list[np.ndarray]]:
    """Features (eval_features) of `examples` (columns id, question, context) and each one's start and end
    logits, unpadded, for `postprocess`. `forward` maps a padded batch (numpy arrays by input name) to its start
    and end logits (numpy): a PyTorch model's (`torch_forward`) or an ONNX Runtime session's. Plain inference, no
    Trainer: stage evaluate and `reproqa ask`."""
    encoded = eval_features(tokenizer, examples, settings.max_seq_length, settings.doc_stride)
    features = [
        {"example_id": i, "offset_mapping": o} for i, o in zip(encoded["example_id"], encoded["offset_mapping"])
    ]
    starts, ends = [], []
    for first in range(0, len(features), batch_size):
        batch = padded({name: encoded[name][first : first + batch_size] for name in INPUTS})
        start_logits, end_logits = forward(batch)
        for row, length in enumerate(batch["attention_mask"].sum(axis=1).tolist()):
            starts.append(start_logits[row, :length])
            ends.append(end_logits[row, :length])
    return features, starts, ends


def padded(batch: dict[str, list[list[int]]]) -> dict[str, np.ndarray]:
    """Rows of token ids as int64 arrays padded with 0 to the longest. The attention mask hides the padding, so
    its id changes no real token's logits.

    >>> padded({"input_ids": [[101, 7, 102], [101, 102]]})["input_ids"].tolist()
    [[101, 7, 102], [101, 102, 0]]
    """
    longest = max(len(row) for rows in batch.values() for row in rows)
    return {
        name: np.array([row + [0] * (longest - len(row)) for row in rows], dtype=np.int64)
        for name, rows in batch.items()
    }


def torch_forward(model):
    """`span_logits`' forward for a PyTorch reader: the inputs its forward takes, float32 numpy logits whatever the
    model's dtype (DistilBERT takes no token_type_ids)."""
    import torch

    accepted = inspect.signature(model.forward).parameters

    @torch.inference_mode()
    def forward(batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        inputs = {name: torch.from_numpy(array).to(model.device) for name, array in batch.items() if name in accepted}
        output = model(**inputs)
        return output.start_logits.float().cpu().numpy(), output.end_logits.float().cpu().numpy()

    return forward


class Reader:
    """A trained reader (stage train's model folder, or stage export's ONNX copy of it) that answers each
    question from each of its contexts, with the settings stage train saved beside it.

    For example, after `dvc repro` (tests/test_evaluate.py runs it on the tiny pipeline):

        reader = Reader(Path("models/reader"), precision="float32", batch_size=32)
        reader.read(["who owns atlas billing hub?"], [["atlas billing hub belongs to core banking."]])
        # [[('core banking', 13.2)]]: per question, per context, (answer, reader score)
    """

    def __init__(self, folder: Path, precision: str, batch_size: int):
        if not (Path(folder) / SETTINGS).exists():
            raise UserError(
                f"{folder}: no {SETTINGS} (the settings stage train saves with the model): not a reader this "
                "version trained; run `dvc repro` (or `dvc pull`)"
            )
        self.settings = ReaderSettings.load(folder)
        self.batch_size = batch_size
        self.tokenizer = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
        self.model = None  # the PyTorch model, when it is one
        if is_exported(folder):  # stage export's ONNX graph, in its own precision
            session = OnnxSession(Path(folder) / ONNX_MODEL)
            self.forward = lambda batch: tuple(session.run(batch))
        else:
            import torch
            from transformers import AutoModelForQuestionAnswering

            self.model = AutoModelForQuestionAnswering.from_pretrained(folder, dtype=getattr(torch, precision))
            self.forward = torch_forward(self.model.to(device()).eval())

    def read(self, questions: list[str], contexts: list[list[str]]) -> list[list[tuple[str, float, int | None]]]:
        """For each question, for each of its contexts: (answer, the reader's score of it, where it starts): a
        span, its score and its character offset in the context, or "", the null score (-inf in SQuAD v1.1 mode
        when no span fits) and None."""
        pairs = {"id": [], "question": [], "context": []}
        for q, (question, candidates) in enumerate(zip(questions, contexts)):
            for c, context in enumerate(candidates):
                pairs["id"].append(f"{q}:{c}"), pairs["question"].append(question), pairs["context"].append(context)
        features, starts, ends = span_logits(self.forward, self.tokenizer, pairs, self.settings, self.batch_size)
        examples = [{"id": i, "context": c} for i, c in zip(pairs["id"], pairs["context"])]
        predictions, nbest = postprocess(examples, features, starts, ends, self.settings)
        readings = []
        for q, candidates in enumerate(contexts):
            row = []
            for c in range(len(candidates)):
                text, listed = predictions[f"{q}:{c}"], nbest[f"{q}:{c}"]
                null = next((n["score"] for n in listed if n["text"] == "" and n["score"] is not None), -np.inf)
                row.append((text, listed[0]["score"], listed[0]["answer_start"]) if text else ("", null, None))
            readings.append(row)
        return readings
