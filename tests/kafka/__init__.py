"""Tests against a real Kafka broker (see conftest.py for where it comes from)."""
