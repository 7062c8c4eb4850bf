"""fleetprof's Python agent against the stdlib cProfile.

parity: for each script in scripts/, `python -m cProfile -o` and
`python -m fleetprof -o` must give IDENTICAL ncalls and primitive calls per
function and per caller edge; times must be non-negative with
tottime <= cumtime; pstats.Stats must read fleetprof's file.
e2e: `python -m fleetprof script.py` sends to a real collector (database
from FLEETPROF_TEST_DB; exit 77 = skipped when unset) and `fleetprof top
--format json` must show exactly cProfile's ncalls and pcalls.
mp: multiprocessing children (fork, spawn) of a profiled process send their
calls to a real collector: exact ncalls summed over the children.
pip: `pip install --no-build-isolation --target TMP agent/python` builds,
and the installed package profiles with exact counts (77 without pip).
lang: the Python agent's batches carry lang "python".

usage: run_tests.py --build BUILD_DIR parity|e2e|mp|pip|lang
"""
import argparse
import contextlib
import json
import marshal
import os
import pstats
import re
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


# From 3.12 some builtins' names (cProfile's as ours) hold a type object's
# address, e.g. "<built-in method __new__ of type object at 0x7f...>": it
# differs between the two processes compared, so it is not compared.
ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def normalize(func):
    return (func[0], func[1], ADDRESS.sub(" at 0x", func[2]))


