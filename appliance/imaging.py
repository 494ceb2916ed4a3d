"""Image bytes in and out: safe decoding under size limits, JPEG encoding."""

from __future__ import annotations

import io
import time
import warnings

import cv2
import numpy as np
from PIL import Image

from appliance.errors import ImageDecodeError, ImageTooLargeError, UnsupportedMediaTypeError

ACCEPTED_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
_JPEG_END = b"\xff\xd9"
_SCAN_START = b"\xff\xda"


def check_content_type(content_type: str | None) -> None:
    """Refuse a declared media type that is not one of the accepted image types."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media not in ACCEPTED_TYPES:
        raise UnsupportedMediaTypeError(
            f"content type {media or 'none'!r} is not accepted; send {', '.join(ACCEPTED_TYPES)}"
        )


def decode_image(data: bytes, max_pixels: int) -> tuple[np.ndarray, float]:
    """Decode JPEG/PNG/WebP bytes to BGR pixels, and the ms it took.

    The header is read first (Pillow, lazily) so an image whose pixel count exceeds
    `max_pixels` is refused before a single pixel is decompressed.
    """
    start = time.perf_counter()
    width, height, fmt = _sniff(data)
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}"
        )
    if fmt == "JPEG" and _truncated_jpeg(data):
        raise ImageDecodeError("the JPEG is truncated (no end-of-image marker)")
    pixels = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if pixels is None or (
        pixels.shape[:2] != (height, width) and pixels.shape[:2] != (width, height)
    ):
        raise ImageDecodeError(f"the {fmt} image data is corrupt")
    return pixels, (time.perf_counter() - start) * 1000


def _truncated_jpeg(data: bytes) -> bool:
    """No end-of-image marker after the last scan: OpenCV would decode the rest as grey.
    (Data after the marker, as phones append, is fine; an EXIF thumbnail's own marker comes
    before the main image's scan, so it does not hide a cut-off main image.)"""
    return data.find(_JPEG_END, max(0, data.rfind(_SCAN_START))) < 0


def _sniff(data: bytes) -> tuple[int, int, str]:
    if not data:
        raise ImageDecodeError("the image is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height, fmt = image.width, image.height, image.format or ""
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(str(exc)) from None
    except Exception:  # Pillow raises many types for garbage; all mean "not an image"
        raise ImageDecodeError("the data is not a JPEG, PNG or WebP image") from None
    if fmt not in ACCEPTED_TYPES.values():
        raise ImageDecodeError(f"{fmt or 'this'} images are not accepted; send JPEG, PNG or WebP")
    if width < 1 or height < 1:
        raise ImageDecodeError("the image has no pixels")
    return width, height, fmt


def encode_jpeg(pixels: np.ndarray, quality: int = 85) -> bytes:
    ok, buffer = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ImageDecodeError("JPEG encoding failed")
    return buffer.tobytes()
