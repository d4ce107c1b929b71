"""Seeded benchmark workloads: triggers, actions and an event stream shaped like a robotics fleet.

Each org owns a fleet of robots; each dataset is one robot's recording session
(`r0042/2026-11-20/run_003/cam_front/000123.jpg`, `.../logs/flight.ulg`, `.../r0042.mcap`,
`.../metadata.json`). Almost every trigger names one robot of its org in its required inputs, and
an org gets one robot per `TRIGGERS_PER_ROBOT` triggers, so a file event has a few candidate
triggers whatever the total: the per-event hit rate stays fixed while the trigger count grows.
Orgs get a Zipf-skewed share of the triggers, and datasets are opened in the same proportion
(big orgs are busy orgs).

Conditions come in both dialects (Roboto conditions and groups, the `required_tag` /
`required_metadata` shorthands, JsonLogic rules) over values that exercise the coercion rules:
numbers stored as strings, `"true"` against booleans, zoned timestamps, missing keys. Trigger
causes vary, so that some triggers miss some of the changes that make them satisfied.

The event stream exercises the level-triggered rule and uploads: some datasets are created bare and
get their record from a later file event's `dataset` snapshot (which may complete a dataset trigger
whose inputs that file does not match), and file events, ingestions and completions sometimes carry
a changed snapshot. Half the sessions upload their files in transactions (`transactionid` on the
file events, closed by `dataset.upload_completed`): some pairs of them overlap, some are never
completed, some completions come twice or name no open upload, and a deleted dataset discards the
uploads still open. None of this depends on the trigger count, so the per-event hit rate does not
either.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from engine.vocabulary import EVENT_KINDS, StateEffect

TRIGGERS_PER_ROBOT = 24
OPEN_DATASETS = 32  # recording sessions uploading at the same time
# Shares of sessions and events (probabilities per session, transaction or event).
BARE_DATASETS = 0.2  # created without tags or metadata, which come with one of their files
UPLOAD_SESSIONS = 0.5  # files uploaded in transactions
OVERLAPPING = 0.3  # a segment of the files shared by two transactions open at once
LEFT_OPEN = 0.05  # a transaction never completed
COMPLETED_TWICE = 0.05  # the second completion finds its transaction closed
STRAY_COMPLETION = 0.05  # a completion naming a transaction never opened
DELETED_DATASETS = 0.05  # deleted at the end, before its last uploads are completed
ZIPF_EXPONENT = 1.0
SENSORS: tuple[tuple[str, str], ...] = (
    ("cam_front", "jpg"),
    ("cam_rear", "jpg"),
    ("cam_left", "png"),
    ("lidar_top", "pcd"),
    ("radar_front", "bin"),
    ("imu", "csv"),
    ("gps", "csv"),
    ("can_bus", "parquet"),
)
ACTIONS = ("detect", "index-logs", "summarize")
ROBOT_MODELS = ("m1", "m2", "m3")
WEATHER = ("clear", "rain", "fog")
SITES = ("lab-1", "lab-2", "field-7", "harbour")
OPERATORS = ("op_anna", "op_bob", "op-carl", "opal")
DATASET_TAGS = ("prod", "calibrated", "night", "test")
# Events that are evaluation points: a cause of their own, or an upload's completion.
EVALUATED_EVENTS = frozenset(
    str(type_)
    for type_, kind in EVENT_KINDS.items()
    if kind.cause is not None or kind.effect is StateEffect.CLOSE_UPLOAD
)
UPLOADS_TRIGGER = "every-file"  # the one trigger of `generate_uploads`
UPLOADS_ORG = "og_0000"
EPOCH = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
PLUS_TWO = timezone(timedelta(hours=2))

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    triggers: int
    orgs: int
    events: int
    seed: int = 7
    files_per_dataset: tuple[int, int] = (20, 60)  # inclusive range

    @property
    def label(self) -> str:
        return f"{self.triggers} triggers / {self.orgs} orgs / {self.events} events"


@dataclass(slots=True)
class Workload:
    spec: WorkloadSpec
    triggers: list[Json]  # trigger definitions as a triggers file holds them
    actions: list[Json]  # action definitions (action.json fields + org_id)
    events: list[Json]  # CloudEvents in stream order
    triggers_per_org: dict[str, int] = field(default_factory=dict)

    @property
    def evaluated_events(self) -> int:
        """Events that are evaluation points (creations and deletions only change state)."""
        return sum(1 for event in self.events if event["type"] in EVALUATED_EVENTS)


def generate(spec: WorkloadSpec) -> Workload:
    """The workload for `spec`; the same spec always gives the same workload."""
    rng = random.Random(spec.seed)
    counts = skewed_counts(spec.triggers, spec.orgs)
    orgs = [f"og_{i:04d}" for i in range(len(counts))]
    triggers: list[Json] = []
    robots: dict[str, list[str]] = {}
    for org, count in zip(orgs, counts, strict=True):
        robots[org] = [f"r{j:04d}" for j in range(max(1, math.ceil(count / TRIGGERS_PER_ROBOT)))]
        triggers.extend(_org_triggers(rng, org, count, robots[org]))
    actions = [
        {"org_id": org, "name": name, "image_uri": f"registry.example.com/{name}:1"}
        for org in orgs
        for name in ACTIONS
    ]
    stream = _EventStream(rng, spec, orgs, counts, robots)
    events = [event for _, event in zip(range(spec.events), stream, strict=False)]
    return Workload(spec, triggers, actions, events, dict(zip(orgs, counts, strict=True)))


def generate_uploads(events: int, seed: int = 7) -> Workload:
    """One invocation per event: every event is the upload of a new file (outside any upload
    transaction) into one of a few open datasets of one org, whose single trigger fires once per
    file, with no condition. The workload of the comparison with a passthrough, whose work per
    event is then the engine's minimum: one event in, one invocation out."""
    rng = random.Random(seed)
    stream = []
    for n in range(events):
        dataset_id = f"ds_{n % OPEN_DATASETS:07d}"
        path = f"r0000/2026-11-20/run_{n % OPEN_DATASETS:03d}/cam_front/{n:06d}.jpg"
        file = _file_record(rng, f"fl_{n + 1:08d}", path)
        stream.append(
            _stamped(
                _Envelope(UPLOADS_ORG, dataset_id).event("file.uploaded", {"file": file}), n + 1
            )
        )
    return uploads_workload(stream, seed)


