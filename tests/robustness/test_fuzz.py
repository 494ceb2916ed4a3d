"""schemathesis against the live OpenAPI schema of a real `appliance serve` on loopback:
no request it can generate (valid or not) gets a 5xx, and every response — status code,
content type, headers and body — is what the schema documents. A bounded number of
examples per operation keeps it within CI's time."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from helpers import Server, start_server
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))  # per operation and mode
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Never ends by itself (a live stream): checked in tests/e2e and the limits tests instead.
ENDLESS = "/v1/cameras/{camera_id}/stream.mjpg"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the whole run. Few cameras may be added (they would run real capture
    and inference), no dashboard (its pages are not the API)."""
    env = {"APPLIANCE_MAX_CAMERAS": "3", "APPLIANCE_DASHBOARD": "0", "APPLIANCE_AUTH": "0"}
    with start_server(tmp_path_factory.mktemp("fuzz"), env=env) as server:
        yield server


def _fuzz(operation, mode: GenerationMode, base_url: str) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,  # nothing written into the work tree; a failure prints its example
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=30)

    run()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_schema(live: Server, mode: GenerationMode) -> None:
    """Every operation, with data that fits the schema (positive) and data that breaks it
    (negative); all failures are collected and reported together."""
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    failures, tried = [], 0
    for result in schema.exclude(path=ENDLESS).get_all_operations():
        operation = result.ok()
        tried += 1
        try:
            _fuzz(operation, mode, live.url)
        except Unsatisfiable:
            pass  # nothing to break: no parameters, or any string is a valid one
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # schemathesis groups its failures: one report for all
            failures.append(f"{operation.label}: {exc}")
    assert tried > 30
    assert not failures, "\n\n".join(failures)
