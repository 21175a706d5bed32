"""Where one ``mitbadak train --recipe ch5`` job spends its time, stage by stage.

Runs the CLI in this process with a few library functions wrapped by timers (no profiler, so
the training loop runs at full speed) and prints one JSON line: seconds from interpreter start to
``main`` (Python + imports), loading the data, the training steps, the per-epoch evaluation, the
checkpoints, the CSV history, the two PNG curves, the model file, and what is left over.

    OPENBLAS_NUM_THREADS=1 python benchmarks/ch5_stages.py [--iters N] [mitbadak train options]

Fashion-MNIST (``--dataset fashion-mnist``) is used unless the options name another dataset.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import tempfile
import time

pc = time.perf_counter
T0 = pc()
# Interpreter start to here: time.perf_counter() has no fixed origin, so estimate the part before
# this script's first line from the process's own CPU clock start (Linux: /proc/self/stat).


def _process_age() -> float:
    try:
        with open("/proc/self/stat") as fh:
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


BEFORE_SCRIPT = _process_age()
stages: dict[str, float] = {}


def timed(module, name: str, stage: str) -> None:
    fn = getattr(module, name)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        t = pc()
        try:
            return fn(*args, **kwargs)
        finally:
            stages[stage] = stages.get(stage, 0.0) + pc() - t

    setattr(module, name, wrapper)


def main() -> int:
    import mitbadak.files.modelfile as modelfile
    import mitbadak.training.loop as training
    import mitbadak.training.runs as runs
    from mitbadak.cli import main as cli_main  # the CLI's imports, as `mitbadak train` has them

    stages["imports"] = pc() - T0
    timed(runs, "load_training_data", "data")
    timed(training, "evaluate_checked", "evaluation")
    timed(training, "save_checkpoint", "checkpoints")
    timed(runs, "write_history", "history csv")
    timed(runs, "_write_curves", "plots")
    timed(modelfile, "save_model", "model file")
    timed(runs, "train", "train() total")
    args = sys.argv[1:]
    if "--dataset" not in args:
        args += ["--dataset", "fashion-mnist"]
    with tempfile.TemporaryDirectory() as out:
        t = pc()
        rc = cli_main(["train", "--recipe", "ch5", "--out", out, "--overwrite", "--quiet", *args])
        stages["main"] = pc() - t
    steps = stages["train() total"] - stages.get("evaluation", 0) - stages.get("checkpoints", 0)
    report = {
        "python start (before this script)": BEFORE_SCRIPT,
        "imports": stages["imports"],
        "data": stages.get("data", 0.0),
        "training steps": steps,
        "evaluation": stages.get("evaluation", 0.0),
        "checkpoints": stages.get("checkpoints", 0.0),
        "history csv": stages.get("history csv", 0.0),
        "plots": stages.get("plots", 0.0),
        "model file": stages.get("model file", 0.0),
    }
    accounted = sum(v for k, v in report.items() if k not in ("python start (before this script)",
                                                                "imports"))
    report["other"] = stages["main"] - accounted
    report["total"] = BEFORE_SCRIPT + stages["imports"] + stages["main"]
    print(json.dumps({k: round(v, 4) for k, v in report.items()}))
    return rc


if __name__ == "__main__":
    sys.exit(main())
