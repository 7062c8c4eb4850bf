#!/usr/bin/env python3
"""Dashboards against a real PostgreSQL, the way Grafana would run them.

Grafana is not packaged for Debian 12, so this test plays its part: it reads
every dashboard in deploy/grafana/dashboards/, expands each panel's SQL and
each variable query as Grafana's PostgreSQL data source does (template
variables incl. multi-value and 'All', $__interval, $__timeFilter,
$__timeGroupAlias, $__timeFrom/$__timeTo), runs it as fleetprof_reader on a
scratch database holding a small known fleet, and checks columns and exact
values. It also checks the SQL contract of schema/005_dashboards.sql
directly (tiers, globs, flame graphs rooted at a function, grants).

Environment: FLEETPROF_TEST_DB (admin URL; unset: skip with 77, or fail when
CI is set), FP_BIN_DIR (fleetprof-collector, for --migrate), FP_SOURCE_DIR.
Python 3 standard library and psql only.
"""
import csv
import datetime as dt
import io
import json
import math
import os
import re
import subprocess
import sys
from fractions import Fraction
from urllib.parse import urlsplit, urlunsplit

MS = 1_000_000  # ns
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL: " + what)
    return cond


def eq(got, want, what):
    return check(got == want, "%s: got %r, want %r" % (what, got, want))


def close(got, want, what):
    ok = (got is None and want is None) or (
        got is not None and want is not None
        and math.isclose(got, want, rel_tol=1e-12, abs_tol=0.0))
    return check(ok, "%s: got %r, want %r" % (what, got, want))


# ---------------------------------------------------------------- database

class DB:
    def __init__(self, url):
        self.url = url

    def run(self, sql, reader=True):
        """Rows (list of dicts, text values) and the column names."""
        args = ["psql", "-X", "-q", "--csv", "-v", "ON_ERROR_STOP=1",
                "-d", self.url]
        if reader:
            args += ["-c", "SET ROLE fleetprof_reader"]
        args += ["-c", sql]
        env = dict(os.environ, PGTZ="UTC", PGOPTIONS="-c timezone=UTC")
        p = subprocess.run(args, capture_output=True, text=True, env=env)
        if p.returncode != 0:
            raise RuntimeError("psql failed (%d): %s\nSQL:\n%s"
                               % (p.returncode, p.stderr.strip(), sql))
        rd = list(csv.reader(io.StringIO(p.stdout)))
        if not rd:
            return [], []
        cols = rd[0]
        return [dict(zip(cols, r)) for r in rd[1:]], cols

    def rows(self, sql, reader=True):
        return self.run(sql, reader)[0]

    def script(self, sql):
        p = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                            "-d", self.url, "-f", "-"], input=sql,
                           capture_output=True, text=True,
                           env=dict(os.environ, PGTZ="UTC"))
        if p.returncode != 0:
            raise RuntimeError("psql script failed: " + p.stderr.strip())


def url_with_db(url, name):
    u = urlsplit(url)
    return urlunsplit((u.scheme, u.netloc, "/" + name, u.query, u.fragment))


def num(v):
    return None if v == "" else float(v)


def ts(v):
    """psql timestamptz text (UTC) to epoch seconds."""
    d = dt.datetime.fromisoformat(v.replace("+00", "+00:00"))
    return int(d.timestamp())


# ---------------------------------------------------------------- the fleet

HOUR = 3600
NOW = int(dt.datetime.now(dt.timezone.utc).timestamp())
T0 = NOW // HOUR * HOUR - 5 * HOUR  # current window [T0, T0+1h): raw tier
BASE = T0 - 86400                   # the same hour a day earlier

