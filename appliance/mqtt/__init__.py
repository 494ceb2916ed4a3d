"""MQTT: the appliance's events and state on a broker, with Home Assistant discovery.

Topics follow Frigate's conventions (see topics.py); nothing here imports the pipeline or the
services: they call an `MqttPublisher` (none is made when MQTT is off).
"""
