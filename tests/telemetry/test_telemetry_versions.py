"""Version info: parsers for Jetson release files, and what this machine reports."""

from __future__ import annotations

import platform
from importlib import metadata

import pytest

from appliance.telemetry.versions import collect, jetpack_from_l4t, l4t_from_release

# /etc/nv_tegra_release of JetPack 6.2 and 5.1.2 (first line; the rest lists library hashes)
JP62 = "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8 01:49:37 UTC 2025"  # noqa: E501
JP512 = "# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, DATE: Tue Aug  1 19:57:35 UTC 2023"  # noqa: E501


@pytest.mark.parametrize(
    ("text", "l4t", "jetpack"), [(JP62, "36.4.3", "6.2"), (JP512, "35.4.1", "5.1.2")]
)
def test_l4t_and_jetpack_from_the_release_file(text: str, l4t: str, jetpack: str) -> None:
    assert l4t_from_release(text) == l4t
    assert jetpack_from_l4t(l4t) == jetpack


def test_unknown_releases() -> None:
    assert l4t_from_release("not a release file") is None
    assert jetpack_from_l4t("36.4") == "6.1"  # 36.4 is 36.4.0
    assert jetpack_from_l4t("99.1.0") is None


def test_versions_on_this_machine() -> None:
    versions = collect("9.9.9")
    assert versions.package == "9.9.9"
    assert versions.python == platform.python_version()
    assert versions.onnxruntime == metadata.version("onnxruntime")
    assert versions.l4t is None and versions.jetpack is None  # not a Jetson
