"""The Kafka driver of the evaluation core: `trigger-engine run` (exactly-once consumer group,
state changelog, registry topics, HTTP probes and metrics) and `replay --from-kafka`."""
