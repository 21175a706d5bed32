"""Model files uploaded to the playground: ``POST /api/models/upload``.

The body is the file itself (``Content-Type: application/octet-stream``; ``?name=`` is only a
label). The rules:

* at most :data:`MAX_UPLOAD_BYTES` (the app's body limit for this route counts bytes as they
  arrive; over it: 413 before anything is written);
* a type check on the first bytes: a mitbadak model file (``.npz``, a zip: ``PK\\x03\\x04``) or
  one of the book's pickles (protocol 2+: ``\\x80``); anything else is 415;
* read only by the safe readers (``files/modelfile.py``'s checked ``.npz`` reader, the pickle
  interpreter of ``files/bookweights.py``: never ``pickle``);
* kept in a folder the server makes (``tempfile.mkdtemp``, removed at exit) under a name the
  server makes; no path is ever taken from the request; a file that does not load is deleted at
  once, so a refused upload leaves nothing behind;
* listed (``kind: "upload"``) until the server stops; at most :data:`MAX_UPLOADS` of them.
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
import threading
import uuid
from pathlib import Path

from mitbadak.core.atomic import atomic_write_bytes
from mitbadak.core.errors import MitbadakError

__all__ = ["UPLOAD_PATH", "MAX_UPLOAD_BYTES", "MAX_UPLOADS", "UploadRefused", "ModelUploads"]

#: The route that takes uploads (``api/conv.py``); the app gives it ``MAX_UPLOAD_BYTES``.
UPLOAD_PATH = "/api/models/upload"
#: The largest model file accepted (the book's SimpleConvNet pickle is 3.5 MB).
MAX_UPLOAD_BYTES = 16_000_000
#: How many uploaded models a server keeps.
MAX_UPLOADS = 8

_KINDS = {b"PK\x03\x04": ".npz", b"\x80": ".pkl"}


class UploadRefused(MitbadakError):
    """An upload the server refuses; ``status`` is the HTTP status, the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _label(name: str | None, suffix: str) -> str:
    stem = re.sub(r"[^\w.\- ]+", "", (name or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1])
    return stem.strip()[:60] or f"uploaded{suffix}"


class ModelUploads:
    """The uploaded models of one server, in a private folder, added to ``registry``."""

    def __init__(self, registry, max_uploads: int = MAX_UPLOADS) -> None:
        self.registry = registry
        self.max_uploads = int(max_uploads)
        self.ids: list[str] = []
        self._folder: Path | None = None
        self._lock = threading.Lock()

    @property
    def full(self) -> bool:
        """True when the server holds its most uploads (a new one is a 409, unread)."""
        return len(self.ids) >= self.max_uploads

    def refusal_when_full(self) -> UploadRefused:
        """The 409 past the cap."""
        return UploadRefused(
            409,
            f"this server already holds {self.max_uploads} uploaded models (the most it keeps); "
            "restart it for more",
        )

    @property
    def folder(self) -> Path:
        """The server's own upload folder (made on first use, removed when the process ends)."""
        if self._folder is None or not self._folder.is_dir():
            self._folder = Path(tempfile.mkdtemp(prefix="mitbadak-models-"))
            atexit.register(shutil.rmtree, self._folder, True)
        return self._folder

    def add(self, data: bytes, name: str | None = None):
        """Check, store and register ``data``; returns the registry's entry.

        Raises :class:`UploadRefused` (413 too large, 415 not a model file, 400 unreadable,
        409 too many uploads); nothing is left on disk or listed then.
        """
        from mitbadak.core.errors import ModelFileError

        if len(data) > MAX_UPLOAD_BYTES:
            raise UploadRefused(413, f"the model file is {len(data):,} bytes; at most "
                                     f"{MAX_UPLOAD_BYTES:,} bytes are accepted")  # fmt: skip
        suffix = next((s for magic, s in _KINDS.items() if data.startswith(magic)), None)
        if suffix is None:
            raise UploadRefused(415, "not a model file: expected a mitbadak model (.npz) or one "
                                     "of the book's weight pickles (.pkl)")  # fmt: skip
        with self._lock:
            if self.full:
                raise self.refusal_when_full()
            path = self.folder / f"upload-{uuid.uuid4().hex}{suffix}"
            atomic_write_bytes(path, data)  # never a half-written file under a model's name
            try:
                entry = self.registry.add(path, kind="upload")
                entry.network()  # load it now: a file that does not load is refused here
            except (MitbadakError, ModelFileError, ValueError, KeyError, TypeError) as exc:
                path.unlink(missing_ok=True)
                self.registry.remove(path)
                message = str(exc).replace(str(path), "the uploaded file")
                raise UploadRefused(400, f"not a readable model file: {message[:300]}") from None
            except BaseException:
                path.unlink(missing_ok=True)
                self.registry.remove(path)
                raise
            entry.name = _label(name, suffix)
            detail = ", ".join(filter(None, [entry.net_class, entry.source]))
            entry.label = " ".join(filter(None, [entry.name, f"({detail})" if detail else "",
                                                 "(uploaded)"]))  # fmt: skip
            self.ids.append(entry.id)
            return entry
