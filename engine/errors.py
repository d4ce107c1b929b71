"""Errors that name the thing, the place and the reason."""

from __future__ import annotations


class EngineError(Exception):
    """Base class: every user-facing error says what, where and why."""

    def __init__(self, thing: str, place: str | None, reason: str) -> None:
        self.thing = thing
        self.place = None if place is None else str(place)  # a lazy place (ItemPlace) resolved
        self.reason = reason
        where = f" at {place}" if place else ""
        super().__init__(f"{thing}{where}: {reason}")


class ConfigError(EngineError):
    """A trigger, action or settings file is invalid."""


class EventError(EngineError):
    """An input event is malformed or not acceptable; it goes to rejects / dead letters."""
