import { type Db, newId, type Queryable } from '../../server/plugin-api/index.ts';

export type Aggregation = 'count' | 'sum' | 'max' | 'unique_count' | 'latest';

export interface Meter {
  id: string;
  key: string;
  name: string;
  aggregation: Aggregation;
  unit: string;
  coreEvent: string | null;
}

export interface UsageEventInput {
  transactionId: string;
  meter: string;
  /** Whole units; COUNT meters ignore it. Default 1. */
  value?: number;
  /** What UNIQUE COUNT meters count distinct values of. */
  uniqueKey?: string;
  /** When the usage happened (default: now). */
  timestamp?: Date;
}

export type EventOutcome =
  | { transactionId: string; status: 'accepted' | 'duplicate' }
  | { transactionId: string; status: 'conflict'; reason: string }
  | { transactionId: string; status: 'rejected'; field: string; reason: string };

export interface MeterUsage {
  meter: string;
  name: string;
  aggregation: Aggregation;
  unit: string;
  value: number;
  events: number;
}

const FUTURE_SKEW_MS = 5 * 60_000;
const METER_CACHE_MS = 10_000;

/**
 * Usage metering. Each accepted event is one row keyed by (account,
 * transaction_id): a replayed or reordered event can never count twice, and
 * the statement that inserts the events also folds exactly the inserted rows
 * (RETURNING) into per-day aggregates (and, for UNIQUE COUNT, the days each
 * distinct key was seen), so totals equal the sum of accepted
 * events whatever the order and duplication, and reading a period costs one
 * row per meter and day.
 */
