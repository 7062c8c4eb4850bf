# Builtins and C methods, named as cProfile names them:
# {built-in method builtins.len}, {method 'append' of 'list' objects}.
import math


def key(x):
    return -x


def main():
    acc = []
    for i in range(20):
        acc.append(i % 7)
        acc.append(len(acc))
    s = sorted(acc, key=key)
    d = {}
    for v in s:
        d[v] = d.get(v, 0) + 1
    words = ",".join(str(k) for k in d)
    m = max(acc)
    r = list(map(abs, [-1, -2, 3]))
    q = math.sqrt(16.0)
    isinstance(q, float)
    acc.sort()
    acc.pop()
    return words, m, r


main()
