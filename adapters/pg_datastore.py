"""One PostgreSQL pool per process for the event store, the read models, the relay's tracking
and the webhook deliveries: they live in one database, so separate pools only multiplied the
connections each admin holds (33 idle before; PostgreSQL allows 100 by default)."""

from __future__ import annotations

from typing import Any, TypeVar

from eventsourcing.postgres import PostgresDatastore, PostgresFactory, PostgresTrackingRecorder
from eventsourcing.utils import Environment, EnvType

APPLICATION_NAME = "POSTGRES_APPLICATION_NAME"
R = TypeVar("R", bound=PostgresTrackingRecorder)


class NamedPostgresFactory(PostgresFactory):
    """eventsourcing's factory, whose connections carry POSTGRES_APPLICATION_NAME, so an
    operator reading pg_stat_activity sees which process and pool holds them."""

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        name = self.env.get(APPLICATION_NAME)
        kwargs = self.datastore.pool.kwargs
        if name and isinstance(kwargs, dict):  # the pool is not open yet: no connection made
            kwargs["application_name"] = name


def tracking_recorder(datastore: PostgresDatastore, name: str, recorder_class: type[R],
                      **kwargs: Any) -> R:
    """A tracking recorder (a read model, the relay's position) on an existing pool, with the
    table the factory would have named `<name>_tracking`."""
    recorder = recorder_class(datastore, tracking_table_name=f"{name}_tracking", **kwargs)
    recorder.create_table()
    return recorder
