"""Supervised fine-tuning of the correction model: plain Python, runnable alone with
`python -m correctly_assets.training`. Heavy libraries load only when training runs."""

from .config import TrainingConfig
from .sft import TrainingResult, run_training
from .tiny_model import build_tiny_model

__all__ = ["TrainingConfig", "TrainingResult", "build_tiny_model", "run_training"]