export function createMetering(
  db: Db,
  opts: {
    latenessMs: number;
    now?: () => Date;
    /** The end of the account's last invoiced usage period: events before it can no longer be billed. */
    closedBefore?: (accountId: string) => Promise<Date | null>;
  },
) {
  const now = opts.now ?? (() => new Date());
  let cache: { at: number; byKey: Map<string, Meter> } | undefined;

  const toMeter = (r: any): Meter => ({
    id: r.id,
    key: r.key,
    name: r.name,
    aggregation: r.aggregation,
    unit: r.unit,
    coreEvent: r.core_event,
  });

  async function meters(refresh = false): Promise<Map<string, Meter>> {
    if (!refresh && cache && Date.now() - cache.at < METER_CACHE_MS) return cache.byKey;
    const rows = await db.query('SELECT * FROM billing_meters ORDER BY key');
    cache = { at: Date.now(), byKey: new Map(rows.map((r) => [r.key as string, toMeter(r)])) };
    return cache.byKey;
  }

  async function meterByKey(key: string): Promise<Meter | undefined> {
    return (await meters()).get(key) ?? (await meters(true)).get(key);
  }

  async function createMeter(input: {
    key: string;
    name: string;
    aggregation: Aggregation;
    unit?: string;
    coreEvent?: string | null;
  }): Promise<Meter | undefined> {
    const row = await db.maybeOne(
      `INSERT INTO billing_meters (id, key, name, aggregation, unit, core_event)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING RETURNING *`,
      [newId('mtr'), input.key, input.name, input.aggregation, input.unit ?? 'unit', input.coreEvent ?? null],
    );
    cache = undefined;
    return row && toMeter(row);
  }

  /** Checks one event against the meters and the lateness window; a reason when it is refused. */
  function check(
    e: UsageEventInput,
    byKey: Map<string, Meter>,
    at: Date,
    lateness: boolean,
    closed: Date | null,
  ): { field: string; reason: string } | Meter {
    const meter = byKey.get(e.meter);
    if (!meter) return { field: 'meter', reason: `no meter "${e.meter}"` };
    if (meter.aggregation === 'unique_count' && !e.uniqueKey)
      return { field: 'uniqueKey', reason: `meter "${e.meter}" counts distinct uniqueKey values; give one` };
    const ts = e.timestamp ?? at;
    if (ts.getTime() > at.getTime() + FUTURE_SKEW_MS)
      return { field: 'timestamp', reason: 'is more than 5 minutes in the future' };
    if (lateness && ts.getTime() < at.getTime() - opts.latenessMs)
      return {
        field: 'timestamp',
        reason: `is older than the accepted lateness (${Math.round(opts.latenessMs / 3_600_000)} h)`,
      };
    if (closed && ts < closed)
      return {
        field: 'timestamp',
        reason: `falls in a period already invoiced (before ${closed.toISOString()})`,
      };
    return meter;
  }

  /**
   * Records events for one account; each gets its own outcome, in input order.
   * `lateness: false` for core events, whose delivery may lag behind the window.
   */
  async function ingest(
    accountId: string,
    events: UsageEventInput[],
    { lateness = true }: { lateness?: boolean } = {},
  ): Promise<EventOutcome[]> {
    const at = now();
    let byKey = await meters();
    if (events.some((e) => !byKey.has(e.meter))) byKey = await meters(true);
    const closed = (await opts.closedBefore?.(accountId)) ?? null;
    const outcomes: EventOutcome[] = new Array(events.length);
    // First occurrence of a transaction id in the call wins; the rest are compared to it.
    const first = new Map<string, { index: number; row: Row }>();
    for (const [i, e] of events.entries()) {
      const meter = check(e, byKey, at, lateness, closed);
      if (!('id' in meter)) {
        outcomes[i] = { transactionId: e.transactionId, status: 'rejected', ...meter };
        continue;
      }
      const row: Row = {
        tid: e.transactionId,
        meterId: meter.id,
        value: meter.aggregation === 'count' ? 1 : (e.value ?? 1),
        ukey: meter.aggregation === 'unique_count' ? e.uniqueKey! : null,
        at: (e.timestamp ?? at).toISOString(),
        atGiven: !!e.timestamp,
      };
      const seen = first.get(row.tid);
      if (seen) outcomes[i] = compare(row, seen.row);
      else first.set(row.tid, { index: i, row });
    }
    const rows = [...first.values()].map((f) => f.row).sort((a, b) => (a.tid < b.tid ? -1 : 1));
    const inserted = rows.length ? await insert(db, accountId, rows) : new Set<string>();
    const existing = rows.filter((r) => !inserted.has(r.tid));
    const stored = new Map<string, Row>();
    if (existing.length) {
      const found = await db.query(
        `SELECT transaction_id, meter_id, value, unique_key, occurred_at FROM billing_events
          WHERE account_id = $1 AND transaction_id = ANY($2::text[])`,
        [accountId, existing.map((r) => r.tid)],
      );
      for (const f of found)
        stored.set(f.transaction_id, {
          tid: f.transaction_id,
          meterId: f.meter_id,
          value: Number(f.value),
          ukey: f.unique_key,
          at: new Date(f.occurred_at).toISOString(),
          atGiven: true,
        });
    }
    for (const { index, row } of first.values()) {
      if (inserted.has(row.tid)) outcomes[index] = { transactionId: row.tid, status: 'accepted' };
      else {
        const prior = stored.get(row.tid);
        outcomes[index] = prior
          ? compare(row, prior)
          : { transactionId: row.tid, status: 'conflict', reason: 'could not be stored, send it again' };
      }
    }
    return outcomes;
  }

  /**
   * Usage of each meter for `accountId` in [start, end) (UTC midnights), from
   * the daily aggregates: every meter is listed, 0 when unused.
   */
  async function usage(accountId: string, start: Date, end: Date, q: Queryable = db): Promise<MeterUsage[]> {
    const [days, uniques, all] = await Promise.all([
      q.query(
        `SELECT meter_id, sum(events)::bigint AS events, sum(total)::bigint AS total, max(max_value) AS max_value,
                (array_agg(latest_value ORDER BY latest_at DESC, latest_tid DESC))[1] AS latest
           FROM billing_usage_daily
          WHERE account_id = $1 AND day >= $2::date AND day < $3::date
          GROUP BY meter_id`,
        [accountId, start.toISOString(), end.toISOString()],
        'billing_usage_days',
      ),
      q.query(
        `SELECT meter_id, count(*)::bigint AS n FROM billing_usage_unique_keys
          WHERE account_id = $1 AND days && daterange($2::date, $3::date) GROUP BY meter_id`,
        [accountId, start.toISOString(), end.toISOString()],
        'billing_usage_unique_keys',
      ),
      meters(),
    ]);
    const byMeter = new Map(days.map((d) => [d.meter_id as string, d]));
    const distinct = new Map(uniques.map((u) => [u.meter_id as string, Number(u.n)]));
    return [...all.values()].map((m) => {
      const d = byMeter.get(m.id);
      const value = !d
        ? 0
        : m.aggregation === 'count'
          ? Number(d.events)
          : m.aggregation === 'sum'
            ? Number(d.total)
            : m.aggregation === 'max'
              ? Number(d.max_value)
              : m.aggregation === 'latest'
                ? Number(d.latest)
                : (distinct.get(m.id) ?? 0);
      return {
        meter: m.key,
        name: m.name,
        aggregation: m.aggregation,
        unit: m.unit,
        value,
        events: d ? Number(d.events) : 0,
      };
    });
  }

  return { meters, meterByKey, createMeter, ingest, usage, latenessMs: opts.latenessMs };
}

