"""params.yaml: one typed section per stage, validated before a stage does any work.

params.yaml is the one place where values live: the schemas below have no defaults, so a missing key,
an unknown key (with the closest valid key suggested) or a value out of range is an error naming the key.
"""

import difflib
from pathlib import Path
from types import UnionType
from typing import Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from reproqa.errors import UserError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Section):
    """One input file or dataset. `path` is relative to the folder the stage gets from dvc.yaml."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")  # prefixes row ids, so it must be filename-safe
    format: Literal["seed_jsonl", "squad_json", "hf_dataset"]
    path: str | None = None
    hub_id: str | None = None  # hf_dataset only: a dataset on the Hugging Face Hub (needs internet)
    revision: str | None = None  # hf_dataset hub_id only: pin it, DVC cannot hash a Hub dataset
    split: str | None = None  # hf_dataset only: which split to read

    @model_validator(mode="after")
    def one_location(self):
        if (self.path is None) == (self.hub_id is None):
            raise ValueError(f"source '{self.name}': give exactly one of 'path' or 'hub_id'")
        if self.format != "hf_dataset" and (self.hub_id or self.split or self.revision):
            raise ValueError(f"source '{self.name}': hub_id, revision and split apply to format hf_dataset only")
        if self.hub_id and not self.revision:
            raise ValueError(
                f"source '{self.name}': a hub_id needs a pinned revision (commit sha or tag): "
                "DVC cannot hash a Hub dataset, so the revision is what makes the run reproducible"
            )
        return self


class IngestParams(Section):
    sources: list[Source] = Field(min_length=1)

    @model_validator(mode="after")
    def unique_names(self):
        names = [source.name for source in self.sources]
        if len(names) != len(set(names)):
            raise ValueError(f"source names must be unique, got {names}")
        return self


class TypoCorrection(Section):
    enabled: bool
    min_word_length: int = Field(ge=3, le=30)  # shorter words have too many neighbours at edit distance 1
    min_count: int = Field(ge=1)  # a word seen at least this often in the corpus is never corrected
    min_ratio: float = Field(ge=1.0)  # the replacement must be this many times more frequent than the word


class CleanParams(Section):
    lowercase: bool
    typo_correction: TypoCorrection


class NearDuplicates(Section):
    num_perm: int = Field(ge=16, le=1024)
    bands: int = Field(ge=1, le=1024)  # rows per band = num_perm / bands; (1/bands)^(1/rows) ~ recall threshold
    context_ngram: int = Field(ge=1, le=32)  # word n-grams of contexts
    question_ngram: int = Field(ge=1, le=32)  # character n-grams of questions (they are too short for words)
    threshold: float = Field(gt=0.0, le=1.0)  # exact Jaccard that candidate pairs must reach
    bucket_window: int = Field(ge=1)  # a crowded LSH bucket compares each member with this many before it

    @model_validator(mode="after")
    def bands_divide_permutations(self):
        if self.num_perm % self.bands:
            raise ValueError(f"bands ({self.bands}) must divide num_perm ({self.num_perm})")
        return self


class Decontamination(Section):
    benchmarks: list[Source]
    question_ngram: int = Field(ge=1, le=32)  # word n-grams; a shorter question counts as one n-gram
    context_ngram: int = Field(ge=1, le=64)
    max_ngram_frequency: int = Field(ge=1)  # n-grams in more corpus texts than this are templates: ignored
    min_overlap: float = Field(gt=0.0, le=1.0)  # share of a text's n-grams found in the benchmark


class Fractions(Section):
    train: float = Field(ge=0.0, le=1.0)
    validation: float = Field(ge=0.0, le=1.0)
    test: float = Field(ge=0.0, le=1.0)

    @model_validator(mode="after")
    def sum_to_one(self):
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"train + validation + test must be 1, got {total}")
        return self


class SplitParams(Section):
    seed: int
    fractions: Fractions
    group_by_title: bool  # SQuAD-style data: all paragraphs of one article land in one split
    near_duplicates: NearDuplicates
    decontamination: Decontamination
    general_sources: list[str]  # ingest sources of general QA data: training only (train.general_examples)


# auto: bf16 on a GPU that has it, fp16 on an older GPU; on the CPU bf16 where it is native (avx512_bf16, amx_bf16),
# else fp32 (reproqa.models.training_flags).
TrainingPrecision = Literal["auto", "float32", "bfloat16", "float16"]


class HardNegatives(Section):
    enabled: bool
    num_negatives: int = Field(ge=1, le=16)
    range_min: int = Field(ge=0)  # skip the base model's top hits: often unlabeled positives
    range_max: int = Field(ge=1)  # look no further down the ranking than this
    relative_margin: float = Field(ge=0.0, lt=1.0)  # a negative must score below (1 - margin) x positive

    @model_validator(mode="after")
    def range_is_ordered(self):
        if self.range_max <= self.range_min:
            raise ValueError(f"range_max ({self.range_max}) must exceed range_min ({self.range_min})")
        return self


class TrainRetrieverParams(Section):
    """The bi-encoder retriever (stage train_retriever)."""

    base_model: str = Field(min_length=1)  # all-MiniLM-L6-v2 (bundled), a local folder, or a Hub id
    max_seq_length: int = Field(ge=16, le=8192)
    matryoshka_dims: list[int] = Field(min_length=1)  # largest first; at most the model's dimension
    epochs: float = Field(ge=0, le=100)  # 0: the base model as it is, evaluated but not trained
    batch_size: int = Field(ge=2, le=65536)  # in-batch negatives: bigger batches, harder task
    lr: float = Field(gt=0, lt=1)
    warmup_ratio: float = Field(ge=0, lt=1)
    seed: int
    max_train_pairs: int | None = Field(ge=1)  # null: all; a number: a seeded subset (quick CPU runs)
    general_pairs: int = Field(ge=0)  # pairs of the general data (split.general_sources) mixed in, a seeded draw
    eval_steps: int = Field(ge=1)  # evaluate on the validation split, and log, every this many steps
    hard_negatives: HardNegatives
    precision: TrainingPrecision

    @model_validator(mode="after")
    def dims_descend(self):
        if any(d <= 0 for d in self.matryoshka_dims) or self.matryoshka_dims != sorted(
            self.matryoshka_dims, reverse=True
        ):
            raise ValueError(f"matryoshka_dims must be positive and largest first, got {self.matryoshka_dims}")
        return self


class RerankNegatives(Section):
    retriever: Literal["dense", "bm25", "hybrid"]  # which search finds them (hybrid: as index.fusion says)
    per_question: int = Field(ge=1, le=64)  # hard negatives per question: its top candidates that hold no answer
    in_batch: int = Field(ge=0, le=1024)  # and this many other questions' contexts of its batch
    depth: int = Field(ge=2, le=1000)  # candidates retrieved per question (training: mined; validation: reranked)
    scope: Literal["title", "source"] | None  # searched among the contexts of the gold context's title (or source)


class TrainRerankerParams(Section):
    """The cross-encoder reranker (stage train_reranker)."""

    base_model: str = Field(min_length=1)  # all-MiniLM-L6-v2 (bundled, a new head), a local folder, or a Hub id
    max_seq_length: int = Field(ge=16, le=8192)  # question and context together
    epochs: float = Field(ge=0, le=100)  # 0: the base model as it is, evaluated but not trained
    batch_size: int = Field(ge=1, le=65536)
    lr: float = Field(gt=0, lt=1)
    warmup_ratio: float = Field(ge=0, lt=1)
    seed: int
    max_train_questions: int | None = Field(ge=1)  # null: all; a number: a seeded subset (quick CPU runs)
    eval_steps: int = Field(ge=1)
    negatives: RerankNegatives
    precision: TrainingPrecision


class EvaluateRetrieverParams(Section):
    """BM25 vs base vs fine-tuned (each Matryoshka dimension) vs hybrid (stage evaluate_retriever)."""

    ndcg_at: int = Field(ge=1, le=10000)  # NDCG@k and MRR@k
    recall_at: list[int] = Field(min_length=1)  # Recall@k for each k; the rankings go as deep as the largest
    batch_size: int = Field(ge=1)  # encoding batch size


class Lora(Section):
    enabled: bool
    r: int = Field(ge=1, le=1024)
    alpha: int = Field(ge=1)
    dropout: float = Field(ge=0.0, lt=1.0)


class TrainParams(Section):
    """The extractive QA reader (stage train)."""

    base_model: str = Field(min_length=1)  # all-MiniLM-L6-v2 (bundled), a local folder, or a Hub id
    max_seq_length: int = Field(ge=32, le=8192)  # question + context window, in tokens
    doc_stride: int = Field(ge=0)  # overlap of consecutive windows of a long context
    epochs: float = Field(ge=0, le=100)  # 0: the base model as it is, evaluated but not trained
    batch_size: int = Field(ge=1, le=65536)
    lr: float = Field(gt=0, lt=1)
    warmup_ratio: float = Field(ge=0, lt=1)
    weight_decay: float = Field(ge=0, lt=1)
    dropout: float | None = Field(ge=0, lt=1)  # every dropout rate of the base model; null: the model's own
    seed: int  # set before the QA head is created: the head is random
    eval_steps: int = Field(ge=1)  # validate (EM/F1), log and checkpoint every this many steps
    sampling: Literal["group_by_length", "random"]  # TrainingArguments.train_sampling_strategy
    # evaluations without a better validation F1 before stopping; null: train every epoch (the best is kept either way)
    early_stopping_patience: int | None = Field(ge=1)
    max_train_examples: int | None = Field(ge=1)  # null: all; a number: a seeded subset (quick CPU runs)
    general_examples: int = Field(ge=0)  # examples of the general data (split.general_sources) mixed in, a seeded draw
    distractors: int = Field(ge=0, le=20)  # per question: other contexts BM25 finds for it, trained as "no answer"
    distractors_scope: Literal["title", "source"] | None  # found among the contexts of its own document only
    shared_normalization: bool  # distractors share the softmax of their question's answer, not labelled "no answer"
    no_answer_weight: float = Field(gt=0, le=1)  # loss weight of windows labelled "no answer" (reader.SpanTrainer)
    no_answer_weight_end: float | None = Field(gt=0, le=1)  # that weight at the last step, linearly; null: constant
    allow_unanswerable: bool  # SQuAD v2 post-processing: predict "" when the null score wins
    # "" when the null score beats the best span by more than this; "validation": the threshold that maximises
    # validation F1, chosen by stage train and saved with the model (the official SQuAD v2 evaluation's best_f1_thresh)
    null_score_diff_threshold: float | Literal["validation"]
    n_best: int = Field(ge=1, le=100)
    max_answer_length: int = Field(ge=1, le=512)  # tokens
    eval_batch_size: int = Field(ge=1, le=65536)  # windows per batch when validating and predicting
    lora: Lora
    precision: TrainingPrecision

    @model_validator(mode="after")
    def stride_fits(self):
        if self.doc_stride >= self.max_seq_length // 2:
            raise ValueError(
                f"doc_stride ({self.doc_stride}) must be under half of max_seq_length ({self.max_seq_length})"
            )
        return self

    @model_validator(mode="after")
    def groups_fit(self):
        """Shared normalization trains on groups of 1 + distractors windows, whole in every batch."""
        group = 1 + self.distractors
        if self.shared_normalization and (self.distractors == 0 or self.batch_size % group):
            raise ValueError(
                f"shared_normalization needs distractors >= 1 and a batch_size ({self.batch_size}) that is a "
                f"multiple of 1 + distractors ({group})"
            )
        if self.shared_normalization and self.sampling != "random":
            raise ValueError("shared_normalization needs sampling: random (its groups are shuffled whole)")
        return self


class Fusion(Section):
    """How a hybrid search combines the BM25 and the dense ranking (reproqa.index.fuse)."""

    method: Literal["rrf", "weighted"]  # reciprocal rank fusion, or a weighted sum of min-max scaled scores
    rrf_k: int = Field(ge=1)  # rrf: 1 / (rrf_k + rank)
    dense_weight: float = Field(ge=0.0, le=1.0)  # weight of the dense ranking; BM25 gets 1 - dense_weight
    candidates: int = Field(ge=1, le=10000)  # depth of each ranking before they are fused


class IndexParams(Section):
    """The search index over the whole corpus (stage index). Its search settings are written into the index,
    so stage evaluate_retriever, stage evaluate and `reproqa ask` search it the same way."""

    batch_size: int = Field(ge=1)  # encoding batch size
    fusion: Fusion


class ExportParams(Section):
    """The models answering runs, as ONNX graphs for ONNX Runtime (stage export; evaluate.backend: onnx)."""

    quantize: bool  # int8 weights (dynamic quantization): smaller and faster, measured against float32 (BENCHMARKS.md)


class Rerank(Section):
    enabled: bool  # false: read the retriever's top_k as it ranks them
    candidates: int = Field(ge=1, le=1000)  # the retriever's top this many are reordered by the reranker
    search_weight: float = Field(ge=0, le=1)  # 0: the reranker's order; else fused with the search's (rerank.rerank)
    rrf_k: int = Field(ge=0, le=1000)  # of that fusion: weight / (rrf_k + rank)


class EvaluateParams(Section):
    """End-to-end QA (stage evaluate and `reproqa ask`): retrieve contexts from the whole corpus, read each,
    and keep the answer with the best combined score."""

    retriever: Literal["dense", "bm25", "hybrid"]  # hybrid: fused as index.fusion says
    top_k: int = Field(ge=1, le=100)  # contexts the reader reads per question
    rerank: Rerank  # the cross-encoder of stage train_reranker
    retrieval_weight: float = Field(ge=0)  # combined = reader score (logits) + weight x retrieval score in [0, 1]
    recall_at: list[int] = Field(min_length=1)  # Recall@k is reported and plotted for these k
    ndcg_at: int = Field(ge=1, le=10000)  # NDCG@k of the gold context, in the headline metrics
    batch_size: int = Field(ge=1)  # questions encoded, and windows read, per batch
    precision: Literal["auto", "float32", "bfloat16"]  # of the question encoder and the reader at answer time
    backend: Literal["auto", "torch", "onnx"]  # onnx: stage export's models in ONNX Runtime (its own precision)
    scope: Literal["title", "source"] | None  # also answer each test question within its gold context's document


SECTIONS: dict[str, type[Section]] = {
    "ingest": IngestParams,
    "clean": CleanParams,
    "split": SplitParams,
    "train_retriever": TrainRetrieverParams,
    "train_reranker": TrainRerankerParams,
    "evaluate_retriever": EvaluateRetrieverParams,
    "train": TrainParams,
    "index": IndexParams,
    "export": ExportParams,
    "evaluate": EvaluateParams,
}


def load_params(section: str, path: str | Path = "params.yaml") -> Section:
    """Read params.yaml and return its `section`, validated; raise UserError naming any bad key."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: not found (run the stage from the repository root)") from None
    except yaml.YAMLError as error:
        raise UserError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise UserError(f"{path}: expected a mapping of sections, got {type(document).__name__}")
    for key in document:
        if key not in SECTIONS:
            raise UserError(f"{path}: unknown section '{key}'{_suggestion(key, SECTIONS)}")
    if section not in document:
        raise UserError(f"{path}: missing section '{section}'")
    schema = SECTIONS[section]
    try:
        return schema.model_validate(document[section])
    except ValidationError as error:
        problems = [_describe(section, schema, problem) for problem in error.errors()]
        raise UserError(f"{path}: " + "; ".join(problems)) from None


