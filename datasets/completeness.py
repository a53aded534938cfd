"""Is the staging area the whole run? ``finalize`` never completes a short run silently.

Why: finishing an interrupted run (138 of 600 episodes staged) produces a dataset that looks complete,
and the next ``collect --resume`` then finds it finished. The collector records what it was asked for in
``meta/flywheel.json`` (``config.episodes``, ``config.success_only``; a replay also ``replayed_from``)
and, for every run, a ``runs[]`` record (``interrupted``, ``error``, episodes dropped as non-finite,
crashed or raised). From these the finaliser knows how many episodes a finished run ends with:

- a normal run: every requested key, less those the last run dropped *if that run ended normally*
  (dropped keys are retried by a resume, so only a completed run's drops are final);
- a success-only run: the first N successes (``keys`` given by the collector), nothing dropped;
- a replay: the episodes selected in ``replayed_from``;
- unknown (no count recorded, e.g. a dataset written through the Python API): no check.

Fewer than that is refused (IncompleteDataset, pointing to ``--resume``) unless the caller says
``allow_partial=True``; ``meta/flywheel.json`` then records ``"partial": true`` with both counts.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._io import DatasetError

_DROP_KEYS = ("dropped_nonfinite", "dropped_crash", "dropped_error")


class IncompleteDataset(DatasetError):
    """The staging area holds fewer episodes than the run was asked for (an interrupted run)."""


@dataclass(frozen=True)
class Expected:
    """How many episodes the finished run should hold, and how that was worked out."""

    requested: int
    dropped: int  # by a run that ended normally: final, not missing
    resume_command: str

    @property
    def target(self) -> int:
        return self.requested - self.dropped


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _selection_size(ranges: Any) -> int | None:
    """Episodes in replay's ``replayed_from.episodes``: a list of "a:b" ranges."""
    if not isinstance(ranges, list):
        return None
    n = 0
    for r in ranges:
        try:
            a, b = (int(x) for x in str(r).split(":"))
        except ValueError:
            return None
        n += max(0, b - a)
    return n


def expected_episodes(meta: dict[str, Any], spec: dict[str, Any]) -> Expected | None:
    """What a complete run holds, from ``meta/flywheel.json`` (``meta``) and ``staging/spec.json`` (``spec``)."""
    config = meta.get("config") if isinstance(meta.get("config"), dict) else spec.get("config")
    config = config if isinstance(config, dict) else {}
    replayed = meta.get("replayed_from")
    retargeted = meta.get("retarget")
    if isinstance(retargeted, dict) and _count(retargeted.get("kept")):
        # a finished retarget run keeps only the episodes that succeeded on the new robot, and says how many
        return Expected(_count(retargeted["kept"]), 0, "flywheel retarget ... --out {root} --resume")
    if isinstance(replayed, dict):
        requested = _selection_size(replayed.get("episodes"))
        command = "flywheel replay ... --out {root} --resume"
    else:
        requested = _count(config.get("episodes"))
        command = "flywheel collect ... --out {root} --resume"
    if not requested:
        return None
    dropped = 0
    runs = meta.get("runs")
    last = runs[-1] if isinstance(runs, list) and runs else None
    if not config.get("success_only") and isinstance(last, dict) and last.get("interrupted") is False and not last.get("error"):
        dropped = sum(_count(last.get(k)) or 0 for k in _DROP_KEYS)
    return Expected(requested, min(dropped, requested), command)


def check_complete(root: Path, kept: int, expected: Expected | None, allow_partial: bool) -> dict[str, Any]:
    """Raise IncompleteDataset for a short run unless ``allow_partial``; the fields to record in flywheel.json."""
    if expected is None:
        return {}
    short = kept < expected.target
    if short and not allow_partial:
        dropped = f" ({expected.dropped} dropped by the run)" if expected.dropped else ""
        raise IncompleteDataset(
            root,
            f"only {kept} of {expected.requested} requested episodes are staged{dropped}: the run did not finish. "
            f"Resume it with `{expected.resume_command.format(root=root)}` (same options as the run), or finish "
            f"it short on purpose with `flywheel dataset finalize --allow-partial {root}`",
        )
    fields: dict[str, Any] = {"partial": short, "requested_episodes": expected.requested, "kept_episodes": kept}
    if expected.dropped:
        fields["dropped_episodes"] = expected.dropped
    return fields
