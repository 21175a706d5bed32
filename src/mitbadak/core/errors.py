"""Exceptions the library raises on purpose; the CLI prints them as one line, no traceback."""

from __future__ import annotations

import os
from collections.abc import Sequence
from urllib.parse import urlsplit


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def dataset_problem(
    dataset: str,
    missing: Sequence[str],
    searched: Sequence[str | os.PathLike],
    rejected: Sequence[str] = (),
    reason: str = "",
) -> str:
    """The first line of a missing-dataset message, shared by the library and the CLI:
    'dataset 'mnist' is not available: missing F, G. Searched: A, B. Rejected: ... Reason.'"""
    env = "" if os.environ.get("MITBADAK_DATA") else " ($MITBADAK_DATA is not set)"
    folders = ", ".join(str(d) for d in searched) or "(no folder)"
    text = f"dataset {dataset!r} is not available: missing {', '.join(missing)}. "
    text += f"Searched: {folders}{env}."
    if rejected:
        text += " Rejected: " + "; ".join(rejected) + "."
    if reason:
        text += f" {reason[0].upper()}{reason[1:].rstrip('.')}."
    return _one_line(text)


class MitbadakError(Exception):
    """Base class of mitbadak's own errors (bad files, missing data, failed downloads...)."""


class DataError(MitbadakError):
    """A dataset file is missing, truncated, corrupt or fails its checksum."""


class DownloadError(DataError):
    """Every mirror failed; the message names the files, the folders searched, the ways forward.

    ``failures`` lists (URL, why) per mirror tried for ``file``, where a download was tried.
    """

    def __init__(
        self, message: str, *, file: str = "", failures: Sequence[tuple[str, str]] = ()
    ) -> None:
        super().__init__(message)
        self.file = file
        self.failures = list(failures)

    def summary(self) -> str:
        """The failures on one line, mirrors that failed alike grouped by host:
        'download of F failed: host-a, host-b: timed out; host-c: HTTP 404 Not Found'."""
        if not self.failures:
            return f"download failed: {_one_line(str(self))}"
        hosts = [urlsplit(url).netloc or url for url, _ in self.failures]
        if len(set(hosts)) < len(hosts):  # e.g. two repositories on one host: add the owner
            hosts = [
                f"{host}/{urlsplit(url).path.strip('/').split('/')[0]}"
                for host, (url, _) in zip(hosts, self.failures, strict=True)
            ]
        grouped: dict[str, list[str]] = {}
        for host, (_, why) in zip(hosts, self.failures, strict=True):
            grouped.setdefault(_one_line(why), []).append(host)
        parts = "; ".join(f"{', '.join(hosts)}: {why}" for why, hosts in grouped.items())
        return f"download of {self.file} failed: {parts}"


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
