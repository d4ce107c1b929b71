"""Leaving the consumer group as a static member (one with a `group.instance.id`, KIP-345).

aiokafka never sends LeaveGroup for a static member: the coordinator keeps the member, and its
partitions, until its session times out, so that the same instance, restarted, takes them back
without a rebalance. That is what a crash wants; a deliberate stop (SIGTERM: a rollout, a scale
down) wants the partitions to move at once, as a dynamic member's do. So after its consumer has
stopped, the service asks the coordinator to remove the member by its instance id: LeaveGroup v3,
the request behind the Java admin client's `removeMembersFromConsumerGroup`.
"""

from __future__ import annotations

from aiokafka.client import AIOKafkaClient, CoordinationType
from aiokafka.errors import UnknownMemberIdError, for_code
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import Array, Int16, Int32, Schema, String

from engine.service.settings import KafkaSettings

_LEAVE_GROUP = 13
_ANY_MEMBER_ID = ""  # with an instance id: whichever member holds that id now


class _LeaveGroupResponseV3(Response):
    API_KEY = _LEAVE_GROUP
    API_VERSION = 3
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        (
            "members",
            Array(
                ("member_id", String("utf-8")),
                ("group_instance_id", String("utf-8")),
                ("error_code", Int16),
            ),
        ),
    )


class _LeaveGroupRequestV3(RequestStruct):
    API_KEY = _LEAVE_GROUP
    API_VERSION = 3
    RESPONSE_TYPE = _LeaveGroupResponseV3
    SCHEMA = Schema(
        ("group_id", String("utf-8")),
        ("members", Array(("member_id", String("utf-8")), ("group_instance_id", String("utf-8")))),
    )


class _RemoveStaticMember(Request[_LeaveGroupRequestV3]):
    API_KEY = _LEAVE_GROUP

    def __init__(self, group_id: str, instance_id: str) -> None:
        self._group_id = group_id
        self._instance_id = instance_id

    def build(self, request_struct_class: type[_LeaveGroupRequestV3]) -> _LeaveGroupRequestV3:
        return request_struct_class(self._group_id, [(_ANY_MEMBER_ID, self._instance_id)])


async def leave_group(kafka: KafkaSettings, group_id: str, instance_id: str) -> None:
    """Remove the static member `instance_id` from `group_id`, so that the group rebalances now.
    A member that is not in the group (it never joined, or was removed already) is no error."""
    client = AIOKafkaClient(**kafka.client_options())
    try:
        await client.bootstrap()
        coordinator = await client.coordinator_lookup(CoordinationType.GROUP, group_id)
        response = await client.send(coordinator, _RemoveStaticMember(group_id, instance_id))
    finally:
        await client.close()
    codes = [response.error_code, *(member[2] for member in response.members)]
    for code in codes:
        error = for_code(code)
        if code and error is not UnknownMemberIdError:
            raise error(f"leaving group {group_id!r} as instance {instance_id!r}")
