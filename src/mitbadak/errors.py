"""Exceptions the library raises on purpose; the CLI prints them as one line, no traceback."""

from __future__ import annotations

import os
from collections.abc import Sequence


class MitbadakError(Exception):
    """Base class of mitbadak's own errors (bad files, missing data, failed downloads...)."""


class DataError(MitbadakError):
    """A dataset file is missing, truncated, corrupt or fails its checksum."""


class DownloadError(DataError):
    """Every mirror failed; the message names the files, the folders searched, the ways forward."""


class DatasetUnavailable(DownloadError):
    """A dataset's files are in no folder searched and could not be downloaded.

    ``str(exc)`` is the library's message (it names keyword arguments such as ``data_dir=``);
    the fields let other clients (the CLI, the web API) word the way forward in their own terms.
    """

    def __init__(
        self,
        message: str,
        *,
        dataset: str,
        missing: Sequence[str],
        searched: Sequence[str | os.PathLike] = (),
        rejected: Sequence[str] = (),
        reason: str = "",
        download_disabled: bool = False,
    ) -> None:
        super().__init__(message)
        self.dataset = dataset
        self.missing = list(missing)
        self.searched = [str(p) for p in searched]
        self.rejected = list(rejected)
        self.reason = reason
        self.download_disabled = download_disabled


class ModelFileError(MitbadakError):
    """A model file is corrupt, truncated, unsafe, or does not match its stated architecture."""


class RunFolderError(MitbadakError):
    """A run folder is in use by another process, or one of its files is damaged."""


class BookWeightsUnavailable(DatasetUnavailable):
    """One of the book's files (``sample_weight.pkl``, ...) is in no folder searched.

    ``str(exc)`` is two lines: the file and the folders searched, then how to get it.
    ``dataset`` is the download group that holds the file (``'book-weights'``).
    """
