"""Reading a suite file's YAML strictly: one clear line for anything a human did not mean.

``yaml.safe_load`` never runs code, but it quietly keeps the last of two equal
keys, and YAML aliases let a few lines expand into billions of values (the
"billion laughs" bomb that hangs collection). Suite files are short and written
by hand, so both are refused with the line they are on.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from ..suite.types import SuiteError


@functools.cache
def _strict_loader() -> Any:
    """SafeLoader that refuses duplicate keys and aliases (built on first use: yaml loads only with a suite)."""
    import yaml

    class _StrictLoader(yaml.SafeLoader):
        """SafeLoader that refuses duplicate keys and aliases."""

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"the alias *{event.anchor} (YAML aliases are not allowed in suite files)",
                    event.start_mark,
                )
            return super().compose_node(parent, index)

        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if isinstance(key, (str, int, float, bool)) and key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key '{key}' appears twice in one mapping", key_node.start_mark
                    )
                if isinstance(key, (str, int, float, bool)):
                    seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return _StrictLoader


def read_yaml(path: Path) -> Any:
    """The suite file's content, or a :class:`SuiteError` naming the line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        problem = f"is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
        raise SuiteError(path, "(file)", problem, "save it as UTF-8") from None
    except OSError as exc:
        raise SuiteError(path, "(file)", f"cannot be read ({exc.strerror})", "check the path and permissions") from None
    import yaml

    try:
        return yaml.load(text, Loader=_strict_loader()) or {}  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(yaml)"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        fix = "write each key once" if "appears twice" in problem else "fix the YAML syntax"
        if "alias" in problem:
            fix = "write the value out instead of referring to an anchor"
        raise SuiteError(path, where, f"invalid YAML ({problem})", fix) from None
