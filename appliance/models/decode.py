"""Pre- and post-processing for detection models: letterbox, output families, NMS."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from appliance.domain import Detection, DetectParams
from appliance.errors import UnsupportedModelError
from appliance.models.nested import NESTED_FLOOR, suppress_nested

DEFAULT_FILL = 114  # Ultralytics' letterbox grey; Darknet imports ask for 127 in metadata
_UNIT = np.float32(1 / 255)  # uint8 pixels to the 0..1 the models take


class OutputFamily(str, enum.Enum):
    """How a detector lays out its raw output (DESIGN.md, Models)."""

    YOLOV5 = "yolov5"  # [N, 5+C]: cx, cy, w, h, objectness, class scores (also YOLOv3)
    YOLOV8 = "yolov8"  # [4+C, N]: cx, cy, w, h, class scores (also YOLO11)
    END2END = "end2end"  # [N, 6]: x1, y1, x2, y2, score, class (YOLOv10, NMS in graph)


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How an image was placed into the network input, to map boxes back."""

    scale: float
    pad_x: int
    pad_y: int


def letterbox(
    image: np.ndarray, size: tuple[int, int], fill: int = DEFAULT_FILL
) -> tuple[np.ndarray, Letterbox]:
    """Resize a BGR image to fit `size` (h, w) keeping its aspect, centred on a grey canvas."""
    box, resized = _fit(image, size)
    canvas = np.full((size[0], size[1], 3), fill, dtype=np.uint8)
    height, width = resized.shape[:2]
    canvas[box.pad_y : box.pad_y + height, box.pad_x : box.pad_x + width] = resized
    return canvas, box


def to_tensor(canvases: Sequence[np.ndarray]) -> np.ndarray:
    """Stack BGR uint8 canvases into one NCHW float32 RGB batch scaled to 0..1."""
    height, width = canvases[0].shape[:2]
    batch = np.empty((len(canvases), 3, height, width), dtype=np.float32)
    for index, canvas in enumerate(canvases):
        _to_planes(canvas, batch[index])
    batch *= _UNIT
    return batch


def letterbox_batch(
    images: Sequence[np.ndarray], size: tuple[int, int], fill: int = DEFAULT_FILL
) -> tuple[np.ndarray, list[Letterbox]]:
    """`to_tensor` of each image's `letterbox` canvas, the same numbers, made without the
    canvases: each resized image goes straight into its place in the batch and only the
    borders are filled (a third less time a frame, which on a CPU comes out of the
    engine's cores)."""
    batch = np.empty((len(images), 3, *size), dtype=np.float32)
    grey = np.float32(fill) * _UNIT
    boxes = []
    for image, planes in zip(images, batch, strict=True):
        box, resized = _fit(image, size)
        top, left = box.pad_y, box.pad_x
        bottom, right = top + resized.shape[0], left + resized.shape[1]
        planes[:, :top] = planes[:, bottom:] = grey
        planes[:, top:bottom, :left] = planes[:, top:bottom, right:] = grey
        inside = planes[:, top:bottom, left:right]
        _to_planes(resized, inside)
        inside *= _UNIT
        boxes.append(box)
    return batch, boxes


