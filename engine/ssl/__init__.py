"""Self-supervised methods: MoCo v2, MoCo v3, MoBY and Hatchery's upgraded MoBY."""

from engine.ssl.base import SelfSupervisedMethod, StepOutput
from engine.ssl.factory import build_method

__all__ = ["SelfSupervisedMethod", "StepOutput", "build_method"]
