"""Stage export and evaluate.backend onnx on the tiny pipeline that `dvc repro` ran (conftest `pipeline`): the
ONNX graphs answer as the PyTorch models do, int8 weights are really int8, the switch reruns only the evaluation,
and `reproqa ask` on ONNX Runtime starts without importing torch."""

import json
import shutil
import subprocess

import numpy as np
import onnx
import pyarrow.parquet as pq
import yaml
from sentence_transformers import SentenceTransformer

from conftest import BIN, REPO, answerer_of, stage_env, stages_run_after
from reproqa.index import encode
from reproqa.onnx_models import MODEL, OnnxEncoder, export
from reproqa.reader import Reader


def test_onnx_runtime_answers_as_pytorch_in_float32(pipeline):
    root, _, _ = pipeline
    questions = pq.read_table(root / "data/processed/test.parquet")["question"].to_pylist()
    torch_answers = answerer_of(root, precision="float32").answer(questions)
    onnx_answerer = answerer_of(root, backend="onnx")
    assert onnx_answerer.reader.model is None and onnx_answerer.answered_with == {
        "backend": "onnx",
        "precision": "float32",
    }
    for ours, reference in zip(onnx_answerer.answer(questions), torch_answers):
        assert ours.retrieved == reference.retrieved
        assert ours.text == reference.text
        np.testing.assert_allclose(ours.retrieval_scores, reference.retrieval_scores, rtol=1e-4, atol=1e-4)
        assert ours.score == reference.score or abs(ours.score - reference.score) < 1e-3


def test_the_exported_encoder_tokenizes_as_sentence_transformers(pipeline):
    """Padding, truncation at the model's max_seq_length and surrounding spaces: as SentenceTransformer.encode."""
    root, _, _ = pipeline
    texts = ["  who owns atlas billing hub?  ", "a", "atlas billing hub belongs to core banking. " * 60]
    reference = SentenceTransformer(str(root / "models/retriever"), device="cpu")
    ours = OnnxEncoder(root / "models/onnx/retriever")
    np.testing.assert_allclose(encode(ours, texts, 2), encode(reference, texts, 3), atol=1e-5)


def test_quantized_models_have_int8_weights_and_still_answer(pipeline, tmp_path):
    root, _, _ = pipeline
    export("reader", root / "models/reader", tmp_path / "reader", quantize=True)
    graph = onnx.load(tmp_path / "reader" / MODEL)
    assert {"MatMulInteger", "DynamicQuantizeLinear"} <= {node.op_type for node in graph.graph.node}
    assert (tmp_path / "reader" / MODEL).stat().st_size < 0.5 * (root / "models/onnx/reader" / MODEL).stat().st_size
    assert json.loads((tmp_path / "reader/onnx.json").read_text())["quantized"]
    contexts = ["atlas billing hub belongs to core banking.", "nothing here"]
    readings = Reader(tmp_path / "reader", "float32", 8).read(["who owns atlas billing hub?"], [contexts])
    assert len(readings[0]) == 2 and all(np.isfinite(score) or score == -np.inf for _, score, _ in readings[0])


def test_switching_the_backend_reruns_only_the_evaluation(pipeline, tmp_path):
    root, _, _ = pipeline
    project = tmp_path / "copy"
    shutil.copytree(root, project)
    assert stages_run_after(project, "evaluate.backend", "onnx") == {"evaluate"}
    assert stages_run_after(project, "export.quantize", True) == {"export", "evaluate"}


def test_ask_on_onnx_runtime_imports_no_torch(pipeline, tmp_path):
    """What makes `reproqa ask` start fast: without torch, transformers' models and sentence-transformers. And
    on either backend, nothing on stderr: no progress bars of model loading."""
    root, _, _ = pipeline
    project = tmp_path / "project"
    project.mkdir()
    (project / "models").symlink_to(root / "models")
    params = yaml.safe_load((root / "params.yaml").read_text())
    check = (
        "import sys; from reproqa.cli import main; main(['ask', '--project', sys.argv[1], sys.argv[2]]); "
        "heavy = sorted({'torch', 'sentence_transformers', 'datasets'} & set(sys.modules)); "
        "print('imported:', heavy)"
    )
    for backend, torch_loaded in (("onnx", False), ("torch", True)):
        params["evaluate"]["backend"] = backend
        (project / "params.yaml").write_text(yaml.safe_dump(params))
        done = subprocess.run(
            [BIN / "python", "-c", check, str(project), "who owns atlas billing hub?"],
            capture_output=True,
            text=True,
            env=stage_env(),
            check=True,
        )
        imported = done.stdout.splitlines()[-1]
        assert ("'torch'" in imported) if torch_loaded else (imported == "imported: []"), done.stdout + done.stderr
        assert done.stderr == "", done.stderr


def test_exported_graphs_do_not_record_where_they_were_made(pipeline):
    """The exporter writes each node's stack trace, with the checkout's path: kept, a clone in another folder
    would export other bytes and `dvc repro` would change dvc.lock."""
    root, _, _ = pipeline
    for name in ("retriever", "reranker", "reader"):
        path = root / "models/onnx" / name / MODEL
        assert not any(node.metadata_props for node in onnx.load(path).graph.node), name
        assert str(REPO).encode() not in path.read_bytes() and str(root).encode() not in path.read_bytes()
