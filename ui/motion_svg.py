"""The motion gate drawn over a camera's live picture: its saved masks (dark, hatched,
numbered as the page lists them) and the regions that moved in the newest frame. SVG in the
picture's own pixels, like the scene drafts (the overlay's viewBox is the picture's size)."""

from __future__ import annotations

from collections.abc import Sequence

from appliance.config import MaskConfig
from appliance.domain import Region
from ui.scene_draft import MASK_COLOUR, outlined_text, pen_for

MOTION_COLOUR = "#ff2bd6"  # magenta: none of the class colours' boxes is this
HATCH_ID = "motion-mask-hatch"


def masks_svg(masks: Sequence[MaskConfig], width: int, height: int) -> str:
    """Each mask as a dark translucent, hatched polygon with its number ("1" for mask 1)."""
    if not masks:
        return ""
    pen = pen_for(width, height)
    parts = [_hatch(pen)]
    for number, mask in enumerate(masks, start=1):
        pixels = [(x * width, y * height) for x, y in mask.points]
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in pixels)
        parts.append(
            f'<polygon points="{coords}" fill="#000" fill-opacity="0.45" '
            f'stroke="{MASK_COLOUR}" stroke-width="{pen:.1f}" data-mask="{number}"/>'
            f'<polygon points="{coords}" fill="url(#{HATCH_ID})" stroke="none"/>'
        )
        parts.append(_number(pixels, number, pen))
    return "".join(parts)


def motion_svg(regions: Sequence[Region], width: int, height: int) -> str:
    """The regions that moved (normalised x1, y1, x2, y2) as outlined rectangles."""
    pen = pen_for(width, height)
    return "".join(
        f'<rect x="{x1 * width:.1f}" y="{y1 * height:.1f}" width="{(x2 - x1) * width:.1f}" '
        f'height="{(y2 - y1) * height:.1f}" fill="{MOTION_COLOUR}" fill-opacity="0.12" '
        f'stroke="{MOTION_COLOUR}" stroke-width="{pen:.1f}" data-motion="1"/>'
        for x1, y1, x2, y2 in regions
    )


def _hatch(pen: float) -> str:
    gap = pen * 5
    return (
        f'<defs><pattern id="{HATCH_ID}" patternUnits="userSpaceOnUse" width="{gap:.1f}" '
        f'height="{gap:.1f}" patternTransform="rotate(45)">'
        f'<line x1="0" y1="0" x2="0" y2="{gap:.1f}" stroke="{MASK_COLOUR}" '
        f'stroke-opacity="0.6" stroke-width="{pen * 0.6:.1f}"/></pattern></defs>'
    )


def _number(pixels: list[tuple[float, float]], number: int, pen: float) -> str:
    """The mask's number at the mean of its corners."""
    x = sum(p[0] for p in pixels) / len(pixels)
    y = sum(p[1] for p in pixels) / len(pixels)
    return outlined_text(x, y, pen * 9, pen, MASK_COLOUR, str(number))
