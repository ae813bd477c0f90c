"""Atomic outputs: every file adaptrec writes appears whole or not at all.

A writer gets a temporary path beside the target (same folder, so the final rename is atomic on
one file system); the rename happens only when the writer finished without an exception, and
the temporary file is removed otherwise. An interrupted run therefore leaves either the old file
or the new one, never half of one, and a rerun simply writes again.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``.

    The temporary name keeps ``path``'s suffix (``.x.png.abc123.tmp.png``), so writers that
    pick a format from the extension (matplotlib) still do.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}"
    )
    os.close(handle)
    try:
        yield Path(tmp)
        # mkstemp creates the file 0600; give it the mode any other program's file would get
        # (0666 less the user's umask), so colleagues who may read the folder can read a run.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask (reading it means setting it; set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and a rename."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
