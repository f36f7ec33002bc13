"""A resource's runtime logs: what its deployments' containers write while they run, shipped
by their agents in batches (nodes may sit behind NAT, so the admin never reaches into them),
kept line by line on the read side with a sequence per deployment, not as events.

Secret values never leave the admin in a log line: each batch is masked before it is stored,
with the deployment's secret variables (unsealed here only) and its delete token replaced by
`****`; a line that had one says `masked`. Values shorter than MIN_SECRET are not searched for
(masking every "a" would hide the logs, not the secret).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from application.agent_protocol import RuntimeLogBatch
from application.apps import env_value, reveal
from application.placed import placed_on
from application.ports import (
    Clock,
    DeploymentFinder,
    DeploymentRef,
    RuntimeLogStore,
    SecretBox,
    UnsealError,
)

MASK = "****"
MIN_SECRET = 4
CACHED = 256  # deployments whose secret values are kept at hand


def secret_values(box: SecretBox, spec: dict[str, Any]) -> list[str]:
    """What the container gets that is secret, longest first (so no part of a longer one is
    left beside a shorter one's mask)."""
    found = []
    for var in spec.get("env") or []:
        if var.get("is_hidden"):
            try:
                found.append(env_value(box, var))
            except UnsealError:
                continue
    if spec.get("delete_token"):
        try:
            found.append(reveal(box, spec["delete_token"]))
        except UnsealError:
            pass
    return sorted({v for v in found if len(v) >= MIN_SECRET}, key=len, reverse=True)


def places(batch: RuntimeLogBatch) -> list[int] | None:
    """Each line's place among its stream's lines stamped as it (1: the first the container
    wrote), from where the batch says it starts: what names a line however often it is sent.
    None when the batch does not say (an agent from before RuntimeLogMark)."""
    if batch.after is None:
        return None
    start = batch.after
    reached: dict[tuple[str, datetime], int] = {}
    found = []
    for line in batch.lines:
        key = line.stream, line.timestamp
        if key not in reached:
            reached[key] = getattr(start, line.stream) if line.timestamp == start.timestamp else 0
        reached[key] += 1
        found.append(reached[key])
    return found


def mask(message: str, secrets: list[str]) -> tuple[str, bool]:
    masked = message
    for value in secrets:
        masked = masked.replace(value, MASK)
    return masked, masked != message


class RuntimeLogs:
    def __init__(self, finder: DeploymentFinder, store: RuntimeLogStore, box: SecretBox,
                 clock: Clock) -> None:
        self.finder, self.store, self.box, self.clock = finder, store, box, clock
        self._secrets: OrderedDict[str, list[str]] = OrderedDict()
        self._lock = threading.Lock()  # batches arrive on several worker threads

    def append(self, node_id: UUID, request_id: str, batch: RuntimeLogBatch) -> int:
        """Only the node a deployment is placed on ships its lines; returns the last
        sequence."""
        row = placed_on(self.finder, node_id, request_id)
        secrets = self._secrets_of(request_id, row)
        lines = []
        for line in batch.lines:
            message, masked = mask(line.message, secrets)
            lines.append({"stream": line.stream, "timestamp": line.timestamp,
                          "message": message, "masked": masked})
        return self.store.append(request_id, lines, self.clock.now(), places(batch))

    def read(self, request_id: str, after: int | None, limit: int,
             since: datetime | None) -> list[dict[str, Any]]:
        return self.store.read(request_id, after, limit, since)

    def heads(self, request_ids: Sequence[str]) -> dict[str, int]:
        """Each deployment's last sequence: what its followers look at to know there is more."""
        return self.store.heads(request_ids)

    def _secrets_of(self, request_id: str, row: DeploymentRef) -> list[str]:
        with self._lock:
            found = self._secrets.get(request_id)
            if found is not None:
                self._secrets.move_to_end(request_id)
                return found
        found = secret_values(self.box, json.loads(row.spec))
        with self._lock:
            self._secrets[request_id] = found
            if len(self._secrets) > CACHED:
                self._secrets.popitem(last=False)
        return found
