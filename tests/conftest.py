"""Fixtures shared by several test files.

- `live_broker` (tests/mqtt_helpers.py): a running Mosquitto with our generated configuration on
  a free loopback port, for tests of the live MQTT runtime.
"""

from mqtt_helpers import live_broker  # noqa: F401  (importing registers the fixture)
