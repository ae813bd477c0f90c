"""Find Ray worker processes by their process title, to kill them for real in tests."""

from pathlib import Path


def pids_titled(prefix: bytes) -> list[int]:
    """Process ids whose command line (Ray sets it to ``ray::<task or actor>``) starts with
    ``prefix``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes()
            except OSError:
                continue  # exited meanwhile
            if title.startswith(prefix):
                pids.append(int(entry.name))
    return pids
