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

from engine.journal import ChangelogRecord, dataset_of, decoded_dataset
from engine.state import DatasetState, StateStore


class RestoredStateStore(StateStore):
    """A `StateStore` that holds the changelog records of the datasets not used since the
    restore, encoded, and decodes a dataset's records when it is first looked up."""

    def __init__(self) -> None:
        super().__init__()
        self._encoded: dict[str, list[ChangelogRecord]] = {}

    def hold(self, key: bytes, value: bytes | None) -> None:
        """Keep a changelog record for its dataset, as the changelog delivers it."""
        dataset_id = dataset_of(key)
        encoded = self._encoded.get(dataset_id)
        if encoded is None:
            self._encoded[dataset_id] = [(key, value)]
        else:
            encoded.append((key, value))

    def __len__(self) -> int:
        """The datasets held, decoded or not (a key's records may make no dataset)."""
        return super().__len__() + len(self._encoded)

    def _find(self, dataset_id: str) -> DatasetState | None:
        ds = super()._find(dataset_id)
        if ds is None and (encoded := self._encoded.pop(dataset_id, None)) is not None:
            ds = decoded_dataset(dataset_id, encoded)
            if ds is not None:
                self._add(ds)
        return ds

    def datasets_of(self, org_id: str) -> Iterable[DatasetState]:
        """As `StateStore.datasets_of`, once every dataset held is decoded."""
        for dataset_id in list(self._encoded):
            self._find(dataset_id)
        return super().datasets_of(org_id)
