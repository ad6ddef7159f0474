"""Training the reader (stage train): its training windows and distractors, the Trainer for span extraction
(SpanTrainer, ReaderTrainer: validation by EM/F1 on whole examples), LoRA, and saving what `Reader` loads.
The windows, settings, post-processing and scores it shares with answering are reproqa/reader.py's.

With train.distractors above 0 it also trains on each question's distractors (other contexts of the split that
BM25 finds for it, labelled "no answer"), since at answer time it reads what the search returns; off by
default, because on the sample every seed then stayed on the "no answer" plateau (BENCHMARKS.md). With
train.shared_normalization the distractors are not labelled: each shares one softmax with its question's
answer (shared_groups, SpanTrainer), so the reader learns to score the right context's span above theirs.
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

    With `group_size` above 1 (shared normalization) the dataset is groups of that many consecutive windows
    (shared_groups): the groups are shuffled and each keeps its windows together and in order, so a batch of a
    multiple of `group_size` windows holds whole groups.
    """

    def __init__(self, batch_size: int, dataset, seed: int, by_length: bool, group_size: int = 1):
        super().__init__(batch_size, dataset=dataset, model_input_name="input_ids")
        self.seed, self.epoch, self.by_length, self.group_size = seed, 0, by_length, group_size

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def __iter__(self):
        self.generator = torch.Generator().manual_seed(self.seed + self.epoch)
        if self.group_size > 1:
            groups = torch.randperm(len(self.lengths) // self.group_size, generator=self.generator).tolist()
            return iter(g * self.group_size + w for g in groups for w in range(self.group_size))
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

    With `group_size` above 1 (train.shared_normalization) the training windows come in groups of that many
    (shared_groups: a question's window with its answer, or its first window when it has none, then windows
    that do not answer it), and a group's start (and end) logits share one softmax: the loss is that of
    finding the answer among all the group's windows, not within each window alone. So a span's score means
    the same in any context, and one read in a wrong context must score below the right one, without labelling
    the wrong context "no answer" (Clark and Gardner, 2018, "Simple and Effective Multi-Paragraph Reading
    Comprehension": shared normalization). The group's first window holds its label; the others are labelled
    NOT_TARGET, and FILLER windows (a group short of windows) are left out of the softmax.
    """

    def __init__(
        self,
        *args,
        no_answer_weight: float = 1.0,
        no_answer_weight_end: float | None = None,
        group_size: int = 1,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.no_answer_weight = no_answer_weight
        self.no_answer_weight_end = no_answer_weight if no_answer_weight_end is None else no_answer_weight_end
        self.group_size = group_size

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
            group_size=self.group_size,
        )

    def _get_eval_sampler(self, eval_dataset):
        return SequentialSampler(eval_dataset)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        starts, ends = inputs.pop("start_positions"), inputs.pop("end_positions")
        outputs = model(**inputs)
        hidden = inputs["attention_mask"] == 0  # padding
        size = self.group_size
        if size > 1:  # shared normalization: a group's windows side by side, one softmax over them all
            if len(starts) % size:
                raise ValueError(f"a batch of {len(starts)} windows is not whole groups of {size}")
            hidden = hidden | (starts == FILLER)[:, None]
            groups = len(starts) // size
            regroup = lambda tensor: tensor.reshape(groups, -1)  # noqa: E731
            starts, ends, targets = starts[::size], ends[::size], slice(None, None, size)
        else:
            regroup, targets = (lambda tensor: tensor), slice(None)
        per_window = (
            sum(
                cross_entropy(
                    regroup(logits.masked_fill(hidden, torch.finfo(logits.dtype).min)), positions, reduction="none"
                )
                for logits, positions in ((outputs.start_logits, starts), (outputs.end_logits, ends))
            )
            / 2
        )
        weight = ramp(self.no_answer_weight, self.no_answer_weight_end, self.state.global_step, self.state.max_steps)
        if weight != 1.0:  # a window (a group: its first window) labelled at its CLS token is a "no answer" one
            cls = (inputs["input_ids"][targets] == self.processing_class.cls_token_id).int().argmax(dim=1)
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


def train_features(tokenizer, examples: dict, max_seq_length: int, doc_stride: int, with_ids: bool = False) -> dict:
    """Batched `datasets.map` function: tokenized windows (reproqa.reader.windows, by `tokenizer`'s Rust tokenizer)
    with start/end positions, and (with_ids) the id of each window's example."""
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
    if with_ids:
        encoded["example_id"] = [examples["id"][example] for example in encoded["overflow_to_sample_mapping"]]
    for name in ("offset_mapping", "sequence_ids", "overflow_to_sample_mapping"):
        encoded.pop(name)
    return encoded


# BM25 hits looked at per question for its distractors: room to skip its own context and those holding its answer
DISTRACTOR_DEPTH = 20


def distractor_id(example_id: str, n: int) -> str:
    """The id of a question's `n`-th distractor (from 1), by which shared_groups finds a question's distractors.

    >>> distractor_id("q1", 2), is_distractor("q1/distractor2"), is_distractor("q1")
    ('q1/distractor2', True, False)
    """
    return f"{example_id}/distractor{n}"


def is_distractor(example_id: str) -> bool:
    return example_id.rpartition("/")[2].startswith("distractor")


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
        {"id": distractor_id(example["id"], n), "question": example["question"], "context": other, "answers": []}
        for example, ranked in zip(examples, rankings)
        for n, other in enumerate(wrong_contexts(example, contexts, ranked, per_question), start=1)
    ]


# Labels of shared normalization's windows besides a group's first (SpanTrainer): in the softmax, or out of it
NOT_TARGET, FILLER = -1, -100


def shared_groups(windows: Dataset, size: int, per_question: int, cls_token_id: int) -> Dataset:
    """`windows` (train_features with ids) as groups of `size` windows for shared normalization (SpanTrainer):
    per question, the first window that holds its answer (or, with none, its first window, labelled at CLS:
    "no answer"), then windows that do not answer it: its distractors' (up to `per_question` contexts, best
    first), and for an answerable question its own context's windows without the answer. A group short of
    windows is filled with FILLER copies, which the loss leaves out; one with more keeps the first.
    A window of the question's own context that holds the answer too (windows overlap) is never a negative.

    >>> windows = Dataset.from_dict({"example_id": ["q1", "q1", "q1/distractor1", "q2"],
    ...     "input_ids": [[101, 7, 102, 8], [101, 7, 102, 9], [101, 7, 102, 5], [101, 6, 102, 4]],
    ...     "start_positions": [0, 3, 0, 0], "end_positions": [0, 3, 0, 0]})
    >>> grouped = shared_groups(windows, size=3, per_question=1, cls_token_id=101)
    >>> [ids[-1] for ids in grouped["input_ids"]], list(grouped["start_positions"])
    ([9, 5, 8, 4, 4, 4], [3, -1, -1, 0, -100, -100])
    """
    names = ["example_id", "start_positions", "end_positions", "input_ids"]
    columns = windows.select_columns(names).to_dict()
    ids, starts, ends, input_ids = (columns[name] for name in names)
    of: dict[str, list[int]] = {}  # example id -> its windows, in order
    for window, example in enumerate(ids):
        of.setdefault(example, []).append(window)
    picked, labels = [], []  # window positions, and their (start, end) labels
    for example, own in of.items():
        if is_distractor(example):
            continue  # read as a negative of its question's group
        answering = [w for w in own if starts[w] != input_ids[w].index(cls_token_id)]
        target = answering[0] if answering else own[0]
        negatives = [w for n in range(1, per_question + 1) for w in of.get(distractor_id(example, n), [])]
        negatives += [w for w in own if w not in answering] if answering else []
        negatives = negatives[: size - 1]
        picked += [target] + negatives + [target] * (size - 1 - len(negatives))
        labels += [(starts[target], ends[target])] + [(NOT_TARGET, NOT_TARGET)] * len(negatives)
        labels += [(FILLER, FILLER)] * (size - 1 - len(negatives))
    grouped = windows.select(picked).remove_columns(["start_positions", "end_positions", "example_id"])
    grouped = grouped.add_column("start_positions", [start for start, _ in labels])
    return grouped.add_column("end_positions", [end for _, end in labels])


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
    shared: bool = False,
) -> Dataset:
    """The model's inputs for training: the split at `path` shuffled (seeded), its first `limit` examples (all
    if None) and `per_question` distractors of each from the split's contexts (with `scope`, a column such as
    title: from those of its own document), and `general_examples` drawn from the general data at `general`,
    cut into labelled windows (train_features). With `shared`, the windows come in groups of 1 + per_question
    for shared normalization (shared_groups); without it, each distractor window is labelled "no answer"."""
    split = Dataset.from_parquet(str(path), columns=COLUMNS + ([scope] if scope else []))
    examples = seeded_draw(split.select_columns(COLUMNS), limit, seed)
    if per_question:
        documents = dict(zip(split["context"], split[scope])) if scope else None
        rows = distractors(examples.to_list(), sorted(set(split["context"])), per_question, documents)
        if rows:  # Dataset.from_list fails on no rows
            examples = concatenate_datasets([examples, Dataset.from_list(rows, features=examples.features)])
    if general_examples:  # the trainer shuffles the windows: where they are appended does not matter
        rows = list(read_rows(general, COLUMNS))  # not Dataset.from_parquet: it fails on a file of no rows
        mixed = Dataset.from_list(rows, features=examples.features) if rows else examples.select([])
        examples = concatenate_datasets([examples, seeded_draw(mixed, general_examples, seed, MIXED_IN)])
    window = partial(
        train_features,
        tokenizer,
        max_seq_length=settings.max_seq_length,
        doc_stride=settings.doc_stride,
        with_ids=shared,
    )
    windows = examples.map(window, batched=True, remove_columns=COLUMNS)
    return shared_groups(windows, 1 + per_question, per_question, tokenizer.cls_token_id) if shared else windows


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
