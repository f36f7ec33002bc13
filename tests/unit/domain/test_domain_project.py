"""Project: naming and slug, archive before delete, restore, and replay fidelity."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from domain.project import (
    Project,
    ProjectActiveError,
    ProjectArchivedError,
    ProjectGoneError,
)
from domain.shared import InvalidValueError

AT = datetime(2026, 1, 1, tzinfo=UTC)


def replayed(events: Sequence[Any]) -> Any:
    aggregate = None
    for e in events:
        aggregate = e.mutate(aggregate)
    return aggregate


def test_the_slug_comes_from_the_name_and_survives_a_rename() -> None:
    project = Project.create(uuid4(), "My Shop 2", AT)
    assert (project.slug, project.lifecycle_status) == ("my-shop-2", "active")
    project.rename("Storefront", AT)
    assert (project.name, project.slug) == ("Storefront", "my-shop-2")


@pytest.mark.parametrize(("name", "slug"), [
    ("Shöp", "shop"), ("\uff33hop", "shop"), ("Crème Brûlée", "creme-brulee"), ("ﬁle 2", "file-2")])
def test_letters_fold_to_ascii_in_the_slug(name: str, slug: str) -> None:
    # They became "sh-p" and "hop" (which an unrelated project "hop" would then collide with).
    assert Project.create(uuid4(), name, AT).slug == slug


@pytest.mark.parametrize("name", ["", " x", "x ", "a\nb", "a\x00b", "\ud800", "x" * 101, "---"])
def test_bad_names_are_refused_with_the_field(name: str) -> None:
    with pytest.raises(InvalidValueError) as err:
        Project.create(uuid4(), name, AT)
    assert err.value.field == "name"


def test_an_active_project_cannot_be_deleted_and_an_archived_one_refuses_changes() -> None:
    project = Project.create(uuid4(), "shop", AT)
    with pytest.raises(ProjectActiveError):
        project.delete(AT)
    project.archive("done", AT)
    project.archive("again", AT)  # no second event, the first reason stays
    assert (project.archive_reason, project.archived_at) == ("done", AT)
    changes: list[Callable[[], None]] = [lambda: project.rename("x", AT),
                                         lambda: project.describe("d", AT), project.check_mutable]
    for change in changes:
        with pytest.raises(ProjectArchivedError):
            change()
    project.restore(AT)
    project.rename("shop two", AT)
    project.archive(None, AT)
    project.delete(AT)
    with pytest.raises(ProjectGoneError):
        project.restore(AT)


def test_no_op_commands_record_nothing_and_replay_rebuilds_the_state() -> None:
    project = Project.create(uuid4(), "shop", AT, "first")
    project.rename("shop", AT)
    project.describe("first", AT)
    project.restore(AT)
    project.describe("", AT)
    project.archive("r" * 500, AT)
    events = project.collect_events()
    assert [type(e).__name__ for e in events] == ["Created", "DescriptionSet", "Archived"]
    rebuilt = replayed(events)
    assert rebuilt.__dict__ == project.__dict__
    with pytest.raises(InvalidValueError):
        Project.create(uuid4(), "shop", AT).archive("r" * 501, AT)
