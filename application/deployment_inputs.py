"""Request bodies of the Edgegap-compatible deployment API (field names as in the seed).

Unknown fields are ignored, not refused: Edgegap's clients send fields of its API that we do
not implement (and newer ones as Edgegap adds them), and its own API ignores what it does not
know. Everything we read is still bounded and typed."""

from __future__ import annotations

import ipaddress
import math
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from application.ports import GeoLocator
from domain.app import ENV_KEY_PATTERN, MAX_ENV
from domain.deployment import MAX_TAGS
from domain.placement import Point
from domain.shared import InvalidValueError

Name = Annotated[str, Meta(min_length=1, max_length=128)]
Tag = Annotated[str, Meta(min_length=1, max_length=128)]
Url = Annotated[str, Meta(min_length=1, max_length=2048, pattern=r"^https?://")]


class User(msgspec.Struct):
    """A player: an IP address or coordinates; placement minimises distance to them."""

    user_type: Literal["ip_address", "geo_coordinates"]
    user_data: dict[str, Any]


class DeploymentEnvironmentVariable(msgspec.Struct):
    # The versions' rule: "A=B" gave the container A="B=v", ARBITRIUM_* were overridden unsaid.
    key: Annotated[str, Meta(min_length=1, max_length=128, pattern=ENV_KEY_PATTERN)]
    value: Annotated[str, Meta(max_length=4096)]
    is_hidden: bool


class BasicWebhook(msgspec.Struct):
    url: Url


class DeploymentCreate(msgspec.Struct):
    """Body of POST /v2/deployments."""

    application: Name
    version: Name
    users: Annotated[list[User], Meta(min_length=1, max_length=1000)]
    require_cached_locations: bool | None = False
    environment_variables: Annotated[list[DeploymentEnvironmentVariable],
                                     Meta(max_length=MAX_ENV)] = []
    tags: Annotated[list[Tag], Meta(max_length=MAX_TAGS)] = []
    webhook_on_ready: BasicWebhook | None = None
    webhook_on_error: BasicWebhook | None = None
    webhook_on_terminated: BasicWebhook | None = None


class PrivateFleetDeploymentCreate(DeploymentCreate, kw_only=True):
    """Body of POST /v2/private-fleets:deploy: preferred hosts first, then the rest (the seed
    requires at least one)."""

    private_host_ids: Annotated[list[Name], Meta(min_length=1, max_length=100)]


class TagBody(msgspec.Struct):
    """Body of the tag create and update endpoints."""

    name: Tag


class BulkStopFilter(msgspec.Struct):
    field: Literal["request_id", "app_name", "app_version", "status", "tags", "node_id"]
    values: Annotated[list[Annotated[str, Meta(max_length=256)]], Meta(min_length=1,
                                                                       max_length=1000)]
    filter_type: Literal["any", "all", "not"] = "any"


class BulkStop(msgspec.Struct):
    filters: Annotated[list[BulkStopFilter], Meta(min_length=1, max_length=20)]


def user_points(users: list[User], geo: GeoLocator) -> list[Point]:
    """Each user's place; an IP the geo-IP data cannot place is skipped (not an error: a
    player behind an unknown address still gets a server)."""
    points = []
    for i, user in enumerate(users):
        data = user.user_data
        if user.user_type == "geo_coordinates":
            points.append(_coordinates(data, i))
            continue
        address = data.get("ip_address")
        try:
            ipaddress.ip_address(address if isinstance(address, str) else "")
        except ValueError:
            raise InvalidValueError("must be an IPv4 or IPv6 address",
                                    f"users[{i}].user_data.ip_address") from None
        place = geo.locate(str(address))
        if place is not None:
            points.append(Point(place.latitude, place.longitude))
    return points


def _coordinates(data: dict[str, Any], i: int) -> Point:
    lat, lon = data.get("latitude"), data.get("longitude")
    ok = all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
             for v in (lat, lon))
    if not ok or not (-90 <= lat <= 90 and -180 <= lon <= 180):  # type: ignore[operator]
        raise InvalidValueError("latitude (±90) and longitude (±180) numbers are required",
                                f"users[{i}].user_data")
    return Point(float(lat), float(lon))  # type: ignore[arg-type]
