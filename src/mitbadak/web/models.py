"""The models a playground offers: model files, run folders and the book's weights.

A :class:`ModelRegistry` maps short ids (``run-demo``, ``book``, ...) to model files. The web API
only ever looks models up by id, never by a path it was sent. Networks load on first use and are
cached; each has a lock, because a layer-by-layer forward pass writes the layers' caches.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mitbadak.core.errors import MitbadakError

__all__ = ["ModelEntry", "ModelRegistry", "UnknownModel", "BOOK_TEST_ACCURACY"]

#: The book's printed accuracy of ``sample_weight.pkl`` on the MNIST test set ("Accuracy:0.9352").
BOOK_TEST_ACCURACY = 0.9352


class UnknownModel(MitbadakError):
    """A model id that the registry does not hold."""


@dataclass
class ModelEntry:
    """One model the page can pick. ``accuracy`` is the test accuracy from the model's metadata.

    ``label`` is the English one-line description (the CLI's); the pages compose their own, in
    their language, from ``name`` (the file, run or upload's name), ``net_class`` (JSON
    ``network``: ``SimpleConvNet``, ``DeepConvNet``, ``MultiLayerNet``, ...), ``layers`` (the
    sizes of an MLP; None for a convnet), ``source`` (the book's edition) and ``kind``.
    """

    id: str
    label: str
    kind: str  # 'run', 'file', 'book' or 'upload'
    path: Path
    name: str = ""
    net_class: str | None = None
    source: str | None = None
    accuracy: float | None = None
    accuracy_note: str | None = None
    dataset: str | None = None
    layers: list[int] | None = None
    activation: str | None = None
    _network: Any = field(default=None, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "name": self.name or self.label,
            "network": self.net_class,
            "source": self.source,
            "kind": self.kind,
            "accuracy": self.accuracy,
            "accuracy_note": self.accuracy_note,
            "dataset": self.dataset,
            "layers": self.layers,
            "activation": self.activation,
        }

    def network(self):
        """The loaded network (loaded once, then cached)."""
        with self.lock:
            if self._network is None:
                from mitbadak.training.evaluation import load_any_model

                self._network, _meta = load_any_model(self.path)
            return self._network


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "model"


def _describe(entry: ModelEntry) -> None:
    """Fill accuracy/dataset/layers from the file's metadata, without loading the weights."""
    if entry.path.suffix == ".pkl":
        net = entry.network()  # the pickle has no separate metadata: import it (small, checked)
        from mitbadak.files.modelfile import BOOK_WEIGHTS_SHA256

        source = net.metadata.get("source", {}) if isinstance(net.metadata, dict) else {}
        entry.net_class = type(net).__name__
        if len(getattr(net, "input_shape", ())) > 1:  # the book's chapter 7-8 convnets
            entry.activation = "relu"
            entry.dataset = "mnist"
            entry.source = str(source.get("version", "?"))
            entry.label = f"{entry.label} ({type(net).__name__}, {entry.source})"
            if isinstance(source.get("accuracy"), float):
                entry.accuracy = source["accuracy"]
                entry.accuracy_note = "book"
            return
        entry.layers = [net.input_size, *net.hidden_sizes, net.output_size]
        entry.activation = net.activation
        entry.dataset = "mnist"
        if source.get("sha256") == BOOK_WEIGHTS_SHA256:
            entry.accuracy = BOOK_TEST_ACCURACY
            entry.accuracy_note = "book"
        return
    from mitbadak.files.modelfile import read_metadata

    meta = read_metadata(entry.path)
    final = meta.get("final_metrics") or {}
    acc = final.get("test_acc")
    if isinstance(acc, (int, float)):
        entry.accuracy = float(acc)
    net = meta.get("network") or {}
    constructor = net.get("constructor") if isinstance(net, dict) else None
    if isinstance(constructor, dict) and isinstance(constructor.get("class"), str):
        entry.net_class = constructor["class"][:40]  # SimpleConvNet, DeepConvNet, ...
    elif isinstance(net, dict) and isinstance(net.get("architecture"), str):
        entry.net_class = net["architecture"][:40]
    try:
        entry.layers = [
            int(net["input_size"]),
            *(int(h) for h in net["hidden_sizes"]),
            int(net["output_size"]),
        ]
        entry.activation = str(net.get("activation"))
    except (KeyError, TypeError, ValueError):
        pass
    shape = net.get("input_shape") if isinstance(net, dict) else None
    if isinstance(shape, list) and all(isinstance(n, int) for n in shape):
        inputs = int(np.prod(shape)) if shape else 0
        if inputs != 784:
            from mitbadak.core.errors import ModelFileError

            raise ModelFileError(
                f"{entry.path}: the model takes images of shape {tuple(shape)}, not 28x28 digits"
            )
    dataset = meta.get("dataset")
    entry.dataset = str(dataset) if dataset else None


class ModelRegistry:
    """Models by id, in the order they were added (the first is the default)."""

    def __init__(self) -> None:
        self._entries: dict[str, ModelEntry] = {}
        self.skipped: list[str] = []  # run folders add_runs could not read, with the reason
        self._skipped_paths: set[Path] = set()
        self._lock = threading.RLock()  # adding runs may happen while requests are served

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self):
        with self._lock:
            return iter(list(self._entries.values()))

    @property
    def default(self) -> ModelEntry:
        if not self._entries:
            raise UnknownModel("no models are loaded")
        return next(iter(self._entries.values()))

    def get(self, model_id: str | None) -> ModelEntry:
        """The entry for ``model_id`` (None: the default). Raises UnknownModel."""
        if model_id is None:
            return self.default
        entry = self._entries.get(model_id) if isinstance(model_id, str) else None
        if entry is None:
            known = ", ".join(self._entries) or "none"
            raise UnknownModel(f"unknown model {str(model_id)[:80]!r}; known models: {known}")
        return entry

    def _unique_id(self, base: str) -> str:
        candidate, n = base, 2
        while candidate in self._entries:
            candidate, n = f"{base}-{n}", n + 1
        return candidate

    def add(self, path: str | os.PathLike, *, kind: str | None = None) -> ModelEntry:
        """Add a model file (.npz), a run folder (holding model.npz) or the book's .pkl.

        Raises MitbadakError (ModelFileError) if it is not a readable model.
        """
        with self._lock:
            return self._add(path, kind)

    def _add(self, path: str | os.PathLike, kind: str | None) -> ModelEntry:
        from mitbadak.core.errors import ModelFileError

        p = Path(path)
        if p.is_dir():
            if not (p / "model.npz").is_file():
                raise ModelFileError(f"{p}: is a folder without a model.npz (not a run folder)")
            kind, label, file = kind or "run", p.name or str(p), p / "model.npz"
        elif not p.is_file():
            raise ModelFileError(f"{p}: no such model file or run folder")
        elif p.suffix == ".pkl":
            kind, label, file = kind or "book", p.name, p
        else:
            kind, label, file = kind or "file", p.stem, p
        for existing in self._entries.values():
            if existing.path.resolve() == file.resolve():
                return existing  # the same file given twice (e.g. a run also under --runs)
        base = kind if kind in ("book", "upload") else f"{kind}-{_slug(label)}"
        entry = ModelEntry(id=self._unique_id(base), label=label, kind=kind, path=file, name=label)
        _describe(entry)
        if entry.layers is not None and entry.layers[0] != 784:
            raise ModelFileError(
                f"{p}: the model expects {entry.layers[0]} inputs, not 28x28 images"
            )
        self._entries[entry.id] = entry
        return entry

    def remove(self, path: str | os.PathLike) -> None:
        """Forget the entry of the model file ``path`` (a refused upload), if there is one."""
        with self._lock:
            target = Path(path).resolve()
            for key, entry in list(self._entries.items()):
                if entry.path.resolve() == target:
                    del self._entries[key]

    def add_runs(self, runs_dir: str | os.PathLike) -> list[ModelEntry]:
        """Add every run folder directly under ``runs_dir`` that holds a readable model.npz.

        Calling it again adds only the runs that appeared since (the playground rescans on each
        ``GET /api/models``, so a run finished in another terminal shows up on reload).

        Folders whose model cannot be read are skipped; their errors are collected in
        ``self.skipped`` (a list of messages) for the caller to show.
        """
        with self._lock:
            return self._add_runs(Path(runs_dir))

    def _add_runs(self, root: Path) -> list[ModelEntry]:
        added: list[ModelEntry] = []
        if not root.is_dir():
            return added
        known = {entry.path.resolve() for entry in self._entries.values()}
        for folder in sorted(p for p in root.iterdir() if (p / "model.npz").is_file()):
            model = (folder / "model.npz").resolve()
            if model in known or model in self._skipped_paths:
                continue
            try:
                added.append(self._add(folder, "run"))
            except MitbadakError as exc:
                self._skipped_paths.add(model)
                self.skipped.append(str(exc))
        return added
