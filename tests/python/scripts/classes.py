# Classes: __init__, methods, inheritance with super(), classmethod,
# staticmethod, property and dunder methods.
class Shape:
    count = 0

    def __init__(self, name):
        self.name = name
        Shape.bump()

    @classmethod
    def bump(cls):
        cls.count += 1

    @staticmethod
    def unit():
        return 1.0

    def area(self):
        return 0.0

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, self.name)


class Square(Shape):
    def __init__(self, side):
        super().__init__("square")
        self.side = side

    @property
    def side2(self):
        return self.side * self.side

    def area(self):
        return self.side2 * self.unit()

    def __lt__(self, other):
        return self.area() < other.area()


def main():
    shapes = [Square(i) for i in range(6)] + [Shape("blob")]
    total = sum(s.area() for s in shapes)
    squares = sorted(s for s in shapes if isinstance(s, Square))
    text = [repr(s) for s in squares]
    return total, text


main()
