# Mutual recursion: is_even/is_odd call each other; edge pcalls differ from
# function pcalls.
def is_even(n):
    return True if n == 0 else is_odd(n - 1)


def is_odd(n):
    return False if n == 0 else is_even(n - 1)


def ackermann(m, n):
    if m == 0:
        return n + 1
    if n == 0:
        return ackermann(m - 1, 1)
    return ackermann(m - 1, ackermann(m, n - 1))


for k in range(15):
    is_even(k)
    is_odd(k)
ackermann(2, 3)
