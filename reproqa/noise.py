"""Seed noise of the headline metrics: how far each one moves when nothing changes but the seeds. A pull request
that moves integrated F1 by 0.5 on 200 test questions has changed one answer; whether that is a real change or
the luck of a seed is what this band says.

benchmarks/noise.py reruns the pipeline with other seeds and writes `noise_of(runs)` to metrics/noise.json
(committed); `reproqa report` marks each headline change within or beyond BAND standard deviations:

>>> runs = [{"integrated": {"f1": f1, "f1_ci": {"low": f1 - 5, "high": f1 + 5}}, "data": {"test": 200}}
...         for f1 in (60.0, 61.0, 62.0)]
>>> noise = noise_of(runs, "train.seed varied: 1, 2, 3")
>>> noise["metrics"], noise["runs"]
({'integrated.f1': {'mean': 61.0, 'std': 1.0}}, 3)
>>> verdict(1.5, noise["metrics"]["integrated.f1"]), verdict(-2.5, noise["metrics"]["integrated.f1"])
('within noise', 'beyond noise')

Plain Python, no numpy: the pull-request workflow installs only dvc and the report's renderer.
"""

import statistics

from reproqa.errors import UserError

NOISE = "metrics/noise.json"  # written by benchmarks/noise.py, committed, read by `reproqa report`
# Within noise: |change| < 2 std. The difference of two runs that differ only in their seeds has a std of
# std x 1.41 and, if normal, stays under 2 std about 84% of the time. With 4 runs the std itself is uncertain by
# about 40%, so the verdict is a flag for the reviewer, not a significance test.
BAND = 2


def flatten(metrics: dict, prefix: str = "") -> dict:
    """Metrics as dvc names them: nested keys joined with dots.

    >>> flatten({"integrated": {"f1": 70.0, "f1_ci": {"low": 65.0}}, "data": {"test": 200}})
    {'integrated.f1': 70.0, 'integrated.f1_ci.low': 65.0, 'data.test': 200}
    """
    flat = {}
    for key, value in metrics.items():
        flat |= flatten(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value}
    return flat


def banded(name: str) -> bool:
    """Whether headline metric `name` gets a noise band: the scores, which a seed moves. Not the counts in data.*
    or retriever.top_k, which describe the run, nor the bounds of a confidence interval (*_ci.low, *_ci.high),
    an uncertainty of their own.

    >>> [name for name in ("integrated.f1", "integrated.f1_ci.low", "retriever.top_k", "data.test") if banded(name)]
    ['integrated.f1']
    """
    return not name.startswith("data.") and name != "retriever.top_k" and "_ci." not in name


def noise_of(runs: list[dict], method: str, digits: int | None = None) -> dict:
    """The noise file: the mean and sample standard deviation of each banded metric over `runs` (headline
    metrics, as metrics/evaluate/metrics.json holds them), how many runs, and `method`, which says how they
    differ. Rounded to `digits` places, or not when None."""
    if len(runs) < 2:
        raise UserError(f"a noise band needs at least 2 runs, got {len(runs)}")
    flat = [flatten(run) for run in runs]
    names = [name for name, value in flat[0].items() if banded(name) and isinstance(value, int | float)]
    metrics = {}
    for name in names:
        values = [run[name] for run in flat]
        mean, std = statistics.fmean(values), statistics.stdev(values)
        if digits is not None:
            mean, std = round(mean, digits), round(std, digits)
        metrics[name] = {"mean": mean, "std": std}
    return {"method": method, "runs": len(runs), "metrics": metrics}


def verdict(change: float, band: dict) -> str:
    """The verdict on a change of a metric with noise `band` (an entry of the noise file's metrics): "within
    noise" where |change| < BAND x its std, else "beyond noise"."""
    return "within noise" if abs(change) < BAND * band["std"] else "beyond noise"
