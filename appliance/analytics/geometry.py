"""Plane geometry in pixels for lines and zones: which side of a line, does a step cross a
segment, is a point inside a polygon, is a polygon simple."""

from __future__ import annotations

from collections.abc import Sequence

Point = tuple[float, float]


def scaled(points: Sequence[Point], width: int, height: int) -> tuple[Point, ...]:
    """Normalised (0..1) points as pixels of a `width` x `height` frame."""
    return tuple((x * width, y * height) for x, y in points)


def foot(x1: float, x2: float, y2: float, size: tuple[int, int]) -> Point:
    """Where an object stands: the bottom centre of its box, kept half a pixel inside the
    frame, so a box cut off by the frame's edge is still inside a zone drawn to that edge."""
    return (min(max((x1 + x2) / 2, 0.5), size[0] - 0.5), min(max(y2, 0.5), size[1] - 0.5))


def signed_distance(a: Point, b: Point, p: Point) -> float:
    """Distance of `p` from the line through a -> b, positive on the side of the normal
    (dy, -dx): the right-hand side when walking from a to b in image coordinates (y down)."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length = (dx * dx + dy * dy) ** 0.5
    return (dy * (p[0] - a[0]) - dx * (p[1] - a[1])) / length


def crosses_segment(a: Point, b: Point, p: Point, q: Point) -> bool:
    """Whether the step p -> q passes through the segment a-b itself (touching its end
    points counts; passing beyond them, along the line's extension, does not)."""
    d1, d2 = _orient(p, q, a), _orient(p, q, b)
    d3, d4 = _orient(a, b, p), _orient(a, b, q)
    if d1 * d2 < 0 and d3 * d4 < 0:
        return True
    return (
        (d1 == 0 and _on_segment(p, q, a))
        or (d2 == 0 and _on_segment(p, q, b))
        or (d3 == 0 and _on_segment(a, b, p))
        or (d4 == 0 and _on_segment(a, b, q))
    )


def inside_polygon(polygon: Sequence[Point], p: Point) -> bool:
    """Even-odd rule: whether `p` lies inside the polygon (points on an edge may go either
    way, which is fine for occupancy with inertia)."""
    x, y = p
    inside = False
    j = len(polygon) - 1
    for i in range(len(polygon)):
        xi, yi = polygon[i]
        xj, yj = polygon[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def is_simple_polygon(polygon: Sequence[Point]) -> bool:
    """No two non-adjacent edges touch, and no edge has zero length."""
    n = len(polygon)
    edges = [(polygon[i], polygon[(i + 1) % n]) for i in range(n)]
    if any(a == b for a, b in edges):
        return False
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue  # neighbours share a corner by design
            if crosses_segment(*edges[i], *edges[j]):
                return False
    return True


def _orient(a: Point, b: Point, c: Point) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _on_segment(a: Point, b: Point, c: Point) -> bool:
    """`c`, known to be collinear with a-b, lies within its bounding box."""
    return min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])
