"""Export files in one app-owned folder, swept after a few minutes (pure Python: no gradio).

Each Export click writes a Markdown file for the visitor to download. Written to a fresh
temporary folder per click and never deleted, they fill the disk for anyone who calls the
handler in a loop (issue 13). `ExportFolder` keeps every export under one folder of its own,
deletes files older than `max_age_s` on each write (gradio copies the file into its own cache
when it serves it, so the original is only needed for a moment), and keeps at most
`max_files`, oldest deleted first. Nothing is created until the first write.

>>> folder = ExportFolder(max_age_s=600)
>>> path = folder.write("story", "# A story\\n")
>>> open(path, encoding="utf-8").read()
'# A story\\n'
>>> folder.close()
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path

DEFAULT_MAX_AGE_S = 600.0  # ten minutes: enough for gradio to copy the file into its cache
DEFAULT_MAX_FILES = 200
SAFE_STEM = re.compile(r"[^A-Za-z0-9._-]+")


class ExportFolder:
    """Writes exports under one folder; old and surplus files are deleted on each write."""

    def __init__(
        self,
        root: Path | None = None,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        max_files: int = DEFAULT_MAX_FILES,
    ) -> None:
        self._root = root
        self._count = 0
        self.max_age_s = max_age_s
        self.max_files = max_files
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        """The folder (created on first use: a fresh ``nlg-exports-*`` temporary folder by default)."""
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="nlg-exports-"))
        self._root.mkdir(parents=True, exist_ok=True)
        return self._root

    def write(self, stem: str, text: str) -> str:
        """Write `text` to ``<root>/<unique>/<stem>.md`` after sweeping; return the file's path.

        The file keeps the name the visitor sees (`stem`, made safe), in a folder of its own.
        """
        with self._lock:
            self.sweep()
            self._count += 1  # file times are coarse (ms): names keep the order of writes
            folder = self.root / f"{time.time_ns():020d}-{self._count:06d}-{uuid.uuid4().hex[:8]}"
            folder.mkdir()
            path = folder / f"{SAFE_STEM.sub('-', stem).strip('-.') or 'export'}.md"
            path.write_text(text, encoding="utf-8")
            return str(path)

    def sweep(self, now: float | None = None) -> int:
        """Delete exports older than `max_age_s`, then the oldest beyond `max_files - 1`; returns how many."""
        if self._root is None or not self._root.is_dir():
            return 0
        now = time.time() if now is None else now
        folders = sorted((p for p in self._root.iterdir() if p.is_dir()), key=lambda p: p.name)
        doomed = [p for p in folders if now - _mtime(p) > self.max_age_s]
        kept = [p for p in folders if p not in doomed]
        doomed += kept[: max(0, len(kept) - (self.max_files - 1))]
        for folder in doomed:
            shutil.rmtree(folder, ignore_errors=True)
        return len(doomed)

    def close(self) -> None:
        """Delete the whole folder (at shutdown)."""
        with self._lock:
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # deleted meanwhile
        return 0.0
