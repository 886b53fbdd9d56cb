"""The episodes layer: many isolated episodes per domain, and the harness-only control channel."""

from __future__ import annotations

from .control import ControlClient, ControlError, serve_control
from .coordinator import Coordinator, EpisodeError, LiveEpisode
from .store import EpisodeStore

__all__ = ["ControlClient", "ControlError", "Coordinator", "EpisodeError", "EpisodeStore", "LiveEpisode", "serve_control"]
