"""Training: one loop (:class:`Trainer`), swappable strategies, hooks, evaluation."""
from .config import K_CPT_SET, METHODS, TrainConfig  # noqa: F401
from .evaluate import evaluate  # noqa: F401
from .hooks import Checkpointer, Hook, MetricsLogger, PeriodicEvaluation, ProgressBar  # noqa: F401
from .loop import Trainer  # noqa: F401
from .strategies import (  # noqa: F401
    STRATEGIES, Actor, OptimisticCritic, PragmaticCritic, Static, Strategy, StepResult, strategy_from_config,
)
