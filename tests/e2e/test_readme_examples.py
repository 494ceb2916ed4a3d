"""README.md's shell examples run as written against a real `appliance serve` as installed
(authentication on, its first admin token in the data dir), on a free loopback port.

Every ```sh block that calls curl on localhost:8080 is run by bash with only the port changed;
APPLIANCE_DATA_DIR points `appliance token show` at the service's data dir, `appliance` and
`.venv/bin/appliance` run this checkout, and `photo.jpg` is a real photo. A `curl` first on
PATH adds `--write-out` so each call's HTTP status is recorded: a 4xx/5xx fails the test unless
that command's own comment in the README names the status.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import ROOT, Server, compose_scene, second_model, start_server

README = ROOT / "README.md"
PORT = "8080"
# The own-model example serves `yolov4-tiny`, imported from Darknet files a fresh clone does not
# have: a second copy of the demo network stands in for it under that name.
STAND_IN = "yolov4-tiny"
CURL = shutil.which("curl")
CURL_CALL = re.compile(r"(?<![\w.-])curl\s")
STATUS = re.compile(r"^readme-status (\d{3})$", re.M)  # what the recording curl adds
pytestmark = pytest.mark.skipif(CURL is None, reason="needs curl")


@dataclass(frozen=True)
class Example:
    line: int  # where the block starts in README.md
    text: str

    def expected_errors(self) -> list[set[int]]:
        """For each curl command in order: the 4xx/5xx statuses its comment says to expect."""
        expected = []
        for command in re.sub(r"\\\n", " ", self.text).splitlines():
            if command.lstrip().startswith("#"):
                continue
            code, *comment = re.split(r"\s#\s", command, maxsplit=1)
            statuses = {int(s) for s in re.findall(r"\b[45]\d\d\b", "".join(comment))}
            expected += [statuses] * len(CURL_CALL.findall(code))
        return expected


def curl_examples() -> list[Example]:
    examples, block, start = [], None, 0
    for number, line in enumerate(README.read_text().splitlines(), 1):
        if block is None and line.strip() == "```sh":
            block, start = [], number
        elif block is not None and line.strip() == "```":
            text = "\n".join(block) + "\n"
            if CURL_CALL.search(text) and f"localhost:{PORT}" in text:
                examples.append(Example(start, text))
            block = None
        elif block is not None:
            block.append(line)
    return examples


EXAMPLES = curl_examples()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("readme")
    stand_in = second_model(root / f"{STAND_IN}.onnx")
    env = {"APPLIANCE_MODELS": f"{STAND_IN}={stand_in},demo"}  # as `--model … --model demo`
    with start_server(root / "service", auth=True, env=env) as running:
        yield running


@pytest.fixture
def shell(tmp_path: Path, service: Server) -> dict[str, str]:
    """A user's terminal: `appliance` on PATH, `.venv/bin/appliance` and photo.jpg in the
    current folder, curl recording statuses, no APPLIANCE_* but the data dir."""
    bin_dir, venv_bin = tmp_path / "bin", tmp_path / ".venv" / "bin"
    for folder in (bin_dir, venv_bin):
        folder.mkdir(parents=True)
        shim = folder / "appliance"
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m appliance "$@"\n')
        shim.chmod(0o755)
    curl = bin_dir / "curl"
    curl.write_text(
        f"#!/bin/sh\nexec {CURL} \"$@\" --write-out '%{{stderr}}readme-status %{{http_code}}\\n'\n"
    )
    curl.chmod(0o755)
    (tmp_path / "photo.jpg").write_bytes(compose_scene().jpeg())
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    env["APPLIANCE_DATA_DIR"] = str(service.log.parent / "data")
    env["PYTHONPATH"] = str(ROOT)  # the shims run this checkout, wherever the cwd is
    return env


def test_the_readme_has_its_api_examples() -> None:
    """Quickstart, own model, engine builds, sign-in links: none may drop out unseen."""
    assert len(EXAMPLES) >= 4, EXAMPLES
    assert all("Authorization: Bearer $TOKEN" in example.text for example in EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"README.md:{e.line}" for e in EXAMPLES])
def test_example_runs_as_written(
    example: Example, service: Server, shell: dict[str, str], tmp_path: Path
) -> None:
    script = example.text.replace(f"localhost:{PORT}", f"localhost:{service.port}")
    result = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=shell,
        capture_output=True,
        text=True,
        timeout=120,
    )
    statuses = [int(status) for status in STATUS.findall(result.stderr)]
    report = f"{example.text}\nexit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, report
    expected = example.expected_errors()
    assert len(statuses) == len(expected), (statuses, report)
    for status, allowed in zip(statuses, expected, strict=True):
        assert 200 <= status < 300 or status in allowed, (status, report)