def load(path):
    with open(path, "rb") as f:
        stats = marshal.load(f)
    return {normalize(k): (cc, nc, tt, ct, {normalize(c): v
                                           for c, v in callers.items()})
            for k, (cc, nc, tt, ct, callers) in stats.items()}


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
            have = {normalize(k): v for k, v in st.stats.items()
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


class SkipTest(Exception):
    pass


@contextlib.contextmanager
def collector_db(build, tag):
    """A fresh database (from FLEETPROF_TEST_DB) and a collector writing to
    it; yields (db url, collector url, scratch dir). SkipTest without
    FLEETPROF_TEST_DB outside CI."""
    admin = os.environ.get("FLEETPROF_TEST_DB", "")
    if not admin:
        ci = os.environ.get("CI", "")
        msg = "python %s needs FLEETPROF_TEST_DB (make test sets it)" % tag
        if ci and ci != "false":
            raise RuntimeError(msg)
        raise SkipTest(msg)
    if shutil.which("psql") is None:
        raise RuntimeError("python %s needs psql to create its database"
                           % tag)
    bindir = os.path.join(build, "bin")
    name = "fp_test_python_%s_%d" % (tag, os.getpid())
    psql(admin, "DROP DATABASE IF EXISTS %s" % name)
    psql(admin, "CREATE DATABASE %s" % name)
    url = db_url(admin, name)
    coll = None
    tmp = tempfile.mkdtemp(prefix="fp-py-%s-" % tag)
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
            raise RuntimeError("collector did not listen on %d" % port)
        yield url, "tcp://127.0.0.1:%d" % port, tmp
    finally:
        if coll is not None:
            coll.terminate()
            coll.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            psql(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
        except subprocess.CalledProcessError:
            pass


def top(build, url, service, tmp):
    """fleetprof top --format json for a service: {(file, line, name): row},
    the agent's own rows ("[fleetprof] flush"...) left out."""
    out = run([os.path.join(build, "bin", "fleetprof"), "top", "--db", url,
               "--format", "json", "--service", service, "--since", "1h",
               "--limit", "0"], env_for(build), tmp)
    rows = json.loads(out)
    if isinstance(rows, dict):
        rows = rows.get("functions", rows.get("rows", []))
    return {(r["file"], r["line"], r["function"]): r for r in rows
            if not r["function"].startswith("[fleetprof]")}


def skippable(fn):
    """Runs a test mode: 77 (ctest's SKIP) when it raises SkipTest."""
    def wrapper(build):
        try:
            return fn(build)
        except SkipTest as e:
            print("SKIP: %s" % e)
            return 77
    return wrapper


@skippable
def e2e(build):
    with collector_db(build, "e2e") as (url, collector, tmp):
        script = os.path.join(SCRIPTS, "mutual.py")
        ref = reference(script, build, tmp)
        service = "pytest-%s" % uuid.uuid4().hex[:8]
        _, got = fleetprof_stats(script, build, tmp, {
            "FLEETPROF_COLLECTOR": collector,
            "FLEETPROF_SERVICE": service})
        compare("e2e -o", ref, got)
        rows = top(build, url, service, tmp)
        for k, (cc, nc, _, _, _) in sorted(ref.items()):
            r = rows.get(k)
            if r is None:
                fail("e2e: %s not in fleetprof top" % fmt(k))
            elif (r["ncalls"], r["pcalls"]) != (nc, cc):
                fail("e2e: %s top %d/%d, cProfile %d/%d" % (fmt(k),
                     r["ncalls"], r["pcalls"], nc, cc))
        for k in set(rows) - set(ref):
            fail("e2e: %s in fleetprof top, not in cProfile" % fmt(k))
        print("%s e2e: %d functions in fleetprof top" %
              ("ok  " if not failures else "FAIL", len(rows)))
    return 1 if failures else 0


@skippable
def mp(build):
    """A profiled parent's multiprocessing children, started with fork and
    with spawn, send their calls: exact ncalls of the functions only the
    children run, summed over every child (mp_pool.py)."""
    script = os.path.join(HERE, "mp_pool.py")
    tasks, n = 6, 5
    calls = 2 * tasks + 1  # two pools' tasks and one Process
    with collector_db(build, "mp") as (url, collector, tmp):
        for method in ("fork", "spawn"):
            service = "pymp-%s-%s" % (method, uuid.uuid4().hex[:8])
            out = run([sys.executable, script, method], env_for(build, {
                "FLEETPROF_COLLECTOR": collector,
                "FLEETPROF_SERVICE": service,
                "FLEETPROF_EXIT_TIMEOUT_MS": "20000"}), tmp)
            res = json.loads(out.strip().splitlines()[-1])
            want_res = [sum(i * i for i in range(n))] * (2 * tasks)
            if res != {"exitcode": 0, "results": want_res}:
                fail("mp %s: children's results %s" % (method, res))
            want = {"work": (calls, calls), "leaf": (calls * n, calls * n)}
            have = {}
            deadline = time.time() + 30  # commits are asynchronous
            while time.time() < deadline:
                rows = top(build, url, service, tmp)
                have = {k[2]: (r["ncalls"], r["pcalls"])
                        for k, r in rows.items()
                        if k[0] == script and k[2] in want}
                if have == want:
                    break
                time.sleep(0.5)
            if have != want:
                fail("mp %s: children's calls %s, want %s" % (method, have,
                                                              want))
            print("%s mp %s: work %s, leaf %s (ncalls, pcalls)" % (
                "ok  " if have == want else "FAIL", method,
                have.get("work"), have.get("leaf")))
    return 1 if failures else 0


# A tiny program profiled by the installed package and by cProfile: per
# function (name) [pcalls, ncalls, sorted callers' [ncalls, pcalls]].
PIP_CHECK = """
import cProfile, json, pstats, fleetprof
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
def main():
    return [fib(10) for _ in range(2)] + [len("ab"), len("abc")]
def counts(prof):
    return {k[2]: [v[0], v[1], sorted(list(c[:2]) for c in v[4].values())]
            for k, v in pstats.Stats(prof).stats.items()
            if "disable" not in k[2]}
ref = cProfile.Profile()
ref.runcall(main)
p = fleetprof.Profile()
p.runcall(main)
print(json.dumps({"file": fleetprof.__file__, "fleetprof": counts(p),
                  "cprofile": counts(ref), "dropped": p.dropped}))
"""


def pip_install(build):
    """`pip install --no-build-isolation --target TMP agent/python` builds
    the extension from the repository's C sources (pyproject.toml, no
    network), and the installed package profiles exactly."""
    if subprocess.run([sys.executable, "-m", "pip", "--version"],
                      capture_output=True).returncode != 0:
        print("SKIP: pip is not available to %s" % sys.executable)
        return 77
    src = os.path.join(os.path.dirname(os.path.dirname(HERE)), "agent",
                       "python")
    with tempfile.TemporaryDirectory(prefix="fp-pip-") as tmp:
        target = os.path.join(tmp, "site")
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        env.pop("FLEETPROF_COLLECTOR", None)
        env["PIP_NO_INDEX"] = "1"  # offline, as these machines are
        t0 = time.time()
        p = subprocess.run([sys.executable, "-m", "pip", "install",
                            "--no-build-isolation", "--no-deps",
                            "--disable-pip-version-check", "--target",
                            target, src], env=env, capture_output=True,
                           text=True, timeout=300)
        if p.returncode != 0:
            fail("pip install: exit %d\n%s%s" % (p.returncode, p.stdout,
                                                 p.stderr))
            return 1
        built = time.time() - t0
        env["PYTHONPATH"] = target
        out = run([sys.executable, "-c", PIP_CHECK], env, tmp)
        res = json.loads(out.strip().splitlines()[-1])
        want_file = os.path.join(target, "fleetprof", "__init__.py")
        if os.path.realpath(res["file"]) != os.path.realpath(want_file):
            fail("pip: fleetprof imported from %s, not %s" % (res["file"],
                                                           want_file))
        # fib(10) twice: 354 calls, 2 primitive; 352 from fib itself (4
        # primitive for the edge), 2 from main (or its list comprehension).
        want = {"fib": [2, 354, [[2, 2], [352, 4]]],
                "<built-in method builtins.len>": [2, 2, [[2, 2]]]}
        got = {k: res["fleetprof"].get(k) for k in want}
        if got != want:
            fail("pip: calls %s, want %s" % (got, want))
        if res["fleetprof"] != res["cprofile"]:
            fail("pip: fleetprof %s, cProfile %s" % (res["fleetprof"],
                                                    res["cprofile"]))
        if res["dropped"] != 0:
            fail("pip: %d calls dropped" % res["dropped"])
        print("%s pip: installed in %.1f s, exact counts from %s" % (
            "ok  " if not failures else "FAIL", built, res["file"]))
    return 1 if failures else 0


def lang(build):
    """Batches from the Python agent say lang "python": a stand-in
    collector (nng's SP handshake over TCP, one request read, no reply)
    catches the first batch."""
    got = []
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(20)

    def read_exact(conn, n):
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                raise EOFError("peer closed")
            buf += chunk
        return buf

    def serve():
        try:
            conn, _ = srv.accept()
            with conn:
                conn.settimeout(20)
                conn.sendall(b"\0SP\0\0\x31\0\0")  # REP
                if read_exact(conn, 8) != b"\0SP\0\0\x30\0\0":  # REQ
                    return
                size = int.from_bytes(read_exact(conn, 8), "big")
                got.append(read_exact(conn, size))
        except (OSError, EOFError):
            pass

    import threading
    th = threading.Thread(target=serve)
    th.start()
    code = ("import fleetprof\n"
            "def f():\n    return 1\n"
            "fleetprof.start(collector='tcp://127.0.0.1:%d', service='lang')\n"
            "f()\n"
            "fleetprof.shutdown()\n" % srv.getsockname()[1])
    with tempfile.TemporaryDirectory() as tmp:
        run([sys.executable, "-c", code], env_for(build, {
            "FLEETPROF_EXIT_TIMEOUT_MS": "1000"}), tmp)
    th.join(30)
    srv.close()
    if not got:
        fail("lang: no batch reached the stand-in collector")
        return 1
    batch = got[0][4:]  # after the request id
    # msgpack: fixstr "lang", then fixstr "python"
    if b"\xa4lang\xa6python" not in batch:
        fail("lang: batch without lang \"python\": %r" % batch[:200])
    print("%s lang: batch of %d bytes" % (
        "ok  " if not failures else "FAIL", len(batch)))
    return 1 if failures else 0


MODES = {"parity": parity, "e2e": e2e, "mp": mp, "pip": pip_install,
         "lang": lang}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("what", choices=sorted(MODES))
    a = ap.parse_args()
    rc = MODES[a.what](os.path.abspath(a.build))
    if failures:
        print("%d failure(s)" % len(failures))
    return rc


if __name__ == "__main__":
    sys.exit(main())
