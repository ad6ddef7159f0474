"""Training curves for DVC: a Trainer callback that logs chosen metrics with DVCLive.

transformers' own `report_to="dvclive"` also logs every TrainingArguments field as a param, which floods
`dvc exp show`; params live in params.yaml, so this logs only the metrics a stage names.
"""

from dvclive import Live
from transformers import TrainerCallback


class LiveMetrics(TrainerCallback):
    """Writes <folder>/plots/metrics/{train,eval}/<metric>.tsv at each logging step, and <folder>/metrics.json.

    `metrics`: short names to keep, matched against the end of the Trainer's names, so the evaluator's
    "eval_validation_cosine_ndcg@10" is logged as eval/ndcg@10 (the shortest name wins: eval_f1, not
    eval_HasAns_f1). Only the main process writes (DDP), and a run
    resumed from a checkpoint first replays the checkpoint's log history: DVC deletes a stage's outputs
    before it reruns, and the curves must still start at step 1.
    """

    def __init__(self, folder: str, metrics: list[str]):
        self.folder = folder
        self.metrics = metrics
        self.live = None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero and self.live is None:
            self._start(state)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and self.live is None:
            self._start(state)  # logged before training began: the history holds these logs already
        elif self.live is not None:
            self._log(state.global_step, logs or {})

    def _start(self, state):
        self.live = Live(self.folder, dvcyaml=False, save_dvc_exp=False, report=None)
        for logs in state.log_history:  # the Trainer's record so far: empty unless resumed
            self._log(logs["step"], logs)

    def on_train_end(self, args, state, control, **kwargs):
        if self.live is not None:
            self.live.end()

    def _log(self, step: int, logs: dict):
        logged = False
        for split in ("train", "eval"):
            names = [
                n
                for n, v in logs.items()
                if (split == "eval") == n.startswith("eval_") and isinstance(v, int | float) and n != "train_loss"
            ]  # train_loss: the run's mean
            for metric in self.metrics:
                # the shortest match: eval_exact, not eval_NoAns_exact (a checkpoint's history is key-sorted)
                matches = sorted((n for n in names if n == metric or n.endswith("_" + metric)), key=len)
                if matches:
                    self.live.step = step
                    self.live.log_metric(f"{split}/{metric}", logs[matches[0]])
                    logged = True
        if logged:
            self.live.make_summary()
