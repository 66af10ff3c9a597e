"""Tests for the app-owned export folder: one folder, old and surplus files deleted on write."""

from __future__ import annotations

import os
import time
from pathlib import Path

from nlg_assistant.exports import ExportFolder


def test_exports_share_one_folder_and_keep_the_visible_name(tmp_path):
    folder = ExportFolder(tmp_path / "exports")
    first, second = folder.write("story", "one"), folder.write("story", "two")
    assert first != second and first.endswith("/story.md") and second.endswith("/story.md")
    assert os.path.dirname(os.path.dirname(first)) == str(tmp_path / "exports")
    assert Path(first).read_text(encoding="utf-8") == "one"
    assert folder.write("../../etc/passwd", "x").startswith(str(tmp_path / "exports"))


def test_old_exports_are_deleted_on_the_next_write(tmp_path):
    folder = ExportFolder(tmp_path / "exports", max_age_s=60)
    old = folder.write("old", "x")
    hour_ago = time.time() - 3600
    os.utime(os.path.dirname(old), (hour_ago, hour_ago))
    fresh = folder.write("fresh", "y")
    assert not os.path.exists(old) and os.path.exists(fresh)


def test_spam_keeps_at_most_max_files(tmp_path):
    folder = ExportFolder(tmp_path / "exports", max_files=5)
    paths = [folder.write(f"n{i}", "x" * 1000) for i in range(40)]
    left = sorted(p.name for p in (tmp_path / "exports").iterdir())
    assert len(left) == 5
    assert all(os.path.exists(p) for p in paths[-5:])  # the newest survive


def test_nothing_is_created_before_the_first_write_and_close_removes_all(tmp_path):
    folder = ExportFolder(tmp_path / "exports")
    assert folder.sweep() == 0 and not (tmp_path / "exports").exists()
    folder.write("a", "x")
    folder.close()
    assert not (tmp_path / "exports").exists()
