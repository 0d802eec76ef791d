"""nndl: fully-connected networks with every technique of "Improving the way
neural networks learn", vectorized, tested and reproducible.

The core needs NumPy alone; plotting, search, the SVM baseline and the
command line are optional extras imported only where used.
"""

from .callbacks import Callback, History, LambdaCallback
from .network import Network, NetworkConfig
from .serialization import load, save
from .training import DivergenceError, TrainConfig, Trainer, fit

__version__ = "0.1.0"

__all__ = [
    "Callback",
    "DivergenceError",
    "History",
    "LambdaCallback",
    "Network",
    "NetworkConfig",
    "TrainConfig",
    "Trainer",
    "__version__",
    "fit",
    "load",
    "save",
]
