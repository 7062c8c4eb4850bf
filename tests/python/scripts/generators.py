# Generators: every resumption is a call for cProfile; also generator
# expressions, send(), close() and a generator driven by a builtin.
def count(n):
    for i in range(n):
        yield i


def squares(n):
    return (i * i for i in count(n))


def echo():
    total = 0
    while True:
        got = yield total
        if got is None:
            break
        total += got


def delegate(n):
    yield from count(n)
    yield -1


def main():
    s = sum(squares(10))
    lst = list(count(5))
    g = echo()
    next(g)
    for v in range(4):
        g.send(v)
    g.close()
    d = [x for x in delegate(3)]
    it = count(3)
    next(it)
    return s, lst, d


main()
