"""MqttPublisher: the appliance's events and state on one broker, from any thread.

paho-mqtt's own thread (`loop_start`) connects, reconnects with backoff and delivers; callers
(pipeline, API) only hand messages over and never block or see an exception. Everything
retained lives in a `RetainedStore` too and is sent again on every connection, so a broker that
restarted without persistence gets the discovery configs and the state back.

Locking: `_lock` guards our state and is never held while calling paho, because paho calls
`on_publish` while holding its own message lock (the other order would deadlock). Retained
messages leave through `_pump`, at most `window` unacknowledged at a time, one pumping thread
at a time (`_pump_lock`) so that two values of one topic never overtake each other.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import paho.mqtt.client as mqtt
from loguru import logger
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from appliance.mqtt.counts import CountTopics
from appliance.mqtt.discovery import discovery_configs, node_id, referenced_topics
from appliance.mqtt.failures import connect_failure, never_raises
from appliance.mqtt.retained import Owner, RetainedStore
from appliance.mqtt.settings import MqttTarget, check_topic_prefix, parse_mqtt_url
from appliance.mqtt.status import MqttState, MqttStatus
from appliance.mqtt.topics import (
    OFFLINE,
    ONLINE,
    CountGroup,
    EventKind,
    Message,
    available_topic,
    event_message,
    snapshot_topic,
)
from appliance.mqtt.topology import LINE_DIRECTIONS, DeviceInfo, Topology

# NO_CONN: paho keeps a QoS 1 message and sends it once connected
_ACCEPTED = (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN)
_BATCH = 32  # retained messages taken off the store per lock hold


class MqttPublisher:
    def __init__(
        self,
        target: MqttTarget,
        device: DeviceInfo,
        *,
        prefix: str = "appliance",
        discovery_prefix: str = "homeassistant",
        client_id: str = "",
        keepalive_s: int = 30,
        max_queued: int = 1000,
        window: int = 100,
        reconnect_delay_s: tuple[int, int] = (1, 60),
        ca_file: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._target, self._device, self._ca_file = target, device, ca_file
        self._prefix = check_topic_prefix(prefix)
        self._discovery_prefix = check_topic_prefix(discovery_prefix)
        self._keepalive, self._window, self._clock = keepalive_s, window, clock
        self._lock = threading.Lock()
        self._pump_lock = threading.Lock()
        self._store = RetainedStore()
        self._counts = CountTopics(self._store, self._prefix)
        self._topology: Topology | None = None
        self._referenced: set[str] = set()  # state topics the current configs read
        self._found: dict[str, bytes] = {}  # our node's configs on the broker, before announce
        self._outstanding = self._published = self._dropped = 0
        self._uncounted: set[int] = set()  # mids of QoS 0 messages, outside the window
        self._state: MqttState = "disconnected"
        self._last_error: str | None = None
        self._since = clock()
        self._started = self._closed = False
        self._client = self._build_client(client_id, max_queued, reconnect_delay_s)

    @classmethod
    def from_url(cls, url: str, device: DeviceInfo, **options: Any) -> MqttPublisher:
        """From `APPLIANCE_MQTT_URL`'s value; raises MqttUrlError (no password in it)."""
        return cls(parse_mqtt_url(url), device, **options)

    def _build_client(
        self, client_id: str, max_queued: int, reconnect_delay_s: tuple[int, int]
    ) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        if self._target.username is not None:
            client.username_pw_set(self._target.username, self._target.password)
        client.will_set(available_topic(self._prefix), OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(*reconnect_delay_s)
        client.max_queued_messages_set(max_queued)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background: returns at once, whether or not the broker is there."""
        with self._lock:
            if self._started or self._closed:
                return
            self._started = True
            self._set_state("connecting", None)
        try:
            if self._target.tls:  # certificate and hostname checked: the system's CAs or ca_file
                self._client.tls_set(ca_certs=self._ca_file)
            self._client.connect_async(self._target.host, self._target.port, self._keepalive)
            self._client.loop_start()
        except Exception as exc:  # a TLS set-up or thread failure: report it, never raise
            with self._lock:
                self._set_state("error", f"cannot start: {type(exc).__name__}")
            logger.exception("MQTT: cannot start the client for {}", self._target.broker)

    def close(self, timeout_s: float = 5.0) -> None:
        """Publish `offline`, disconnect cleanly and stop paho's thread, within `timeout_s`."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            started, connected = self._started, self._state == "connected"
        if started:
            if connected:
                # QoS 0: queued straight behind what is in flight, ahead of DISCONNECT
                self._client.publish(available_topic(self._prefix), OFFLINE, qos=0, retain=True)
            self._client.disconnect()
            stopper = threading.Thread(
                target=self._client.loop_stop, name="mqtt-close", daemon=True
            )
            stopper.start()
            stopper.join(timeout_s)
        with self._lock:
            self._set_state("disconnected", None)

    def status(self) -> MqttStatus:
        with self._lock:
            return MqttStatus(
                self._state,
                self._target.broker,
                self._last_error,
                self._since,
                self._published,
                self._dropped,
            )

    # -- what to publish ---------------------------------------------------------------------

    @never_raises
    def announce(self, topology: Topology) -> None:
        """Discovery for `topology`: new entities added, changed ones updated, removed ones
        deleted (empty retained configs) with their state topics."""
        configs = discovery_configs(topology, self._device, self._prefix, self._discovery_prefix)
        referenced = referenced_topics(configs.values())
        with self._lock:
            old, self._topology, self._referenced = self._topology, topology, referenced
            for topic in self._store.config_topics() - configs.keys():
                self._store.delete(topic)
            for topic, payload in configs.items():
                self._store.put(topic, payload)
            for topic in self._store.stale_states(old, topology):
                self._store.delete(topic)
            self._counts.prune(old, topology)
            self._counts.zero_new(topology)
            found, self._found = self._found, {}
            for topic, payload in found.items():
                if topic not in configs:
                    self._forget_config(topic, payload)
        self._pump()

    @never_raises
    def publish_event(
        self, kind: EventKind, before: Mapping[str, Any] | None, after: Mapping[str, Any]
    ) -> None:
        """`<prefix>/events`, not retained; for "new" pass before=None (it becomes `after`)."""
        if not self._hand(event_message(self._prefix, kind, before, after)):
            with self._lock:
                self._dropped += 1

    def publish_presence(self, camera: str, counts: Mapping[str, int]) -> None:
        """Objects in view now by label; labels missing from `counts` are 0."""
        self._publish_counts(CountGroup(camera), counts)

    def publish_zone(self, camera: str, zone: str, counts: Mapping[str, int]) -> None:
        self._publish_counts(CountGroup(camera, zone=zone), counts)

    def publish_line(
        self, camera: str, line: str, direction: str, counts: Mapping[str, int]
    ) -> None:
        if direction not in LINE_DIRECTIONS:
            logger.warning("MQTT: line direction {!r} is not one of {}", direction, LINE_DIRECTIONS)
            return
        self._publish_counts(CountGroup(camera, line=line, direction=direction), counts)

    @never_raises
    def publish_snapshot(self, camera: str, label: str, jpeg: bytes) -> None:
        topic = snapshot_topic(self._prefix, camera, label)
        with self._lock:
            changed = not self._closed and self._store.put(topic, bytes(jpeg), Owner(camera, label))
        if changed:
            self._pump()

    @never_raises
    def _publish_counts(self, group: CountGroup, counts: Mapping[str, int]) -> None:
        with self._lock:
            changed = not self._closed and self._counts.put(group, counts)
        if changed:
            self._pump()

    # -- bookkeeping under _lock ---------------------------------------------------------------

    def _set_state(self, state: MqttState, error: str | None) -> None:
        if (state, error) == (self._state, self._last_error):
            return
        self._state, self._last_error, self._since = state, error, self._clock()
        broker = self._target.broker
        if state == "connected":
            logger.info("MQTT: connected to {}", broker)
        elif state == "error":
            logger.warning(
                "MQTT: {} refused the connection ({}); retrying with backoff", broker, error
            )
        elif state == "disconnected" and error:
            logger.warning("MQTT: {}: {}; retrying with backoff", broker, error)

    def _forget_config(self, topic: str, payload: bytes) -> None:
        """Delete a config of our node that the current topology lacks (left by an earlier run
        or version), and the state it read unless something current reads or writes it."""
        self._store.delete(topic)
        try:
            fields = json.loads(payload)
        except ValueError:
            return
        for key in ("state_topic", "image_topic"):
            state = fields.get(key) if isinstance(fields, dict) else None
            if (
                isinstance(state, str)
                and state.startswith(self._prefix + "/")
                and state not in self._referenced
                and self._store.payload(state) is None
            ):
                self._store.delete(state)

    # -- sending -------------------------------------------------------------------------------

    def _hand(self, message: Message) -> bool:
        """Give one QoS 1 message to paho, without our lock held; False if refused."""
        with self._lock:
            if self._closed:
                return False
            self._outstanding += 1
        try:
            rc = self._client.publish(
                message.topic, message.payload, qos=1, retain=message.retain
            ).rc
        except ValueError:  # a topic or payload paho refuses: ours are built to pass
            logger.exception("MQTT: cannot publish to {!r}", message.topic)
            rc = MQTTErrorCode.MQTT_ERR_INVAL
        if rc in _ACCEPTED:
            return True
        with self._lock:
            self._outstanding -= 1
        return False

    def _can_pump(self) -> bool:
        return (
            self._state == "connected"
            and not self._closed
            and self._store.pending > 0
            and self._outstanding < self._window
        )

    def _pump(self) -> None:
        """Send queued retained messages while connected and the window has room. A thread
        that finds another pumping leaves it the work; the pumper looks again after letting go,
        so nothing queued meanwhile waits for the next trigger."""
        while self._pump_lock.acquire(blocking=False):
            try:
                self._drain()
            finally:
                self._pump_lock.release()
            with self._lock:
                if not self._can_pump():
                    return

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._can_pump():
                    return
                batch = self._store.take(min(self._window - self._outstanding, _BATCH))
            for i, message in enumerate(batch):
                handed = self._hand(message)
                with self._lock:
                    if not handed:
                        for rest in batch[i:]:
                            self._store.requeue(rest)
                        return
                    self._store.handed_over(message)

    # -- paho callbacks (paho's thread) ------------------------------------------------------

    @never_raises
    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure:
            with self._lock:
                self._set_state("error", str(reason).lower())
            return
        with self._lock:
            self._set_state("connected", None)
            self._store.resend_all()
        # QoS 0 so that events queued during the outage cannot crowd it out of paho's queue;
        # it goes out ahead of them (paho resends its queue after this callback)
        info = client.publish(available_topic(self._prefix), ONLINE, qos=0, retain=True)
        with self._lock:
            self._uncounted.add(info.mid)
        # retained configs of our node that we no longer announce: deleted in _on_message
        client.subscribe(f"{self._discovery_prefix}/+/{node_id(self._device)}/+/config", qos=1)
        self._pump()

    @never_raises
    def _on_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        # paho calls this inside its `except OSError:`, so the error is still at hand
        why = connect_failure(sys.exc_info()[1])
        error = f"cannot connect to {self._target.broker}" + (f": {why}" if why else "")
        with self._lock:
            if not self._closed:
                self._set_state("disconnected", error)

    @never_raises
    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        with self._lock:
            if self._closed:
                self._set_state("disconnected", None)
            elif self._state != "error":  # a refusal says more than the disconnect after it
                self._set_state("disconnected", "connection lost" if reason.is_failure else None)

    @never_raises
    def _on_publish(
        self, _client: mqtt.Client, _userdata: Any, mid: int, _reason: Any, _props: Any
    ) -> None:
        with self._lock:
            self._published += 1
            if mid in self._uncounted:  # `online`, QoS 0: never in the window
                self._uncounted.discard(mid)
            else:
                self._outstanding = max(0, self._outstanding - 1)
        self._pump()

    @never_raises
    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if not msg.retain or not msg.payload:
            return  # our own configs coming back live, or deletions
        with self._lock:
            if self._store.payload(msg.topic) is not None:
                return
            if self._topology is None:
                self._found[msg.topic] = msg.payload  # judged once announce() says what is ours
                return
            self._forget_config(msg.topic, msg.payload)
        self._pump()
