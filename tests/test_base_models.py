"""Starting from another project's models (README, "Little data of your own"): `dvc import` into imports/, stage
base_models, and a reader that keeps the QA head it was trained with."""

import shutil

import pyarrow.parquet as pq
import torch
import yaml
from sentence_transformers import SentenceTransformer
from transformers import AutoModelForQuestionAnswering

from conftest import GIT_USER, run


def qa_head(folder) -> torch.Tensor:
    return AutoModelForQuestionAnswering.from_pretrained(folder).qa_outputs.weight.detach()


def test_a_reader_imported_from_another_project_keeps_its_head_and_its_hash_is_in_dvc_lock(pipeline, tmp_path):
    root, _, first_run = pipeline
    assert "train: a new QA head (random, seeded)" in first_run  # from the plain tiny BERT
    general, domain = tmp_path / "general", tmp_path / "domain"
    for project in (general, domain):
        shutil.copytree(root, project)
    run(["git", "add", "dvc.lock"], general)  # the general project's models, committed as its pipeline made them
    run(["git", *GIT_USER, "commit", "-qm", "general models"], general)
    run(["dvc", "import", str(general), "models/reader", "-o", "imports/general-reader"], domain)
    params = yaml.safe_load((domain / "params.yaml").read_text())
    params["train"] |= {"base_model": "imports/general-reader", "epochs": 0}  # 0: the imported reader as it is
    params["train_retriever"]["epochs"] = 0
    (domain / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    output = run(["dvc", "repro", "train", "train_retriever"], domain).stdout
    assert "train: the base model's own QA head" in output  # not "a new QA head"
    assert torch.equal(qa_head(domain / "models/reader"), qa_head(general / "models/reader"))

    # dvc.lock: the reader started from exactly the imported bytes
    imported = yaml.safe_load((domain / "imports/general-reader.dvc").read_text())["outs"][0]["md5"]
    lock = yaml.safe_load((domain / "dvc.lock").read_text())["stages"]
    copied = {out["path"]: out["md5"] for out in lock["base_models"]["outs"]}
    started_from = {dep["path"]: dep["md5"] for dep in lock["train"]["deps"]}
    assert copied["models/base/reader"] == started_from["models/base/reader"] == imported

    # zero epochs of the retriever: the base model, saved as it is
    test = [row["question"] for row in pq.read_table(domain / "data/processed/test.parquet").to_pylist()[:8]]
    base, saved = (
        SentenceTransformer(str(domain / f), device="cpu") for f in ("models/base/retriever", "models/retriever")
    )
    assert torch.allclose(base.encode(test, convert_to_tensor=True), saved.encode(test, convert_to_tensor=True))
