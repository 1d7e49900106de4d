"""Prompt optimization: GEPA (through the `gepa` package) and a TextGrad-style baseline over agent roles."""

from sleuth.optimizers.base import Metric, Outcome, Rollout, Score, Task
from sleuth.optimizers.config import OptimizeConfig
from sleuth.optimizers.jobs import JobError, JobResult, run_job

__all__ = ["JobError", "JobResult", "Metric", "OptimizeConfig", "Outcome", "Rollout", "Score", "Task", "run_job"]
