"""An in-memory state restored from changelog records, each dataset decoded when first used.

Decoding a record (its JSON, then the change applied to its dataset) costs several times what
reading it does, and after a restart most datasets wait a long time for their next event, or never
get one. So a restore only sorts the records by the dataset their key names, still encoded, and a
dataset is decoded from its records, in the order they came, the first time it is looked up. Each
change touches its own dataset alone, so this makes exactly the state that applying every record
in changelog order would.
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.journal import ChangelogRecord, dataset_of, dataset_prefix, decoded_dataset, prefix_of
from engine.state import DatasetState, StateStore


class RestoredStateStore(StateStore):
    """A `StateStore` that holds the changelog records of the datasets not used since the
    restore, encoded, and decodes a dataset's records when it is first looked up."""

    def __init__(self) -> None:
        super().__init__()
        # By the dataset's key prefix: reading it costs a fraction of decoding the key.
        self._encoded: dict[bytes, list[ChangelogRecord]] = {}

    def hold(self, key: bytes, value: bytes | None) -> None:
        """Keep a changelog record for its dataset, as the changelog delivers it."""
        prefix = prefix_of(key)
        encoded = self._encoded.get(prefix)
        if encoded is None:
            self._encoded[prefix] = [(key, value)]
        else:
            encoded.append((key, value))

    def __len__(self) -> int:
        """The datasets held, decoded or not (a key's records may make no dataset)."""
        return super().__len__() + len(self._encoded)

    def _find(self, dataset_id: str) -> DatasetState | None:
        ds = super()._find(dataset_id)
        if ds is None and self._encoded and (encoded := self._pop(dataset_id)):
            ds = decoded_dataset(dataset_id, encoded)
            if ds is not None:
                self._add(ds)
        return ds

    def _pop(self, dataset_id: str) -> list[ChangelogRecord] | None:
        return self._encoded.pop(dataset_prefix(dataset_id), None)

    def datasets_of(self, org_id: str) -> Iterable[DatasetState]:
        """As `StateStore.datasets_of`, once every dataset held is decoded."""
        for records in list(self._encoded.values()):
            self._find(dataset_of(records[0][0]))
        return super().datasets_of(org_id)
