"""A live view of a run: each agent's learning as TensorBoard scalars, written while it runs.

``adaptrec run --tensorboard DIR`` gives every agent a writer in ``DIR/<agent>`` (and
``DIR/<agent>/users-<first>`` per shard when the users run in shards), which after every
step adds, over that shard's users:

* ``ctr/running`` and ``ctr/step``: clicks per shown slot, so far and at this step;
* ``share_of_oracle/running`` and ``share_of_oracle/step``: the shown slates' expected clicks
  over the oracle's, so far and at this step (the learning curve);
* ``train/<name>`` for every finite figure the agent's ``update`` returns (``train/loss``:
  the behaviour predictor's training loss; ``train/restarts`` of a restarting learner).

Open it with ``tensorboard --logdir DIR`` (``pip install tensorboard``). The view is a side
channel: it does not change a run's results or its folder, and a run without it is
unchanged. Ray workers write into ``DIR`` on the machine they run on (give a shared
filesystem path on a multi-node cluster).
"""

from __future__ import annotations

import math
import os
import struct
from collections import defaultdict
from pathlib import Path

import numpy as np

from adaptrec.envs.population import StepOutcome

FLUSH_SECONDS = 2
"""How often event files reach the disk: often enough to watch a run go."""


class LiveView:
    """The TensorBoard writer of one agent's shard (see the module docstring)."""

    def __init__(self, log_dir: str | os.PathLike[str], agent: str, shard: str | None) -> None:
        from tensorboardX import SummaryWriter

        path = Path(log_dir) / agent
        if shard is not None:
            path = path / shard
        self.writer = SummaryWriter(logdir=str(path), flush_secs=FLUSH_SECONDS)
        self._clicks = self._slots = self._expected = self._oracle = 0.0

    def add_step(self, step: int, outcome: StepOutcome, metrics: dict[str, float]) -> None:
        """Scalars of simulation step ``step`` (1 = after the first slate)."""
        clicks, slots = float(outcome.clicked.sum()), float(outcome.clicked.size)
        expected = float(outcome.expected_clicks.sum())
        oracle = float(outcome.oracle_expected_clicks.sum())
        self._clicks += clicks
        self._slots += slots
        self._expected += expected
        self._oracle += oracle
        scalars = {
            "ctr/step": clicks / slots,
            "ctr/running": self._clicks / self._slots,
            "share_of_oracle/step": expected / oracle if oracle > 0 else math.nan,
            "share_of_oracle/running": self._expected / self._oracle if self._oracle else math.nan,
        }
        for name, value in metrics.items():
            if isinstance(value, (int, float, np.floating)) and math.isfinite(value):
                scalars[f"train/{name}"] = float(value)
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, step)

    def close(self) -> None:
        self.writer.close()


def shard_label(user_ids: np.ndarray, n_users: int) -> str | None:
    """The sub-folder of a shard's writer: ``None`` when the shard holds every user."""
    if len(user_ids) == n_users:
        return None
    return f"users-{int(user_ids[0]):0{len(str(n_users - 1))}d}"


def read_scalars(log_dir: str | os.PathLike[str]) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """Every scalar under ``log_dir``: ``{run: {tag: [(step, value), ...]}}``, ``run`` being
    the event file's folder relative to ``log_dir`` (e.g. ``llm-cosine``). Reads the event
    files' TFRecord framing directly, so it needs neither TensorBoard nor TensorFlow."""
    from tensorboardX.proto import event_pb2

    root = Path(log_dir)
    out: dict[str, dict[str, list[tuple[int, float]]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(root.rglob("events.out.tfevents.*")):
        data, at = path.read_bytes(), 0
        while at + 12 <= len(data):
            (length,) = struct.unpack("<Q", data[at : at + 8])
            record = data[at + 12 : at + 12 + length]
            at += 12 + length + 4  # length, its crc, the record, its crc
            event = event_pb2.Event.FromString(record)
            for value in event.summary.value:
                run = path.parent.relative_to(root).as_posix()
                out[run][value.tag].append((int(event.step), float(value.simple_value)))
    return {run: dict(tags) for run, tags in out.items()}
