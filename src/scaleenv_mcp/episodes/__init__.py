"""The episodes layer: many isolated episodes per domain, and the harness-only control channel."""

from __future__ import annotations

from .control import ControlClient, ControlError, serve_control
from .coordinator import Coordinator, Episode, EpisodeError
from .store import EpisodeStore

__all__ = ["ControlClient", "ControlError", "Coordinator", "Episode", "EpisodeError", "EpisodeStore", "serve_control"]
