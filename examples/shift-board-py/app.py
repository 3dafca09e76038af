"""The shift board example plugin in Python: the coop posts open shifts,
workers claim them, first come first served, at most `max-shifts-per-week`
per worker per ISO week.

Store layout (shared with the Rust and JavaScript versions, byte for byte):

- `seq`: JSON integer, the last shift number handed out;
- `shift/<id>`: JSON `{"id", "title", "starts_at", "ends_at",
  "claimed_by"}`, no member tag;
- `claim/<member>/<YYYY-Www>/<shift id>`: JSON `true`, tagged with the
  member, one per claim, counted for the weekly cap.

Host functions raise `Err(error)` when they fail; we let those propagate,
so a host error becomes this function's `err` unchanged. Our own errors are
raised the same way.
"""

import json
from typing import Any, List, Optional

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.shift_board import NewShift, Shift
from wit_world.imports import config, identity, store
from wit_world.imports.types import (
    Error_AccessDenied,
    Error_Conflict,
    Error_Internal,
    Error_Invalid,
    Error_NotFound,
)

# Longest title accepted, in characters (code points) after trimming.
MAX_TITLE_CHARS = 200

# Weekly cap when the coop's configuration does not declare one.
DEFAULT_MAX_SHIFTS_PER_WEEK = 3

# The most records one store scan may return.
SCAN_LIMIT = 1000

MS_PER_DAY = 86_400_000


class ShiftBoard(exports.ShiftBoard):
    def post_shift(self, shift: NewShift) -> Shift:
        title = trim(shift.title)
        if not 1 <= len(title) <= MAX_TITLE_CHARS:
            raise Err(Error_Invalid("title must be 1 to 200 characters"))
        if shift.ends_at <= shift.starts_at:
            raise Err(Error_Invalid("ends-at must be after starts-at"))
        shift_id = next_id()
        record = {
            "id": shift_id,
            "title": title,
            "starts_at": shift.starts_at,
            "ends_at": shift.ends_at,
            "claimed_by": None,
        }
        store.set(shift_key(shift_id), encode(record), None)
        return to_shift(record)

    def list_shifts(self) -> List[Shift]:
        return [to_shift(record) for record in all_shifts()]

    def claim_shift(self, id: str) -> Shift:
        member = identity.caller().member
        if member is None:
            raise Err(Error_AccessDenied("only members can claim shifts"))
        entry = store.get(shift_key(id))
        if entry is None:
            raise Err(Error_NotFound(f"no shift {id}"))
        record = decode_shift(entry.key, entry.value)
        holder = record["claimed_by"]
        if holder == member:
            return to_shift(record)
        if holder is not None:
            raise Err(Error_Conflict(f"shift {id} is already claimed"))

        cap = config_int("max-shifts-per-week", DEFAULT_MAX_SHIFTS_PER_WEEK)
        week = iso_week_label(record["starts_at"])
        claimed = len(scan_all(f"claim/{member}/{week}/"))
        if claimed >= cap:
            raise Err(Error_Invalid(f"weekly cap of {cap} shifts reached for {week}"))

        record["claimed_by"] = member
        # Compare-and-swap on the version we read: of two workers racing for
        # one shift, exactly one wins.
        store.swap(shift_key(id), entry.version, encode(record), None)
        store.set(f"claim/{member}/{week}/{id}", encode(True), member)
        return to_shift(record)

    def my_shifts(self) -> List[Shift]:
        # Anonymous and host calls have no claims.
        member = identity.caller().member
        if member is None:
            return []
        return [to_shift(r) for r in all_shifts() if r["claimed_by"] == member]


def shift_key(shift_id: str) -> str:
    return f"shift/{shift_id}"


def format_id(n: int) -> str:
    return f"s-{n:06d}"


def next_id() -> str:
    """Take the next shift id by compare-and-swap on `seq`, so two posts
    never share an id."""
    current = store.get("seq")
    if current is None:
        n, expected = 1, None
    else:
        last = decode(current.key, current.value)
        if not is_u64(last):
            raise Err(Error_Internal(
                f"record {current.key} is not the JSON this plugin expects: not an integer"
            ))
        n, expected = last + 1, current.version
    store.swap("seq", expected, encode(n), None)
    return format_id(n)


