"""Plain-text presentation of numbers and states: pure functions the pages share."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

# Quasar colour names per camera state: green when live, amber while recovering, red when dead.
STATE_COLORS = {
    "streaming": "positive",
    "starting": "info",
    "stalled": "warning",
    "reconnecting": "warning",
    "stopped": "grey",
    "failed": "negative",
}


def state_color(state: str) -> str:
    return STATE_COLORS.get(state, "grey")


def fps(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} fps"


def ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def age(seconds: float | None) -> str:
    if seconds is None:
        return "no frame"
    return f"{seconds * 1000:.0f} ms old" if seconds < 1 else f"{seconds:.1f} s old"


def size(num_bytes: int | None) -> str:
    if num_bytes is None:
        return "–"
    value = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def label_counts(labels: Iterable[str]) -> list[tuple[str, int]]:
    """Labels by how often they occur, most frequent first, ties alphabetical."""
    return sorted(Counter(labels).items(), key=lambda item: (-item[1], item[0]))


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}%"


def count(number: int, noun: str) -> str:
    """The number and the noun, plural unless one: 1 viewer, 0 viewers (regular nouns)."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def line_totals(counts: dict[str, dict[str, int]]) -> str:
    """A line's counts in both directions: "in 3 · out 1"."""
    return f"in {sum(counts.get('in', {}).values())} · out {sum(counts.get('out', {}).values())}"


def line_by_label(counts: dict[str, dict[str, int]]) -> str:
    """Per label, most counted first: "person 2 in 1 out · cat 1 in 0 out"."""
    inward, outward = counts.get("in", {}), counts.get("out", {})
    labels = sorted(
        set(inward) | set(outward), key=lambda k: (-inward.get(k, 0) - outward.get(k, 0), k)
    )
    return " · ".join(f"{k} {inward.get(k, 0)} in {outward.get(k, 0)} out" for k in labels)


def by_label(counts: dict[str, int]) -> str:
    """ "person 2, cat 1": most first, zeros left out."""
    ranked = sorted(((k, n) for k, n in counts.items() if n), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{k} {n}" for k, n in ranked)
