"""The trained models as ONNX graphs, and answering with them in ONNX Runtime (evaluate.backend: onnx).

Stage export writes each model answering runs (the question encoder, the reranker, the reader) to a folder of
its own: model.onnx, onnx.json (what it is and how its inputs are tokenized), and the rest of the model's
folder but its weights (the tokenizer, configs; the reader's inference.json, reproqa.reader.ReaderSettings). The
graph is what the PyTorch model computes from token ids, pooling and normalisation included for the encoder, so
only tokenizing happens outside it, by the model's own Rust tokenizer (`tokenizers`, tokenizer.json) with the
settings sentence-transformers and the reader use: answering imports neither torch nor transformers.
`load_encoder`, `load_reranker` and `Reader` load such a folder where they find model.onnx, so answering has one
code path whichever backend runs the models.

Why: on a CPU without native bfloat16, float32 is the only precision that is both fast and exact, and ONNX
Runtime computes the same float32 graph 1.5x faster than PyTorch on a reader batch (measured on an AMD EPYC),
with the same answers; export.quantize adds int8 weights (dynamic quantization: activations quantized per batch
at run time), faster still and 0.9 F1 worse on SQuAD. BENCHMARKS.md ("ONNX Runtime") has the figures.

For example, after `dvc repro` (tests/test_export.py runs it on the tiny pipeline):

    export("encoder", "models/retriever", "/tmp/onnx/retriever")
    OnnxEncoder("/tmp/onnx/retriever").encode(["who owns atlas billing hub?"]).shape  # (1, 384)
"""

import json
import shutil
from pathlib import Path

import numpy as np

MODEL = "model.onnx"
SETTINGS = "onnx.json"
KINDS = ("encoder", "reranker", "reader")
WEIGHTS = ("*.safetensors", "*.bin", "*.pt", "*.h5", "*.msgpack", ".*")  # PyTorch's (and others') files, not copied
# The ONNX opset the exporter writes. Pinned (not a param): it changes no result, and another opset would change
# the bytes of every exported model, and so their hashes in dvc.lock, with the torch version.
OPSET = 18


def is_exported(folder: str | Path) -> bool:
    """Whether `folder` holds a model stage export wrote (else: a PyTorch one)."""
    return (Path(folder) / SETTINGS).exists()


def _graph(kind: str, folder: Path):
    """The PyTorch model of `kind` in `folder`, a function from its inputs (token ids by name) to its outputs, its
    tokenizer, the names of the outputs, and the longest input the model is given (None for the reader, whose
    windows its settings cut)."""
    import torch

    if kind == "reader":
        from transformers import AutoModelForQuestionAnswering, AutoTokenizer

        model = AutoModelForQuestionAnswering.from_pretrained(folder, dtype=torch.float32).eval()

        def forward(features):
            output = model(**features)
            return output.start_logits, output.end_logits

        return model, forward, AutoTokenizer.from_pretrained(folder), ["start_logits", "end_logits"], None
    from sentence_transformers import CrossEncoder, SentenceTransformer

    loader, output = (SentenceTransformer, "sentence_embedding") if kind == "encoder" else (CrossEncoder, "scores")
    model = loader(str(folder), device="cpu", model_kwargs={"dtype": torch.float32}).eval()

    def forward(features):
        return model.forward(dict(features, modality="text"))[output]

    return model, forward, model.tokenizer, [output], model.max_seq_length


