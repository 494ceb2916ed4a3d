"""APPLIANCE_MQTT_URL parsing: schemes, default ports, credentials kept out of every repr."""

from __future__ import annotations

import pytest

from appliance.errors import InvalidInputError
from appliance.mqtt.settings import MqttTarget, MqttUrlError, check_topic_prefix, parse_mqtt_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://broker.lan", MqttTarget("broker.lan", 1883)),
        ("mqtt://broker.lan:1884", MqttTarget("broker.lan", 1884)),
        ("mqtts://broker.lan", MqttTarget("broker.lan", 8883, tls=True)),
        ("MQTTS://Broker.LAN:9000/", MqttTarget("broker.lan", 9000, tls=True)),
        ("mqtt://user:pass@10.0.0.2:1883", MqttTarget("10.0.0.2", 1883, False, "user", "pass")),
        ("mqtt://user@host", MqttTarget("host", 1883, username="user")),
        ("mqtt://user:@host", MqttTarget("host", 1883, username="user", password="")),
        ("mqtt://[::1]:1883", MqttTarget("::1", 1883)),
        # reserved characters percent-encoded, as in any URL
        ("mqtt://ha%40home:p%40ss%3Aw%2Fd@h", MqttTarget("h", 1883, False, "ha@home", "p@ss:w/d")),
        ("  mqtt://host  ", MqttTarget("host", 1883)),
    ],
)  # fmt: skip
def test_parses(url: str, expected: MqttTarget) -> None:
    target = parse_mqtt_url(url)
    assert target == expected
    assert target.password == expected.password


def test_an_unencoded_at_in_the_password_still_parses() -> None:
    """urlsplit splits at the last '@': the password may hold one."""
    assert parse_mqtt_url("mqtt://u:p@ss@host").password == "p@ss"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://host", "scheme 'http' is not supported"),
        ("tcp://host:1883", "scheme 'tcp'"),
        ("ws://u:secret@host", "scheme 'ws'"),
        ("host:1883", "scheme"),
        ("mqtt://", "no broker host"),
        ("mqtt://u:secret@", "no broker host"),
        ("mqtt://host:99999", "port"),
        ("mqtt://host:0", "port"),
        ("mqtt://u:secret@host:abc", "port"),
        ("mqtt://host/topic", "only scheme"),
        ("mqtt://host?x=1", "only scheme"),
        ("mqtt://u:sec#ret@host", "percent-encode"),  # '#' starts a fragment
    ],
)
def test_rejects_with_a_clear_message_that_never_repeats_the_password(url: str, says: str) -> None:
    with pytest.raises(MqttUrlError) as caught:
        parse_mqtt_url(url)
    assert says in str(caught.value)
    assert "secret" not in str(caught.value) and "ret@" not in str(caught.value)
    assert isinstance(caught.value, InvalidInputError)  # the API's error table knows it
    assert isinstance(caught.value, ValueError)  # and pydantic validators report it


def test_password_never_in_repr_or_str() -> None:
    target = parse_mqtt_url("mqtts://alice:hunter2@broker:8884")
    for text in (repr(target), str(target), target.broker, f"{target}", str([target])):
        assert "hunter2" not in text
    assert str(target) == "mqtts://alice@broker:8884"
    assert target.broker == "broker:8884"
    assert parse_mqtt_url("mqtt://[::1]").broker == "[::1]:1883"


@pytest.mark.parametrize("prefix", ["appliance", "home/cams", "frigate-2"])
def test_topic_prefixes(prefix: str) -> None:
    assert check_topic_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["", "/appliance", "appliance/", "a/+/b", "a#", "a//b"])
def test_bad_topic_prefixes(prefix: str) -> None:
    with pytest.raises(ValueError, match="MQTT prefix"):
        check_topic_prefix(prefix)
