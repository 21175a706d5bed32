"""Training: the epoch loop (``loop``), a run's state and history (``history``), recipes and their
options with ``TrainConfig`` (``recipes``), running one into its folder (``runs``), the folder's
layout and lock (``run_folder``), the numerical-gradient time estimate (``cost_estimate``),
evaluation and progress bars. Imports ``core``, ``nn``, ``devices`` and ``files``; ``views``
plugs the run curves in (``runs.register_curve_writer``).

``from mitbadak.training import train`` keeps working: the loop's public names are re-exported
here (the module ``mitbadak.training`` of 0.1 is now ``mitbadak.training.loop``).
"""

from mitbadak.training.loop import (
    METRIC_FIELDS,
    EarlyStopping,
    History,
    LoopState,
    TrainingDiverged,
    TrainingStopped,
    TrainResult,
    end_epoch,
    evaluate,
    evaluate_checked,
    load_checkpoint,
    read_history,
    save_checkpoint,
    split_validation,
    train,
    train_step,
    write_history,
)

__all__ = [
    "History",
    "TrainResult",
    "TrainingDiverged",
    "TrainingStopped",
    "LoopState",
    "EarlyStopping",
    "train",
    "train_step",
    "end_epoch",
    "evaluate",
    "evaluate_checked",
    "split_validation",
    "write_history",
    "read_history",
    "save_checkpoint",
    "load_checkpoint",
    "METRIC_FIELDS",
]