def uploads_workload(events: list[Json], seed: int = 7) -> Workload:
    """The uploads' one org, its one per-file trigger (`**/*` on `file_upload`, no condition) and
    its action, around `events`."""
    trigger: Json = {
        "org_id": UPLOADS_ORG,
        "name": UPLOADS_TRIGGER,
        "action": ACTIONS[0],
        "required_inputs": ["**/*"],
        "for_each": "dataset_file",
        "causes": ["file_upload"],
    }
    action = {
        "org_id": UPLOADS_ORG,
        "name": ACTIONS[0],
        "image_uri": f"registry.example.com/{ACTIONS[0]}:1",
    }
    spec = WorkloadSpec(triggers=1, orgs=1, events=len(events), seed=seed)
    return Workload(spec, [trigger], [action], events, {UPLOADS_ORG: 1})


def many_uploads_datasets(files: int, files_per_dataset: int) -> int:
    """How many datasets `many_uploads` puts the files in."""
    full, rest = divmod(files, OPEN_DATASETS * files_per_dataset)
    return full * OPEN_DATASETS + min(rest, OPEN_DATASETS)


def many_uploads(files: int, files_per_dataset: int, seed: int = 7) -> Iterator[Json]:
    """`files` upload events, made one at a time (millions fit in no list): `OPEN_DATASETS`
    sessions upload at once, in turn, each `files_per_dataset` files of its robot's sensors
    (`r0007/2026-11-20/run_0123/lidar_top/000042.pcd`), then the next sessions open."""
    rng = random.Random(seed)
    group = OPEN_DATASETS * files_per_dataset
    for n in range(files):
        session = n // group * OPEN_DATASETS + n % OPEN_DATASETS
        number = n % group // OPEN_DATASETS
        sensor, ext = SENSORS[number % len(SENSORS)]
        path = f"r{session % 1000:04d}/2026-11-20/run_{session:04d}/{sensor}/{number:06d}.{ext}"
        file = _file_record(rng, f"fl_{n + 1:09d}", path)
        envelope = _Envelope(UPLOADS_ORG, f"ds_{session:07d}")
        yield _stamped(envelope.event("file.uploaded", {"file": file}), n + 1)