def _fit(image: np.ndarray, size: tuple[int, int]) -> tuple[Letterbox, np.ndarray]:
    """Where `image` goes in an input of `size` (h, w), and the image resized to fit."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a BGR image (h, w, 3), not shape {image.shape}")
    height, width = image.shape[:2]
    scale = min(size[0] / height, size[1] / width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    pad_x, pad_y = (size[1] - new_w) // 2, (size[0] - new_h) // 2
    if (new_h, new_w) != (height, width):
        # Bilinear, as Ultralytics does: INTER_AREA looks a little better when shrinking but
        # costs ~6x more (0.9 ms a 640x360 frame here), a per-frame price the model doesn't
        # repay.
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return Letterbox(scale, pad_x, pad_y), image


def _to_planes(image: np.ndarray, planes: np.ndarray) -> None:
    """Write a BGR uint8 image into float RGB `planes` (3, h, w), unscaled. Plane by plane:
    a quarter less time than flipping, transposing and converting the whole image."""
    for channel, plane in enumerate(reversed(cv2.split(image))):
        np.copyto(planes[channel], plane, casting="unsafe")


def detect_family(shape: Sequence[int | str | None], num_classes: int | None) -> OutputFamily:
    """Tell the output family from a per-image output shape `(a, b)` (batch removed)."""
    if len(shape) != 2 or not all(isinstance(d, int) for d in shape):
        raise UnsupportedModelError(f"cannot tell the output family of shape {list(shape)}")
    rows, cols = shape
    if num_classes is not None:
        if cols == 5 + num_classes and rows > cols:
            return OutputFamily.YOLOV5
        if rows == 4 + num_classes and cols > rows:
            return OutputFamily.YOLOV8
        if cols == 6:
            return OutputFamily.END2END
    elif cols == 6 and rows <= 1000:
        return OutputFamily.END2END
    elif rows > cols > 5:
        return OutputFamily.YOLOV5
    elif cols > rows > 4:
        return OutputFamily.YOLOV8
    raise UnsupportedModelError(
        f"output shape {list(shape)} matches no known family"
        + (f" for {num_classes} classes" if num_classes is not None else "")
    )


def decode(
    output: np.ndarray,
    family: OutputFamily,
    box: Letterbox,
    image_hw: tuple[int, int],
    params: DetectParams,
    labels: Sequence[str],
    nested: float | None = None,
) -> tuple[Detection, ...]:
    """Turn one image's raw output into detections in the original image's pixels; with
    `nested` (a containment fraction), a box inside another of its class merges into it."""
    # Merging looks at boxes down to a fixed floor whatever `conf` asks, so that `conf`
    # stays a filter on one answer: a less sure enclosing box takes its part's score.
    floor = params.conf if nested is None else min(params.conf, NESTED_FLOOR)
    if family is OutputFamily.YOLOV5:  # score = objectness x class <= objectness: skip early
        output = output[output[:, 4] >= floor]
    boxes, scores, classes = _candidates(output, family)
    keep = scores >= floor
    if params.classes is not None:
        keep &= np.isin(classes, np.fromiter(params.classes, dtype=np.int64))
    boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
    if family is not OutputFamily.END2END:
        order = nms(boxes, scores, classes, params.iou)
    else:
        order = np.argsort(-scores, kind="stable")
    boxes = _unletterbox(boxes[order], box, image_hw)  # nesting as clipped, as shown
    scores, classes = scores[order], classes[order]
    if nested is None:
        kept = np.arange(len(order))
    else:
        kept, scores = suppress_nested(boxes, scores, classes, nested)
        kept = kept[scores[kept] >= params.conf]
        kept = kept[np.argsort(-scores[kept], kind="stable")]  # a merged box may rise
    kept = kept[: params.max_det]
    return tuple(
        Detection(
            label=labels[c] if 0 <= c < len(labels) else str(c),
            class_id=int(c),
            confidence=round(float(s), 4),
            x1=round(float(b[0]), 1),
            y1=round(float(b[1]), 1),
            x2=round(float(b[2]), 1),
            y2=round(float(b[3]), 1),
        )
        for b, s, c in zip(boxes[kept], scores[kept], classes[kept], strict=True)
    )


def _candidates(
    output: np.ndarray, family: OutputFamily
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xyxy boxes in network pixels, best score, best class) for every row of the output."""
    if family is OutputFamily.END2END:
        return output[:, :4], output[:, 4], output[:, 5].astype(np.int64)
    if family is OutputFamily.YOLOV8:
        output = output.T
        class_scores = output[:, 4:]
    else:
        class_scores = output[:, 5:] * output[:, 4:5]
    classes = class_scores.argmax(axis=1)
    scores = np.take_along_axis(class_scores, classes[:, None], axis=1)[:, 0]
    return _xywh_to_xyxy(output[:, :4]), scores, classes


def _xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    half = xywh[:, 2:4] / 2
    return np.concatenate([xywh[:, :2] - half, xywh[:, :2] + half], axis=1)


def _unletterbox(boxes: np.ndarray, box: Letterbox, image_hw: tuple[int, int]) -> np.ndarray:
    pads = np.array([box.pad_x, box.pad_y, box.pad_x, box.pad_y], dtype=np.float32)
    out = (boxes - pads) / box.scale
    out[:, 0::2] = out[:, 0::2].clip(0, image_hw[1])
    out[:, 1::2] = out[:, 1::2].clip(0, image_hw[0])
    return out


def nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float) -> np.ndarray:
    """Greedy per-class NMS, vectorised: boxes of different classes are shifted apart so
    they never overlap, then one pass suppresses within each class. Returns kept indices."""
    if boxes.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    span = float(boxes.max() - boxes.min()) + 1.0
    shifted = boxes + (classes.astype(np.float32) * span)[:, None]
    x1, y1, x2, y2 = shifted.T
    areas = (x2 - x1).clip(0) * (y2 - y1).clip(0)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        w = (np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest])).clip(0)
        h = (np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest])).clip(0)
        inter = w * h
        overlap = inter / (areas[best] + areas[rest] - inter + 1e-9)
        order = rest[overlap <= iou]
    return np.array(keep, dtype=np.int64)
