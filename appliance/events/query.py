"""Event listing: filters to SQL, newest first, and the opaque cursor for the next page.

The order is (start_time, id) descending, and the cursor holds the last row's (start_time, id),
so a page starts strictly after it: rows with equal start times are neither repeated nor skipped,
and events written between pages never shift what comes next."""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any

from appliance.errors import InvalidCursorError, InvalidInputError
from appliance.events.model import COLUMNS, EVENT_ID, EventRecord

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
MAX_CURSOR = 200  # ours are about 60 characters
SELECT = f"SELECT {', '.join(COLUMNS)} FROM events"
# with a zone, the rows come from the zone's index range in event_zones, in the same order
IN_ZONE = (
    f"SELECT {', '.join(f'e.{c}' for c in COLUMNS)} FROM event_zones z"
    " JOIN events e ON e.id = z.event_id WHERE z.zone = ?"
)


@dataclass(frozen=True)
class EventQuery:
    """`after`/`before` bound start_time, both exclusive (as Frigate's API)."""

    camera: str | None = None
    label: str | None = None
    zone: str | None = None
    after: float | None = None
    before: float | None = None
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None

    def sql(self) -> tuple[str, list[Any]]:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidInputError(f"limit must be 1 to {MAX_LIMIT}, not {self.limit}")
        if self.zone is None:
            select, where, args = SELECT, [], []
            time_column, id_column = "start_time", "id"
        else:
            select, where, args = IN_ZONE, [], [self.zone]
            time_column, id_column = "z.start_time", "z.event_id"
        for column, value in (("camera", self.camera), ("label", self.label)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        for op, bound in ((">", self.after), ("<", self.before)):
            if bound is not None:
                if not math.isfinite(bound):
                    raise InvalidInputError(f"time bounds must be finite numbers, not {bound}")
                where.append(f"{time_column} {op} ?")
                args.append(bound)
        if self.cursor is not None:
            start, last_id = decode_cursor(self.cursor)
            # the first term bounds the index range, the second breaks ties by id
            where.append(f"{time_column} <= ? AND ({time_column} < ? OR {id_column} < ?)")
            args += [start, start, last_id]
        joiner = " AND " if self.zone is not None else " WHERE "
        clause = joiner + " AND ".join(where) if where else ""
        order = f"ORDER BY {time_column} DESC, {id_column} DESC"
        # one row more than asked tells whether there is a next page
        return f"{select}{clause} {order} LIMIT ?", [*args, self.limit + 1]

    def page(self, rows: list[tuple[Any, ...]]) -> tuple[list[EventRecord], str | None]:
        records = [EventRecord.from_row(row) for row in rows[: self.limit]]
        more = len(rows) > self.limit
        return records, (encode_cursor(records[-1]) if more else None)


def encode_cursor(last: EventRecord) -> str:
    raw = json.dumps([last.start_time, last.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    if len(cursor) > MAX_CURSOR:
        raise InvalidCursorError(f"malformed cursor {cursor[:64]!r}…: too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        start, last_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidCursorError(f"malformed cursor {cursor[:64]!r}") from exc
    valid = (
        isinstance(start, (int, float))
        and not isinstance(start, bool)
        and math.isfinite(start)
        and isinstance(last_id, str)
        and EVENT_ID.fullmatch(last_id)
    )
    if not valid:
        raise InvalidCursorError(f"malformed cursor {cursor[:64]!r}")
    return float(start), last_id
