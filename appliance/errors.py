"""One exception tree for the whole appliance; the API maps it to HTTP in one table."""

from __future__ import annotations


class ApplianceError(Exception):
    """Base of every error the appliance raises on purpose. `code` is stable for clients."""

    code = "internal_error"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class InvalidInputError(ApplianceError):
    """The client sent something we cannot use."""

    code = "invalid_input"


class UnsupportedMediaTypeError(InvalidInputError):
    code = "unsupported_media_type"


class ImageDecodeError(InvalidInputError):
    """Bytes that claim to be an image but do not decode (corrupt, truncated, unknown format)."""

    code = "invalid_image"


class ImageTooLargeError(InvalidInputError):
    """An image whose pixel count exceeds the limit (decompression-bomb guard)."""

    code = "image_too_large"


class PayloadTooLargeError(InvalidInputError):
    """A request body over the size limit, detected while it is read."""

    code = "payload_too_large"


class RangeNotSatisfiableError(InvalidInputError):
    """A byte range that starts past the end of the file."""

    code = "range_not_satisfiable"

    def __init__(self, message: str, *, size: int) -> None:
        super().__init__(message)
        self.size = size


class NotFoundError(ApplianceError):
    code = "not_found"


class ModelNotFoundError(NotFoundError):
    code = "model_not_found"


class JobNotFoundError(NotFoundError):
    code = "job_not_found"


class BackendUnavailableError(InvalidInputError):
    """A build or engine this machine cannot run (TensorRT without TensorRT or a GPU)."""

    code = "backend_unavailable"


class ConflictError(ApplianceError):
    """The request clashes with the current state (an id in use, a model that is active)."""

    code = "conflict"


class NotReadyError(ApplianceError):
    """The service is up but cannot serve this yet (models still loading or failed)."""

    code = "not_ready"


class OverloadedError(ApplianceError):
    """Over a configured limit right now (concurrent requests, viewers): try again later."""

    code = "overloaded"


class TooManyViewersError(OverloadedError):
    code = "too_many_viewers"


class TooManyFailuresError(ApplianceError):
    """This client failed to authenticate too often: refused (429) until `retry_after`
    passes, before any credential it sends is looked at."""

    code = "too_many_failures"


class ModelError(ApplianceError):
    """A model that cannot be loaded or run."""

    code = "model_error"


class ModelLoadError(ModelError):
    code = "model_load_failed"


class UnsupportedModelError(ModelError):
    """A model file whose format, inputs or outputs we do not understand."""

    code = "unsupported_model"


class InferenceError(ModelError):
    code = "inference_failed"


class RemoteUnavailableError(InferenceError):
    """A remote model's server cannot be reached now (refused, timed out): try again later."""

    code = "remote_unavailable"


class ModelClosedError(InferenceError):
    """A detector that a swap replaced was asked to detect: resolve the model again."""

    code = "model_replaced"


class BuildCancelledError(ApplianceError):
    """An engine build stopped because its job was cancelled; nothing it made is kept."""

    code = "cancelled"


class DarknetImportError(ModelError):
    """A Darknet cfg/weights pair that cannot be converted."""

    code = "darknet_import_failed"


class SourceError(ApplianceError):
    """A camera or video source that cannot be opened or read. Workers retry these."""

    code = "source_error"


class InvalidSourceError(InvalidInputError):
    """A source URI that is malformed or not allowed."""

    code = "invalid_source"


class InvalidCursorError(InvalidInputError):
    """A paging cursor that this appliance did not hand out (or that was altered)."""

    code = "invalid_cursor"


class EventStoreError(ApplianceError):
    """The events database cannot be opened, migrated or written."""

    code = "event_store_error"
