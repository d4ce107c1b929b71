"""Readiness probe for a Kafka broker: exits 0 once the broker at BOOTSTRAP answers a metadata
request that lists at least one live broker, 1 otherwise.

kafka.sh uses it for `ready` (one attempt) and `start` (retry until a deadline, giving up early
when the broker process has died), so the shell never speaks the Kafka protocol nor greps logs.
Usage: python3 broker_ready.py BOOTSTRAP [--timeout SECONDS] [--pid PID]
"""

import argparse
import asyncio
import logging
import os
import sys
import time

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

ATTEMPT_TIMEOUT_MS = 2000
RETRY_INTERVAL_S = 0.25


async def broker_answers(bootstrap: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=ATTEMPT_TIMEOUT_MS)
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await admin.close()
    return bool(cluster["brokers"])


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def wait_until_ready(bootstrap: str, timeout_s: float, pid: int | None) -> str | None:
    """Returns None once the broker answers, else why it never did."""
    deadline = time.monotonic() + timeout_s
    while not await broker_answers(bootstrap):
        if pid is not None and not process_alive(pid):
            return f"the broker process (pid {pid}) exited before {bootstrap} answered"
        if time.monotonic() >= deadline:
            return f"no Kafka broker answered at {bootstrap} within {timeout_s:g} s"
        # Polling is the only way to learn that a remote listener came up.
        await asyncio.sleep(RETRY_INTERVAL_S)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bootstrap", help="host:port of the broker")
    parser.add_argument("--timeout", type=float, default=0.0, help="seconds to keep retrying")
    parser.add_argument("--pid", type=int, help="give up as soon as this process has exited")
    args = parser.parse_args()
    # Failed attempts are expected while a broker starts; aiokafka would log each one as an error.
    logging.disable(logging.CRITICAL)
    failure = asyncio.run(wait_until_ready(args.bootstrap, args.timeout, args.pid))
    if failure is not None:
        print(failure, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
