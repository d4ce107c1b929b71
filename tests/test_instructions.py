"""`python -m benchmarks.instructions`: the parts that run without valgrind."""

from __future__ import annotations

import argparse

import pytest

from benchmarks import instructions


def test_the_total_is_read_from_cachegrinds_summary() -> None:
    stderr = b"==1== Command: python\n==1==\n==1== I   refs:      531,207,911\n"
    assert instructions.total_instructions(stderr) == 531_207_911


def test_a_child_that_printed_no_total_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="no 'I refs' total"):
        instructions.total_instructions(b"Traceback (most recent call last): ...")


def test_the_child_replays_the_workload_as_often_as_asked() -> None:
    # What runs under valgrind: a small workload, built, then replayed twice with fresh state.
    args = argparse.Namespace(triggers=50, orgs=2, events=300, seed=7, replays=2)
    once = instructions.replay_workload(argparse.Namespace(**{**vars(args), "replays": 1}))
    assert instructions.replay_workload(args) == once > 0
