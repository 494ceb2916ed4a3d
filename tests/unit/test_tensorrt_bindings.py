"""TensorRTEngine's bookkeeping (buffer plans per shape, dtype mapping, reuse, batches split
over the profile) through its DeviceRuntime seam. No GPU here: `FakeTensorRTRuntime` stands
in for TensorRT + CUDA, with numpy arrays as device memory and, where a real network is
wanted, ONNX Runtime running the demo model as the 'GPU'."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Mapping

import numpy as np
import pytest
from helpers import compose_scene, inside

from appliance.domain import DetectParams, ModelRef
from appliance.engines.onnxruntime import OnnxRuntimeConfig, OnnxRuntimeEngine
from appliance.engines.tensorrt import TensorRTEngine
from appliance.engines.tensorrt_types import Buffer, IoTensor, numpy_dtype
from appliance.errors import InferenceError, UnsupportedModelError
from appliance.models.demo import demo_model_path
from appliance.models.detector import DecodedImage, Detector
from appliance.models.labels import resolve_labels

Kernel = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


class FakeTensorRTRuntime:
    """A fake of TensorRT + CUDA for tests: 'device memory' is a dict of numpy arrays keyed
    by fake pointers, and execution runs `kernel` on the bound device inputs. It records
    what the engine asks of it, so reuse and release can be checked."""

    def __init__(
        self,
        tensors: list[IoTensor],
        kernel: Kernel,
        output_shape: Callable[[str, tuple[int, ...]], tuple[int, ...]],
    ) -> None:
        self._tensors = tensors
        self._kernel = kernel
        self._output_shape = output_shape
        self.device: dict[int, np.ndarray] = {}
        self.next_pointer = 0x1000
        self.allocated = 0
        self.freed = 0
        self.runs: list[tuple[int, ...]] = []
        self.closed = False

    def tensors(self) -> list[IoTensor]:
        return list(self._tensors)

    def output_shapes(self, input_shapes: Mapping[str, tuple[int, ...]]) -> dict[str, tuple]:
        (shape,) = input_shapes.values()
        return {t.name: self._output_shape(t.name, shape) for t in self._tensors if not t.is_input}

    def allocate(self, shape: tuple[int, ...], dtype: str) -> Buffer:
        pointer, self.next_pointer = self.next_pointer, self.next_pointer + 0x1000
        self.device[pointer] = np.zeros(shape, dtype)
        self.allocated += 1
        return Buffer(np.zeros(shape, dtype), pointer, handle=pointer)

    def free(self, buffer: Buffer) -> None:
        del self.device[buffer.handle]
        self.freed += 1

    def run(
        self,
        input_shapes: Mapping[str, tuple[int, ...]],
        inputs: Mapping[str, Buffer],
        outputs: Mapping[str, Buffer],
    ) -> None:
        for buffer in inputs.values():  # host -> device
            np.copyto(self.device[buffer.device], buffer.host)
        results = self._kernel({name: self.device[b.device] for name, b in inputs.items()})
        for name, buffer in outputs.items():  # execute, then device -> host
            np.copyto(self.device[buffer.device], results[name])
            np.copyto(buffer.host, self.device[buffer.device])
        self.runs.append(next(iter(input_shapes.values())))

    def close(self) -> None:
        self.closed = True


def channel_means() -> FakeTensorRTRuntime:
    """A small network: per image, the mean of each channel (FP32) and its max (FP16)."""
    tensors = [
        IoTensor("images", True, (-1, 3, 4, 4), "float32", (1, 4)),
        IoTensor("means", False, (-1, 3), "float32"),
        IoTensor("peaks", False, (-1, 3), "float16"),
    ]

    def kernel(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        images = inputs["images"]
        return {"means": images.mean(axis=(2, 3)), "peaks": images.max(axis=(2, 3))}

    return FakeTensorRTRuntime(tensors, kernel, lambda _name, shape: (shape[0], 3))


def batch(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 3, 4, 4), dtype=np.float32)


def test_io_specs_and_dtypes_come_from_the_engine() -> None:
    engine = TensorRTEngine(channel_means(), "Fake GPU", {"names": "['a']"})
    assert engine.backend == "tensorrt" and engine.device == "Fake GPU"
    assert engine.inputs[0].shape == (None, 3, 4, 4) and engine.inputs[0].dynamic_batch
    assert [(o.name, o.dtype) for o in engine.outputs] == [
        ("means", "float32"),
        ("peaks", "float16"),
    ]
    assert engine.max_batch == 4 and engine.metadata == {"names": "['a']"}


@pytest.mark.parametrize(
    ("name", "dtype"),
    [("FLOAT", "float32"), ("DataType.HALF", "float16"), ("INT8", "int8"), ("BOOL", "bool")],
)
def test_tensorrt_types_map_to_numpy(name: str, dtype: str) -> None:
    assert numpy_dtype(name) == dtype


@pytest.mark.parametrize("name", ["BF16", "FP8", "INT4"])
def test_types_numpy_lacks_are_refused(name: str) -> None:
    with pytest.raises(UnsupportedModelError, match=name):
        numpy_dtype(name)


def test_buffers_are_allocated_once_per_shape_and_reused() -> None:
    runtime = channel_means()
    engine = TensorRTEngine(runtime, "Fake GPU")
    for seed in range(3):
        images = batch(2, seed)
        means, peaks = engine.infer(images)
        np.testing.assert_allclose(means, images.mean(axis=(2, 3)), rtol=1e-6)
        np.testing.assert_allclose(peaks, images.max(axis=(2, 3)).astype(np.float16))
        assert peaks.dtype == np.float16
    assert runtime.allocated == 3  # one input and two outputs, for the one shape seen
    engine.infer(batch(3))
    assert runtime.allocated == 6  # a new batch size: a second set of buffers
    engine.infer(batch(2))
    assert runtime.allocated == 6 and runtime.runs == [(2, 3, 4, 4)] * 3 + [(3, 3, 4, 4)] + [
        (2, 3, 4, 4)
    ]


def test_results_are_copies_not_the_reused_buffers() -> None:
    engine = TensorRTEngine(channel_means(), "Fake GPU")
    first = engine.infer(batch(1, seed=1))[0]
    kept = first.copy()
    engine.infer(batch(1, seed=2))
    np.testing.assert_array_equal(first, kept)


def test_a_batch_over_the_profile_is_split_and_joined() -> None:
    runtime = channel_means()
    engine = TensorRTEngine(runtime, "Fake GPU")
    images = batch(10)
    means, _ = engine.infer(images)
    np.testing.assert_allclose(means, images.mean(axis=(2, 3)), rtol=1e-6)
    assert [shape[0] for shape in runtime.runs] == [4, 4, 2]


def test_old_shapes_are_freed_past_the_limit_and_everything_on_close() -> None:
    runtime = channel_means()
    engine = TensorRTEngine(runtime, "Fake GPU", max_plans=2)
    for n in (1, 2, 3):
        engine.infer(batch(n))
    assert runtime.freed == 3 and len(runtime.device) == 6  # batch 1's buffers went
    engine.infer(batch(2))
    assert runtime.allocated == 9  # batch 2 was still there: reused
    engine.close()
    assert runtime.device == {} and runtime.closed
    with pytest.raises(InferenceError, match="closed"):
        engine.infer(batch(1))


@pytest.mark.parametrize("shape", [(1, 3, 5, 4), (1, 4, 4, 4), (3, 4, 4)])
def test_inputs_that_do_not_fit_the_engine_are_refused(shape: tuple[int, ...]) -> None:
    runtime = channel_means()
    engine = TensorRTEngine(runtime, "Fake GPU")
    with pytest.raises(InferenceError, match="does not fit"):
        engine.infer(np.zeros(shape, np.float32))
    assert runtime.allocated == 0


def test_data_dependent_output_shapes_are_refused_without_leaking() -> None:
    tensors = [
        IoTensor("images", True, (-1, 3, 4, 4), "float32", (1, 4)),
        IoTensor("boxes", False, (-1, -1, 6), "float32"),
    ]
    runtime = FakeTensorRTRuntime(tensors, lambda i: {}, lambda _n, s: (s[0], -1, 6))
    engine = TensorRTEngine(runtime, "Fake GPU")
    with pytest.raises(UnsupportedModelError, match="data-dependent"):
        engine.infer(batch(1))
    assert runtime.allocated == runtime.freed == 1


def test_engines_with_two_inputs_are_refused() -> None:
    tensors = [IoTensor(n, True, (1, 3, 4, 4), "float32", (1, 1)) for n in "ab"]
    with pytest.raises(UnsupportedModelError, match="2 inputs"):
        TensorRTEngine(FakeTensorRTRuntime(tensors, lambda i: {}, lambda n, s: s), "Fake GPU")


def onnxruntime_as_gpu() -> tuple[FakeTensorRTRuntime, OnnxRuntimeEngine]:
    """The fake device runs the real demo model (ONNX Runtime on the CPU) as its kernel."""
    session = OnnxRuntimeEngine.load(demo_model_path(), OnnxRuntimeConfig(providers=("cpu",)))
    spec_in, spec_out = session.inputs[0], session.outputs[0]
    tensors = [
        IoTensor(spec_in.name, True, (-1, 3, 416, 416), "float32", (1, 2)),
        IoTensor(spec_out.name, False, (-1, *spec_out.shape[1:]), "float32"),  # type: ignore[arg-type]
    ]
    runtime = FakeTensorRTRuntime(
        tensors,
        lambda inputs: {spec_out.name: session.infer(inputs[spec_in.name])[0]},
        lambda _name, shape: (shape[0], *spec_out.shape[1:]),  # type: ignore[arg-type]
    )
    return runtime, session


def test_a_detector_on_the_bookkeeping_finds_the_scene() -> None:
    """The whole path a TensorRT model takes (letterbox, buffers, batches over the profile,
    decode), with the demo network behind the seam: the photos are found where they are."""
    runtime, session = onnxruntime_as_gpu()
    try:
        engine = TensorRTEngine(runtime, "Fake GPU", session.metadata)
        labels = resolve_labels(engine.metadata, None)
        detector = Detector(ModelRef("demo", "test"), engine, labels)
        scene = compose_scene()
        images = [DecodedImage(scene.pixels)] * 3  # a batch of 3 over a profile of 1..2
        results = detector.detect(images, DetectParams(conf=0.4))
        for result in results:
            for label, rect in scene.where.items():
                assert any(d.label == label and inside(d, rect) for d in result.detections)
        assert [shape[0] for shape in runtime.runs] == [2, 1]
        detector.close()
        assert runtime.device == {} and runtime.closed
    finally:
        session.close()


def test_importing_the_backend_loads_neither_tensorrt_nor_pycuda() -> None:
    code = (
        "import sys, appliance.app, appliance.engines.tensorrt, appliance.engines.tensorrt_build\n"
        "assert not {'tensorrt', 'pycuda'} & set(sys.modules), 'imported eagerly'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