def skewed_counts(total: int, orgs: int) -> list[int]:
    """`total` split over `orgs` (each gets at least one) in Zipf proportions, largest first."""
    if not 1 <= orgs <= total:
        raise ValueError(f"cannot spread {total} triggers over {orgs} orgs")
    weights = [1 / (rank + 1) ** ZIPF_EXPONENT for rank in range(orgs)]
    spare = total - orgs
    shares = [spare * w / sum(weights) for w in weights]
    counts = [1 + int(share) for share in shares]
    # Largest remainders take the units lost to rounding down.
    by_remainder = sorted(range(orgs), key=lambda i: int(shares[i]) - shares[i])
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


# -- triggers ----------------------------------------------------------------------------------

Family = Callable[[str, str, str], list[str]]
# name -> (for_each, required inputs from (robot, sensor, extension))
FAMILIES: dict[str, tuple[str, Family]] = {
    "sensor-frames": ("dataset_file", lambda r, s, e: [f"**/{r}/**/{s}/*.{e}"]),
    "anchored-frames": ("dataset_file", lambda r, s, e: [f"{r}/**/{s}/*.{e}"]),
    "ext-no-tmp": ("dataset_file", lambda r, s, e: [f"**/{r}/**/*.{e}", "!**/tmp/**"]),
    "front-or-rear": ("dataset_file", lambda r, s, e: [f"{r}/**/cam_[fr]*/*.jpg"]),
    "flight-logs": ("dataset_file", lambda r, s, e: [f"**/{r}/**/logs/*.ulg"]),
    "every-fifth": ("dataset_file", lambda r, s, e: [f"**/{r}/**/{s}/*[05].{e}"]),
    "run-summary": ("dataset", lambda r, s, e: [f"**/{r}/**/*.mcap", f"**/{r}/**/metadata.json"]),
    "sensor-dir": ("dataset", lambda r, s, e: [f"{r}/**/run_00?/{s}/", "!**/*.csv"]),
}
FAMILY_NAMES = tuple(FAMILIES)


def _org_triggers(rng: random.Random, org: str, count: int, robots: list[str]) -> Iterator[Json]:
    # One org-wide trigger with a bare extension: every flight log of the org is its candidate.
    if count >= TRIGGERS_PER_ROBOT:
        count -= 1
        yield _trigger(rng, org, "all-flight-logs", "dataset_file", ["*.ulg"], robot=None)
    for i in range(count):
        robot = robots[i % len(robots)]
        family = rng.choice(FAMILY_NAMES)
        for_each, inputs = FAMILIES[family]
        sensor, ext = rng.choice(SENSORS)
        name = f"{family}-{robot}-{i:06d}"
        yield _trigger(rng, org, name, for_each, inputs(robot, sensor, ext), robot=robot)


def _trigger(
    rng: random.Random,
    org: str,
    name: str,
    for_each: str,
    required_inputs: list[str],
    *,
    robot: str | None,
) -> Json:
    trigger: Json = {
        "org_id": org,
        "name": name,
        "action": "index-logs" if name.endswith("flight-logs") else rng.choice(ACTIONS),
        "required_inputs": required_inputs,
        "for_each": for_each,
        "causes": _causes(rng),
    }
    trigger.update(_condition(rng, for_each == "dataset_file", robot))
    if rng.random() < 0.02:
        trigger["enabled"] = False
    return trigger


def _causes(rng: random.Random) -> list[str]:
    """Mostly the default; some triggers listen to one kind of change only."""
    roll = rng.random()
    if roll < 0.6:
        return ["file_upload", "dataset_metadata_update"]
    if roll < 0.75:
        return ["file_upload", "file_ingest", "dataset_metadata_update"]
    if roll < 0.85:
        return ["file_ingest"]
    if roll < 0.9:
        return ["dataset_metadata_update"]
    if roll < 0.95:
        return ["file_metadata_update"]
    return ["file_upload", "file_metadata_update"]


