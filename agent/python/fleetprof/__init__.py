"""fleetprof for Python: cProfile's numbers, for every process of a fleet.

    import fleetprof
    fleetprof.start(service="api")   # profiles this thread and new threads
    ...
    fleetprof.stop()

    with fleetprof.profile(service="api"): ...      # context manager
    @fleetprof.profile(service="api")                # decorator
    def handler(...): ...

Calls are counted exactly as cProfile counts them (ncalls, primitive calls,
tottime, cumtime, per function and per caller) and sent to the collectors in
FLEETPROF_COLLECTOR (or collector=...). Profile is a drop-in for
cProfile.Profile (pstats.Stats(prof), dump_stats, print_stats).
`python -m fleetprof` is a drop-in for `python -m cProfile`.
The profiler is process-wide: one profiling session at a time. While the
agent sends, multiprocessing children (fork and spawn) are profiled and
send too (see _mp.py).
"""

import functools
import marshal
import os
import threading

__all__ = ["start", "stop", "shutdown", "flush", "profile", "Profile",
           "agent_stats"]

_ext_mod = None


def _ext():
    """The C extension, imported on first use: with FLEETPROF_COLLECTOR set
    the agent starts when it loads, so environment defaults set by start()
    must come first."""
    global _ext_mod
    if _ext_mod is None:
        from . import _fleetprof
        _ext_mod = _fleetprof
    return _ext_mod


def _agent_init(collector=None, service=None, host=None, labels=None,
                interval=None):
    """Starts the agent's delivery (idempotent) and the profiling of
    multiprocessing children. Returns 0 or a negative fleetprof error code;
    never raises for agent errors (a guest)."""
    given = {"FLEETPROF_COLLECTOR": collector, "FLEETPROF_SERVICE": service,
             "FLEETPROF_HOST": host, "FLEETPROF_LABELS": labels,
             "FLEETPROF_INTERVAL": str(interval) if interval else None}
    for var, value in given.items():
        # With a collector set, the agent starts when the extension loads:
        # given values go to the environment before that (and to children).
        if value and not os.environ.get(var):
            os.environ[var] = value
    m = _ext()
    rc = m.agent_init(collector=collector, service=service, host=host,
                      labels=labels, interval=float(interval or 0.0))
    if rc == m.ESTATE:
        rc = 0  # already running (started when the module loaded)
    if rc == 0:
        from . import _mp
        _mp.install({var: value or os.environ.get(var)
                     for var, value in given.items()})
    return rc


def start(service=None, collector=None, host=None, labels=None,
          interval=None, agent=None):
    """Profiles the calling thread and threads started afterwards.

    agent (default: a collector is configured) sends the numbers to the
    collector; multiprocessing children are then profiled and send too.
    """
    if agent is None:
        agent = bool(collector or os.environ.get("FLEETPROF_COLLECTOR"))
    if agent:
        _agent_init(collector, service, host, labels, interval)
    m = _ext()
    threading.setprofile(m.thread_hook)
    m.start()  # last: later calls are profiled


def stop():
    """Stops profiling; calls still open on this thread end now (as
    cProfile's disable does)."""
    _ext().stop()  # first: nothing of stop() itself is recorded
    threading.setprofile(None)


def flush():
    """Sends what was measured so far (delivery stays asynchronous)."""
    return _ext().agent_flush()


def shutdown():
    """Stops profiling, sends everything and waits (bounded) for acks."""
    stop()
    return _ext().agent_shutdown()


def agent_stats():
    """The agent's counters (batches sent/dropped, events dropped...)."""
    return _ext().agent_stats()


# A pstats session must count every call, as cProfile does: its call trees
# get the largest limits the agent allows (memory grows only with the tree),
# unless FLEETPROF_MAX_NODES / FLEETPROF_MAX_DEPTH say otherwise.
_PSTATS_MAX_NODES = 1 << 24
_PSTATS_MAX_DEPTH = 65536


