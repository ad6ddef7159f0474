"""Training curves for DVC: a Trainer callback that logs chosen metrics with DVCLive.

transformers' own `report_to="dvclive"` also logs every TrainingArguments field as a param, which floods
`dvc exp show`; params live in params.yaml, so this logs only the metrics a stage names.
"""

from dvclive import Live
from transformers import TrainerCallback


class LiveMetrics(TrainerCallback):
    """Writes <folder>/plots/metrics/{train,eval}/<metric>.tsv at each logging step, and <folder>/metrics.json.

    `metrics`: short names to keep, matched against the end of the Trainer's names, so the evaluator's
    "eval_validation_cosine_ndcg@10" is logged as eval/ndcg@10.
    """

    def __init__(self, folder: str, metrics: list[str]):
        self.live = Live(folder, dvcyaml=False, save_dvc_exp=False, report=None)
        self.metrics = metrics

    def on_log(self, args, state, control, logs=None, **kwargs):
        logged = set()
        for name, value in (logs or {}).items():
            split = "eval" if name.startswith("eval_") else "train"
            short = next((m for m in self.metrics if name == m or name.endswith("_" + m)), None)
            # the first match wins: eval_exact, not the eval_NoAns_exact that follows it
            if short and f"{split}/{short}" not in logged and isinstance(value, int | float) and name != "train_loss":
                self.live.step = state.global_step
                self.live.log_metric(f"{split}/{short}", value)
                logged.add(f"{split}/{short}")
        if logged:
            self.live.make_summary()

    def on_train_end(self, args, state, control, **kwargs):
        self.live.end()