def _condition(rng: random.Random, per_file: bool, robot: str | None) -> Json:
    """One of: no condition, a shorthand, a Roboto condition, a JsonLogic rule."""
    roll = rng.random()
    if roll < 0.25:
        return {}
    if roll < 0.33:
        return {"required_tag": rng.choice([["prod"], ["prod", "calibrated"]])}
    if roll < 0.41:
        choices: list[Json] = [{"robot_model": "m2"}, {"has_gps": True}, {"site": "lab-1"}]
        if robot is not None:
            choices.append({"robot": robot, "speed": 3})
        return {"required_metadata": rng.choice(choices)}
    if roll < 0.7:
        return {"condition": _roboto_tree(rng, per_file, robot, depth=0)}
    return {"condition": _jsonlogic_tree(rng, per_file, robot, depth=0)}


def _roboto_leaves(per_file: bool, robot: str | None) -> list[Json]:
    def leaf(field: str, comparator: str, value: Any = None) -> Json:
        node: Json = {"field": field, "comparator": comparator}
        if value is not None:
            node["value"] = value
        return node

    leaves = [
        leaf("tags", "CONTAINS", "prod"),
        leaf("tags", "NOT_CONTAINS", "test"),
        leaf("metadata.speed", "GREATER_THAN", 2.5),
        leaf("metadata.speed", "LESS_THAN_OR_EQUAL", 4),
        leaf("metadata.robot_model", "EQUALS", "m2"),
        leaf("metadata.robot_model", "NOT_EQUALS", "m1"),
        leaf("dataset.metadata.weather", "NOT_EQUALS", "rain"),
        leaf("metadata.site", "BEGINS_WITH", "lab"),
        leaf("metadata.operator", "LIKE", "op\\_%"),
        leaf("metadata.operator", "NOT_LIKE", "%bob%"),
        leaf("metadata.recorded_at", "GREATER_THAN", "2026-06-01T00:00:00Z"),
        leaf("metadata.has_gps", "EQUALS", True),
        leaf("metadata.calibration", "IS_NULL"),
        leaf("metadata.calibration.version", "GREATER_THAN_OR_EQUAL", 2),
        leaf("metadata.operator", "EXISTS"),
    ]
    if robot is not None:
        leaves.append(leaf("metadata.robot", "EQUALS", robot))
    if per_file:
        leaves += [
            leaf("file.metadata.camera_ok", "EQUALS", True),
            leaf("file.tags", "CONTAINS", "keyframe"),
            leaf("file.size", "LESS_THAN", 4_000_000),
            leaf("file.metadata.exposure", "GREATER_THAN_OR_EQUAL", 0.01),
            leaf("file.ingestion_status", "EQUALS", "ingested"),
        ]
    return leaves


def _roboto_tree(rng: random.Random, per_file: bool, robot: str | None, depth: int) -> Json:
    if depth == 2 or rng.random() < 0.35:
        return rng.choice(_roboto_leaves(per_file, robot))
    operator = rng.choice(("AND", "AND", "OR", "NOT"))
    children = [_roboto_tree(rng, per_file, robot, depth + 1) for _ in range(rng.randint(1, 3))]
    return {"operator": operator, "conditions": children}


def _jsonlogic_leaves(per_file: bool, robot: str | None) -> list[Json]:
    def var(path: str) -> Json:
        return {"var": path}

    leaves: list[Json] = [
        {"in": ["prod", var("dataset.tags")]},
        {">": [var("dataset.metadata.speed"), 2.5]},
        {"<=": [var("dataset.metadata.speed"), 4]},
        {"==": [var("dataset.metadata.robot_model"), "m2"]},
        {"!=": [var("dataset.metadata.weather"), "rain"]},
        {"in": ["lab", var("dataset.metadata.site")]},
        {"!": var("dataset.metadata.calibration")},
        {"==": [var("dataset.metadata.has_gps"), True]},
        {"missing": ["dataset.metadata.operator"]},
        {">=": [{"var": ["dataset.metadata.calibration.version", 0]}, 2]},
        {"!!": [var("dataset.metadata.operator")]},
    ]
    if robot is not None:
        leaves.append({"==": [var("dataset.metadata.robot"), robot]})
    if per_file:
        leaves += [
            {"==": [var("file.metadata.camera_ok"), True]},
            {"in": ["keyframe", var("file.tags")]},
            {"<": [var("file.size"), 4_000_000]},
            {">=": [var("file.metadata.exposure"), 0.01]},
            {"==": [var("file.ingestion_status"), "ingested"]},
        ]
    return leaves


