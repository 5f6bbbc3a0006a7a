"""The plugin's switch: nothing of it is built until a run asks for it.

pytest loads the plugin in every run of every project where the package is
installed. A run that names no model, passes no ``--medmodel*`` flag and names
no suite file starts with the plugin off: no test session, no reporting
controller, no baseline folder touched, and only this module and the hooks
imported. It turns on (:func:`activate`) the moment the run needs it: when a
suite file is collected, when a test asks for a ``medmodel`` fixture, or, on the
xdist controller, when a worker collected a suite. Each process turns on at most
once; what it builds is kept in ``config.stash``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .state import CONTROLLER_KEY, SESSION_KEY, SETTINGS_KEY, get_controller, is_active

if TYPE_CHECKING:
    from .session import TestSession

PLUGINS = ("medmodel-controller", "medmodel-selection")
"""The plugin objects :func:`activate` registers (the after-run tasks register their own names)."""


def activate(config: pytest.Config) -> TestSession:
    """Turn the plugin on in this process (once): the test session, and where reports arrive, the controller."""
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        return session
    from .after_run import register_tasks
    from .controller import Controller
    from .gpu import pin_worker_gpu
    from .selection import GatesFollowItems
    from .session import TestSession

    settings = config.stash[SETTINGS_KEY]
    if settings.spec is not None:
        pin_worker_gpu(config)  # before anything can initialise CUDA
    session = config.stash[SESSION_KEY] = TestSession(config, settings)
    config.pluginmanager.register(GatesFollowItems(), "medmodel-selection")
    if not hasattr(config, "workerinput"):
        controller = config.stash[CONTROLLER_KEY] = Controller(config, settings)
        config.pluginmanager.register(controller, "medmodel-controller")
        register_tasks(config, settings)
    return session


def deactivate(config: pytest.Config) -> None:
    """At the end of the run: close the session, drop the run-scoped stores, unregister what was registered."""
    xdist_hooks = config.pluginmanager.get_plugin("medmodel-xdist")
    if xdist_hooks is not None:
        config.pluginmanager.unregister(xdist_hooks)
    if not is_active(config):
        return
    from .after_run import unregister_tasks

    session = config.stash[SESSION_KEY]
    controller = get_controller(config)
    session.close()
    if controller is not None:
        session.remove_run_stores(controller.run_ids)
        del config.stash[CONTROLLER_KEY]
    del config.stash[SESSION_KEY]
    for name in PLUGINS:
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None:
            config.pluginmanager.unregister(plugin)
    unregister_tasks(config)
