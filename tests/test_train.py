"""The reader stage on the tiny model, as `dvc repro` ran it in the pipeline fixture."""

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import yaml
from transformers import AutoModelForQuestionAnswering

from conftest import run, stage_env
from reproqa.checkpoints import last_complete_checkpoint
from reproqa.reader import ReaderSettings, prediction_at, qa_scores


def test_reader_writes_model_predictions_and_scores(pipeline):
    root, _, _ = pipeline
    model = AutoModelForQuestionAnswering.from_pretrained(root / "models/reader")
    assert (root / "models/reader/model.safetensors").exists() and model.config.hidden_size == 32
    test = {r["id"]: r for r in pq.read_table(root / "data/processed/test.parquet").to_pylist()}
    predictions = json.loads((root / "results/train/predictions.json").read_text())
    nbest = json.loads((root / "results/train/nbest.json").read_text())
    assert set(predictions) == set(test) == set(nbest)
    assert all(p == "" or p in test[i]["context"] for i, p in predictions.items())  # spans of their context
    scores = json.loads((root / "metrics/train/test.json").read_text())
    assert {"exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1", "bleu", "rougeL"} <= set(scores)
    assert scores["total"] == len(test)
    assert {k: scores[k] for k in ("exact", "f1")} == {
        k: round(v, 4)
        for k, v in qa_scores(
            [predictions[i] for i in test], [[a["text"] for a in test[i]["answers"]] for i in test]
        ).items()
        if k in ("exact", "f1")
    }


def test_the_model_folder_holds_the_settings_it_reads_with(pipeline):
    root, _, _ = pipeline
    params = yaml.safe_load((root / "params.yaml").read_text())["train"]
    settings = ReaderSettings.load(root / "models/reader")
    chosen = settings.null_score_diff_threshold  # params say "validation": stage train chose it
    assert params["null_score_diff_threshold"] == "validation" and isinstance(chosen, float)
    params["null_score_diff_threshold"] = chosen
    assert settings == ReaderSettings(**{name: params[name] for name in ReaderSettings.__dataclass_fields__})
    # the test predictions were made at that threshold, and the scores say which it was
    assert json.loads((root / "metrics/train/test.json").read_text())["null_threshold"] == round(chosen, 4)
    nbest = json.loads((root / "results/train/nbest.json").read_text())
    predictions = json.loads((root / "results/train/predictions.json").read_text())
    assert predictions == {example_id: prediction_at(listed, chosen) for example_id, listed in nbest.items()}


def test_reader_curves_are_logged(pipeline):
    root, _, _ = pipeline
    f1 = (root / "metrics/train/plots/metrics/eval/f1.tsv").read_text().splitlines()
    assert f1[0] == "step\tf1" and len(f1) >= 2


