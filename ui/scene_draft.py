"""A counting line, an occupancy zone or a motion mask while the user draws it on a camera's
picture: its
points (normalised 0..1, as the camera's configuration keeps them), whether it is complete,
and the SVG that shows it over the live image. The SVG is in the image's own pixels because
the overlay's viewBox is the picture's natural size, whatever size the page shows it at."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Literal

from appliance.config import SLUG, LineConfig, MaskConfig, ZoneConfig

Kind = Literal["line", "zone", "mask"]  # zones and masks are both polygons
Point = tuple[float, float]

LINE_COLOUR = "#ffd700"  # the annotated stream's colours (its amber lines, light-blue zones)
ZONE_COLOUR = "#3ca0ff"
MASK_COLOUR = "#c8c8c8"  # grey: an area left out, not one that counts
COLOURS: dict[Kind, str] = {"line": LINE_COLOUR, "zone": ZONE_COLOUR, "mask": MASK_COLOUR}
ZONE_MOST_POINTS = 32  # ZoneConfig's and MaskConfig's bound
NAME_RULE = "a-z, 0-9, - and _; up to 40, not starting with - or _"
CLOSE_RADIUS = 0.025  # of the diagonal: a click this near a polygon's first point closes it
DECIMALS = 4  # a tenth of a pixel on a 4K frame


def name_problem(name: str | None) -> str | None:
    """Why `name` cannot name a line or zone (it is part of their URLs), or None."""
    if not name:
        return "Give it a name"
    if not re.fullmatch(SLUG, name):
        return f"Use {NAME_RULE}"
    return None


@dataclass
class Draft:
    kind: Kind
    points: list[Point] = field(default_factory=list)
    closed: bool = False  # a polygon whose first point was clicked again

    @property
    def fewest(self) -> int:
        return 2 if self.kind == "line" else 3

    @property
    def most(self) -> int:
        return 2 if self.kind == "line" else ZONE_MOST_POINTS

    @property
    def complete(self) -> bool:
        return len(self.points) >= self.fewest

    @property
    def taking_points(self) -> bool:
        return not self.closed and len(self.points) < self.most

    def add(self, x: float, y: float, width: int, height: int) -> bool:
        """A click at pixel (x, y) of a `width` x `height` picture; False when the draft takes
        no more points. On a complete polygon, a click next to its first point closes it."""
        if not self.taking_points or width <= 0 or height <= 0:
            return False
        if self.kind != "line" and self.complete:
            fx, fy = self.points[0][0] * width, self.points[0][1] * height
            if math.hypot(x - fx, y - fy) <= CLOSE_RADIUS * math.hypot(width, height):
                self.closed = True
                return True
        self.points.append((_unit(x / width), _unit(y / height)))
        return True

    def undo(self) -> None:
        if self.closed:
            self.closed = False
        elif self.points:
            self.points.pop()

    def swap(self) -> None:
        """Reverse a line: what counted as `in` counts as `out`."""
        if self.kind == "line":
            self.points.reverse()

    def line_config(self, classes: list[str] | None) -> LineConfig:
        """pydantic's ValidationError when the points cannot make a line."""
        return LineConfig(points=self.points, classes=classes or None)

    def zone_config(self, classes: list[str] | None) -> ZoneConfig:
        """pydantic's ValidationError when the polygon crosses itself or repeats a point."""
        return ZoneConfig(points=self.points, classes=classes or None)

    def mask_config(self) -> MaskConfig:
        """pydantic's ValidationError when the polygon crosses itself or repeats a point."""
        return MaskConfig(points=self.points)

    def hint(self) -> str:
        n = len(self.points)
        if self.kind == "line":
            if n < 2:
                return f"Click {'the first' if n == 0 else 'the second'} end of the line"
            return "The arrow points to the side that counts as in: Swap direction turns it"
        if self.closed or n == self.most:
            then = "save it" if self.kind == "mask" else "name it and save"
            return f"{self.kind.capitalize()} of {n} corners: {then}"
        if n < 3:
            return f"Click the {self.kind}'s corners in order ({n} of at least 3)"
        return f"{n} corners: click more, the first one again to close, or save"

    def svg(self, width: int, height: int) -> str:
        """The draft over a `width` x `height` picture (pixels)."""
        pixels = [(x * width, y * height) for x, y in self.points]
        pen = pen_for(width, height)
        if self.kind == "line":
            return _line_svg(pixels, pen, min(width, height))
        closed = self.closed or len(pixels) == self.most
        return _polygon_svg(pixels, pen, COLOURS[self.kind], closed=closed)


