"""Where the plugin keeps its per-process objects (``config.stash``), and how the rest of the skin finds them.

Kept apart from :mod:`.activation`, which builds them: the modules it imports to
do so (the session, the controller, collection) read them from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .settings import Settings

if TYPE_CHECKING:
    from .controller import Controller
    from .session import TestSession

SETTINGS_KEY = pytest.StashKey[Settings]()
SESSION_KEY = pytest.StashKey["TestSession"]()
CONTROLLER_KEY = pytest.StashKey["Controller"]()


def is_active(config: pytest.Config) -> bool:
    return SESSION_KEY in config.stash


def get_session(config: pytest.Config) -> TestSession:
    """This process's test session (the plugin is on: a suite was collected, or the run asked for it)."""
    return config.stash[SESSION_KEY]


def get_controller(config: pytest.Config) -> Controller | None:
    """The reporting controller: None in an xdist worker, or while the plugin is off."""
    return config.stash.get(CONTROLLER_KEY, None)
