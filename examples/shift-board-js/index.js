// The shift board example plugin, in JavaScript (componentize-js).
//
// The coop posts open shifts; workers claim them, first come first served,
// at most `max-shifts-per-week` per worker per ISO week. Same store layout
// and messages as the Rust and Python versions, so the three are
// interchangeable:
//
// - `seq`: JSON integer, the last shift number handed out;
// - `shift/<id>`: JSON {"id", "title", "starts_at", "ends_at", "claimed_by"};
// - `claim/<member>/<YYYY-Www>/<shift id>`: JSON true, tagged with the member.
//
// WIT u64 values are BigInts here; they are stored as JSON numbers (shift
// times are milliseconds, well below 2^53).

import * as store from 'coop:host/store@0.1.0';
import * as identity from 'coop:host/identity@0.1.0';
import * as config from 'coop:host/config@0.1.0';

const MAX_TITLE_CHARS = 200;
const DEFAULT_MAX_SHIFTS_PER_WEEK = 3;
const SCAN_PAGE = 1000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Throwing `{tag, val}` from an export returns that `error` case. */
function fail(tag, message) {
  throw { tag, val: message };
}

/** Run a host call; a host `err` comes back as a thrown ComponentError
 * whose payload is the `error` value: pass it on unchanged. */
function host(f) {
  try {
    return f();
  } catch (e) {
    if (e && typeof e === 'object' && 'payload' in e) {
      throw e.payload;
    }
    throw e;
  }
}

const load = (entry) => JSON.parse(decoder.decode(entry.value));
const dump = (value) => encoder.encode(JSON.stringify(value));

function toWit(record) {
  return {
    id: record.id,
    title: record.title,
    startsAt: BigInt(record.starts_at),
    endsAt: BigInt(record.ends_at),
    claimedBy: record.claimed_by ?? undefined,
  };
}

function scanAll(prefix) {
  const out = [];
  let after;
  for (;;) {
    const page = host(() => store.scan(prefix, after, SCAN_PAGE));
    out.push(...page);
    if (page.length < SCAN_PAGE) return out;
    after = page[page.length - 1].key;
  }
}

/** ISO 8601 week of a UTC time in ms, as `YYYY-Www`. */
function isoWeek(ms) {
  const d = new Date(ms);
  const day = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const weekday = day.getUTCDay() || 7; // Monday = 1 ... Sunday = 7
  day.setUTCDate(day.getUTCDate() + 4 - weekday); // the Thursday of this week
  const year = day.getUTCFullYear();
  const firstDay = Date.UTC(year, 0, 1);
  const week = Math.floor((day.getTime() - firstDay) / 86400000 / 7) + 1;
  return `${year}-W${String(week).padStart(2, '0')}`;
}

function weeklyCap() {
  const raw = host(() => config.get('max-shifts-per-week'));
  return raw === undefined ? DEFAULT_MAX_SHIFTS_PER_WEEK : Number(JSON.parse(raw));
}

export const shiftBoard = {
  postShift(shift) {
    const title = shift.title.trim();
    const chars = [...title].length;
    if (chars < 1 || chars > MAX_TITLE_CHARS) fail('invalid', 'title must be 1 to 200 characters');
    if (shift.endsAt <= shift.startsAt) fail('invalid', 'ends-at must be after starts-at');
    const seq = host(() => store.get('seq'));
    const number = (seq ? load(seq) : 0) + 1;
    host(() => store.swap('seq', seq ? seq.version : undefined, dump(number), undefined));
    const record = {
      id: `s-${String(number).padStart(6, '0')}`,
      title,
      starts_at: Number(shift.startsAt),
      ends_at: Number(shift.endsAt),
      claimed_by: null,
    };
    host(() => store.set(`shift/${record.id}`, dump(record), undefined));
    return toWit(record);
  },

  listShifts() {
    return scanAll('shift/').map((e) => toWit(load(e)));
  },

  claimShift(id) {
    const me = host(() => identity.caller()).member;
    if (me === undefined) fail('access-denied', 'only members can claim shifts');
    const entry = host(() => store.get(`shift/${id}`));
    if (!entry) fail('not-found', `no shift ${id}`);
    const record = load(entry);
    if (record.claimed_by === me) return toWit(record);
    if (record.claimed_by !== null) fail('conflict', `shift ${id} is already claimed`);
    const cap = weeklyCap();
    const week = isoWeek(record.starts_at);
    const claimed = scanAll(`claim/${me}/${week}/`).length;
    if (claimed >= cap) fail('invalid', `weekly cap of ${cap} shifts reached for ${week}`);
    record.claimed_by = me;
    host(() => store.swap(`shift/${id}`, entry.version, dump(record), undefined));
    host(() => store.set(`claim/${me}/${week}/${id}`, dump(true), me));
    return toWit(record);
  },

  myShifts() {
    const me = host(() => identity.caller()).member;
    if (me === undefined) return [];
    return scanAll('shift/')
      .map(load)
      .filter((r) => r.claimed_by === me)
      .map(toWit);
  },
};
