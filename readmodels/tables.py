"""A thin typed layer over one Azure table: pydantic models stored as JSON, tenant-partitioned.

A model is kept whole as JSON (reads need no mapping code) beside the few columns worth
filtering on. A string property holds at most 32K characters, so a long model is split over
`Json`, `Json1`, `Json2`, ... (a row holds 1 MiB): a long text in a row never makes its
write fail. ETags are kept so writers can use optimistic concurrency.

A key with a character Azure Tables forbids (`/`, `\\`, `#`, `?`, control characters) or over
1 KiB names no row: reads answer "not found", writes refuse with KeyInvalid.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableServiceClient, UpdateMode
from pydantic import BaseModel

from azureclients.clients import table_service, valid_key

M = TypeVar("M", bound=BaseModel)
BATCH = 100  # operations per entity-group transaction (Azure Table Storage's limit)
# (service, table) -> client. The entry holds its service, so a service another test replaced
# stays alive and its id is never reused by a new one.
_clients: dict[tuple[int, str], tuple[TableServiceClient, TableClient]] = {}
JSON_CHUNK = 30_000  # characters per property: under 32K UTF-16 code units with margin


class KeyInvalid(ValueError):
    """A key Azure Tables refuses: a caller let an unchecked name through."""


class ConcurrentUpdate(Exception):
    """Someone else changed the row since it was read: read again and retry."""


@dataclass
class Row(Generic[M]):
    model: M
    etag: str | None


class ModelTable(Generic[M]):
    def __init__(self, name: str, model: type[M]) -> None:
        self.name = name
        self.model = model

    def client(self) -> TableClient:
        """The table's client, made (and the table created) once per service client: building
        a TableClient builds its whole HTTP pipeline, too dear to do on every call."""
        service = table_service()
        key = (id(service), self.name)
        if key not in _clients:
            with contextlib.suppress(ResourceExistsError):
                service.create_table(self.name)
            _clients[key] = (service, service.get_table_client(self.name))
        return _clients[key][1]

    def _entity(self, pk: str, rk: str, model: M, columns: dict[str, Any]) -> dict[str, Any]:
        if not (valid_key(pk) and valid_key(rk)):
            raise KeyInvalid(f"{self.name}: {pk!r}/{rk!r} is not a valid table key")
        text = model.model_dump_json()
        chunks = {
            f"Json{i or ''}": text[start : start + JSON_CHUNK]
            for i, start in enumerate(range(0, max(len(text), 1), JSON_CHUNK))
        }
        return {"PartitionKey": pk, "RowKey": rk, **chunks, **columns}

    def _row(self, entity: Any) -> Row[M]:
        etag = entity.metadata.get("etag") if hasattr(entity, "metadata") else None
        parts, i = [entity["Json"]], 1
        while (part := entity.get(f"Json{i}")) is not None:
            parts.append(part)
            i += 1
        return Row(self.model.model_validate_json("".join(parts)), etag)

    def get(self, pk: str, rk: str) -> Row[M] | None:
        if not (valid_key(pk) and valid_key(rk)):
            return None  # nothing is stored under a key the service refuses
        try:
            return self._row(self.client().get_entity(pk, rk))
        except ResourceNotFoundError:
            return None

    def upsert(self, pk: str, rk: str, model: M, **columns: Any) -> None:
        self.client().upsert_entity(self._entity(pk, rk, model, columns), mode=UpdateMode.REPLACE)

    def insert(self, pk: str, rk: str, model: M, **columns: Any) -> bool:
        """Insert; False when the row already exists (idempotent creates)."""
        try:
            self.client().create_entity(self._entity(pk, rk, model, columns))
            return True
        except ResourceExistsError:
            return False

    def replace(self, pk: str, rk: str, model: M, etag: str | None, **columns: Any) -> None:
        """Replace only if unchanged since read (etag), else ConcurrentUpdate."""
        entity = self._entity(pk, rk, model, columns)
        try:
            if etag is None:
                self.client().create_entity(entity)
            else:
                self.client().update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=etag,
                    match_condition=MatchConditions.IfNotModified,
                )
        except (ResourceModifiedError, ResourceExistsError) as error:
            raise ConcurrentUpdate(f"{self.name}/{pk}/{rk} changed meanwhile") from error

    def upsert_many(self, pk: str, rows: list[tuple[str, M, dict[str, Any]]]) -> None:
        """Upsert rows of one partition as entity-group transactions of 100 (the service's
        limit): a hundredth of the round trips of one upsert each. Each batch is atomic."""
        client = self.client()
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            client.submit_transaction(
                [
                    ("upsert", self._entity(pk, rk, model, columns), {"mode": UpdateMode.REPLACE})
                    for rk, model, columns in batch
                ]
            )

    def delete(self, pk: str, rk: str) -> None:
        self.client().delete_entity(pk, rk)

    def transact(
        self, pk: str, upserts: list[tuple[str, M]], deletes: list[str] | None = None
    ) -> None:
        """Upsert and delete rows of one partition in entity-group transactions: one request
        (and one billed transaction) for up to 100 operations, each batch atomic. A row to
        delete that is already gone fails its batch (ResourceNotFoundError)."""
        operations: list[Any] = [
            ("upsert", self._entity(pk, rk, model, {}), {"mode": UpdateMode.REPLACE})
            for rk, model in upserts
        ]
        operations += [("delete", {"PartitionKey": pk, "RowKey": rk}) for rk in deletes or []]
        client = self.client()
        for start in range(0, len(operations), BATCH):
            client.submit_transaction(operations[start : start + BATCH])

    def page(
        self,
        pk: str,
        top: int,
        token: dict[str, Any] | None,
        query: str = "",
        params: dict[str, Any] | None = None,
    ) -> tuple[list[M], dict[str, Any] | None]:
        """One page of a partition, in RowKey order, with the token for the next one.

        `query` is an OData filter with @placeholders bound from `params`, never spliced.
        """
        filter_ = "PartitionKey eq @pk" + (f" and {query}" if query else "")  # only ANDs
        pager = (
            self.client()
            .query_entities(filter_, parameters={**(params or {}), "pk": pk}, results_per_page=top)
            .by_page(continuation_token=token)
        )
        items = [self._row(e).model for e in next(pager, [])]
        return items, pager.continuation_token

    def scan(self, page_size: int = 1000) -> Iterator[list[Row[M]]]:
        """Every row of every partition, a page (one request, up to `page_size` rows, the
        service's maximum being 1000) at a time, with ETags."""
        pager = self.client().list_entities(results_per_page=page_size).by_page()
        for page in pager:
            yield [self._row(entity) for entity in page]

    def all(self, pk: str, query: str = "", params: dict[str, Any] | None = None) -> Iterator[M]:
        """Every row of a partition (matching `query`, bound from `params` as in `page`)."""
        filter_ = "PartitionKey eq @pk" + (f" and ({query})" if query else "")
        for entity in self.client().query_entities(
            filter_, parameters={**(params or {}), "pk": pk}
        ):
            yield self._row(entity).model
