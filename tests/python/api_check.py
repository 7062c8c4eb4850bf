"""In-process API: Profile (cProfile.Profile's interface), the context
manager and the decorator; prints a JSON summary checked by run_tests.py."""
import json
import pstats
import threading

import fleetprof


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


@fleetprof.profile(agent=False)
def decorated():
    return fib(5)


def main():
    res = {}
    prof = fleetprof.Profile()
    prof.runcall(fib, 6)
    st = pstats.Stats(prof)
    res["runcall"] = [v[:2] for k, v in st.stats.items() if k[2] == "fib"]
    with fleetprof.Profile() as p2:
        t = threading.Thread(target=fib, args=(4,))
        t.start()
        t.join()
        fib(3)
    p2.create_stats()
    res["threads"] = [v[:2] for k, v in p2.stats.items() if k[2] == "fib"]
    with fleetprof.profile(agent=False):
        fib(2)
    res["decorated"] = decorated()
    res["stats"] = fleetprof.agent_stats()["python_dropped"]
    print(json.dumps(res))


main()
