"""The reader: extractive QA features, training, post-processing and inference, as the reference
transformers run_qa.py does them.

Stage train fine-tunes it (SpanTrainer on train_features) and saves, next to the weights, the settings it
reads with (inference.json: windows and post-processing); `Reader` loads both, so stage evaluate and
`reproqa ask` read contexts exactly as the model was validated, without the train params. With
train.distractors above 0 it also trains on each question's distractors (other contexts of the split that
BM25 finds for it, labelled "no answer"), since at answer time it reads what the search returns; off by
default, because on the sample every seed then stayed on the "no answer" plateau (BENCHMARKS.md).

Features: question + context windows of max_seq_length tokens overlapping by doc_stride, with offset
mappings; a window that does not hold the whole answer (or an unanswerable question) is labelled at CLS.
Post-processing: the n-best (start, end) pairs over all windows of an example, skipping spans outside the
context, reversed or longer than max_answer_length; with unanswerable questions allowed, the answer is ""
when the best null score (CLS) beats the best span by more than the threshold (SQuAD v2). Stage train chooses
that threshold on the validation split (best_null_threshold), as the official SQuAD v2 evaluation does.
"""

import json
from dataclasses import asdict, dataclass, replace
from functools import cache, partial
from pathlib import Path

import evaluate
import numpy as np
import torch
from datasets import Dataset, concatenate_datasets
from torch.nn.functional import cross_entropy
from torch.utils.data import SequentialSampler
from transformers import AutoModelForQuestionAnswering, AutoTokenizer, Trainer
from transformers.trainer_pt_utils import LengthGroupedSampler

from reproqa.errors import UserError
from reproqa.evaluate_modules.qa_scores.qa_scores import best_f1
from reproqa.index import BM25, ids_by_value, wrong_contexts
from reproqa.models import device, forget_how_loaded
from reproqa.records import read_rows, seeded_draw, write_json

COLUMNS = ["id", "question", "context", "answers"]  # what the reader reads of a split
MIXED_IN = "train.general_examples"  # the params key training_windows' general_examples comes from (its errors name it)


class EpochSeededSampler(LengthGroupedSampler):
    """The training order, drawn from (seed, epoch) alone: a plain shuffle, or (by_length) batches of windows
    of similar length, as transformers' LengthGroupedSampler makes them (less padding).

    transformers 5 draws the order from the global torch RNG, which DDP processes consume differently: from
    the second epoch on, the processes' shards overlapped and some windows were never trained on (measured
    with 2 gloo processes). With the order fixed by (seed, epoch), every process shards the same order, and
    a run resumed in a later epoch replays that epoch's order.
    """

    def __init__(self, batch_size: int, dataset, seed: int, by_length: bool):
        super().__init__(batch_size, dataset=dataset, model_input_name="input_ids")
        self.seed, self.epoch, self.by_length = seed, 0, by_length

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def __iter__(self):
        self.generator = torch.Generator().manual_seed(self.seed + self.epoch)
        if not self.by_length:
            return iter(torch.randperm(len(self.lengths), generator=self.generator).tolist())
        return super().__iter__()


def ramp(start: float, end: float, step: int, steps: int) -> float:
    """The value at `step` of `steps` of a linear ramp from `start` (step 0) to `end` (the last step).

    >>> ramp(0.1, 1.0, 150, 600), ramp(0.1, 1.0, 600, 600), ramp(0.5, 0.5, 10, 0)
    (0.325, 1.0, 0.5)
    """
    return start if start == end or not steps else start + (end - start) * min(step / steps, 1.0)