def _jsonlogic_tree(rng: random.Random, per_file: bool, robot: str | None, depth: int) -> Json:
    if depth == 2 or rng.random() < 0.35:
        return rng.choice(_jsonlogic_leaves(per_file, robot))
    operator = rng.choice(("and", "and", "or", "!"))
    if operator == "!":
        return {"!": _jsonlogic_tree(rng, per_file, robot, depth + 1)}
    children = [_jsonlogic_tree(rng, per_file, robot, depth + 1) for _ in range(rng.randint(1, 3))]
    return {operator: children}


# -- events ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Session:
    """One dataset being recorded: the events still to emit, in order."""

    pending: list[Json]


class _EventStream:
    """Endless interleaved events of `OPEN_DATASETS` concurrent recording sessions."""

    def __init__(
        self,
        rng: random.Random,
        spec: WorkloadSpec,
        orgs: list[str],
        weights: list[int],
        robots: dict[str, list[str]],
    ) -> None:
        self._rng = rng
        self._spec = spec
        self._orgs = orgs
        self._weights = weights
        self._robots = robots
        self._serial = 0
        self._datasets = 0
        self._files = 0

    def __iter__(self) -> Iterator[Json]:
        sessions = [self._open() for _ in range(OPEN_DATASETS)]
        while True:
            slot = self._rng.randrange(len(sessions))
            session = sessions[slot]
            yield self._stamp(session.pending.pop(0))
            if not session.pending:
                sessions[slot] = self._open()

    def _stamp(self, event: Json) -> Json:
        self._serial += 1
        return _stamped(event, self._serial)

    def _open(self) -> _Session:
        rng = self._rng
        org = rng.choices(self._orgs, weights=self._weights)[0]
        robot = rng.choice(self._robots[org])
        self._datasets += 1
        dataset_id = f"ds_{self._datasets:07d}"
        paths = self._session_paths(robot)
        bare = rng.random() < BARE_DATASETS
        recording = _Recording(rng, _Envelope(org, dataset_id), robot, bare=bare)
        described_at = rng.randrange(len(paths)) if bare else None  # the file bringing the record
        plan = _UploadPlan.draw(rng, dataset_id, len(paths))
        deleted = rng.random() < DELETED_DATASETS
        last = len(paths) - 1
        for position, path in enumerate(paths):
            self._files += 1
            file = _file_record(rng, f"fl_{self._files:08d}", path)
            transaction = plan.transactions[position]
            recording.upload(file, transaction, described=position == described_at)
            recording.follow_ups()
            if not (deleted and position == last):
                recording.complete(plan.completions.get(position, ()))
        if deleted:
            recording.delete()
            recording.complete(plan.completions.get(last, ()))  # the deletion discarded them
        return _Session(recording.events)

    def _session_paths(self, robot: str) -> list[str]:
        rng = self._rng
        low, high = self._spec.files_per_dataset
        root = f"{robot}/2026-11-{rng.randint(1, 28):02d}/run_{rng.randint(0, 12):03d}"
        paths = [f"{root}/{robot}.mcap", f"{root}/logs/flight.ulg"]
        frames = rng.randint(low, high) - 3
        for frame in range(frames):
            roll = rng.random()
            if roll < 0.05:
                paths.append(f"{robot}/tmp/{frame:06d}.jpg")
            elif roll < 0.1:
                paths.append(f"{root}/notes_{frame}.txt")
            else:
                sensor, ext = rng.choice(SENSORS)
                paths.append(f"{root}/{sensor}/{frame:06d}.{ext}")
        rng.shuffle(paths)
        paths.append(f"{root}/metadata.json")  # written when the session closes
        return paths