def export(kind: str, source: str | Path, out: str | Path, quantize: bool = False) -> None:
    """Write the `kind` model of folder `source` (a sentence-transformers encoder or cross-encoder, or a reader
    saved by stage train) as ONNX into folder `out`, with int8 weights if `quantize`; check that ONNX Runtime
    gives what PyTorch gives on a sample batch (float32 only: int8 is measured, not equal)."""
    import torch

    if kind not in KINDS:
        raise ValueError(f"kind {kind!r}: expected one of {KINDS}")
    source, out = Path(source), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model, forward, tokenizer, outputs, max_length = _graph(kind, source)
    names = list(tokenizer.model_input_names)

    class Graph(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model  # registered, so the exporter sees its weights as parameters

        def forward(self, *inputs):
            return forward(dict(zip(names, inputs)))

    # Two pairs of different lengths, padded: batch and sequence dimensions stay symbolic (a dimension of 1, or
    # two equal ones, would be specialised by the tracer).
    sample = tokenizer(
        ["who owns atlas billing hub?", "what is the name of the application with system id 12345?"],
        ["atlas billing hub belongs to core banking.", "the application with system id 12345 is atlas."],
        padding=True,
        return_tensors="pt",
    )
    names = [name for name in names if name in sample]
    inputs = tuple(sample[name] for name in names)
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    with torch.inference_mode(False), torch.no_grad():
        expected = [t.numpy() for t in _as_tuple(Graph()(*inputs))]
        torch.onnx.export(
            Graph().eval(),
            inputs,
            str(out / MODEL),
            input_names=names,
            output_names=outputs,
            dynamic_shapes=(tuple({0: batch, 1: sequence} for _ in names),),
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    reproducible(out / MODEL)
    found = OnnxSession(out / MODEL).run({name: sample[name].numpy() for name in names})
    for name, want, got in zip(outputs, expected, found):
        if not np.allclose(want, got, atol=1e-3, rtol=1e-3):
            raise RuntimeError(f"{out / MODEL}: {name} differs from PyTorch's by {np.abs(want - got).max():.3g}")
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # per channel: a scale per output column; per tensor lost 1.6 F1 on SQuAD, this 0.9 (BENCHMARKS.md)
        quantize_dynamic(out / MODEL, out / "quantized.onnx", weight_type=QuantType.QInt8, per_channel=True)
        (out / "quantized.onnx").replace(out / MODEL)
    # Everything else of the folder comes along: the tokenizer, configs, the reader's inference.json.
    shutil.copytree(source, out, ignore=shutil.ignore_patterns(*WEIGHTS), dirs_exist_ok=True)
    if not (out / "tokenizer.json").exists():  # a model saved with a slow tokenizer: its fast conversion
        tokenizer.backend_tokenizer.save(str(out / "tokenizer.json"))
    settings = {"kind": kind, "inputs": names, "outputs": outputs, "max_length": max_length, "quantized": quantize}
    (out / SETTINGS).write_text(json.dumps(settings, indent=2) + "\n")


def reproducible(path: Path) -> None:
    """Drop what the exporter records of where it ran (each node's Python stack trace, with the checkout's
    absolute path and line numbers, and its module path): the graph's bytes, and so dvc.lock, then depend on
    the model alone, not on the folder a clone lives in."""
    import onnx

    graph = onnx.load(str(path))
    for node in [*graph.graph.node, *(node for function in graph.functions for node in function.node)]:
        del node.metadata_props[:]
    del graph.graph.metadata_props[:]
    graph.doc_string = graph.graph.doc_string = ""
    onnx.save(graph, str(path))


def _as_tuple(outputs):
    return outputs if isinstance(outputs, tuple) else (outputs,)


class OnnxSession:
    """An ONNX Runtime session on the CPU: numpy int64 inputs by name, the graph's outputs as float32 arrays."""

    def __init__(self, path: str | Path):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: its warnings about unused initializers are not the user's
        # Every question brings other shapes (windows, lengths): a memory plan per shape cost 12% on such batches
        options.enable_mem_pattern = False
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]

    def run(self, features: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.session.run(None, {name: np.asarray(features[name], dtype=np.int64) for name in self.inputs})


class Exported:
    """A folder stage export wrote: its settings, its Rust tokenizer and its ONNX Runtime session."""

    def __init__(self, folder: str | Path, kind: str):
        from tokenizers import Tokenizer

        folder = Path(folder)
        self.settings = json.loads((folder / SETTINGS).read_text())
        if self.settings["kind"] != kind:
            raise ValueError(f"{folder}: an exported {self.settings['kind']}, not a {kind}")
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        # As sentence-transformers tokenizes: both texts of a pair cut to max_length together, padded to the
        # longest of the batch (the attention mask hides the padding: its id changes nothing)
        self.tokenizer.enable_truncation(self.settings["max_length"], strategy="longest_first")
        self.tokenizer.enable_padding()
        self.session = OnnxSession(folder / MODEL)

    def tokenize(self, texts: list[str], pairs: list[str] | None = None) -> dict[str, np.ndarray]:
        encoded = self.tokenizer.encode_batch(texts if pairs is None else list(zip(texts, pairs)))
        return {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
        }


class OnnxEncoder(Exported):
    """An exported sentence-transformers encoder, with the part of SentenceTransformer.encode answering uses."""

    def __init__(self, folder: str | Path):
        super().__init__(folder, "encoder")

    def encode(
        self,
        texts: list[str],
        batch_size: int = 32,
        convert_to_numpy: bool = True,
        normalize_embeddings: bool = False,
        show_progress_bar: bool = False,
    ) -> np.ndarray:
        """float32 embeddings, one row per text (unit length with normalize_embeddings), as SentenceTransformer's
        encode returns them with convert_to_numpy (always numpy here; there is no progress bar to show)."""
        rows = [self.session.run(self.tokenize(texts[i : i + batch_size]))[0] for i in range(0, len(texts), batch_size)]
        embeddings = np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)
        if normalize_embeddings:
            embeddings = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
        return embeddings.astype(np.float32)


class OnnxReranker(Exported):
    """An exported cross-encoder: one logit per (question, context) pair."""

    def __init__(self, folder: str | Path):
        super().__init__(folder, "reranker")

    def logits(self, pairs: list[tuple[str, str]], batch_size: int) -> np.ndarray:
        scores = [
            self.session.run(self.tokenize([q for q, _ in batch], [c for _, c in batch]))[0].reshape(-1)
            for batch in (pairs[i : i + batch_size] for i in range(0, len(pairs), batch_size))
        ]
        return np.concatenate(scores) if scores else np.zeros(0, dtype=np.float32)
