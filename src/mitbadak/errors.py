"""Exceptions the library raises on purpose; the CLI prints them as one line, no traceback."""


class MitbadakError(Exception):
    """Base class of mitbadak's own errors (bad files, missing data, failed downloads...)."""


class DataError(MitbadakError):
    """A dataset file is missing, truncated, corrupt or fails its checksum."""


class DownloadError(DataError):
    """Every mirror failed; the message names the files, the folders searched, the ways forward."""


class ModelFileError(MitbadakError):
    """A model file is corrupt, truncated, unsafe, or does not match its stated architecture."""