def scan_all(prefix: str) -> List[store.Entry]:
    """Every record under `prefix`, in key order. Stops on an empty page, not
    a short one: a host may cap pages below what we ask for."""
    entries: List[store.Entry] = []
    while True:
        after: Optional[str] = entries[-1].key if entries else None
        page = store.scan(prefix, after, SCAN_LIMIT)
        if not page:
            return entries
        entries.extend(page)


def all_shifts() -> List[dict]:
    """Every shift in id order: ids are zero-padded, so key order is id
    order."""
    return [decode_shift(e.key, e.value) for e in scan_all("shift/")]


def config_int(name: str, default: int) -> int:
    """Integer parameter `name`, or `default` if the manifest does not
    declare it."""
    text = config.get(name)
    if text is None:
        return default
    try:
        value = json.loads(text)
    except ValueError as e:
        value, problem = None, str(e)
    else:
        problem = "not an integer"
    if isinstance(value, bool) or not isinstance(value, int):
        raise Err(Error_Internal(
            f"config parameter {name} has value {text} that this plugin cannot read "
            f"({problem}): check its type in plugin.toml"
        ))
    return value


def encode(value: Any) -> bytes:
    # Compact and not ASCII-escaped, like serde_json and JSON.stringify.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def decode(key: str, raw: bytes) -> Any:
    try:
        return json.loads(bytes(raw).decode("utf-8"))
    except ValueError as e:
        raise Err(Error_Internal(f"record {key} is not the JSON this plugin expects: {e}"))


def decode_shift(key: str, raw: bytes) -> dict:
    value = decode(key, raw)
    ok = (
        isinstance(value, dict)
        and isinstance(value.get("id"), str)
        and isinstance(value.get("title"), str)
        and is_u64(value.get("starts_at"))
        and is_u64(value.get("ends_at"))
        and (value.get("claimed_by") is None or isinstance(value.get("claimed_by"), str))
    )
    if not ok:
        raise Err(Error_Internal(f"record {key} is not the JSON this plugin expects: not a shift"))
    return {
        "id": value["id"],
        "title": value["title"],
        "starts_at": value["starts_at"],
        "ends_at": value["ends_at"],
        "claimed_by": value.get("claimed_by"),
    }


def is_u64(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**64


def to_shift(record: dict) -> Shift:
    return Shift(
        id=record["id"],
        title=record["title"],
        starts_at=record["starts_at"],
        ends_at=record["ends_at"],
        claimed_by=record["claimed_by"],
    )


# Rust's `str::trim` removes Unicode `White_Space` characters; Python's
# `str.strip()` also removes a few separators that are not (U+001C..U+001F),
# so trim with the exact set to keep the versions identical.
WHITE_SPACE = (
    "\u0009\u000a\u000b\u000c\u000d\u0020\u0085\u00a0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def trim(s: str) -> str:
    return s.strip(WHITE_SPACE)


def iso_week_label(ms: int) -> str:
    """The ISO week of `ms` (milliseconds since the epoch, UTC) as
    `YYYY-Www`. Pure arithmetic, so it works for any u64 timestamp."""
    year, week = iso_week(ms // MS_PER_DAY)
    return f"{year:04d}-W{week:02d}"


def iso_week(days: int) -> tuple:
    # 1970-01-01 was a Thursday; Monday is 0. A week belongs to the ISO
    # year holding its Thursday.
    weekday = (days + 3) % 7
    thursday = days - weekday + 3
    year = civil_year(thursday)
    return year, (thursday - days_from_civil(year, 1, 1)) // 7 + 1


def civil_year(days: int) -> int:
    """Proleptic Gregorian year of the day `days` after 1970-01-01."""
    z = days + 719_468
    era, doe = divmod(z, 146_097)
    yoe = (doe - doe // 1_460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if month <= 2 else 0)


def days_from_civil(year: int, month: int, day: int) -> int:
    y = year - 1 if month <= 2 else year
    era, yoe = divmod(y, 400)
    mp = month - 3 if month > 2 else month + 9
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468
