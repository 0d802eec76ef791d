"""nndl: fully-connected networks with every technique of "Improving the way
neural networks learn", vectorized, tested and reproducible.

The core needs NumPy alone; plotting, search, the SVM baseline and the
command line are optional extras imported only where used.
"""

from ._version import __version__
from .callbacks import (
    BatchMonitor,
    Callback,
    Checkpoint,
    Diagnostics,
    EarlyStopping,
    GeneralizationLossStopping,
    History,
    LambdaCallback,
    PlateauSchedule,
    ProgressBar,
    ProgressQuotientStopping,
    ScheduleCallback,
    TensorBoard,
)
from .network import Network, NetworkConfig
from .serialization import load, save
from .training import DivergenceError, TrainConfig, Trainer, TrainingInterrupted, fit, resume

__all__ = [
    "BatchMonitor",
    "Callback",
    "Checkpoint",
    "Diagnostics",
    "DivergenceError",
    "EarlyStopping",
    "GeneralizationLossStopping",
    "History",
    "LambdaCallback",
    "Network",
    "NetworkConfig",
    "PlateauSchedule",
    "ProgressBar",
    "ProgressQuotientStopping",
    "ScheduleCallback",
    "TensorBoard",
    "TrainConfig",
    "Trainer",
    "TrainingInterrupted",
    "__version__",
    "export_onnx",
    "fit",
    "load",
    "resume",
    "save",
]


def __getattr__(name: str):
    # ONNX export is imported on first use: `import nndl` stays light.
    if name == "export_onnx":
        from .export import export_onnx

        return export_onnx
    raise AttributeError(f"module 'nndl' has no attribute {name!r}")