class SpanTrainer(Trainer):
    """The Trainer for span extraction, with three changes that make a run independent of how windows are
    batched, padded and spread over processes (DDP), and of where it was resumed:
    - the training order is drawn from (seed, epoch) alone (EpochSeededSampler), shuffled or length-grouped as
      TrainingArguments.train_sampling_strategy says;
    - the loss is taken over real tokens only. AutoModelForQuestionAnswering's own loss also spreads softmax
      mass over padding positions, so with dynamic padding a window's loss depended on the longest window
      batched with it (measured: 4.885 vs 4.872 for the same 16 windows in one batch or two);
    - evaluation and prediction batches keep the dataset's order: post-processing needs the logits in window
      order, and transformers 5 length-groups evaluation batches too under group_by_length.

    `no_answer_weight` scales the loss of the windows labelled "no answer" (at CLS): unanswerable questions,
    distractors and the windows of a long context that miss the answer. At 1 the loss is run_qa.py's mean.
    Below 1, a random QA head no longer finds "CLS everywhere" the cheapest minimum, where it stayed on SQuAD
    v2 data and with distractors (BENCHMARKS.md); the null threshold chosen on validation recalibrates "no
    answer" afterwards. Each window's loss is scaled, not renormalised, so the loss of a batch stays the mean
    of its windows' and splitting a batch over processes (DDP) changes nothing. With `no_answer_weight_end`
    the weight moves linearly from `no_answer_weight` at step 0 to it at the last step: spans first, then
    "no answer" at full weight.
    """

    def __init__(self, *args, no_answer_weight: float = 1.0, no_answer_weight_end: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.no_answer_weight = no_answer_weight
        self.no_answer_weight_end = no_answer_weight if no_answer_weight_end is None else no_answer_weight_end

    def _determine_best_metric(self, metrics, trial):
        """The Trainer's choice of the best checkpoint, except that a tie goes to the later one: on the "no
        answer" plateau every checkpoint scores the validation split's unanswerable share, and the Trainer kept
        the first (step 50 of 597 on the SQuAD v2.0 half, BENCHMARKS.md), the one that had learned least."""
        name = self.args.metric_for_best_model
        if name is not None and self.state.best_metric is not None:
            value = metrics.get(name if name.startswith("eval_") else f"eval_{name}")
            if value == self.state.best_metric:
                self.state.best_metric = None  # so the equal score counts as a new best
        return super()._determine_best_metric(metrics, trial)

    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        return EpochSeededSampler(
            self.args.train_batch_size * self.args.gradient_accumulation_steps,
            dataset,
            seed,
            by_length=self.args.train_sampling_strategy == "group_by_length",
        )

    def _get_eval_sampler(self, eval_dataset):
        return SequentialSampler(eval_dataset)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        starts, ends = inputs.pop("start_positions"), inputs.pop("end_positions")
        outputs = model(**inputs)
        padding = inputs["attention_mask"] == 0
        per_window = (
            sum(
                cross_entropy(logits.masked_fill(padding, torch.finfo(logits.dtype).min), positions, reduction="none")
                for logits, positions in ((outputs.start_logits, starts), (outputs.end_logits, ends))
            )
            / 2
        )
        weight = ramp(self.no_answer_weight, self.no_answer_weight_end, self.state.global_step, self.state.max_steps)
        if weight != 1.0:  # a window labelled at its CLS token is a "no answer" window
            cls = (inputs["input_ids"] == self.processing_class.cls_token_id).int().argmax(dim=1)
            per_window = torch.where(starts == cls, weight, 1.0) * per_window
        loss = per_window.mean()
        return (loss, outputs) if return_outputs else loss


def with_lora(model, lora):
    """The model with peft LoRA adapters (params train.lora) on its attention (peft picks the layers per
    architecture), the rest frozen; the
    QA head trains in full. After training, `merge_and_unload()` gives a plain model to save."""
    from peft import LoraConfig, TaskType, get_peft_model  # only LoRA runs need peft

    config = LoraConfig(task_type=TaskType.QUESTION_ANS, r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout)
    return get_peft_model(model, config)


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


def describe_base(folder: Path, missing_keys: list[str], settings: ReaderSettings) -> str:
    """What stage train starts from, for its log: whether the base model's QA head was loaded or made new
    (`missing_keys` of from_pretrained's loading info), and, for a reader saved by this project, the settings it
    read with where the params differ (a window of another length reads differently from how it was trained).

    >>> describe_base(Path("/nonexistent"), ["qa_outputs.weight", "qa_outputs.bias"], None)
    'a new QA head (random, seeded)'
    """
    if any(key.startswith("qa_outputs.") for key in missing_keys):
        return "a new QA head (random, seeded)"
    described = "the base model's own QA head"
    if (Path(folder) / SETTINGS).exists():
        base = asdict(ReaderSettings.load(folder))
        differ = {name: value for name, value in base.items() if value != getattr(settings, name)}
        described += f"; it read with {differ}, where the params differ" if differ else ""
    return described


def windows(tokenizer, examples: dict, max_seq_length: int, doc_stride: int):
    """Question + context windows of max_seq_length tokens overlapping by doc_stride, with the offset of
    each token and the example each window comes from (overflow_to_sample_mapping)."""
    return tokenizer(
        examples["question"],
        examples["context"],
        truncation="only_second",
        max_length=max_seq_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )


def train_features(tokenizer, examples: dict, max_seq_length: int, doc_stride: int) -> dict:
    """Batched `datasets.map` function: tokenized windows with start/end positions."""
    encoded = windows(tokenizer, examples, max_seq_length, doc_stride)
    starts, ends = [], []
    for window, offsets in enumerate(encoded["offset_mapping"]):
        example = encoded["overflow_to_sample_mapping"][window]
        cls = encoded["input_ids"][window].index(tokenizer.cls_token_id)
        answers = examples["answers"][example]
        sequence = encoded.sequence_ids(window)
        context_tokens = [i for i, s in enumerate(sequence) if s == 1]
        if not answers:
            starts.append(cls), ends.append(cls)
            continue
        start_char = answers[0]["answer_start"]  # train on the first gold answer, as the references do
        end_char = start_char + len(answers[0]["text"])
        first, last = context_tokens[0], context_tokens[-1]
        if offsets[first][0] > start_char or offsets[last][1] < end_char:
            starts.append(cls), ends.append(cls)  # the answer is not (wholly) in this window
            continue
        start = next(i for i in context_tokens if offsets[i][1] > start_char)
        end = next(i for i in reversed(context_tokens) if offsets[i][0] < end_char)
        starts.append(start), ends.append(end)
    encoded["start_positions"], encoded["end_positions"] = starts, ends
    encoded.pop("offset_mapping"), encoded.pop("overflow_to_sample_mapping")
    return encoded


def eval_features(tokenizer, examples: dict, max_seq_length: int, doc_stride: int) -> dict:
    """Batched `datasets.map` function: windows keeping their example id and the offsets of context tokens
    (None elsewhere), so predicted token spans map back to characters of the context."""
    encoded = windows(tokenizer, examples, max_seq_length, doc_stride)
    encoded["example_id"] = []
    for window in range(len(encoded["input_ids"])):
        sequence = encoded.sequence_ids(window)
        encoded["example_id"].append(examples["id"][encoded["overflow_to_sample_mapping"][window]])
        encoded["offset_mapping"][window] = [
            offset if sequence[i] == 1 else None for i, offset in enumerate(encoded["offset_mapping"][window])
        ]
    encoded.pop("overflow_to_sample_mapping")
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


# BM25 hits looked at per question for its distractors: room to skip its own context and those holding its answer
DISTRACTOR_DEPTH = 20


def distractors(
    examples: list[dict], contexts: list[str], per_question: int, documents: dict[str, str | None] | None = None
) -> list[dict]:
    """For each example, the `per_question` contexts that BM25 ranks highest for its question among `contexts`
    and that do not answer it (`wrong_contexts`), as unanswerable examples: what the reader meets
    when the search returns another application's context, so it learns to say "no answer" there too. With
    `documents` (each context's document: its title or source), only among the contexts of the example's own
    document, what it meets when a question is asked with a filter (train.distractors_scope).

    >>> rows = [{"id": "q1", "question": "who supports atlas billing?", "context": "atlas billing: anna keller.",
    ...          "answers": [{"text": "anna keller", "answer_start": 15}]}]
    >>> corpus = ["atlas billing: anna keller.", "atlas billing v2: anna keller.", "atlas billings: tom lee."]
    >>> [(d["id"], d["context"], d["answers"]) for d in distractors(rows, corpus, per_question=1)]
    [('q1/distractor1', 'atlas billings: tom lee.', [])]
    >>> documents = dict(zip(corpus, ["wiki", "wiki", "crm"]))
    >>> distractors(rows, corpus, per_question=1, documents=documents)  # crm's context is another document's
    []
    """
    bm25, depth = BM25(contexts), per_question + DISTRACTOR_DEPTH
    if documents is None:
        rankings = bm25.search([example["question"] for example in examples], depth)[0].tolist()
    else:
        among = {value: np.array(ids) for value, ids in ids_by_value([documents[c] for c in contexts]).items()}
        rankings = [
            bm25.search([example["question"]], depth, among[documents[example["context"]]])[0][0].tolist()
            for example in examples
        ]
    return [
        {"id": f"{example['id']}/distractor{n}", "question": example["question"], "context": other, "answers": []}
        for example, ranked in zip(examples, rankings)
        for n, other in enumerate(wrong_contexts(example, contexts, ranked, per_question), start=1)
    ]


def training_windows(
    path: Path,
    tokenizer,
    settings: ReaderSettings,
    seed: int,
    limit: int | None,
    per_question: int,
    scope: str | None = None,
    general: Path | None = None,
    general_examples: int = 0,
) -> Dataset:
    """The model's inputs for training: the split at `path` shuffled (seeded), its first `limit` examples (all
    if None) and `per_question` distractors of each from the split's contexts (with `scope`, a column such as
    title: from those of its own document), and `general_examples` drawn from the general data at `general`,
    cut into labelled windows (train_features)."""
    split = Dataset.from_parquet(str(path), columns=COLUMNS + ([scope] if scope else []))
    examples = seeded_draw(split.select_columns(COLUMNS), limit, seed)
    if per_question:
        documents = dict(zip(split["context"], split[scope])) if scope else None
        rows = distractors(examples.to_list(), sorted(set(split["context"])), per_question, documents)
        examples = concatenate_datasets([examples, Dataset.from_list(rows, features=examples.features)])
    if general_examples:  # the trainer shuffles the windows: where they are appended does not matter
        rows = list(read_rows(general, COLUMNS))  # not Dataset.from_parquet: it fails on a file of no rows
        mixed = Dataset.from_list(rows, features=examples.features) if rows else examples.select([])
        examples = concatenate_datasets([examples, seeded_draw(mixed, general_examples, seed, MIXED_IN)])
    window = partial(train_features, tokenizer, max_seq_length=settings.max_seq_length, doc_stride=settings.doc_stride)
    return examples.map(window, batched=True, remove_columns=COLUMNS)


@dataclass
class EvalSet:
    """A split prepared for scoring: its examples, their features (example id and offsets, for
    `postprocess`) and the model's inputs for those features, in the same order."""

    examples: list[dict]
    features: list[dict]
    inputs: Dataset

    @classmethod
    def of(cls, path: Path, tokenizer, settings: ReaderSettings) -> "EvalSet":
        examples = Dataset.from_parquet(str(path), columns=COLUMNS)
        features = examples.map(
            partial(eval_features, tokenizer, max_seq_length=settings.max_seq_length, doc_stride=settings.doc_stride),
            batched=True,
            remove_columns=COLUMNS,
        )
        return cls(examples.to_list(), features.to_list(), features.remove_columns(["example_id", "offset_mapping"]))


class ReaderTrainer(SpanTrainer):
    """SpanTrainer whose evaluation is EM/F1 on an EvalSet. They need every window of an example
    post-processed together, which the Trainer's compute_metrics cannot do; the reference run_qa.py
    overrides evaluate() the same way. `eval_set` is what the Trainer validates on during training.

    With choose_null_threshold, every evaluation first chooses the null threshold on `eval_set` for the model
    as it is (best_null_threshold), so checkpoints are compared as each would be used; `settings` holds the
    latest choice."""

    def __init__(self, *args, eval_set: EvalSet, settings: ReaderSettings, choose_null_threshold: bool, **kwargs):
        super().__init__(*args, eval_dataset=eval_set.inputs, **kwargs)
        self.eval_set, self.settings, self.choose_null_threshold = eval_set, settings, choose_null_threshold

    def answer(self, eval_set: EvalSet, choose_null_threshold=False) -> tuple[dict[str, str], dict[str, list[dict]]]:
        """(prediction, n-best list) per example id of `eval_set`, after choosing the null threshold on it if
        asked (the validation split only)."""
        start_logits, end_logits = self.predict(eval_set.inputs).predictions  # every DDP process takes part
        read = partial(postprocess, eval_set.examples, eval_set.features, start_logits, end_logits)
        if choose_null_threshold:
            threshold = best_null_threshold(eval_set.examples, read(self.settings)[1])
            self.settings = replace(self.settings, null_score_diff_threshold=threshold)
        return read(self.settings)

    def evaluate(self, eval_dataset: EvalSet | None = None, ignore_keys=None, metric_key_prefix="eval"):
        eval_set = eval_dataset if eval_dataset is not None else self.eval_set
        predictions = self.answer(eval_set, self.choose_null_threshold)[0]
        metrics = scores(eval_set.examples, predictions) | {"null_threshold": self.settings.null_score_diff_threshold}
        metrics = {f"{metric_key_prefix}_{k}": v for k, v in metrics.items()}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


def save_reader(model, tokenizer, settings: ReaderSettings, folder: Path) -> None:
    """What `Reader` loads: the model (safetensors), its tokenizer and the settings it reads with.

    A fast tokenizer saves the truncation and padding of its last call into tokenizer.json, and whether the
    windows were tokenized in this process or served from datasets' cache decides that call: both are
    cleared, so the folder's bytes depend on the inputs only. (Every call of ours passes them explicitly.)
    So is whether it was loaded offline (forget_how_loaded)."""
    model.save_pretrained(folder)
    forget_how_loaded(tokenizer)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        backend.no_truncation()
        backend.no_padding()
    tokenizer.save_pretrained(folder)
    settings.save(folder)


@torch.inference_mode()
def span_logits(
    model, tokenizer, examples: dict, settings: ReaderSettings, batch_size: int
) -> tuple[list[dict], list[np.ndarray], list[np.ndarray]]:
    """Features (eval_features) of `examples` (columns id, question, context) and each one's start and end
    logits, unpadded, for `postprocess`. Plain inference, no Trainer: stage evaluate and `reproqa ask`."""
    encoded = eval_features(tokenizer, examples, settings.max_seq_length, settings.doc_stride)
    features = [
        {"example_id": i, "offset_mapping": o} for i, o in zip(encoded["example_id"], encoded["offset_mapping"])
    ]
    starts, ends = [], []
    for first in range(0, len(features), batch_size):
        batch = tokenizer.pad(
            {
                name: encoded[name][first : first + batch_size]
                for name in tokenizer.model_input_names
                if name in encoded
            },
            return_tensors="pt",
        ).to(model.device)
        output = model(**batch)
        for row, length in enumerate(batch["attention_mask"].sum(dim=1).tolist()):
            starts.append(output.start_logits[row, :length].float().cpu().numpy())
            ends.append(output.end_logits[row, :length].float().cpu().numpy())
    return features, starts, ends


class Reader:
    """A trained reader (stage train's model folder) that answers each question from each of its contexts,
    with the settings stage train saved beside it.

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
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForQuestionAnswering.from_pretrained(folder, dtype=getattr(torch, precision))
        self.model = self.model.to(device()).eval()

    def read(self, questions: list[str], contexts: list[list[str]]) -> list[list[tuple[str, float]]]:
        """For each question, for each of its contexts: (answer, the reader's score of it): a span and its
        score, or "" and the null score (-inf in SQuAD v1.1 mode when no span fits)."""
        pairs = {"id": [], "question": [], "context": []}
        for q, (question, candidates) in enumerate(zip(questions, contexts)):
            for c, context in enumerate(candidates):
                pairs["id"].append(f"{q}:{c}"), pairs["question"].append(question), pairs["context"].append(context)
        features, starts, ends = span_logits(self.model, self.tokenizer, pairs, self.settings, self.batch_size)
        examples = [{"id": i, "context": c} for i, c in zip(pairs["id"], pairs["context"])]
        predictions, nbest = postprocess(examples, features, starts, ends, self.settings)
        readings = []
        for q, candidates in enumerate(contexts):
            row = []
            for c in range(len(candidates)):
                text, listed = predictions[f"{q}:{c}"], nbest[f"{q}:{c}"]
                null = next((n["score"] for n in listed if n["text"] == "" and n["score"] is not None), -np.inf)
                row.append((text, listed[0]["score"] if text else null))
            readings.append(row)
        return readings