def _describe(section: str, schema: type[Section], problem: dict) -> str:
    location = problem["loc"]
    key = ".".join([section, *map(str, location)])
    if problem["type"] == "extra_forbidden":
        valid = _fields_at(schema, location[:-1])
        return f"{key}: unknown key{_suggestion(str(location[-1]), valid)}"
    if problem["type"] == "missing":
        return f"{key}: missing (params.yaml holds every value; there are no hidden defaults)"
    message = problem["msg"].removeprefix("Value error, ")
    if "input" in problem and not isinstance(problem["input"], dict | list):
        message += f" (got {problem['input']!r})"
    return f"{key}: {message}"


def _fields_at(schema: type, location: tuple) -> list[str]:
    """The valid keys of the model found by walking `location` (field names and list indexes) from `schema`."""
    model = schema
    for step in location:
        if isinstance(step, int):
            continue
        annotation = model.model_fields[step].annotation
        model = _model_in(annotation)
    return list(model.model_fields)


def _model_in(annotation) -> type:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (list, Union, UnionType):
        for argument in get_args(annotation):
            try:
                return _model_in(argument)
            except TypeError:
                continue
    raise TypeError(f"no model in {annotation}")


def _suggestion(key: str, valid) -> str:
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    listed = ", ".join(sorted(valid))
    return f"; did you mean '{close[0]}'?" if close else f"; valid keys: {listed}"
