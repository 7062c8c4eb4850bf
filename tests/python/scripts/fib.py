# Recursion: fib calls itself; cProfile's ncalls "a/b" splits total and
# primitive calls.
def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def main():
    total = 0
    for i in range(12):
        total += fib(i)
    return total


main()
