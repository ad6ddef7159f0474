import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reproqa.sample_data import generate, write

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the venv running the tests also runs the stages and dvc
GIT_USER = ["-c", "user.name=test", "-c", "user.email=test@localhost"]  # for commits in test repositories


def stage_env() -> dict:
    """The environment for dvc and the stages: this venv first on PATH."""
    return os.environ | {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}


def run(args: list[str], cwd: Path, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env or stage_env(), capture_output=True, text=True)
    if check and result.returncode:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def build_tiny_model(folder: Path) -> Path:
    """A tiny randomly initialised BERT (2 layers, 32 dimensions) with the real uncased vocabulary, saved
    as a sentence-transformers model (mean pooling): seconds to train on the CPU, same code paths."""
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    from reproqa.models import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("all-MiniLM-L6-v2"))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder / "bert")
    tokenizer.save_pretrained(folder / "bert")
    SentenceTransformer(str(folder / "bert"), device="cpu").save(str(folder / "tiny"), create_model_card=False)
    return folder / "tiny"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny_model"))


def tiny_profile(params: dict, model: Path) -> dict:
    """params.yaml for the tests: the real sections, sized for seconds on the CPU."""
    # 30 apps repeat a question template only ~5 times, so "template" must mean fewer.
    params["split"]["decontamination"]["max_ngram_frequency"] = 2
    params["train_retriever"] |= {
        "base_model": str(model),
        "max_seq_length": 64,
        "matryoshka_dims": [32, 16],
        "batch_size": 8,
        "max_train_pairs": 48,
        "eval_steps": 3,
    }
    # A random model scores every context alike: no negative would pass a 5% margin.
    params["train_retriever"]["hard_negatives"] |= {"range_max": 10, "relative_margin": 0.0}
    params["train_reranker"] |= {
        "base_model": str(model.parent / "bert"),
        "max_seq_length": 64,
        "batch_size": 8,
        "max_train_questions": 48,
        "eval_steps": 2,
    }
    params["train_reranker"]["negatives"] |= {"depth": 10}
    params["evaluate_retriever"] |= {"batch_size": 16}
    params["evaluate"] |= {"scope": "source"}  # the scoped path too (one source: the whole corpus)
    params["train"] |= {
        "base_model": str(model.parent / "bert"),
        "max_seq_length": 64,
        "doc_stride": 16,
        "epochs": 1,
        "batch_size": 8,
        "eval_steps": 3,
        "max_train_examples": 48,
        "early_stopping_patience": 3,  # the callback's path; the longer runs of test_train.py take null
    }
    return params


def make_project(root: Path, model: Path, apps: int = 30) -> dict:
    """A copy of the pipeline (dvc.yaml, params.yaml, stages, reproqa, .gitignore, .dvc/config) on a small
    generated sample and the tiny model, in its own git + DVC repository. Returns the generator's manifest of
    what it planted."""
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    params = tiny_profile(yaml.safe_load((REPO / "params.yaml").read_text()), model)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for folder in ("stages", "reproqa", "imports"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "benchmarks").mkdir()
    shutil.copy(REPO / "benchmarks/little_data.json", root / "benchmarks")  # a plot of dvc.yaml: the learning curve
    lines, benchmark, manifest = generate(seed=5, apps=apps, benchmark_apps=8, leaked_apps=3)
    write(lines, root / "data/raw/app_inventory.jsonl")
    shutil.copy(REPO / "data/raw/feedback.jsonl", root / "data/raw")  # an ingest source; empty until exported
    write(benchmark, root / "data/benchmark/app_inventory_benchmark.jsonl")
    shutil.copy(REPO / ".gitignore", root / ".gitignore")
    run(["git", "init", "-q"], root)
    run(["dvc", "init", "-q"], root)
    shutil.copy(REPO / ".dvc/config", root / ".dvc/config")  # the project's: its default remote included
    run(["git", "add", "-A"], root)  # like a clone: DVCLive and `dvc exp` need a commit
    run(["git", *GIT_USER, "commit", "-qm", "tiny project"], root)
    return manifest


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory, tiny_model):
    """The whole pipeline, run once by `dvc repro` on a small sample; shared by the tests that read it."""
    root = tmp_path_factory.mktemp("project")
    manifest = make_project(root, tiny_model)
    output = run(["dvc", "repro"], root).stdout
    return root, manifest, output


def stages_run_after(project: Path, key: str, value) -> set[str]:
    """The stages `dvc repro` runs after params.yaml's `key` (dotted, as `dvc exp run -S` takes it) changes."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    *sections, name = key.split(".")
    inner = params
    for section in sections:
        inner = inner[section]
    inner[name] = value
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    output = run(["dvc", "repro"], project).stdout
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


def answerer_of(root: Path, **evaluate):
    """The Answerer of a project that `dvc repro` built, with its evaluate params updated by `evaluate`; in
    PyTorch unless `backend` says otherwise (auto would pick by this machine's CPU)."""
    from reproqa.answering import Answerer
    from reproqa.params import SECTIONS

    params = SECTIONS["evaluate"].model_validate(yaml.safe_load((root / "params.yaml").read_text())["evaluate"])
    return Answerer.load(
        root / "models/index",
        root / "models/retriever",
        root / "models/reranker",
        root / "models/reader",
        params.model_copy(update={"backend": "torch"} | evaluate),
        root / "models/onnx",
    )
