"""Hooks that conftest.py files and plugins may implement to extend pytest-medmodel.

Registered by the plugin in ``pytest_addhooks`` (pytest-xdist's ``newhooks.py``
pattern). Implement them in a ``conftest.py`` or a plugin as usual; see pytest's
"Writing hook functions" documentation. Conftest files below the root directory
load during collection, so these hooks are called from collection onwards, never
earlier.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..gates.base import GateResult
    from ..models.specs import ModelOptions
    from ..suite.types import Item, Suite, Variant


@pytest.hookspec(firstresult=True)
def pytest_medmodel_make_adapter(config: pytest.Config, spec: str, options: ModelOptions) -> Any:
    """Build the model under test from a model spec (``--medmodel`` or the ``medmodel`` ini key).

    Return an adapter object (see :data:`pytest_medmodel.ModelAdapter`: its two protocols), a
    :class:`pytest_medmodel.ModelHandle`, or None to leave the spec to the next
    implementation. The plugin's own implementation runs last and resolves every
    spec it knows (folders, hub ids, GGUF files, ``demo``, ``py:``).

    Stops at first non-None result.

    :param config: the pytest config.
    :param spec: the model spec string.
    :param options: device, dtype, batch size and cache folder from the command line.

    Use in conftest plugins
    =======================

    Any conftest file can implement this hook to serve specs of its own, e.g.
    ``--medmodel=staging`` mapped to an HTTP endpoint adapter.
    """


def pytest_medmodel_modify_variants(config: pytest.Config, suite: Suite, item: Item, variants: list[Variant]) -> None:
    """Change the variants (tests) of one item, in place, at collection.

    ``variants`` holds the original item first, then one variant per perturbation
    the suite declares. Append, remove or replace entries; each variant's ``name``
    must be unique for the item (it becomes the test id ``item[<id>/<name>]``),
    ``item_id`` must stay the item's id, and the original (``name == ""``) must stay.
    Make changes deterministic: every xdist worker collects on its own and must
    get the same variants.

    :param config: the pytest config.
    :param suite: the loaded suite.
    :param item: the item whose variants these are.
    :param variants: the variants, to be modified in place.
    """


def pytest_medmodel_gate_result(config: pytest.Config, suite: Suite, result: GateResult) -> None:
    """Called after a gate test decided, before the test passes, fails or skips.

    For observing verdicts (posting to a dashboard, collecting figures); return
    value ignored. Under xdist it runs on the worker that ran the gate.

    :param config: the pytest config.
    :param suite: the gate's suite.
    :param result: the verdict, its message and its numbers.
    """
