"""multiprocessing children are profiled too, and never aborted.

Installed by the package once the agent sends (fleetprof.start with a
collector, or python -m fleetprof with FLEETPROF_COLLECTOR set):

- fork: the child keeps the profile function (it is the forking thread's)
  and the C agent gives it a fresh identity, empty call trees, its own
  transport and flush thread (plain sockets, never libnng: DESIGN.md, "Fork
  trap"). multiprocessing runs our after-fork hook in the child.
- spawn (and forkserver): a new interpreter that imports nothing of ours
  by itself. multiprocessing pickles "preparation data" for the child; we
  add one entry whose unpickling, first thing in the child, imports
  fleetprof and starts profiling with the parent's agent settings. The
  entry unpickles through a guarded import, so a child that cannot import
  fleetprof runs unprofiled instead of dying at birth (a Pool would
  respawn it forever).
- the end: a multiprocessing child leaves with os._exit, so no atexit
  handler runs. A multiprocessing finalizer stops profiling (open calls are
  not counted) and sends the rest, waiting for the collector's ack at most
  FLEETPROF_EXIT_TIMEOUT_MS. A child killed with SIGTERM (Pool.terminate(),
  hence `with Pool(...)`) flushes the same way first, if SIGTERM was left at
  its default, then dies of SIGTERM (pyexit.c). SIGKILL loses what was not
  sent yet (a flush every FLEETPROF_INTERVAL).
"""

import os

_settings = {}  # FLEETPROF_* of the parent's agent, for spawned children
_installed = False
_hook = None  # keeps multiprocessing's (weak) after-fork registration alive


class _AfterFork:
    """A weak-referenceable owner for util.register_after_fork."""


def install(settings):
    """Profiles the children this process starts from now on (idempotent;
    settings: FLEETPROF_* variable -> value for spawned children)."""
    global _installed, _hook
    _settings.update({k: v for k, v in settings.items() if v})
    if _installed:
        return
    from multiprocessing import spawn, util
    _hook = _AfterFork()
    util.register_after_fork(_hook, _after_fork)
    original = spawn.get_preparation_data

    def get_preparation_data(name):
        data = original(name)
        data["fleetprof"] = _Stowaway(dict(_settings))
        return data

    get_preparation_data.__wrapped__ = original
    spawn.get_preparation_data = get_preparation_data
    _installed = True


# Runs in the spawned child while it unpickles the preparation data, before
# multiprocessing sets sys.path from the parent's: fleetprof's own location
# is tried too. Any failure leaves the child unprofiled, never dead.
_CHILD_START = """
try:
    import sys
    if where not in sys.path:
        sys.path.append(where)
    from fleetprof import _mp
    _mp._spawned(settings)
except Exception:
    pass
"""


class _Stowaway:
    def __init__(self, settings):
        self.settings = settings

    def __reduce__(self):
        where = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        return (exec, (_CHILD_START, {"where": where,
                                      "settings": self.settings}))


def _spawned(settings):
    """In a spawned child: the parent's agent settings, then profiling."""
    import fleetprof
    for var, value in settings.items():
        os.environ[var] = value  # before the extension loads (autostart)
    if fleetprof._agent_init() == 0:
        fleetprof.start(agent=False)  # the agent runs already
        _child_hooks()


def _after_fork(_):
    """multiprocessing's after-fork hook: in a forked (or forkserver) child,
    before it runs its target."""
    import fleetprof
    if fleetprof._ext().running():
        _child_hooks()


def _child_hooks():
    from multiprocessing import util
    import fleetprof
    # Below every other finalizer (queues flush at -5): the work is done.
    util.Finalize(None, _child_exit, exitpriority=-100)
    fleetprof._ext().sigterm_flush()


def _child_exit():
    try:
        import fleetprof
        m = fleetprof._ext()
        m.stop(close=False)
        m.exit_flush()
    except Exception:
        pass  # a guest: never a traceback at the host's exit
