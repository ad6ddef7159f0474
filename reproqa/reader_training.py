"""Training the reader (stage train): its training windows and distractors, the Trainer for span extraction
(SpanTrainer, ReaderTrainer: validation by EM/F1 on whole examples), LoRA, and saving what `Reader` loads.
The windows, settings, post-processing and scores it shares with answering are reproqa/reader.py's.

With train.distractors above 0 it also trains on each question's distractors (other contexts of the split that
BM25 finds for it, labelled "no answer"), since at answer time it reads what the search returns; off by
default, because on the sample every seed then stayed on the "no answer" plateau (BENCHMARKS.md).
"""

from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset, concatenate_datasets
from torch.nn.functional import cross_entropy
from torch.utils.data import SequentialSampler
from transformers import Trainer
from transformers.trainer_pt_utils import LengthGroupedSampler

from reproqa.index import BM25, ids_by_value, wrong_contexts
from reproqa.models import forget_how_loaded
from reproqa.reader import (
    COLUMNS,
    SETTINGS,
    ReaderSettings,
    best_null_threshold,
    eval_features,
    postprocess,
    scores,
    windows,
)
from reproqa.records import read_rows, seeded_draw

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


def train_features(tokenizer, examples: dict, max_seq_length: int, doc_stride: int) -> dict:
    """Batched `datasets.map` function: tokenized windows (reproqa.reader.windows, by `tokenizer`'s Rust tokenizer)
    with start/end positions."""
    encoded = windows(tokenizer.backend_tokenizer, examples, max_seq_length, doc_stride)
    starts, ends = [], []
    for window, offsets in enumerate(encoded["offset_mapping"]):
        example = encoded["overflow_to_sample_mapping"][window]
        cls = encoded["input_ids"][window].index(tokenizer.cls_token_id)
        answers = examples["answers"][example]
        sequence = encoded["sequence_ids"][window]
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
    for name in ("offset_mapping", "sequence_ids", "overflow_to_sample_mapping"):
        encoded.pop(name)
    return encoded


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
            partial(
                eval_features,
                tokenizer.backend_tokenizer,
                max_seq_length=settings.max_seq_length,
                doc_stride=settings.doc_stride,
            ),
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
