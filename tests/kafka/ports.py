"""Free loopback ports for a broker of `deploy/kafka/kafka.sh`: the test run's own (`tests/run.sh`
prints one with `python3 -m tests.kafka.ports`) and the private brokers of single tests."""

from __future__ import annotations

import socket


def free_port_pair() -> int:
    """A free port whose successor (the broker's controller port) is free too."""
    for _ in range(20):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        with socket.socket() as successor:
            try:
                successor.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no two free consecutive ports on 127.0.0.1")


if __name__ == "__main__":
    print(free_port_pair())
