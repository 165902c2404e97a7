"""Image files on disk, in one folder per hour of expiry so that sweeping is cheap.

A file lives in `images/<hour its URL expires>/img-….<ext>`. When that hour has
passed, every URL that points into the folder is already refused, so the
whole folder is removed. The request log is never swept.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


class ImageStore:
    def __init__(self, root: Path) -> None:
        self.root = root / "images"
        self.root.mkdir(parents=True, exist_ok=True)
        self._made: set[Path] = set()

    def _path(self, image_id: str, ext: str, expires: float) -> Path:
        return self.root / str(int(expires // 3600)) / f"{image_id}.{ext}"

    def save(self, image_id: str, ext: str, expires: float, data: bytes) -> Path:
        path = self._path(image_id, ext, expires)
        if path.parent not in self._made:
            path.parent.mkdir(exist_ok=True)
            self._made.add(path.parent)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return path

    def load(self, image_id: str, ext: str, expires: float) -> bytes | None:
        try:
            return self._path(image_id, ext, expires).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def sweep(self, now: float) -> int:
        """Remove every folder whose hour has fully passed; return how many files went."""
        current = int(now // 3600)
        removed = 0
        for entry in self.root.iterdir():
            if entry.is_dir() and entry.name.isdigit() and int(entry.name) < current:
                removed += sum(1 for _ in entry.iterdir())
                shutil.rmtree(entry, ignore_errors=True)
                self._made.discard(entry)
        return removed

    def count(self) -> int:
        return sum(1 for _ in self.root.glob("*/*"))