SERIES = {  # id: (host, service, clock)
    101: ("web-1", "api", "wall"),
    102: ("web-2", "api", "wall"),
    103: ("db-1", "db", "wall"),
    104: ("web-1", "api", "cpu"),
}
FUNCS = {  # id: (name, file, line)
    1: ("main", "app.c", 1), 2: ("handle", "app.c", 10),
    3: ("parse", "json.c", 33), 4: ("query", "db.c", 77),
    5: ("fib", "math.c", 5), 6: ("old_fn", "old.c", 9),
    7: ("worker", "app.c", 50), 8: ("rollup_marker", "x.c", 1),
}
# (bucket, series, fn, ncalls, pcalls, tottime_ns, cumtime_ns), raw tier
FN = [
    (T0, 101, 3, 10, 10, 10 * MS, 15 * MS),
    (T0 + 1800, 101, 3, 10, 10, 30 * MS, 35 * MS),
    (T0, 101, 4, 5, 5, 49 * MS, 49 * MS),
    (T0, 101, 2, 20, 20, 2 * MS, 91 * MS),
    (T0, 101, 1, 1, 1, 2 * MS, 100 * MS),
    (T0 + 600, 101, 5, 7, 1, 7 * MS, 7 * MS),
    (T0 + 600, 102, 3, 5, 5, 5 * MS, 5 * MS),
    (T0 + 600, 102, 7, 1, 1, 1 * MS, 6 * MS),
    (T0 + 1200, 103, 4, 3, 3, 30 * MS, 30 * MS),
    (T0, 104, 3, 1000, 1000, 900 * MS, 900 * MS),  # cpu: never mixed
    (BASE, 101, 3, 10, 10, 10 * MS, 12 * MS),
    (BASE, 101, 4, 5, 5, 60 * MS, 60 * MS),
    (BASE, 101, 6, 4, 4, 5 * MS, 5 * MS),
    (BASE, 101, 2, 20, 20, 2 * MS, 80 * MS),
    (BASE, 101, 1, 1, 1, 2 * MS, 90 * MS),
    (BASE + 300, 102, 3, 5, 5, 5 * MS, 5 * MS),
    (BASE, 103, 4, 3, 3, 30 * MS, 30 * MS),
]
# stacks: id: (parent, fn, depth)
STACKS = {
    11: (None, 1, 0), 12: (11, 2, 1), 13: (12, 3, 2), 14: (12, 4, 2),
    15: (11, 5, 1), 16: (15, 5, 2), 17: (None, 7, 0), 18: (17, 3, 1),
}
# (bucket, series, stack, ncalls, self_ns, total_ns)
ST = [
    (T0, 101, 11, 1, 2 * MS, 100 * MS),
    (T0, 101, 12, 10, 1 * MS, 45 * MS),
    (T0 + 60, 101, 12, 10, 1 * MS, 46 * MS),
    (T0, 101, 13, 20, 40 * MS, 40 * MS),
    (T0, 101, 14, 5, 49 * MS, 49 * MS),
    (T0 + 600, 101, 15, 1, 3 * MS, 7 * MS),
    (T0 + 600, 101, 16, 6, 4 * MS, 4 * MS),
    (T0 + 600, 102, 17, 1, 1 * MS, 6 * MS),
    (T0 + 600, 102, 18, 5, 5 * MS, 5 * MS),
    (T0, 104, 11, 1, 500 * MS, 900 * MS),   # cpu
    (BASE, 101, 11, 1, 2 * MS, 90 * MS),    # another window
]
# (agent, seq, series, t0, dropped)
BATCHES = [
    (1, 1, 101, T0 + 60, 0), (1, 2, 101, T0 + 120, 3),
    (2, 1, 102, T0 + 60, 2), (3, 1, 103, T0 + 1500, 0),
    (4, 1, 104, T0 + 60, 100),  # cpu
    (1, 0, 101, BASE + 60, 7),  # a day earlier
]


def tsql(sec):
    return "to_timestamp(%d)" % sec


