"""Resuming a killed training run from the Trainer checkpoints in its scratch folder.

DVC reruns a stage from the start. The stage resumes from the newest complete checkpoint when the scratch
folder's checkpoints were made from the same inputs (a fingerprint of the params, the data files and the code:
the stage script and this package); otherwise it clears the folder, so that a checkpoint of other params or
other code is never resumed or kept as "best".
"""

import json
import re
import shutil
from pathlib import Path

import xxhash
from accelerate import PartialState
from pydantic import BaseModel

PACKAGE = Path(__file__).resolve().parent


def fingerprint(params: BaseModel, script: str, *data: Path) -> str:
    """Params, data files and code: `script` (the stage's __file__) and every file of this package."""
    digest = xxhash.xxh3_64(json.dumps(params.model_dump(), sort_keys=True).encode())
    code = [Path(script)] + sorted(f for f in PACKAGE.rglob("*") if f.is_file() and "__pycache__" not in f.parts)
    for file in code + list(data):
        digest.update(file.read_bytes())
    return digest.hexdigest()


def last_complete_checkpoint(scratch: Path) -> str | None:
    """The newest checkpoint-N folder whose trainer_state.json parses. The Trainer writes that file last,
    so a run killed while it saved leaves a folder without it, which must not be resumed."""
    for folder in sorted(scratch.glob("checkpoint-*"), key=lambda f: -int(re.sub(r"\D", "", f.name) or -1)):
        try:
            json.loads((folder / "trainer_state.json").read_text())
            return str(folder)
        except (OSError, ValueError):
            continue
    return None


def resumable_checkpoint(scratch: Path, inputs_fingerprint: str) -> str | None:
    """The checkpoint to resume from, or None after clearing the folder. Every process of a distributed run
    calls this after creating its TrainingArguments; all decide before the main process rewrites the folder."""
    state = PartialState()
    marker = scratch / "fingerprint"
    same_inputs = marker.is_file() and marker.read_text() == inputs_fingerprint
    checkpoint = last_complete_checkpoint(scratch) if same_inputs else None
    state.wait_for_everyone()
    if state.is_main_process:
        if not same_inputs:
            shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True, exist_ok=True)
        marker.write_text(inputs_fingerprint)
    state.wait_for_everyone()
    return checkpoint
