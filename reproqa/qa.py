"""Extractive QA features and post-processing, as the reference transformers run_qa.py does them.

Features: question + context windows of max_seq_length tokens overlapping by doc_stride, with offset
mappings; a window that does not hold the whole answer (or an unanswerable question) is labelled at CLS.
Post-processing: the n-best (start, end) pairs over all windows of an example, skipping spans outside the
context, reversed or longer than max_answer_length; with unanswerable questions allowed, the answer is ""
when the best null score (CLS) beats the best span by more than the threshold (SQuAD v2).
"""

from functools import cache
from pathlib import Path

import evaluate
import numpy as np
import torch
from torch.nn.functional import cross_entropy
from torch.utils.data import SequentialSampler
from transformers import Trainer
from transformers.trainer_pt_utils import LengthGroupedSampler


class EpochSeededLengthGroupedSampler(LengthGroupedSampler):
    """Length-grouped batches in an order drawn from (seed, epoch) alone.

    transformers 5 draws the order from the global torch RNG, which DDP processes consume differently: from
    the second epoch on, the processes' shards overlapped and some windows were never trained on (measured
    with 2 gloo processes). With the order fixed by (seed, epoch), every process shards the same order, and
    a run resumed in a later epoch replays that epoch's order.
    """

    def __init__(self, batch_size: int, dataset, seed: int):
        super().__init__(batch_size, dataset=dataset, model_input_name="input_ids")
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def __iter__(self):
        self.generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return super().__iter__()


class SpanTrainer(Trainer):
    """The Trainer for span extraction, with three changes that make a run independent of how windows are
    batched, padded and spread over processes (DDP), and of where it was resumed:
    - training batches are length-grouped in an order drawn from (seed, epoch) (EpochSeededLengthGroupedSampler);
    - the loss is taken over real tokens only. AutoModelForQuestionAnswering's own loss also spreads softmax
      mass over padding positions, so with dynamic padding a window's loss depended on the longest window
      batched with it (measured: 4.885 vs 4.872 for the same 16 windows in one batch or two);
    - evaluation and prediction batches keep the dataset's order: post-processing needs the logits in window
      order, and transformers 5 length-groups evaluation batches too under group_by_length.
    """

    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        return EpochSeededLengthGroupedSampler(
            self.args.train_batch_size * self.args.gradient_accumulation_steps, dataset, seed)

    def _get_eval_sampler(self, eval_dataset):
        return SequentialSampler(eval_dataset)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        starts, ends = inputs.pop("start_positions"), inputs.pop("end_positions")
        outputs = model(**inputs)
        padding = inputs["attention_mask"] == 0
        loss = sum(cross_entropy(logits.masked_fill(padding, torch.finfo(logits.dtype).min), positions)
                   for logits, positions in ((outputs.start_logits, starts), (outputs.end_logits, ends))) / 2
        return (loss, outputs) if return_outputs else loss


def train_features(tokenizer, examples: dict, max_seq_length: int, doc_stride: int) -> dict:
    """Batched `datasets.map` function: tokenized windows with start/end positions."""
    encoded = tokenizer(
        examples["question"], examples["context"], truncation="only_second", max_length=max_seq_length,
        stride=doc_stride, return_overflowing_tokens=True, return_offsets_mapping=True)
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
    encoded = tokenizer(
        examples["question"], examples["context"], truncation="only_second", max_length=max_seq_length,
        stride=doc_stride, return_overflowing_tokens=True, return_offsets_mapping=True)
    encoded["example_id"] = []
    for window in range(len(encoded["input_ids"])):
        sequence = encoded.sequence_ids(window)
        encoded["example_id"].append(examples["id"][encoded["overflow_to_sample_mapping"][window]])
        encoded["offset_mapping"][window] = [
            offset if sequence[i] == 1 else None for i, offset in enumerate(encoded["offset_mapping"][window])]
    encoded.pop("overflow_to_sample_mapping")
    return encoded


def postprocess(examples: list[dict], features: list[dict], start_logits: np.ndarray, end_logits: np.ndarray,
                n_best: int, max_answer_length: int, allow_unanswerable: bool,
                null_threshold: float) -> tuple[dict[str, str], dict[str, list[dict]]]:
    """(prediction per example id, n-best list per example id)."""
    windows: dict[str, list[int]] = {}
    for index, feature in enumerate(features):
        windows.setdefault(feature["example_id"], []).append(index)
    predictions, nbest = {}, {}
    for example in examples:
        candidates, null_score = [], None
        for index in windows.get(example["id"], []):
            starts, ends, offsets = start_logits[index], end_logits[index], features[index]["offset_mapping"]
            score = float(starts[0] + ends[0])  # CLS: "no answer in this window"
            null_score = score if null_score is None else min(null_score, score)
            for start in np.argsort(starts)[::-1][:n_best]:
                for end in np.argsort(ends)[::-1][:n_best]:
                    if (start >= len(offsets) or end >= len(offsets) or offsets[start] is None
                            or offsets[end] is None or len(offsets[start]) < 2 or len(offsets[end]) < 2
                            or end < start or end - start + 1 > max_answer_length):
                        continue
                    first, last = offsets[start][0], offsets[end][1]
                    candidates.append({"text": example["context"][first:last], "answer_start": first,
                                       "score": float(starts[start] + ends[end])})
        candidates = sorted(candidates, key=lambda c: -c["score"])[:n_best]
        best = candidates[0] if candidates else {"text": "", "score": float("-inf")}
        if allow_unanswerable and (null_score is not None and null_score - best["score"] > null_threshold):
            predictions[example["id"]] = ""
        else:
            predictions[example["id"]] = best["text"]
        nbest[example["id"]] = candidates + ([{"text": "", "score": null_score}] if allow_unanswerable else [])
    return predictions, nbest


@cache
def _scores_module():
    return evaluate.load(str(Path(__file__).resolve().parent / "evaluate_modules/qa_scores"))


def qa_scores(predictions: list[str], references: list[list[str]]) -> dict:
    """EM and F1 (with HasAns/NoAns; an empty reference list is an unanswerable question), BLEU and ROUGE-L,
    from the project's own evaluate module, loaded from its local path (the Hub's cannot load offline)."""
    return _scores_module().compute(predictions=predictions, references=references)


@torch.inference_mode()
def span_logits(model, tokenizer, examples: dict, max_seq_length: int, doc_stride: int,
                batch_size: int) -> tuple[list[dict], list[np.ndarray], list[np.ndarray]]:
    """Windows (eval_features) of `examples` (columns id, question, context) and each window's start and end
    logits, unpadded, for `postprocess`. Plain inference, no Trainer: stage evaluate and `reproqa ask`."""
    encoded = eval_features(tokenizer, examples, max_seq_length, doc_stride)
    windows = [{"example_id": i, "offset_mapping": o} for i, o in zip(encoded["example_id"], encoded["offset_mapping"])]
    starts, ends = [], []
    for first in range(0, len(windows), batch_size):
        batch = tokenizer.pad({name: encoded[name][first:first + batch_size] for name in tokenizer.model_input_names
                               if name in encoded}, return_tensors="pt").to(model.device)
        output = model(**batch)
        for row, length in enumerate(batch["attention_mask"].sum(dim=1).tolist()):
            starts.append(output.start_logits[row, :length].float().cpu().numpy())
            ends.append(output.end_logits[row, :length].float().cpu().numpy())
    return windows, starts, ends
