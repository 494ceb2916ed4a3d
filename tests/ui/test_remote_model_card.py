"""The Models page shows a remote model (a second real appliance on loopback serves it) with
where it is served, and the page still renders around it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import Server, start_server
from ui_harness import Dashboard

from appliance.models.demo import DEMO_MODEL_NAME

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def big_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_server(tmp_path_factory.mktemp("ui-remote")) as running:
        yield running


async def test_a_remote_model_card_says_where_it_is_served(
    dashboard: Dashboard, big_box: Server
) -> None:
    await dashboard.services.models.register_remote("big", big_box.url, DEMO_MODEL_NAME)
    await dashboard.user.open("/models")
    await dashboard.user.should_see(marker="model-big")
    await dashboard.user.should_see(f"{big_box.url}/v2/models/{DEMO_MODEL_NAME}")
    await dashboard.user.should_see("Served by")
    await dashboard.user.should_see(marker="model-yolov3-tiny")  # the rest of the page too
    # builds start from an ONNX file here: a remote model offers none, a local one does
    await dashboard.user.should_not_see(marker="build-big")
    await dashboard.user.should_see(marker=f"build-{DEMO_MODEL_NAME}")
