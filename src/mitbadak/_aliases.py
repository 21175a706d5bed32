"""The module names of mitbadak 0.1 (one flat folder), kept working for one release.

``import mitbadak.networks``, ``from mitbadak.layers import Affine``,
``from mitbadak.datasets.idx import read_idx``, ``mitbadak.plots``: each old name in :data:`MOVED`
(a moved package's submodules follow it) imports the module at its new place and puts that *same
module object* into ``sys.modules`` under the old name too, so both names see one set of globals
(monkeypatching either changes both). The first import of an old name warns once
(``DeprecationWarning``, naming the new path). ``mitbadak.training`` is not here: it is a package
now, and it re-exports the loop's public names itself.

One meta-path finder does it, installed by ``mitbadak/__init__.py``; no shim files.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

#: old module name -> its new name (docs/architecture.md has the layout).
MOVED: dict[str, str] = {
    "mitbadak._checks": "mitbadak.core._checks",
    "mitbadak._files": "mitbadak.core.atomic",
    "mitbadak.backend": "mitbadak.core.backend",
    "mitbadak.errors": "mitbadak.core.errors",
    "mitbadak.functions": "mitbadak.core.functions",
    "mitbadak.gradient": "mitbadak.core.differentiation",
    "mitbadak.layers": "mitbadak.nn.layers",
    "mitbadak.networks": "mitbadak.nn.networks",
    "mitbadak.fused": "mitbadak.nn.fast_path",
    "mitbadak.gradcheck": "mitbadak.nn.gradcheck",
    "mitbadak.optimizers": "mitbadak.nn.optimizers",
    "mitbadak.gpu_kernels": "mitbadak.devices.cuda_kernels",
    "mitbadak.gpu_step": "mitbadak.devices.fused_step",
    "mitbadak.modelfile": "mitbadak.files.modelfile",
    "mitbadak.bookweights": "mitbadak.files.bookweights",
    "mitbadak.export": "mitbadak.files.export",
    "mitbadak.images": "mitbadak.files.photos",
    "mitbadak.datasets": "mitbadak.files.datasets",
    "mitbadak.runhistory": "mitbadak.training.history",
    "mitbadak.recipes": "mitbadak.training.recipes",
    "mitbadak.runs": "mitbadak.training.runs",
    "mitbadak.evaluation": "mitbadak.training.evaluation",
    "mitbadak.progress": "mitbadak.training.progress",
    "mitbadak.figures": "mitbadak.views.figures",
    "mitbadak.plots": "mitbadak.views.plots",
    "mitbadak.fonts": "mitbadak.views.fonts",
    "mitbadak.descent": "mitbadak.views.descent",
    "mitbadak.graphs": "mitbadak.views.computational_graphs",
    "mitbadak.boundary": "mitbadak.views.boundary",
    "mitbadak.inspection": "mitbadak.views.inspection",
}


def new_name(fullname: str) -> str | None:
    """The new name of an old module name (``mitbadak.datasets.idx`` included), else None."""
    head, sep, rest = fullname.partition(".")
    if head != "mitbadak" or not sep:
        return None
    parts = fullname.split(".")
    for i in range(len(parts), 1, -1):  # the longest old prefix: mitbadak.datasets, not mitbadak
        moved = MOVED.get(".".join(parts[:i]))
        if moved is not None:
            return ".".join([moved, *parts[i:]])
    return None


class _AliasLoader(importlib.abc.Loader):
    """Loads an old name as the module at its new name (the same object, not a copy)."""

    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new
        self._real_spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.new)
        self._real_spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system has just set module.__spec__ to the alias's spec: give the real one
        # back, so the module keeps its own name, file and loader.
        module.__spec__ = self._real_spec
        warnings.warn(_message(self.old), DeprecationWarning, stacklevel=2)


class AliasFinder(importlib.abc.MetaPathFinder):
    """Finds the old names of :data:`MOVED` (first on ``sys.meta_path``, so that a moved
    package's submodule is never loaded a second time under its old name)."""

    def find_spec(self, fullname, path=None, target=None):
        new = new_name(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(fullname, new))


def install() -> None:
    """Put one :class:`AliasFinder` first on ``sys.meta_path`` (again: no change)."""
    if not any(isinstance(finder, AliasFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, AliasFinder())


def old_module(name: str) -> ModuleType:
    """``mitbadak.<name>`` for an old top-level module name (the root's ``__getattr__``)."""
    old = f"mitbadak.{name}"
    if old not in MOVED:
        raise AttributeError(f"module 'mitbadak' has no attribute {name!r}")
    with warnings.catch_warnings():  # warned below, pointing at the caller's line
        warnings.simplefilter("ignore", DeprecationWarning)
        module = importlib.import_module(old)
    warnings.warn(_message(old), DeprecationWarning, stacklevel=3)
    return module


def _message(old: str) -> str:
    return (
        f"{old} moved to {new_name(old)}; import it from there "
        f"(the old name works until mitbadak 0.3)"
    )
