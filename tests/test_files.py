"""mitbadak.core.atomic: the one atomic writer every file goes through."""

from __future__ import annotations

import os
import stat

import pytest

from mitbadak.core.atomic import atomic_write, atomic_write_text


def test_writes_and_creates_folders(tmp_path):
    path = atomic_write_text(tmp_path / "a" / "b" / "x.txt", "안녕 hello\n")
    assert path.read_text(encoding="utf-8") == "안녕 hello\n"
    assert os.listdir(path.parent) == ["x.txt"]


def test_failure_keeps_old_content_and_leaves_no_temp(tmp_path):
    path = atomic_write_text(tmp_path / "x.txt", "old")

    def broken(fh):
        fh.write(b"half of the new")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, broken)
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["x.txt"]


def test_permissions_follow_umask_not_private(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "x.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
