"""python -m fleetprof [-o out.prof] [-s sort] [-m module | script.py] args

A drop-in for `python -m cProfile`: runs the script as __main__ exactly as
cProfile does, prints the same pstats table (or writes a pstats file with
-o), and with FLEETPROF_COLLECTOR set also sends the numbers to the
collector (service: FLEETPROF_SERVICE, else the script's name), its
multiprocessing children's too. The table and the file are made at exit
from the agent's call trees, the same numbers the collector gets.
"""

import importlib.machinery
import io
import os
import sys
from optparse import OptionParser

import fleetprof


def main():
    import pstats
    import runpy

    usage = ("python -m fleetprof [-o output_file_path] [-s sort] "
             "[-m module | scriptfile] [arg] ...")
    parser = OptionParser(usage=usage)
    parser.allow_interspersed_args = False
    parser.add_option("-o", "--outfile", dest="outfile",
                      help="Save stats to <outfile>", default=None)
    parser.add_option("-s", "--sort", dest="sort",
                      help="Sort order when printing to stdout, based on "
                      "pstats.Stats class", default=2,
                      choices=sorted(pstats.Stats.sort_arg_dict_default))
    parser.add_option("-m", dest="module", action="store_true",
                      help="Profile a library module", default=False)
    if not sys.argv[1:]:
        parser.print_usage()
        sys.exit(2)
    options, args = parser.parse_args()
    sys.argv[:] = args
    if not args:
        parser.print_usage()
        return 2
    if options.outfile is not None:
        options.outfile = os.path.abspath(options.outfile)

    if options.module:
        code = "run_module(modname, run_name='__main__')"
        globs = {"run_module": runpy.run_module, "modname": args[0]}
        name = args[0].rsplit(".", 1)[-1]
    else:
        progname = args[0]
        sys.path.insert(0, os.path.dirname(progname))
        with io.open_code(progname) as fp:
            code = compile(fp.read(), progname, "exec")
        spec = importlib.machinery.ModuleSpec(name="__main__", loader=None,
                                              origin=progname)
        globs = {"__spec__": spec, "__file__": spec.origin,
                 "__name__": spec.name, "__package__": None,
                 "__cached__": None}
        name = os.path.splitext(os.path.basename(progname))[0]

    agent = bool(os.environ.get("FLEETPROF_COLLECTOR"))
    if agent:
        rc = fleetprof._agent_init(service=name)
        if rc != 0:
            print("fleetprof: agent not started: %s"
                  % fleetprof._ext().agent_strerror(rc), file=sys.stderr)
            agent = False
    prof = fleetprof.Profile()
    try:
        try:
            prof.runctx(code, globs, None)
        except SystemExit:
            pass
        finally:
            if options.outfile is not None:
                prof.dump_stats(options.outfile)
            else:
                prof.print_stats(options.sort)
            if prof.dropped:
                print("fleetprof: %d call(s) not recorded (call tree limits "
                      "or memory); see FLEETPROF_MAX_NODES, "
                      "FLEETPROF_MAX_DEPTH" % prof.dropped, file=sys.stderr)
    except BrokenPipeError as exc:
        sys.stdout = None
        sys.exit(exc.errno)
    finally:
        if agent:
            fleetprof._ext().agent_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
