"""trigger-engine's engine: models, matching, evaluation, state, the Kafka service, replay, CLI."""

from engine.native import guard

guard()  # before any compiled module is imported: see `engine.native`