def load_sql():
    out = ["SELECT fleetprof_ensure_partitions(%s::date, %s::date);"
           % (tsql(BASE - 86400), tsql(NOW + 86400))]
    for i, (h, s, c) in SERIES.items():
        out.append("INSERT INTO series (id, host, service, clock) VALUES "
                   "(%d, '%s', '%s', '%s');" % (i, h, s, c))
    for i, (n, f, ln) in FUNCS.items():
        out.append("INSERT INTO functions VALUES (%d, '%s', '%s', %d, "
                   "'m');" % (i, n, f, ln))
    for i, (p, f, d) in STACKS.items():
        out.append("INSERT INTO stacks VALUES (%d, %s, %d, %d);"
                   % (i, "NULL" if p is None else p, f, d))
    hourly = {}
    for b, s, f, nc, pc, tt, ct in FN:
        out.append("INSERT INTO fn_stats_raw VALUES (%s, %d, %d, %d, %d, %d, "
                   "%d);" % (tsql(b), s, f, nc, pc, tt, ct))
        k = (b // HOUR * HOUR, s, f)
        a = hourly.setdefault(k, [0, 0, 0, 0])
        for j, v in enumerate((nc, pc, tt, ct)):
            a[j] += v
    # In the rollup only: proves which tier a window reads.
    hourly[(T0, 101, 8)] = [1, 1, 123 * MS, 123 * MS]
    for (b, s, f), a in hourly.items():
        out.append("INSERT INTO fn_stats_rollup VALUES (%s, %d, %d, %d, %d, %d, "
                   "%d);" % (tsql(b), s, f, *a))
    shourly = {}
    for b, s, st, nc, sf, tt in ST:
        out.append("INSERT INTO stack_stats_raw VALUES (%s, %d, %d, %d, %d, "
                   "%d);" % (tsql(b), s, st, nc, sf, tt))
        a = shourly.setdefault((b // HOUR * HOUR, s, st), [0, 0, 0])
        for j, v in enumerate((nc, sf, tt)):
            a[j] += v
    for (b, s, st), a in shourly.items():
        out.append("INSERT INTO stack_stats_rollup VALUES (%s, %d, %d, %d, %d, "
                   "%d);" % (tsql(b), s, st, *a))
    # As the roller leaves a day whose hours it rolled: marked for the 1 d
    # tier (which then reads its hours) until the day is rolled.
    for d in sorted({b // 86400 * 86400 for b, _, _ in hourly}):
        out.append("INSERT INTO rollup_dirty_1d VALUES (%s, 0, 1);"
                   % tsql(d))
    for ag, seq, s, t0, dr in BATCHES:
        out.append("INSERT INTO ingested_batches (agent_id, seq, series_id, "
                   "pid, t0, t1, dropped, nfns) VALUES ('\\x%032x', %d, %d, "
                   "42, %s, %s, %d, 3);"
                   % (ag, seq, s, tsql(t0), tsql(t0 + 60), dr))
    return "\n".join(out)


# ------------------------------------------------ reference computations

def series_ok(sid, hosts, service, clock):
    h, s, c = SERIES[sid]
    return (c == clock and (service is None or s == service)
            and (hosts is None or h in hosts))


def fn_sums(lo, hi, hosts, service, clock):
    """fn id -> [ncalls, pcalls, tottime, cumtime, {hosts}]"""
    r = {}
    for b, s, f, nc, pc, tt, ct in FN:
        if lo <= b < hi and series_ok(s, hosts, service, clock):
            a = r.setdefault(f, [0, 0, 0, 0, set()])
            a[0] += nc
            a[1] += pc
            a[2] += tt
            a[3] += ct
            a[4].add(SERIES[s][0])
    return r


def want_hotspots(lo, hi, hosts, service, clock="wall"):
    r = fn_sums(lo, hi, hosts, service, clock)
    rows = []
    for f, (nc, pc, tt, ct, hs) in r.items():
        rows.append((FUNCS[f][0], FUNCS[f][1], FUNCS[f][2], nc, pc, tt, ct,
                     len(hs)))
    rows.sort(key=lambda x: (-x[5], x[0].encode(), x[1].encode(), x[2]))
    return rows


def check_hotspots(rows, want, what):
    eq([r["function"] for r in rows], [w[0] for w in want],
       what + ": functions in order")
    for r, w in zip(rows, want):
        name = "%s %s" % (what, w[0])
        eq((r["file"], int(r["line"]), int(r["ncalls"]), int(r["pcalls"]),
            int(r["hosts"])), (w[1], w[2], w[3], w[4], w[7]),
           name + " file/line/ncalls/pcalls/hosts")
        eq(num(r["tottime_s"]), float(Fraction(w[5], 10**9)),
           name + " tottime_s")
        eq(num(r["cumtime_s"]), float(Fraction(w[6], 10**9)),
           name + " cumtime_s")
        close(num(r["percall_s"]), float(Fraction(w[5], w[3] * 10**9)),
              name + " percall_s")


def want_regressions(cur, base, hosts, service):
    c = fn_sums(cur[0], cur[1], hosts, service, "wall")
    o = fn_sums(base[0], base[1], hosts, service, "wall")
    rows = []
    for f in set(c) | set(o):
        n1, t1 = (c[f][0], c[f][2]) if f in c else (0, 0)
        n0, t0 = (o[f][0], o[f][2]) if f in o else (0, 0)
        if n0 == 0:
            st, cp = "new", Fraction(t1 - t0)
        elif n1 == 0:
            st, cp = "vanished", Fraction(t1 - t0)
        else:
            st, cp = "changed", Fraction((n1 - n0) * t0, n0)
        rows.append((FUNCS[f][0], st, t1 - t0, cp, t1 - t0 - cp, n0, n1,
                     t0, t1))
    rows.sort(key=lambda x: (-abs(x[2]), x[0].encode()))
    return rows


def check_regressions(rows, want, what):
    eq([(r["function"], r["status"]) for r in rows],
       [(w[0], w[1]) for w in want], what + ": functions and status")
    for r, w in zip(rows, want):
        n = "%s %s" % (what, w[0])
        eq((int(r["base_ncalls"]), int(r["ncalls"])), (w[5], w[6]),
           n + " ncalls")
        eq(num(r["change_s"]), float(Fraction(w[2], 10**9)), n + " change")
        close(num(r["calls_part_s"]), float(w[3] / 10**9), n + " calls part")
        close(num(r["percall_part_s"]), float(w[4] / 10**9),
              n + " per-call part")
        eq(num(r["base_tottime_s"]), float(Fraction(w[7], 10**9)),
           n + " base tottime")
        eq(num(r["tottime_s"]), float(Fraction(w[8], 10**9)), n + " tottime")
        close(num(r["base_percall_s"]),
              float(Fraction(w[7], w[5] * 10**9)) if w[5] else None,
              n + " base percall")
        close(num(r["percall_s"]),
              float(Fraction(w[8], w[6] * 10**9)) if w[6] else None,
              n + " percall")


def want_timeseries(fn, lo, hi, step, hosts, service):
    out = []
    for t in range(lo, hi, step):
        nc = tt = 0
        for b, s, f, n, _pc, ti, _ct in FN:
            if (FUNCS[f][0] == fn and t <= b < t + step
                    and series_ok(s, hosts, service, "wall")):
                nc += n
                tt += ti
        out.append((t, nc, tt))
    return out


# ------------------------------------------------ Grafana's interpolation

# Grafana's variable regex (public/app/features/variables/utils.ts).
VAR_RE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|"
                    r"\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}")


def sql_quote(v):
    return "'" + v.replace("'", "''") + "'"


def fmt_value(var, value, fmt):
    """One variable's value as Grafana's templateSrv formats it for the
    PostgreSQL data source (its interpolateVariable when no format)."""
    if value == "$__all":
        if var.get("allValue"):
            return var["allValue"]  # custom all values are not formatted
        value = [o for o in var["_options"]]
    if fmt == "sqlstring":
        if isinstance(value, list):
            return ",".join(sql_quote(v) for v in value)
        return sql_quote(value)
    if fmt in (None, "") or fmt == "default":
        if isinstance(value, list):
            return ",".join(sql_quote(v) for v in value)
        if var.get("multi") or var.get("includeAll"):
            return sql_quote(value)
        return value.replace("'", "''")
    if fmt == "raw":
        return ",".join(value) if isinstance(value, list) else value
    raise ValueError("format %s not emulated" % fmt)


def interpolate(sql, variables, values, builtins):
    def sub(m):
        name = m.group(1) or m.group(2) or m.group(4)
        fmt = m.group(3) or m.group(6)
        if name in builtins:
            return builtins[name]
        if name not in variables:
            return m.group(0)  # Grafana leaves unknown variables alone
        return fmt_value(variables[name], values[name], fmt)
    return VAR_RE.sub(sub, sql)


def rfc3339(sec):
    return dt.datetime.fromtimestamp(sec, dt.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def go_interval(s):
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d|w)", s.strip().strip("'\""))
    if not m:
        raise ValueError("interval %r" % s)
    mult = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400,
            "w": 604800}[m.group(2)]
    return int(m.group(1)) * mult


def split_args(s):
    args, depth, cur = [], 0, ""
    for ch in s:
        if ch == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    args.append(cur.strip())
    return args


def expand_macros(sql, frm, to):
    """The PostgreSQL data source's macros (pkg/tsdb/grafana-postgresql-
    datasource/macros.go): $__timeFilter, $__timeFrom, $__timeTo,
    $__timeGroup, $__timeGroupAlias, $__time."""
    out, i = "", 0
    rx = re.compile(r"\$__(\w+)\(")
    while True:
        m = rx.search(sql, i)
        if not m:
            return out + sql[i:]
        out += sql[i:m.start()]
        depth, j = 1, m.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(sql[j], 0)
            j += 1
        args = split_args(sql[m.end():j - 1])
        name = m.group(1)
        if name == "timeFilter":
            rep = "%s BETWEEN '%s' AND '%s'" % (args[0], rfc3339(frm),
                                                rfc3339(to))
        elif name == "timeFrom":
            rep = "'%s'" % rfc3339(frm)
        elif name == "timeTo":
            rep = "'%s'" % rfc3339(to)
        elif name in ("timeGroup", "timeGroupAlias"):
            sec = go_interval(args[1])
            sec = int(sec) if sec == int(sec) else sec
            rep = "floor(extract(epoch from %s)/%s)*%s" % (args[0], sec, sec)
            if name == "timeGroupAlias":
                rep += ' AS "time"'
        elif name == "time":
            rep = '%s AS "time"' % args[0]
        else:
            raise ValueError("macro $__%s not emulated" % name)
        out += rep
        i = j


class Dashboard:
    def __init__(self, path, db):
        self.d = json.load(open(path))
        self.db = db
        self.vars = {v["name"]: v for v in self.d["templating"]["list"]}

    def query(self, sql, values, frm, to, interval):
        builtins = {"__interval": interval,
                    "__interval_ms": str(int(go_interval(interval) * 1000)),
                    "__from": str(frm * 1000), "__to": str(to * 1000)}
        text = interpolate(sql, self.vars, values, builtins)
        text = expand_macros(text, frm, to)
        check("$" not in text.replace("$$", ""),
              "unexpanded variable in: " + text)
        return self.db.run(text)

    def resolve(self, values, frm, to, interval):
        """Variable options in dashboard order, as Grafana refreshes them."""
        for name, v in self.vars.items():
            if v["type"] == "custom":
                v["_options"] = [o["value"] for o in v["options"]]
            elif v["type"] == "query":
                rows, cols = self.query(v["query"], values, frm, to,
                                        interval)
                v["_options"] = [r[cols[0]] for r in rows]
        return {n: v["_options"] for n, v in self.vars.items()}

    def panels(self):
        for p in self.d["panels"]:
            for t in p.get("targets", []):
                yield p, t


# ---------------------------------------------------------------- tests

def test_contract(db):
    w = db.rows("SELECT tier, extract(epoch FROM bucket)::int AS b, "
                "window_from, window_until FROM fleetprof_window(%s + "
                "interval '30 s', %s - interval '10 s')"
                % (tsql(T0), tsql(T0 + HOUR)))
    eq([(r["tier"], r["b"], ts(r["window_from"]), ts(r["window_until"]))
        for r in w], [("raw", "60", T0, T0 + HOUR)], "window 1h: raw")
    w = db.rows("SELECT tier, window_from, window_until FROM "
                "fleetprof_window(%s, %s)"
                % (tsql(T0 - 2 * HOUR + 5), tsql(T0 + 5 * HOUR - 5)))
    eq([(r["tier"], ts(r["window_from"]), ts(r["window_until"]))
        for r in w], [("rollup", T0 - 2 * HOUR, T0 + 5 * HOUR)],
       "window 7h: rollup, whole hours")

    # Raw tier: exact hotspots, every host; then host globs and service.
    rows = db.rows("SELECT * FROM fleetprof_hotspots(%s, %s)"
                   % (tsql(T0), tsql(T0 + HOUR)))
    check_hotspots(rows, want_hotspots(T0, T0 + HOUR, None, None),
                   "hotspots all")
    # Literal anchors (not derived by the same code as the reference).
    if rows:
        eq((rows[0]["function"], rows[0]["ncalls"], rows[0]["tottime_s"],
            rows[0]["hosts"]), ("query", "8", "0.079", "2"), "top function")
    rows = db.rows("SELECT * FROM fleetprof_hotspots(%s, %s, "
                   "ARRAY['web-?'], 'api')" % (tsql(T0), tsql(T0 + HOUR)))
    check_hotspots(rows, want_hotspots(T0, T0 + HOUR, {"web-1", "web-2"},
                                       "api"), "hotspots web-? api")
    rows = db.rows("SELECT * FROM fleetprof_hotspots(%s, %s, "
                   "ARRAY['web-1'], NULL, 'cpu')"
                   % (tsql(T0), tsql(T0 + HOUR)))
    check_hotspots(rows, want_hotspots(T0, T0 + HOUR, {"web-1"}, None,
                                       "cpu"), "hotspots cpu")
    rows = db.rows("SELECT count(*) AS n FROM fleetprof_hotspots(%s, %s, "
                   "ARRAY['web_1'])" % (tsql(T0), tsql(T0 + HOUR)))
    eq(rows[0]["n"], "0", "'_' in a host glob is literal")
    # A 7 h window reads the rollup: the rollup-only marker shows.
    rows = db.rows("SELECT function, ncalls FROM fleetprof_hotspots(%s, %s)"
                   " WHERE function = 'rollup_marker'"
                   % (tsql(T0 - 2 * HOUR), tsql(T0 + 5 * HOUR)))
    eq([(r["function"], r["ncalls"]) for r in rows],
       [("rollup_marker", "1")], "7 h window reads the rollup tier")
    rows = db.rows("SELECT sum(ncalls) AS n FROM fleetprof_hotspots(%s, %s)"
                   " WHERE function = 'parse'"
                   % (tsql(T0 - 2 * HOUR), tsql(T0 + 5 * HOUR)))
    eq(rows[0]["n"], "25", "rollup sums parse")
    # Then with the running sums the roller stores after each hour (schema
    # 010, read through fn_stats_sum since 011): the same answers, in
    # windows of hours and of days.
    long_windows = [
        "fleetprof_hotspots(%s, %s)" % (tsql(T0 - 2 * HOUR),
                                        tsql(T0 + 5 * HOUR)),
        "fleetprof_hotspots(%s, %s, ARRAY['web-?'])"
        % (tsql(BASE - 3 * HOUR), tsql(T0 + 2 * HOUR)),
        "fleetprof_regressions(%s, %s, %s, %s)"
        % (tsql(T0 - 7 * HOUR), tsql(T0 + 5 * HOUR),
           tsql(BASE - 7 * HOUR), tsql(BASE + 5 * HOUR)),
        "fleetprof_flamegraph(%s, %s)" % (tsql(BASE - 9 * HOUR),
                                          tsql(T0 + 3 * HOUR)),
    ]
    before = [db.rows("SELECT * FROM " + q) for q in long_windows]
    check(any(r["function"] == "rollup_marker" for r in before[0]),
          "the 7 h window reads the rollup")
    pts = db.rows("SELECT sum(fleetprof_rollup_running(d)) AS n FROM "
                  "(SELECT DISTINCT date_bin('1 day', bucket, timestamptz "
                  "'2000-01-01 00:00+00') AS d FROM fn_stats_rollup) x",
                  reader=False)
    check(int(pts[0]["n"]) >= 2, "running sums stored: %s" % pts[0]["n"])
    for q, b in zip(long_windows, before):
        eq(db.rows("SELECT * FROM " + q), b, "with running sums: " + q)
    defs = db.rows("SELECT p.proname, pg_get_functiondef(p.oid) LIKE "
                   "'%%fleetprof_facts(%%' AS sums FROM pg_proc p WHERE "
                   "p.proname IN ('fleetprof_hotspots', "
                   "'fleetprof_regressions', 'fleetprof_flamegraph') "
                   "ORDER BY 1", reader=False)
    eq([(r["proname"], r["sums"]) for r in defs],
       [("fleetprof_flamegraph", "t"), ("fleetprof_hotspots", "t"),
        ("fleetprof_regressions", "t")], "rollup windows read the sums")

    # Time series: 10 min steps, zeros and NULL percall where idle.
    rows = db.rows("SELECT * FROM fleetprof_timeseries('parse', %s, %s, "
                   "interval '10 min', ARRAY['web-1'])"
                   % (tsql(T0), tsql(T0 + HOUR)))
    want = want_timeseries("parse", T0, T0 + HOUR, 600, {"web-1"}, None)
    eq([(ts(r["time"]), int(r["ncalls"]), num(r["tottime_s"]),
         num(r["percall_s"])) for r in rows],
       [(t, n, float(Fraction(tt, 10**9)),
         float(Fraction(tt, n * 10**9)) if n else None) for t, n, tt in want],
       "timeseries parse web-1 10 min")
    eq([r["tottime_s"] for r in rows], ["0.01", "0", "0", "0.03", "0", "0"],
       "timeseries literal")
    rows = db.rows("SELECT count(*) AS n FROM fleetprof_timeseries('parse', "
                   "%s, %s, interval '5 s')" % (tsql(T0), tsql(T0 + HOUR)))
    eq(rows[0]["n"], "60", "a step below the bucket becomes one bucket")

    # Regressions: the README's split, exactly.
    rows = db.rows("SELECT * FROM fleetprof_regressions(%s, %s, %s, %s, "
                   "ARRAY['web-1'])" % (tsql(T0), tsql(T0 + HOUR),
                                         tsql(BASE), tsql(BASE + HOUR)))
    check_regressions(rows, want_regressions((T0, T0 + HOUR),
                                             (BASE, BASE + HOUR), {"web-1"},
                                             None), "regressions web-1")
    lit = {r["function"]: (r["status"], r["change_s"], r["calls_part_s"],
                           r["percall_part_s"]) for r in rows}
    eq(lit.get("parse"), ("changed", "0.03", "0.01", "0.02"), "parse split")
    eq(lit.get("query"), ("changed", "-0.011", "0", "-0.011"), "query split")
    eq(lit.get("fib"), ("new", "0.007", "0.007", "0"), "fib new")
    eq(lit.get("old_fn"), ("vanished", "-0.005", "-0.005", "0"),
       "old_fn vanished")

    # Flame graphs: nested set, depth first, siblings by value.
    def flame(root, hosts="NULL"):
        return [(int(r["level"]), int(r["value"]) // MS,
                 int(r["self"]) // MS, r["label"]) for r in db.rows(
            "SELECT * FROM fleetprof_flamegraph(%s, %s, %s, %s)"
            % (tsql(T0), tsql(T0 + HOUR), root, hosts))]
    eq(flame("NULL"), [(0, 106, 0, "total"), (1, 100, 2, "main"),
                       (2, 91, 2, "handle"), (3, 49, 49, "query"),
                       (3, 40, 40, "parse"), (2, 7, 3, "fib"),
                       (3, 4, 4, "fib"), (1, 6, 1, "worker"),
                       (2, 5, 5, "parse")], "flame graph, all")
    eq(flame("'handle'"), [(0, 91, 2, "handle"), (1, 49, 49, "query"),
                           (1, 40, 40, "parse")], "flame graph under handle")
    eq(flame("'fib'"), [(0, 7, 3, "fib"), (1, 4, 4, "fib")],
       "flame graph under fib: recursion not counted twice")
    eq(flame("'parse'"), [(0, 45, 45, "parse")],
       "flame graph under parse: both callers merged")
    eq(flame("NULL", "ARRAY['web-2']"), [(0, 6, 0, "total"),
                                         (1, 6, 1, "worker"),
                                         (2, 5, 5, "parse")],
       "flame graph web-2")
    eq(flame("'nosuch'"), [], "flame graph of an unknown function")

    # Errors and rights.
    try:
        db.rows("SELECT * FROM fleetprof_hotspots(now(), now() + interval "
                "'1 h', NULL, NULL, 'both')")
        check(False, "clock 'both' must be refused")
    except RuntimeError as e:
        check("clock must be" in str(e), "clock error text: %s" % e)
    try:
        db.rows("INSERT INTO functions VALUES (99, 'x', 'x', 0, 'x')")
        check(False, "fleetprof_reader must not write")
    except RuntimeError as e:
        check("permission denied" in str(e), "reader write error: %s" % e)
    rows = db.rows("SELECT p.proname, p.provolatile, p.prosecdef, "
                   "array_to_string(p.proconfig, ',') AS cfg, "
                   "has_function_privilege('fleetprof_reader', p.oid, "
                   "'EXECUTE') AS x, obj_description(p.oid, 'pg_proc') "
                   "IS NOT NULL AS doc FROM pg_proc p WHERE p.proname IN "
                   "('fleetprof_hotspots', 'fleetprof_timeseries', "
                   "'fleetprof_regressions', 'fleetprof_flamegraph', "
                   "'fleetprof_window') ORDER BY 1", reader=False)
    eq([(r["proname"], r["provolatile"], r["prosecdef"], r["cfg"], r["x"],
         r["doc"]) for r in rows],
       [(n, "s", "f", "search_path=public", "t", "t") for n in
        ("fleetprof_flamegraph", "fleetprof_hotspots",
         "fleetprof_regressions", "fleetprof_timeseries",
         "fleetprof_window")], "functions: STABLE, INVOKER, pinned, "
       "granted, documented")


def test_dashboard(db, path):
    dash = Dashboard(path, db)
    name = os.path.basename(path)
    frm, to = T0 + 30, T0 + HOUR - 10  # widened to [T0, T0+1h)
    interval = "10m"
    all_vals = {"clock": "wall", "host": "$__all", "service": "$__all",
                "function": "$__all"}
    opts = dash.resolve(all_vals, frm, to, interval)
    eq(opts.get("clock"), ["wall", "cpu"], name + " clock options")
    eq(opts.get("host"), ["db-1", "web-1", "web-2"], name + " host options")
    eq(opts.get("service"), ["api", "db"], name + " service options")
    eq(opts.get("function"), [w[0] for w in want_hotspots(
        T0, T0 + HOUR, None, None)], name + " function options")

    picked = {"clock": "wall", "host": ["web-1", "web-2"], "service": "api",
              "function": "parse"}
    seen = set()
    for values, hosts, svc, fn, tag in (
            (all_vals, None, None, None, "All"),
            (picked, {"web-1", "web-2"}, "api", "parse", "picked")):
        for p, t in dash.panels():
            what = "%s panel '%s' (%s)" % (name, p["title"], tag)
            rows, cols = dash.query(t["rawSql"], values, frm, to, interval)
            kind = p["type"]
            if kind == "table" and "tottime_s" in cols and "status" \
                    not in cols:
                seen.add("hotspots")
                check_hotspots(rows, want_hotspots(T0, T0 + HOUR, hosts,
                                                   svc), what)
            elif kind == "table" and "status" in cols:
                seen.add("regressions")
                check_regressions(rows, want_regressions(
                    (T0, T0 + HOUR), (BASE, BASE + HOUR), hosts, svc), what)
            elif kind == "flamegraph":
                seen.add("flame")
                eq(cols, ["level", "value", "self", "label"], what + " cols")
                got = [(int(r["level"]), int(r["value"]) // MS,
                        int(r["self"]) // MS, r["label"]) for r in rows]
                want = ([(0, 106, 0, "total"), (1, 100, 2, "main"),
                         (2, 91, 2, "handle"), (3, 49, 49, "query"),
                         (3, 40, 40, "parse"), (2, 7, 3, "fib"),
                         (3, 4, 4, "fib"), (1, 6, 1, "worker"),
                         (2, 5, 5, "parse")] if fn is None
                        else [(0, 45, 45, "parse")])
                eq(got, want, what)
            elif kind == "timeseries" and "metric" in cols:
                seen.add("timeseries")
                eq(t.get("format"), "time_series", what + " format")
                eq(cols[:2], ["time", "metric"], what + " cols")
                col = cols[2]
                top = [w[0] for w in want_hotspots(T0, T0 + HOUR, hosts,
                                                   svc)]
                top = [fn] if fn else top[:5]
                want = []
                for t0_ in range(T0, T0 + HOUR, 600):
                    for f in sorted(top):
                        for tt_, n_, tv in [(x[0], x[1], x[2]) for x in
                                            want_timeseries(f, T0, T0 + HOUR,
                                                            600, hosts, svc)
                                            if x[0] == t0_]:
                            v = (Fraction(tv, 10**9) if col == "tottime_s"
                                 else Fraction(tv, n_ * 10**9) if n_
                                 else None)
                            want.append((tt_, f, None if v is None
                                         else float(v)))
                got = [(ts(r["time"]), r["metric"], num(r[col]))
                       for r in rows]
                eq([g[:2] for g in got], [w[:2] for w in want],
                   what + " series and times")
                for g, w in zip(got, want):
                    close(g[2], w[2], "%s %s @%d" % (what, g[1], g[0]))
            elif kind == "timeseries" and "dropped" in cols:
                seen.add("batches")
                eq(cols[0], "time", what + " time column")
                want = {}
                for _a, _s, sid, t0_, dr in BATCHES:
                    if frm <= t0_ <= to and series_ok(sid, hosts, svc,
                                                      "wall"):
                        k = t0_ // 600 * 600
                        n, d = want.get(k, (0, 0))
                        want[k] = (n + 1, d + dr)
                eq([(int(float(r["time"])), int(r["batches"]),
                     int(r["dropped"])) for r in rows],
                   sorted((k, n, d) for k, (n, d) in want.items()), what)
            else:
                check(False, what + ": no check for this panel (%s)" % cols)
    for kind in ("hotspots", "regressions", "flame", "timeseries",
                 "batches"):
        check(kind in seen, "%s: no %s panel" % (name, kind))
    return True


def main():
    admin = os.environ.get("FLEETPROF_TEST_DB", "")
    if not admin:
        ci = os.environ.get("CI", "")
        if ci and ci != "false":
            print("FAIL: test_dashboards needs FLEETPROF_TEST_DB")
            return 1
        print("SKIP: test_dashboards needs FLEETPROF_TEST_DB "
              "(make test sets it)")
        return 77
    src = os.environ.get("FP_SOURCE_DIR") or os.path.abspath(
        os.path.join(os.path.dirname(__file__), "..", ".."))
    bindir = os.environ.get("FP_BIN_DIR") or os.path.join(src, "build",
                                                          "bin")
    dash_dir = os.path.join(src, "deploy", "grafana", "dashboards")
    dashboards = sorted(os.path.join(dash_dir, f)
                        for f in os.listdir(dash_dir) if f.endswith(".json"))
    if not check(dashboards, "no dashboards in " + dash_dir):
        return 1
    name = "fp_test_dashboards_%d" % os.getpid()
    admin_db = DB(admin)
    admin_db.rows("DROP DATABASE IF EXISTS %s" % name, reader=False)
    admin_db.rows("CREATE DATABASE %s" % name, reader=False)
    db = DB(url_with_db(admin, name))
    try:
        p = subprocess.run([os.path.join(bindir, "fleetprof-collector"),
                            "--migrate", "--db", db.url],
                           capture_output=True, text=True)
        if not check(p.returncode == 0, "migrate: " + p.stderr):
            return 1
        db.script(load_sql())
        test_contract(db)
        for path in dashboards:
            test_dashboard(db, path)
    finally:
        admin_db.rows("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name,
                      reader=False)
    if FAILS:
        print("FAIL: %d check(s) failed" % len(FAILS))
        return 1
    print("PASS: test_dashboards (%d dashboard(s))" % len(dashboards))
    return 0


if __name__ == "__main__":
    sys.exit(main())
