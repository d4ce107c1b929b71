"""trigger-engine's engine: models, matching, evaluation, state, the Kafka service, replay, CLI."""
