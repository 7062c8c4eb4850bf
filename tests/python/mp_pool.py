"""multiprocessing children of a profiled process report their calls.

usage: FLEETPROF_COLLECTOR=... FLEETPROF_SERVICE=... mp_pool.py fork|spawn

Only children call work() and leaf(): TASKS tasks in a Pool left by `with`
(Pool.terminate(): idle workers get SIGTERM), TASKS in a Pool closed and
joined (workers exit normally), and one Process. Prints JSON: the Process's
exit code and the results, for run_tests.py to check.
"""
import json
import multiprocessing
import sys

import fleetprof

TASKS = 6
N = 5


def leaf(i):
    return i * i


def work(n):
    total = 0
    for i in range(n):
        total += leaf(i)
    return total


def main():
    ctx = multiprocessing.get_context(sys.argv[1])
    fleetprof.start()  # collector and service from the environment
    with ctx.Pool(2) as pool:
        first = pool.map(work, [N] * TASKS, chunksize=1)
    pool = ctx.Pool(2)
    second = pool.map(work, [N] * TASKS, chunksize=1)
    pool.close()
    pool.join()
    proc = ctx.Process(target=work, args=(N,))
    proc.start()
    proc.join()
    fleetprof.shutdown()
    print(json.dumps({"exitcode": proc.exitcode,
                      "results": first + second}))


if __name__ == "__main__":
    main()
