# Exceptions: raised and caught at various depths, raised by builtins
# (C_EXCEPTION), re-raised, and inside finally.
class Boom(Exception):
    pass


def deep(n):
    if n == 0:
        raise Boom("bottom")
    return deep(n - 1)


def catcher(n):
    try:
        deep(n)
    except Boom:
        return "caught"


def parse(s):
    try:
        return int(s)
    except ValueError:
        return None


def reraise():
    try:
        deep(2)
    except Boom as e:
        raise ValueError("again") from e


def with_finally():
    try:
        return parse("x")
    finally:
        parse("7")


def main():
    for i in range(4):
        catcher(i)
    [parse(s) for s in ("1", "x", "3", "y")]
    try:
        reraise()
    except ValueError:
        pass
    with_finally()
    d = {}
    try:
        d["missing"]
    except KeyError:
        pass
    getattr(d, "nope", None)


main()
