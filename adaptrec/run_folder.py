"""Run folders: one folder per run config, resumable, refusing to mix two runs.

A folder holds ``config.json``, ``steps/<agent>.parquet`` (one per finished agent) and the
report files; a rerun of the same config continues where it stopped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from adaptrec.core.config import RunConfig
from adaptrec.core.files import atomic_write_text
from adaptrec.logs import read_metadata, steps_path

REPORT_FILES = ("summary.json", "report.md", "ctr.png", "adaptation.png", "survival.png")
"""What :func:`adaptrec.report.build_report` writes into a run folder."""


def finished_agents(config: RunConfig, out_dir: str | os.PathLike[str]) -> list[str]:
    """Agents of ``config`` whose complete log for this exact config is already in ``out_dir``."""
    done = []
    for name in config.agents:
        path = steps_path(out_dir, name)
        if path.is_file():
            try:
                if RunConfig.from_dict(read_metadata(path)["config"]) == config:
                    done.append(name)
            except (ValueError, TypeError, OSError):
                pass  # unreadable or foreign file: it is rewritten
    return done


class RunDirectoryError(ValueError):
    """The output folder holds a different run."""


def prepare_run_dir(
    config: RunConfig, out_dir: str | os.PathLike[str], overwrite: bool = False
) -> list[str]:
    """Create or check ``out_dir``; return the agents already finished there.

    A folder holding the same config is continued (finished agents are kept, half-written
    ``*.tmp`` files are discarded); one holding a different config is refused unless
    ``overwrite``, which deletes its step logs and report first.
    """
    out = Path(out_dir)
    config_path = out / "config.json"
    if out.is_dir() and not config_path.is_file() and any(out.iterdir()):
        raise RunDirectoryError(
            f"--out {str(out)!r} is a folder that holds other files and no adaptrec run "
            "(no config.json); choose a new or empty folder"
        )
    if config_path.is_file():
        try:
            existing = RunConfig.from_json(config_path.read_text())
        except (ValueError, TypeError):
            existing = None
        if existing != config:
            if not overwrite:
                raise RunDirectoryError(
                    f"--out {str(out)!r} holds a run with a different config; choose another "
                    "--out, or pass --overwrite to replace it"
                )
            for path in [*(out / "steps").glob("*.parquet*"), *(out / f for f in REPORT_FILES)]:
                path.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    for stale in (out / "steps").glob("*.tmp"):
        stale.unlink()
    atomic_write_text(config_path, json.dumps(config.to_dict(), indent=2) + "\n")
    return finished_agents(config, out)


def default_out_dir(config: RunConfig) -> Path:
    """``runs/run-<config digest>``: the same config always lands in (and resumes) one folder."""
    return Path("runs") / f"run-{config.digest()}"