@dataclass(slots=True)
class _UploadPlan:
    """The upload transaction each file of a session comes in (None: none), and the completions
    sent after each file's events."""

    transactions: list[str | None]
    completions: dict[int, list[str]]

    @classmethod
    def draw(cls, rng: random.Random, dataset_id: str, files: int) -> _UploadPlan:
        plan = cls([None] * files, {})
        if rng.random() >= UPLOAD_SESSIONS:
            return plan
        names = (f"tx_{dataset_id}_{n}" for n in itertools.count())
        start = 0
        while start < files:
            end = min(files, start + rng.randint(1, max(1, files // 2)))
            plan._segment(rng, range(start, end), names)
            start = end
        if rng.random() < STRAY_COMPLETION:
            plan._complete(rng.randrange(files), f"tx_{dataset_id}_stray")
        return plan

    def _segment(self, rng: random.Random, positions: range, names: Iterator[str]) -> None:
        """Files uploaded plainly, in one transaction, or shared at random by two."""
        roll = rng.random()
        if roll < 0.2:
            return
        shared = roll >= 1 - OVERLAPPING and len(positions) > 1
        taken = [next(names) for _ in range(2 if shared else 1)]
        last: dict[str, int] = {}
        for position in positions:
            name = self.transactions[position] = rng.choice(taken)
            last[name] = position
        # Each completes after its own last file: of two, the first closes while the other is open.
        for name, position in last.items():
            roll = rng.random()
            if roll < LEFT_OPEN:
                continue
            self._complete(position, name)
            if roll >= 1 - COMPLETED_TWICE:
                self._complete(positions[-1], name)

    def _complete(self, position: int, name: str) -> None:
        self.completions.setdefault(position, []).append(name)


class _Recording:
    """The events of one session, in order, and what writing them needs to know of it."""

    def __init__(self, rng: random.Random, envelope: _Envelope, robot: str, *, bare: bool) -> None:
        self._rng = rng
        self._envelope = envelope
        self._robot = robot
        self._record = _dataset_snapshot(rng, envelope.org, envelope.dataset_id, robot)
        self._described = not bare
        self._uploaded: list[Json] = []
        self._transaction_of: dict[str, str | None] = {}  # file id -> the upload it came in
        self._files_in: dict[str, int] = {}  # transaction id -> files uploaded in it
        self.events: list[Json] = []
        self._emit("dataset.created", {"dataset": self._snapshot()})

    def upload(self, file: Json, transaction: str | None, *, described: bool) -> None:
        data: Json = {"file": file}
        roll = self._rng.random()
        if described:
            self._described = True
            data["dataset"] = self._snapshot()
        elif roll < 0.03:
            data["dataset"] = self._changed()
        elif roll < 0.08:  # uploaders sometimes send the dataset along
            data["dataset"] = self._snapshot()
        self._emit("file.uploaded", data, transaction)
        self._uploaded.append(file)
        self._transaction_of[file["file_id"]] = transaction
        if transaction is not None:
            self._files_in[transaction] = self._files_in.get(transaction, 0) + 1

    def follow_ups(self) -> None:
        """Events that may follow an upload: ingestion, file and dataset metadata changes."""
        rng = self._rng
        uploaded = self._uploaded
        if uploaded and rng.random() < 0.3:
            data: Json = {"file": {"file_id": rng.choice(uploaded)["file_id"]}}
            if rng.random() < 0.05:
                data["dataset"] = self._changed()
            self._emit_about("file.ingested", data)
        if uploaded and rng.random() < 0.05:
            changed = {"file_id": rng.choice(uploaded)["file_id"], **_file_labels(rng)}
            self._emit_about("file.metadata_updated", {"file": changed})
        if uploaded and rng.random() < 0.01:
            # Later follow-ups pick among the files still there: an event about a deleted file
            # that carries no path is a reject, not a benchmark event.
            file = uploaded.pop(rng.randrange(len(uploaded)))
            self._emit_about("file.deleted", {"file": {"file_id": file["file_id"]}})
        if rng.random() < 0.02:
            self._emit("dataset.metadata_updated", {"dataset": self._changed()})

    def complete(self, transactions: Iterable[str]) -> None:
        for transaction in transactions:
            data: Json = {"upload": {"file_count": self._files_in.get(transaction, 0)}}
            roll = self._rng.random()
            if roll < 0.15:
                data["dataset"] = self._changed()
            elif roll < 0.3:
                data["dataset"] = self._snapshot()
            self._emit("dataset.upload_completed", data, transaction)

    def delete(self) -> None:
        self._emit("dataset.deleted", {})

    def _snapshot(self) -> Json:
        if self._described:
            return dict(self._record)
        return {**self._record, "tags": [], "metadata": {}}

    def _changed(self) -> Json:
        """A new record for the dataset (the robot stays), as a snapshot."""
        envelope = self._envelope
        self._record = _dataset_snapshot(self._rng, envelope.org, envelope.dataset_id, self._robot)
        self._described = True
        return self._snapshot()

    def _emit_about(self, event_type: str, data: Json) -> None:
        """A file's later event: it names the file's upload half the time (after the upload
        closed, that changes nothing)."""
        transaction = None
        if self._rng.random() < 0.5:
            transaction = self._transaction_of[data["file"]["file_id"]]
        self._emit(event_type, data, transaction)

    def _emit(self, event_type: str, data: Json, transaction: str | None = None) -> None:
        self.events.append(self._envelope.event(event_type, data, transaction))


def _stamped(event: Json, serial: int) -> Json:
    """The event with the id and time of its place in the stream."""
    moment = EPOCH + timedelta(seconds=serial)
    event["id"] = f"ev-{serial:08d}"
    event["time"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return event


@dataclass(frozen=True, slots=True)
class _Envelope:
    org: str
    dataset_id: str

    def event(self, event_type: str, data: Json, transaction: str | None = None) -> Json:
        event: Json = {
            "specversion": "1.0",
            "id": "",
            "type": event_type,
            "source": f"/orgs/{self.org}",
            "time": None,
            "orgid": self.org,
            "datasetid": self.dataset_id,
            "data": data,
        }
        if transaction is not None:
            event["transactionid"] = transaction
        return event


def _dataset_snapshot(rng: random.Random, org: str, dataset_id: str, robot: str | None) -> Json:
    metadata: Json = {
        "robot_model": rng.choice(ROBOT_MODELS),
        "speed": _speed(rng),
        "weather": rng.choice(WEATHER),
        "site": rng.choice(SITES),
        "operator": rng.choice(OPERATORS),
        "recorded_at": _timestamp(rng),
        "has_gps": rng.choice((True, False, "true", "false")),
    }
    if robot is not None:
        metadata["robot"] = robot
    if rng.random() < 0.3:
        metadata["calibration"] = {"version": rng.choice((1, 2, 3, "2"))}
    for key in ("speed", "operator", "has_gps"):  # sometimes a key is simply absent
        if rng.random() < 0.1:
            del metadata[key]
    tags = [tag for tag in DATASET_TAGS if rng.random() < 0.5]
    return {"dataset_id": dataset_id, "org_id": org, "tags": tags, "metadata": metadata}


def _speed(rng: random.Random) -> Any:
    value = round(rng.uniform(0, 6), 1)
    roll = rng.random()
    if roll < 0.15:
        return str(value)  # the Roboto dialect parses it as the number it is compared with
    if roll < 0.2:
        return "n/a"  # unparseable: the leaf is false, never an error
    if roll < 0.3:
        return 3
    return value


def _timestamp(rng: random.Random) -> str:
    moment = EPOCH - timedelta(days=rng.randint(0, 365), minutes=rng.randint(0, 1440))
    if rng.random() < 0.5:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.astimezone(PLUS_TWO).isoformat()  # the same instant, another zone


def _file_record(rng: random.Random, file_id: str, path: str) -> Json:
    return {
        "file_id": file_id,
        "relative_path": path,
        "size": rng.randint(1_000, 8_000_000),
        **_file_labels(rng),
        "ingestion_status": "not_ingested",
    }


def _file_labels(rng: random.Random) -> Json:
    metadata: Json = {"exposure": rng.choice((0.005, 0.01, 0.02, "0.03"))}
    if rng.random() < 0.8:
        metadata["camera_ok"] = rng.choice((True, False, "true"))
    return {"tags": ["keyframe"] if rng.random() < 0.2 else [], "metadata": metadata}
