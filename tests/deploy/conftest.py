"""The real-broker fixtures of tests/kafka (never skipped), for the deploy tests that talk to Kafka:
deploy/topics.sh against a broker, and the sample producer's round trip."""

from tests.kafka.conftest import create_topics, kafka_admin, kafka_bootstrap, unique_name

__all__ = ["create_topics", "kafka_admin", "kafka_bootstrap", "unique_name"]
