"""Applications and versions: registered before anything is deployed from them."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from application.ports import SecretBox
from application.write_path import UnitOfWork, WritePath
from domain.app import (
    APP_NAME,
    ENV_KEY_PATTERN,
    MAX_ENV,
    VERSION_NAME,
    App,
    AppExistsError,
    app_uuid,
)

Port = Annotated[int, Meta(ge=1, le=65535)]
Units = Annotated[int, Meta(ge=1, le=1 << 20)]  # 1024 units = 1 vCPU, as Edgegap counts
MemoryMb = Annotated[int, Meta(ge=1, le=1 << 22)]
Minutes = Annotated[int, Meta(ge=0, le=525_600)]
Text = Annotated[str, Meta(max_length=4096)]


class PortSpec(msgspec.Struct, forbid_unknown_fields=True):
    """A container port to publish."""

    port: Port
    protocol: Literal["TCP", "UDP", "TCP/UDP", "HTTP", "HTTPS", "WS", "WSS"] = "UDP"
    name: Annotated[str, Meta(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+\Z")] | None = (
        None)
    tls_upgrade: bool = False


class EnvVar(msgspec.Struct, forbid_unknown_fields=True):
    key: Annotated[str, Meta(min_length=1, max_length=128, pattern=ENV_KEY_PATTERN)]
    value: Text
    is_hidden: bool = False


class CreateApp(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /api/v1/apps."""

    name: Annotated[str, Meta(min_length=1, max_length=64, pattern=APP_NAME.pattern)]


class CreateAppVersion(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /api/v1/apps/{name}/versions."""

    name: Annotated[str, Meta(min_length=1, max_length=128, pattern=VERSION_NAME.pattern)]
    image: Annotated[str, Meta(min_length=1, max_length=512)]
    ports: Annotated[list[PortSpec], Meta(max_length=32)] = []
    cpu_units: Units = 256
    memory_mb: MemoryMb = 256
    env: Annotated[list[EnvVar], Meta(max_length=MAX_ENV)] = []
    max_duration: Minutes = 0  # minutes; 0 runs until stopped
    command: Text | None = None
    arguments: Text | None = None


def sealed_env(box: SecretBox, key: str, value: str, hidden: bool) -> dict[str, Any]:
    """An environment variable as stored: a hidden value only sealed (events are forever, and
    a secret written in clear into one could never be scrubbed)."""
    if not hidden:
        return {"key": key, "value": value, "is_hidden": False}
    return {"key": key, "value": None, "is_hidden": True, "sealed": box.seal(value.encode())}


def env_value(box: SecretBox, var: dict[str, Any]) -> str:
    """What the container gets for a stored variable."""
    return box.open(var["sealed"]).decode() if "sealed" in var else str(var["value"])


def version_spec(cmd: CreateAppVersion, box: SecretBox) -> dict[str, Any]:
    spec = msgspec.to_builtins(cmd)
    spec["env"] = [sealed_env(box, v.key, v.value, v.is_hidden) for v in cmd.env]
    for port in spec["ports"]:
        port.setdefault("name", None)
        port["name"] = port["name"] or str(port["port"])  # Edgegap: defaults to the port
    return dict(spec)


class Apps:
    """Application service for applications and their versions."""

    def __init__(self, writes: WritePath, box: SecretBox) -> None:
        self.writes, self.box = writes, box

    def create(self, cmd: CreateApp) -> UUID:
        def decide(uow: UnitOfWork) -> UUID:
            existing = uow.find(App, app_uuid(cmd.name))
            if existing is not None and not existing.deleted:
                raise AppExistsError(f"application {cmd.name} already exists", "name")
            if existing is not None:
                existing.restore(uow.now)
                uow.add(existing)
                return existing.id
            app = App.create(cmd.name, uow.now)
            uow.add(app)
            return app.id

        return self.writes.run(decide)

    def delete(self, name: str) -> None:
        def decide(uow: UnitOfWork) -> None:
            uow.get(App, app_uuid(name), f"application {name}").delete(uow.now)

        self.writes.run(decide)

    def add_version(self, app_name: str, cmd: CreateAppVersion) -> dict[str, Any]:
        def decide(uow: UnitOfWork) -> dict[str, Any]:
            app = uow.get(App, app_uuid(app_name), f"application {app_name}")
            spec = version_spec(cmd, self.box)
            app.add_version(spec, uow.now)
            return spec

        return self.writes.run(decide)

    def remove_version(self, app_name: str, version: str) -> None:
        def decide(uow: UnitOfWork) -> None:
            app = uow.get(App, app_uuid(app_name), f"application {app_name}")
            app.remove_version(version, uow.now)

        self.writes.run(decide)


def reveal(box: SecretBox, token: str) -> str:
    """A deployment's delete token or hook secret as handed out. Stored sealed; ones stored
    before sealing are url-safe base64, which never holds the sealed form's ':'."""
    return box.open(token).decode() if ":" in token else token