def _pstats_limits(m):
    env = os.environ
    m.set_tree_limits(
        0 if env.get("FLEETPROF_MAX_NODES") else _PSTATS_MAX_NODES,
        0 if env.get("FLEETPROF_MAX_DEPTH") else _PSTATS_MAX_DEPTH)


def _pstats_dict(snapshot):
    """The dict pstats expects, built as cProfile.Profile.snapshot_stats
    builds it: {(file, line, name): (cc, nc, tt, ct, callers)} with
    callers {caller: (nc, cc, tt, ct)} (note the order)."""
    labels, fns, edges, _ = snapshot
    acc = {}
    for row, nc, rc, it, tt in fns:
        func = labels[row]
        cur = acc.setdefault(func, [0, 0, 0.0, 0.0, {}])
        cur[0] += nc - rc
        cur[1] += nc
        cur[2] += it
        cur[3] += tt
    for caller, callee, nc, rc, it, tt in edges:
        cur = acc.get(labels[callee])
        if cur is None:
            continue
        callers = cur[4]
        key = labels[caller]
        prev = callers.get(key, (0, 0, 0.0, 0.0))
        callers[key] = (prev[0] + nc, prev[1] + nc - rc, prev[2] + it,
                        prev[3] + tt)
    return {f: (v[0], v[1], v[2], v[3], v[4]) for f, v in acc.items()}


class Profile:
    """cProfile.Profile's interface on fleetprof's profiler. Nothing but the
    agent's call trees is kept while profiling: the stats are read from them
    when made. Totals are process-wide: enabling a new Profile forgets
    earlier totals. `dropped` counts calls the trees could not record (tree
    limits, memory) at the last snapshot: 0 means exact."""

    def __init__(self):
        self.stats = {}
        self.dropped = 0
        self._fresh = True

    def enable(self):
        m = _ext()
        if self._fresh:
            _pstats_limits(m)  # for the trees made from now on
            m.clear()
            self._fresh = False
        threading.setprofile(m.thread_hook)
        m.start()  # last: later calls are profiled

    def disable(self):
        _ext().stop()
        threading.setprofile(None)

    def create_stats(self):
        self.disable()
        self.snapshot_stats()

    def snapshot_stats(self):
        snap = _ext().snapshot()
        self.dropped = snap[3]
        self.stats = _pstats_dict(snap)

    def print_stats(self, sort=-1):
        import pstats
        if not isinstance(sort, tuple):
            sort = (sort,)
        pstats.Stats(self).strip_dirs().sort_stats(*sort).print_stats()

    def dump_stats(self, file):
        with open(file, "wb") as f:
            self.create_stats()
            marshal.dump(self.stats, f)

    def run(self, cmd):
        import __main__
        d = __main__.__dict__
        return self.runctx(cmd, d, d)

    def runctx(self, cmd, globals, locals):
        m = _ext()
        self.enable()
        try:
            exec(cmd, globals, locals)
        finally:
            m.stop()  # a builtin the profiler ignores: not in the stats
            threading.setprofile(None)
        return self

    def runcall(self, func, /, *args, **kw):
        m = _ext()
        self.enable()
        try:
            return func(*args, **kw)
        finally:
            m.stop()
            threading.setprofile(None)

    def __enter__(self):
        self.enable()
        return self

    def __exit__(self, *exc_info):
        self.disable()


class profile:
    """Context manager and decorator: profiles the block or each call of
    the decorated function, sending to the collector (see start)."""

    def __init__(self, func=None, **start_kw):
        self._kw = start_kw
        self._func = func
        if func is not None:
            functools.update_wrapper(self, func)

    def __enter__(self):
        start(**self._kw)
        return self

    def __exit__(self, *exc_info):
        stop()
        return False

    def __call__(self, *args, **kw):
        if self._func is None and len(args) == 1 and callable(args[0]) \
                and not kw:
            return profile(args[0], **self._kw)
        with self:
            return self._func(*args, **kw)