export type Metering = ReturnType<typeof createMetering>;

interface Row {
  tid: string;
  meterId: string;
  value: number;
  ukey: string | null;
  at: string;
  /** False when the sender gave no timestamp: a retry then matches whatever time the first got. */
  atGiven: boolean;
}

function compare(row: Row, prior: Row): EventOutcome {
  const same =
    row.meterId === prior.meterId &&
    row.value === prior.value &&
    row.ukey === prior.ukey &&
    (!row.atGiven || row.at === prior.at);
  return same
    ? { transactionId: row.tid, status: 'duplicate' }
    : {
        transactionId: row.tid,
        status: 'conflict',
        reason: 'this transactionId was already recorded with another meter, value, uniqueKey or timestamp',
      };
}

// One statement: insert the events (a replayed transaction id inserts nothing), then fold
// exactly the inserted rows into the day aggregates and the days of each distinct key. Rows arrive sorted
// by transaction id, so concurrent batches take their locks in the same order.
const INGEST = `
WITH input AS (
  SELECT * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::timestamptz[]) AS u(tid, meter_id, value, ukey, at)
), ins AS (
  INSERT INTO billing_events (account_id, transaction_id, meter_id, value, unique_key, occurred_at)
  SELECT $1, tid, meter_id, value, ukey, at FROM input
  ON CONFLICT DO NOTHING
  RETURNING transaction_id, meter_id, value, unique_key, occurred_at
), days AS (
  INSERT INTO billing_usage_daily AS d
    (account_id, meter_id, day, events, total, max_value, latest_at, latest_tid, latest_value)
  SELECT $1, meter_id, (occurred_at AT TIME ZONE 'UTC')::date, count(*), sum(value), max(value), max(occurred_at),
         (array_agg(transaction_id ORDER BY occurred_at DESC, transaction_id DESC))[1],
         (array_agg(value ORDER BY occurred_at DESC, transaction_id DESC))[1]
    FROM ins GROUP BY 2, 3 ORDER BY 2, 3
  ON CONFLICT (account_id, meter_id, day) DO UPDATE SET
    events = d.events + excluded.events,
    total = d.total + excluded.total,
    max_value = greatest(d.max_value, excluded.max_value),
    latest_at = CASE WHEN (excluded.latest_at, excluded.latest_tid) > (d.latest_at, d.latest_tid)
                     THEN excluded.latest_at ELSE d.latest_at END,
    latest_tid = CASE WHEN (excluded.latest_at, excluded.latest_tid) > (d.latest_at, d.latest_tid)
                      THEN excluded.latest_tid ELSE d.latest_tid END,
    latest_value = CASE WHEN (excluded.latest_at, excluded.latest_tid) > (d.latest_at, d.latest_tid)
                        THEN excluded.latest_value ELSE d.latest_value END
), uniq AS (
  INSERT INTO billing_usage_unique_keys AS k (account_id, meter_id, unique_key, days)
  SELECT $1, meter_id, unique_key,
         range_agg(daterange((occurred_at AT TIME ZONE 'UTC')::date, (occurred_at AT TIME ZONE 'UTC')::date + 1))
    FROM ins WHERE unique_key IS NOT NULL
   GROUP BY meter_id, unique_key ORDER BY meter_id, unique_key
  ON CONFLICT (account_id, meter_id, unique_key) DO UPDATE SET days = k.days + excluded.days
   -- A key already seen on those days is left alone (no row rewritten).
   WHERE NOT (excluded.days <@ k.days)
)
SELECT transaction_id FROM ins`;

async function insert(db: Db, accountId: string, rows: Row[]): Promise<Set<string>> {
  const params = [
    accountId,
    rows.map((r) => r.tid),
    rows.map((r) => r.meterId),
    rows.map((r) => r.value),
    rows.map((r) => r.ukey),
    rows.map((r) => r.at),
  ];
  for (let attempt = 1; ; attempt++) {
    try {
      const done = await db.query<{ transaction_id: string }>(INGEST, params, 'billing_ingest_v2');
      return new Set(done.map((d) => d.transaction_id));
    } catch (err) {
      // Two batches of one account meeting on the same day rows may deadlock; the statement
      // rolled back as a whole, so running it again is safe.
      if ((err as { code?: string }).code !== '40P01' || attempt >= 5) throw err;
    }
  }
}
