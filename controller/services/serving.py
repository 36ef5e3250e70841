"""The embedded engine in the foreground (``deployctl up``, ``scheduler``, ``runner``): its
loops until SIGTERM, and a runner's settings. ``app.App.loop_settings`` wires the run store."""

from __future__ import annotations

from controller.runtime.loops import LoopSettings, serve
from controller.runtime.processes import LogLimit
from controller.runtime.runner import RunnerConfig

__all__ = ["LogLimit", "LoopSettings", "RunnerConfig", "serve"]