def test_lora_trains_adapters_and_saves_a_merged_model(pipeline, tmp_path):
    root, _, _ = pipeline
    project = tmp_path / "lora"
    shutil.copytree(root, project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["lora"] |= {"enabled": True, "r": 4, "alpha": 8}
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    run(["dvc", "repro", "train"], project)
    saved = sorted(p.name for p in (project / "models/reader").iterdir())
    assert "model.safetensors" in saved and "adapter_config.json" not in saved  # adapters merged into the model
    model = AutoModelForQuestionAnswering.from_pretrained(project / "models/reader")
    assert model.config.hidden_size == 32
    assert json.loads((project / "metrics/train/test.json").read_text())["total"] > 0


def test_shared_normalization_trains_on_groups_through_dvc(pipeline, tmp_path):
    """The params of `dvc exp run -S train.distractors=1 -S train.shared_normalization=true`, then `dvc repro
    train`: the stage trains on each question grouped with its distractor and saves a reader that answers."""
    root, _, _ = pipeline
    project = tmp_path / "shared"
    shutil.copytree(root, project, ignore=shutil.ignore_patterns("scratch"))
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"] |= {"distractors": 1, "shared_normalization": True}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    log = run(["dvc", "repro", "train"], project).stdout
    rows = pq.read_metadata(project / "data/processed/train.parquet").num_rows
    questions = min(rows, params["train"]["max_train_examples"] or rows)
    assert f"train: {questions} questions, each a group of 2 windows sharing a softmax" in log
    assert json.loads((project / "metrics/train/test.json").read_text())["total"] > 0
    assert (project / "models/reader/model.safetensors").read_bytes() != (
        root / "models/reader/model.safetensors"
    ).read_bytes()


def _longer_training(root: Path, project: Path) -> Path:
    """A copy of the tiny project whose reader trains for ~85 steps, with a checkpoint every 10."""
    shutil.copytree(root, project, ignore=shutil.ignore_patterns("scratch"))
    params = yaml.safe_load((project / "params.yaml").read_text())
    # Dropout on (null: the tiny model's own 0.1): the resumed run must also restore the random state it draws from.
    params["train"] |= {"epochs": 5, "eval_steps": 10, "early_stopping_patience": None, "dropout": None}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return project


def test_a_killed_run_resumes_and_ends_as_an_uninterrupted_run(pipeline, tmp_path):
    root, _, _ = pipeline
    uninterrupted = _longer_training(root, tmp_path / "uninterrupted")
    run(["dvc", "repro", "train"], uninterrupted)

    killed = _longer_training(root, tmp_path / "killed")
    stage = subprocess.Popen(
        ["dvc", "repro", "train"],
        cwd=killed,
        env=stage_env(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while last_complete_checkpoint(killed / "scratch/train") is None:
        assert stage.poll() is None, "the stage ended before its first checkpoint"
        time.sleep(0.05)
    os.killpg(stage.pid, signal.SIGKILL)  # dvc and the training process, as a crash or `kill -9` would
    assert stage.wait() == -signal.SIGKILL
    assert not (killed / "models/reader").exists()

    resumed = run(["dvc", "repro", "train"], killed).stdout
    assert "train: resuming from scratch/train/checkpoint-10" in resumed
    for output in (
        "models/reader/model.safetensors",
        "results/train/predictions.json",
        "metrics/train/test.json",
        "metrics/train/plots/metrics/eval/f1.tsv",
        "metrics/train/plots/metrics/train/loss.tsv",
    ):
        assert (killed / output).read_bytes() == (uninterrupted / output).read_bytes(), output
    assert run(["dvc", "status", "train"], killed).stdout.strip() == "Data and pipelines are up to date."


def test_only_a_checkpoint_saved_to_the_end_is_resumed(tmp_path):
    for step, complete in ((10, True), (20, True), (30, False)):  # a kill while checkpoint-30 was written
        (tmp_path / f"checkpoint-{step}").mkdir()
        if complete:
            (tmp_path / f"checkpoint-{step}/trainer_state.json").write_text(json.dumps({"global_step": step}))
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-20")
    assert last_complete_checkpoint(tmp_path / "missing") is None


def test_checkpoints_of_other_params_data_or_code_are_cleared_not_resumed(tmp_path, monkeypatch):
    from pydantic import BaseModel

    import reproqa.checkpoints as checkpoints

    class Params(BaseModel):
        lr: float

    package, scratch, data = tmp_path / "package", tmp_path / "scratch", tmp_path / "train.parquet"
    package.mkdir(), data.write_text("rows")
    (package / "reader.py").write_text("LOSS = 'masked'")
    monkeypatch.setattr(checkpoints, "PACKAGE", package)
    script = tmp_path / "train.py"
    script.write_text("print('train')")
    first = checkpoints.fingerprint(Params(lr=1e-4), str(script), data)
    assert checkpoints.resumable_checkpoint(scratch, first) is None  # nothing to resume yet
    (scratch / "checkpoint-10").mkdir()
    (scratch / "checkpoint-10/trainer_state.json").write_text("{}")
    assert checkpoints.resumable_checkpoint(scratch, first) == str(scratch / "checkpoint-10")

    (package / "reader.py").write_text("LOSS = 'unmasked'")
    assert checkpoints.fingerprint(Params(lr=1e-4), str(script), data) != first
    (package / "reader.py").write_text("LOSS = 'masked'")
    assert checkpoints.fingerprint(Params(lr=3e-5), str(script), data) != first
    data.write_text("other rows")
    other = checkpoints.fingerprint(Params(lr=1e-4), str(script), data)
    assert other != first
    assert checkpoints.resumable_checkpoint(scratch, other) is None and not (scratch / "checkpoint-10").exists()


# What an AVX2-only CPU with one core offers a process (ATen, oneDNN and MKL told to go no wider than AVX2)
AVX2_ONE_CORE = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "OMP_NUM_THREADS": "1",
}


def test_float32_training_writes_the_same_bytes_on_another_kind_of_cpu(pipeline, tmp_path):
    """Issue 15: a teammate's retraining reproduces dvc.lock's hash. Stands in for two machines: this CPU as it
    is, and the same capped at AVX2 and one thread; a float32 reader trained on each has the same bytes."""
    root, _, _ = pipeline
    trained = {}
    for name, machine in (("here", {}), ("avx2", AVX2_ONE_CORE)):
        project = tmp_path / name
        shutil.copytree(root, project, ignore=shutil.ignore_patterns("scratch"))
        params = yaml.safe_load((project / "params.yaml").read_text())
        params["train"]["precision"] = "float32"  # auto may pick bf16 here, which needs this CPU's own kernels
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        output = run(["dvc", "repro", "train"], project, env=stage_env() | machine).stdout
        assert "float32 on the CPU, AVX2 kernels and 2 threads" in output
        trained[name] = (project / "models/reader/model.safetensors").read_bytes()
    assert trained["here"] == trained["avx2"]
