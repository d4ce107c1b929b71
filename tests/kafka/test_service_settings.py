"""Settings of `trigger-engine run` from flags and TRIGGER_ENGINE_* variables, the Kafka client
options they give. No broker needed."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import pytest

from engine.cli import build_parser
from engine.errors import ConfigError
from engine.service.cli import kafka_settings, service_settings
from engine.service.settings import KafkaSettings, ServiceSettings


def _settings(*flags: str) -> ServiceSettings:
    return service_settings(build_parser().parse_args(["run", *flags]))


@pytest.fixture(autouse=True)
def _no_engine_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TRIGGER_ENGINE_"):
            monkeypatch.delenv(name)


def test_defaults_are_the_pinned_ones() -> None:
    settings = _settings()
    assert settings == ServiceSettings()
    assert (settings.kafka.bootstrap_servers, settings.http_port) == ("127.0.0.1:9092", 8080)
    assert settings.transactional_id(4) == "trigger-engine-dataset-events-4"


def test_a_flag_beats_its_variable_and_a_variable_beats_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRIGGER_ENGINE_GROUP_ID", "from-env")
    monkeypatch.setenv("TRIGGER_ENGINE_BATCH_MAX_RECORDS", "7")
    monkeypatch.setenv("TRIGGER_ENGINE_PRODUCER_BATCH_BYTES", "65536")
    monkeypatch.setenv("TRIGGER_ENGINE_BOOTSTRAP_SERVERS", "broker:9093")
    monkeypatch.setenv("TRIGGER_ENGINE_CREATE_TOPICS", "true")
    monkeypatch.setenv("TRIGGER_ENGINE_ACTIONS", "")  # empty: unset
    settings = _settings("--group-id=from-flag")
    assert (settings.group_id, settings.batch_max_records) == ("from-flag", 7)
    assert settings.producer_batch_bytes == 65536
    assert settings.kafka.bootstrap_servers == "broker:9093"
    assert settings.create_topics is True
    assert settings.actions is None


def test_an_empty_evaluations_topic_disables_evaluation_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRIGGER_ENGINE_EVALUATIONS_TOPIC", "")
    assert _settings().evaluations_topic == ""
    assert _settings("--evaluations-topic=evals").evaluations_topic == "evals"


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        (["--batch-max-records=0"], "--batch-max-records: Input should be greater than or equal"),
        (["--producer-batch-bytes=512"], "--producer-batch-bytes: Input should be greater than"),
        (["--http-port=70000"], "--http-port: Input should be less than or equal to 65535"),
        (["--security-protocol=SASL_SSL"], "needs --sasl-mechanism, --sasl-username"),
        (["--sasl-username=u"], "SASL settings are given but --security-protocol is PLAINTEXT"),
        (["--ssl-cafile=ca.pem"], "SSL files are given but --security-protocol is PLAINTEXT"),
        (["--dlq-topic=dataset-events"], "--dlq-topic and --events-topic name the same topic"),
        (["--session-timeout-ms=500"], "--session-timeout-ms: Input should be greater than"),
        (
            ["--session-timeout-ms=3000", "--heartbeat-interval-ms=3000"],
            "--heartbeat-interval-ms 3000 must be below --session-timeout-ms 3000",
        ),
        (["--group-instance-id="], "--group-instance-id: String should have at least 1"),
    ],
)
def test_bad_settings_name_the_flag_and_the_reason(flags: list[str], reason: str) -> None:
    with pytest.raises(ConfigError) as error:
        _settings(*flags)
    assert reason in str(error.value)


def test_group_membership_settings_come_from_flags_and_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = _settings()
    assert defaults.group_instance_id is None
    assert (defaults.session_timeout_ms, defaults.heartbeat_interval_ms) == (10_000, 1000)
    assert (defaults.rebalance_timeout_ms, defaults.max_poll_interval_ms) == (30_000, 300_000)
    monkeypatch.setenv("TRIGGER_ENGINE_GROUP_INSTANCE_ID", "trigger-engine-7d9f-x2k4q")
    monkeypatch.setenv("TRIGGER_ENGINE_SESSION_TIMEOUT_MS", "6000")
    settings = _settings("--heartbeat-interval-ms=2000", "--max-poll-interval-ms=60000")
    assert settings.group_instance_id == "trigger-engine-7d9f-x2k4q"
    assert (settings.session_timeout_ms, settings.heartbeat_interval_ms) == (6000, 2000)
    assert settings.max_poll_interval_ms == 60_000


def test_a_value_of_the_wrong_type_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRIGGER_ENGINE_BATCH_MAX_RECORDS", "many")
    with pytest.raises(SystemExit) as exit_info:
        _settings()
    assert exit_info.value.code == 2
    assert "argument --batch-max-records: invalid int value: 'many'" in capsys.readouterr().err


def test_sasl_and_ssl_reach_the_client_options(tmp_path: Path) -> None:
    settings = kafka_settings(
        build_parser().parse_args(
            [
                "run",
                "--security-protocol=SASL_SSL",
                "--sasl-mechanism=SCRAM-SHA-512",
                "--sasl-username=engine",
                "--sasl-password=secret",
            ]
        )
    )
    options = settings.client_options()
    assert options["security_protocol"] == "SASL_SSL"
    sasl = (options["sasl_mechanism"], options["sasl_plain_username"])
    assert sasl == ("SCRAM-SHA-512", "engine")
    assert options["sasl_plain_password"] == "secret"
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert "ssl_context" not in KafkaSettings().client_options()
    with pytest.raises(FileNotFoundError):
        KafkaSettings(security_protocol="SSL", ssl_cafile=tmp_path / "absent.pem").client_options()