def pen_for(width: int, height: int) -> float:
    """The stroke width of what is drawn over a `width` x `height` picture."""
    return max(2.0, min(width, height) / 240)


def outlined_text(x: float, y: float, size: float, pen: float, colour: str, text: str) -> str:
    """`text` centred on (x, y): the dark outline first, the fill over it, readable on any
    picture."""
    where = (
        f'x="{x:.1f}" y="{y:.1f}" font-size="{size:.1f}" font-weight="bold" '
        'text-anchor="middle" dominant-baseline="central"'
    )
    return (
        f'<text {where} fill="none" stroke="#000" stroke-width="{pen * 1.5:.1f}">{text}</text>'
        f'<text {where} fill="{colour}">{text}</text>'
    )


def _unit(value: float) -> float:
    return round(min(max(value, 0.0), 1.0), DECIMALS)


def _dots(pixels: list[Point], pen: float, colour: str) -> str:
    return "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{pen * (3.2 if i == 0 else 2.4):.1f}" '
        f'fill="{colour}" stroke="#000" stroke-width="{pen / 2:.1f}"/>'
        for i, (x, y) in enumerate(pixels)
    )


def _line_svg(pixels: list[Point], pen: float, short_side: int) -> str:
    parts = []
    if len(pixels) == 2:
        (ax, ay), (bx, by) = pixels
        parts.append(
            f'<line x1="{ax:.1f}" y1="{ay:.1f}" x2="{bx:.1f}" y2="{by:.1f}" stroke="{LINE_COLOUR}"'
            f' stroke-width="{pen * 1.5:.1f}" stroke-dasharray="{pen * 6:.1f} {pen * 3:.1f}"/>'
        )
        parts.append(_in_arrow(ax, ay, bx, by, pen, short_side / 14))
    return "".join(parts) + _dots(pixels, pen, LINE_COLOUR)


def _in_arrow(ax: float, ay: float, bx: float, by: float, pen: float, reach: float) -> str:
    """An arrow from the middle towards the normal (dy, -dx): the `in` side, as counted."""
    dx, dy = bx - ax, by - ay
    length = max(math.hypot(dx, dy), 1.0)
    nx, ny = dy / length, -dx / length  # unit normal, towards `in`
    mx, my = (ax + bx) / 2, (ay + by) / 2
    tx, ty = mx + nx * reach, my + ny * reach
    head, side = reach * 0.35, reach * 0.22
    bx_, by_ = tx - nx * head, ty - ny * head  # the head's base, on the shaft
    wing1 = (bx_ + ny * side, by_ - nx * side)
    wing2 = (bx_ - ny * side, by_ + nx * side)
    lx, ly = mx + nx * reach * 1.5, my + ny * reach * 1.5
    return (
        f'<line x1="{mx:.1f}" y1="{my:.1f}" x2="{bx_:.1f}" y2="{by_:.1f}" '
        f'stroke="{LINE_COLOUR}" stroke-width="{pen * 1.5:.1f}"/>'
        f'<polygon points="{tx:.1f},{ty:.1f} {wing1[0]:.1f},{wing1[1]:.1f} '
        f'{wing2[0]:.1f},{wing2[1]:.1f}" fill="{LINE_COLOUR}"/>'
        + outlined_text(lx, ly, reach * 0.6, pen, LINE_COLOUR, "in")
    )


def _polygon_svg(pixels: list[Point], pen: float, colour: str, *, closed: bool) -> str:
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in pixels)
    dash = f'stroke-dasharray="{pen * 6:.1f} {pen * 3:.1f}"'
    stroke = f'stroke="{colour}" stroke-width="{pen * 1.5:.1f}"'
    if len(pixels) >= 3:
        fill = 0.3 if closed else 0.18
        shape = (
            f'<polygon points="{coords}" fill="{colour}" fill-opacity="{fill}" '
            f"{stroke} {'' if closed else dash}/>"
        )
    elif len(pixels) == 2:
        shape = f'<polyline points="{coords}" fill="none" {stroke} {dash}/>'
    else:
        shape = ""
    return shape + _dots(pixels, pen, colour)
