# Threads: the same functions run in the main thread and in three worker
# threads; counts from all threads are summed.
import threading


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def worker(n, out):
    out.append(fib(n))


def main():
    out = []
    ts = [threading.Thread(target=worker, args=(8 + i, out))
          for i in range(3)]
    for t in ts:
        t.start()
    worker(6, out)
    for t in ts:
        t.join()
    return sorted(out)


main()
