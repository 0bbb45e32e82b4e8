"""Permissions enforced by PostgreSQL itself (`labeler grant`), on a real server."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from labeler.errors import UserInputError
from labeler.store import Project
from labeler.store.dialects.postgresql import PermissionRefused
from labeler.store.roles import grant
from labeler.store.testing import make_project


@pytest.fixture
def db(tmp_path, pg_url):
    """A PostgreSQL project with a few images, owned by the superuser."""
    local, _ = make_project(tmp_path)
    local.close()
    from labeler.store.copying import copy_project

    copy_project(tmp_path / "test.labeler", pg_url)
    return pg_url


def as_role(url: str, name: str) -> str:
    return url.replace("postgres:@", f"{name}@", 1)


def test_an_annotator_labels_but_cannot_change_schema_images_or_drop(db, tmp_path):
    assert grant(db, "roles_ann", "annotator").created  # role names are server-wide: one per test
    with Project.open(as_role(db, "roles_ann")) as ann:
        img = ann.image_by_path("plain/a.jpg").id
        ann.set_point(img, "nose", 1, 2)  # points: yes
        ann.delete_point(img, "nose")
        with pytest.raises(PermissionRefused, match=r"your database role may not do this \(permission denied for table "
                                                      r"keypoint\); ask the project's admin"):
            ann.add_keypoint("ear")
        with pytest.raises(PermissionRefused, match="permission denied for table image"):
            ann.remove_images([img])
        assert ann.image(img).path == "plain/a.jpg"  # nothing half-done
        with pytest.raises(PermissionRefused, match="permission denied for table image"):
            ann.write_predictions([(img, {"tail": (1.0, 1.0, 0.5)})], method="m", model=None)
        for sql in ("ALTER TABLE point ADD COLUMN x2 float", "DROP TABLE cache", "DELETE FROM image",
                    "DROP SCHEMA " + db.rsplit("schema=", 1)[1] + " CASCADE"):
            with pytest.raises(PermissionRefused, match="(must be owner|permission denied)"):
                with ann._engine.begin() as conn:
                    conn.execute(text(sql))
    with Project.open(db) as owner:
        assert owner.counts().images == 12 and owner.schema().keypoints[-1] == "tail"


def test_a_reviewer_may_propagate_and_an_admin_may_alter(db):
    grant(db, "rita", "reviewer")
    with Project.open(as_role(db, "rita")) as rita:
        img = rita.image_by_path("plain/a.jpg").id
        assert rita.write_predictions([(img, {"tail": (1.0, 1.0, 0.5)})], method="m", model=None).written == 1
        assert rita.accept_predictions() == 1
        with pytest.raises(PermissionRefused):
            rita.add_keypoint("ear")
    report = grant(db, "rita", "admin")  # updating: one role at a time
    assert (report.created, report.role) == (False, "admin")
    with Project.open(as_role(db, "rita")) as rita:
        rita.add_keypoint("ear")
        with rita._engine.begin() as conn:
            conn.execute(text("ALTER TABLE cache ADD COLUMN note text"))


def test_grant_refuses_files_unknown_roles_and_empty_schemas(tmp_path, pg_url):
    with pytest.raises(UserInputError, match="grant works on PostgreSQL projects"):
        grant(str(tmp_path / "p.labeler"), "ann", "annotator")
    with pytest.raises(UserInputError, match="role must be one of annotator, reviewer, admin"):
        grant(pg_url, "ann", "boss")
    with pytest.raises(UserInputError, match="no labeler project there"):
        grant(pg_url, "ann", "annotator")


def test_a_role_without_access_to_a_project_is_told_so(db):
    """The search path skips a schema the role may not use: that is a permission, not 'no project'."""
    from labeler.errors import ProjectError

    assert grant(db, "roles_elsewhere", "annotator").created
    other = db.rsplit("schema=", 1)[0] + "schema=roles_other_project"
    from labeler.store.copying import copy_project

    copy_project(db, other)  # a second project in the same database, no grant for the role
    with pytest.raises(ProjectError, match="your database role may not use schema 'roles_other_project'"):
        Project.open(as_role(other, "roles_elsewhere"))
    with pytest.raises(ProjectError, match="no schema 'roles_nowhere' in this database"):
        Project.open(db.rsplit("schema=", 1)[0] + "schema=roles_nowhere")
