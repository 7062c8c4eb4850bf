"""fleetprof's Python agent against the stdlib cProfile.

parity: for each script in scripts/, `python -m cProfile -o` and
`python -m fleetprof -o` must give IDENTICAL ncalls and primitive calls per
function and per caller edge; times must be non-negative with
tottime <= cumtime; pstats.Stats must read fleetprof's file.
e2e: `python -m fleetprof script.py` sends to a real collector (database
from FLEETPROF_TEST_DB; exit 77 = skipped when unset) and `fleetprof top
--format json` must show exactly cProfile's ncalls and pcalls.

usage: run_tests.py --build BUILD_DIR parity|e2e
"""
import argparse
import json
import marshal
import os
import pstats
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "scripts")
# The profiler's own switch-off call, recorded by cProfile only.
DISABLE = ("~", 0, "<method 'disable' of '_lsprof.Profiler' objects>")
EPS = 1e-6
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def env_for(build, extra=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(build, "python")
    env.pop("FLEETPROF_COLLECTOR", None)
    env.update(extra or {})
    return env


def run(cmd, env, cwd):
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True,
                       text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s%s" % (" ".join(cmd),
                           p.returncode, p.stdout, p.stderr))
    return p.stdout


def load(path):
    with open(path, "rb") as f:
        return marshal.load(f)


def reference(script, build, tmp):
    out = os.path.join(tmp, "ref.prof")
    if "threads" in os.path.basename(script):
        run([sys.executable, os.path.join(HERE, "cprofile_threads.py"), out,
             script], env_for(build), tmp)
    else:
        run([sys.executable, "-m", "cProfile", "-o", out, script],
            env_for(build), tmp)
    stats = load(out)
    stats.pop(DISABLE, None)
    return stats


def fleetprof_stats(script, build, tmp, extra_env=None):
    out = os.path.join(tmp, "fp.prof")
    run([sys.executable, "-m", "fleetprof", "-o", out, script],
        env_for(build, extra_env), tmp)
    return out, load(out)


def fmt(func):
    return "%s:%d(%s)" % (os.path.basename(func[0]), func[1], func[2])


def compare(name, ref, got, only_file=None):
    """Exact ncalls/pcalls per function and per caller edge."""
    keys = set(ref) | set(got)
    if only_file is not None:
        keys = {k for k in keys if k[0] == only_file}
    if not keys:
        fail("%s: nothing to compare" % name)
    for k in sorted(keys):
        if k not in got:
            fail("%s: %s missing from fleetprof" % (name, fmt(k)))
            continue
        if k not in ref:
            fail("%s: %s not in cProfile" % (name, fmt(k)))
            continue
        rcc, rnc, _, _, rcallers = ref[k]
        gcc, gnc, _, _, gcallers = got[k]
        if (rnc, rcc) != (gnc, gcc):
            fail("%s: %s calls %d/%d, cProfile %d/%d" % (name, fmt(k), gnc,
                 gcc, rnc, rcc))
        for c in set(rcallers) | set(gcallers):
            r = rcallers.get(c, (0, 0))[:2]
            g = gcallers.get(c, (0, 0))[:2]
            if r != g:
                fail("%s: edge %s -> %s calls %s, cProfile %s" % (name,
                     fmt(c), fmt(k), g, r))


def check_times(name, got):
    for k, (cc, nc, tt, ct, callers) in got.items():
        if tt < 0 or ct < 0 or tt > ct + EPS:
            fail("%s: %s tottime %g cumtime %g" % (name, fmt(k), tt, ct))
        for c, (_, _, ett, ect) in callers.items():
            if ett < 0 or ect < 0 or ett > ect + EPS:
                fail("%s: edge %s -> %s tottime %g cumtime %g" % (name,
                     fmt(c), fmt(k), ett, ect))


