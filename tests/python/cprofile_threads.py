"""Reference for scripts with threads: the stdlib cProfile profiles only the
thread that enabled it, so this runs the script like `python -m cProfile`
with one more cProfile.Profile per thread (around Thread.run) and writes the
summed stats, as fleetprof (which profiles every thread) reports them.
From Python 3.12 on, cProfile (on sys.monitoring) sees every thread by
itself and a second profiler cannot be enabled: one Profile is the reference.

usage: cprofile_threads.py out.prof script.py
"""
import cProfile
import importlib.machinery
import io
import marshal
import os
import pstats
import sys
import threading


def main():
    out, script = sys.argv[1], sys.argv[2]
    profs = []
    orig_run = threading.Thread.run

    def run(self):
        p = cProfile.Profile()
        profs.append(p)
        p.enable()
        try:
            orig_run(self)
        finally:
            p.disable()

    if sys.version_info < (3, 12):
        threading.Thread.run = run
    sys.argv[:] = [script]
    sys.path.insert(0, os.path.dirname(script))
    with io.open_code(script) as fp:
        code = compile(fp.read(), script, "exec")
    spec = importlib.machinery.ModuleSpec(name="__main__", loader=None,
                                          origin=script)
    globs = {"__spec__": spec, "__file__": script, "__name__": "__main__",
             "__package__": None, "__cached__": None}
    main_prof = cProfile.Profile()
    main_prof.runctx(code, globs, None)
    st = pstats.Stats(main_prof)
    for p in profs:
        st.add(p)
    with open(out, "wb") as f:
        marshal.dump(st.stats, f)


main()
