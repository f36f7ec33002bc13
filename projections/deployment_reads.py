"""What the Deployment context reads: applications, versions, hosts, deployments and their tags
and hooks as records.

Route modules (apps, app hosting, the Edgegap seed's views) ask these questions by name instead
of naming tables and columns themselves. What agents report (logs, samples, cached images) is not
from events and has no record: it is read as rows where it is read.
"""

from __future__ import annotations

from uuid import UUID

from projections.deployment_handlers import version_id
from projections.deployment_tables import (
    AppRecord,
    AppVersionRecord,
    DeploymentHookRecord,
    DeploymentRecord,
    DeploymentTagRecord,
    HostRecord,
)
from projections.query import Cond, Filter, ListQuery, Order
from projections.records import Reads, Records

TAGS_PER_DEPLOYMENT = 1000


class DeploymentReads(Reads):
    apps: Records[AppRecord]
    app_versions: Records[AppVersionRecord]
    hosts: Records[HostRecord]
    deployments: Records[DeploymentRecord]
    tags: Records[DeploymentTagRecord]
    hooks: Records[DeploymentHookRecord]

    def app_named(self, name: str) -> AppRecord | None:
        """The live (not deleted) application of that name."""
        found = self.apps.select({"name": name, "deleted": False}, 1)
        return found[0] if found else None

    def version(self, app: str, version: str) -> AppVersionRecord | None:
        return self.app_versions.get(version_id(app, version))

    def deployment(self, request_id: str) -> DeploymentRecord | None:
        return self.deployments.get(request_id)

    def tags_of(self, deployment_id: UUID) -> list[DeploymentTagRecord]:
        """A deployment's tags, oldest first (then by name)."""
        query = ListQuery((Cond("deployment_id", "eq", deployment_id),),
                          (Order("create_time"), Order("name")),
                          page_size=TAGS_PER_DEPLOYMENT, count=False)
        return self.tags.page(query).records

    def every_host(self, *filters: Filter) -> list[HostRecord]:
        """Every host (placement profile) in node order."""
        return list(self.hosts.every(*filters))