def parity(build):
    scripts = sorted(f for f in os.listdir(SCRIPTS) if f.endswith(".py"))
    for s in scripts:
        script = os.path.join(SCRIPTS, s)
        nfail = len(failures)
        with tempfile.TemporaryDirectory() as tmp:
            ref = reference(script, build, tmp)
            path, got = fleetprof_stats(script, build, tmp)
            only = script if s.startswith("threads") else None
            compare(s, ref, got, only)
            check_times(s, got)
            # pstats reads the file and sees the same totals.
            st = pstats.Stats(path)
            want = {k: v for k, v in ref.items()
                    if only is None or k[0] == only}
            have = {k: v for k, v in st.stats.items()
                    if only is None or k[0] == only}
            if only is None and (st.total_calls, st.prim_calls) != (
                    sum(v[1] for v in want.values()),
                    sum(v[0] for v in want.values())):
                fail("%s: pstats totals %d/%d" % (s, st.total_calls,
                     st.prim_calls))
            if set(have) != set(want):
                fail("%s: pstats.Stats functions differ" % s)
            # Without -o: the familiar table on stdout.
            table = run([sys.executable, "-m", "fleetprof", "-s", "calls",
                         script], env_for(build), tmp)
            if "Ordered by: call count" not in table or \
                    "function calls" not in table:
                fail("%s: no pstats table on stdout:\n%s" % (s, table))
        print("%s %s: %d functions" % ("ok  " if len(failures) == nfail
                                       else "FAIL", s, len(got)))
    # In-process API: fib(6) makes 25 calls (1 primitive); fib(4) in a
    # thread plus fib(3) in the main thread make 9 + 5 calls (2 primitive).
    out = run([sys.executable, os.path.join(HERE, "api_check.py")],
              env_for(build), HERE)
    res = json.loads(out.strip().splitlines()[-1])
    want = {"runcall": [[1, 25]], "threads": [[2, 14]], "decorated": 5,
            "stats": 0}
    if res != want:
        fail("api: %s, want %s" % (res, want))
    print("%s api" % ("ok  " if res == want else "FAIL"))
    return 1 if failures else 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def psql(url, sql):
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url,
                    "-c", sql], check=True, capture_output=True, timeout=60)


def db_url(admin, name):
    base, sep, query = admin.partition("?")
    scheme, _, rest = base.partition("://")
    host = rest.split("/", 1)[0]
    return "%s://%s/%s%s%s" % (scheme, host, name, sep, query)


def e2e(build):
    admin = os.environ.get("FLEETPROF_TEST_DB", "")
    if not admin:
        ci = os.environ.get("CI", "")
        print("%s: python e2e needs FLEETPROF_TEST_DB (make test sets it)"
              % ("FAIL" if ci and ci != "false" else "SKIP"))
        return 1 if ci and ci != "false" else 77
    if shutil.which("psql") is None:
        print("FAIL: python e2e needs psql to create its database")
        return 1
    bindir = os.path.join(build, "bin")
    name = "fp_test_python_%d" % os.getpid()
    psql(admin, "DROP DATABASE IF EXISTS %s" % name)
    psql(admin, "CREATE DATABASE %s" % name)
    url = db_url(admin, name)
    coll = None
    tmp = tempfile.mkdtemp(prefix="fp-py-e2e-")
    try:
        subprocess.run([os.path.join(bindir, "fleetprof-collector"),
                        "--migrate", "--db", url], check=True,
                       capture_output=True, timeout=120)
        port = free_port()
        log = open(os.path.join(tmp, "collector.log"), "w")
        coll = subprocess.Popen([os.path.join(bindir, "fleetprof-collector"),
                                 "--db", url, "--listen",
                                 "tcp://127.0.0.1:%d" % port],
                                stdout=log, stderr=log)
        if not wait_port(port, 10):
            fail("collector did not listen on %d" % port)
            return 1
        script = os.path.join(SCRIPTS, "mutual.py")
        ref = reference(script, build, tmp)
        service = "pytest-%s" % uuid.uuid4().hex[:8]
        _, got = fleetprof_stats(script, build, tmp, {
            "FLEETPROF_COLLECTOR": "tcp://127.0.0.1:%d" % port,
            "FLEETPROF_SERVICE": service})
        compare("e2e -o", ref, got)
        out = run([os.path.join(bindir, "fleetprof"), "top", "--db", url,
                   "--format", "json", "--service", service, "--since", "1h",
                   "--limit", "0"], env_for(build), tmp)
        rows = json.loads(out)
        if isinstance(rows, dict):
            rows = rows.get("functions", rows.get("rows", []))
        # The agent's own flush is reported as "[fleetprof] flush".
        top = {(r["file"], r["line"], r["function"]): r for r in rows
               if not r["function"].startswith("[fleetprof]")}
        for k, (cc, nc, _, _, _) in sorted(ref.items()):
            r = top.get(k)
            if r is None:
                fail("e2e: %s not in fleetprof top" % fmt(k))
            elif (r["ncalls"], r["pcalls"]) != (nc, cc):
                fail("e2e: %s top %d/%d, cProfile %d/%d" % (fmt(k),
                     r["ncalls"], r["pcalls"], nc, cc))
        for k in set(top) - set(ref):
            fail("e2e: %s in fleetprof top, not in cProfile" % fmt(k))
        print("%s e2e: %d functions in fleetprof top" %
              ("ok  " if not failures else "FAIL", len(top)))
        return 1 if failures else 0
    finally:
        if coll is not None:
            coll.terminate()
            coll.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            psql(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
        except subprocess.CalledProcessError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("what", choices=["parity", "e2e"])
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    rc = parity(build) if a.what == "parity" else e2e(build)
    if failures:
        print("%d failure(s)" % len(failures))
    return rc


if __name__ == "__main__":
    sys.exit(main())
