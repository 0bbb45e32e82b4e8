"""Several objects per image (schema 6): instances own their points, have boxes and their own
review state; single-object calls keep meaning "the image's first instance". Both backends."""

from __future__ import annotations

import pytest
import random
from sqlalchemy import func, select, text

from labeler.errors import UserInputError
from labeler.store import Project
from labeler.store.models import Base

from schema_history import OLD_COLUMNS, back_to_schema_6


def _as_schema_6(project: Project) -> str:
    """The project as labeler wrote it at schema 6 (closed; returns where to open it). SQLite: a
    new file made by labeler's own migrations up to 0006 (the file schema allow-list accepts
    nothing else) holding the project's rows; PostgreSQL: the point table rebuilt as it was."""
    import sqlite3

    from alembic import command
    from sqlalchemy import create_engine

    from labeler.store.migrations import config, stamp_file_header

    if project._engine.dialect.name == "postgresql":
        with project._engine.begin() as conn:
            back_to_schema_6(conn)
        project.close()
        return project.location
    src = project.path
    project.close()
    dest = src.with_name("schema6.labeler")
    engine = create_engine(f"sqlite:///{dest}")
    with engine.begin() as conn:
        command.upgrade(config(conn), "0006")
        stamp_file_header(conn)
    engine.dispose()
    conn = sqlite3.connect(dest, isolation_level=None)
    conn.execute("ATTACH DATABASE ? AS src", (str(src),))
    conn.execute("BEGIN")
    for table in ("meta", "keypoint", "skeleton_edge", "flip_pair", "image", "claim", "cache"):
        cols = ", ".join(f'"{r[1]}"' for r in conn.execute(f"PRAGMA main.table_info({table})"))
        conn.execute(f"INSERT INTO main.{table} ({cols}) SELECT {cols} FROM src.{table}")
    conn.execute(f"INSERT INTO main.point ({OLD_COLUMNS}) SELECT {OLD_COLUMNS} FROM src.point")
    conn.execute("UPDATE main.meta SET value = '6' WHERE key = 'schema_version'")
    conn.execute("COMMIT")
    conn.execute("DETACH DATABASE src")
    conn.close()
    return str(dest)


def _counts_at(location: str) -> dict[str, int]:
    """Rows per table of a closed project, read without upgrading it."""
    from sqlalchemy import create_engine, inspect

    if location.startswith("postgresql"):
        from labeler.store.location import parse_url
        from labeler.store.dialects.postgresql import make_engine

        engine = make_engine(parse_url(location))
    else:
        engine = create_engine(f"sqlite:///{location}")
    try:
        with engine.connect() as conn:
            present = set(inspect(conn).get_table_names())
            return {
                t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in Base.metadata.sorted_tables
                if t.name in present
            }
    finally:
        engine.dispose()


def _counts(project: Project) -> dict[str, int]:
    from sqlalchemy import inspect

    with project._engine.connect() as conn:
        present = set(inspect(conn).get_table_names())
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in Base.metadata.sorted_tables
            if t.name in present
        }


def _rows(project: Project, sql: str) -> list:
    with project._engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def test_a_schema_6_project_becomes_one_instance_per_labelled_image_losing_nothing(project):
    a, b, c = (project.image_by_path(p).id for p in ("plain/a.jpg", "plain/b.png", "formats/gray.png"))
    project.set_points(a, {"nose": (1, 2), "left_eye": "absent"})
    project.set_points(b, {"nose": (3, 4), "left_eye": (5, 6), "right_eye": (7, 8), "tail": (9, 9)})
    project.write_predictions([(c, {"tail": (2.0, 3.0, 0.4)})], method="m", model="x")
    old_points = _rows(project, "SELECT image_id, keypoint_id, x, y, visibility, status, confidence, version, annotator "
                                "FROM point ORDER BY image_id, keypoint_id")
    statuses = {i: project.image(i).review_status for i in (a, b, c)}
    location = _as_schema_6(project)
    before = _counts_at(location)
    with Project.open(location) as again:
        after = _counts(again)
        assert after["point"] == before["point"] == 7
        assert "instance" not in before
        assert {t: n for t, n in after.items() if t != "instance"} == before
        assert after["instance"] == 3  # one per image with points, none for the others
        assert _rows(again, "SELECT image_id, keypoint_id, x, y, visibility, status, confidence, version, annotator "
                            "FROM point ORDER BY image_id, keypoint_id") == old_points
        for i in (a, b, c):
            (inst,) = again.instances(i)
            assert inst.box is None and inst.review_status == statuses[i] == again.image(i).review_status
        assert again.points(b)["tail"].x == 9
        new = again.add_instance(b, box=(1, 1, 10, 10))
        again.set_points(b, {"nose": (2, 2)}, instance_id=new.id)
        assert again.points(b)["nose"].x == 3  # the first instance is untouched


def test_instances_own_their_points_and_the_image_review_state_follows_all_of_them(project):
    img = project.image_by_path("plain/a.jpg").id  # 64 x 48
    first = project.add_instance(img, box=(-5, 2, 30, 20), name="mouse 1")
    assert first.box == (0.0, 2.0, 25.0, 20.0) and first.box_source == "drawn"  # clipped to the image
    second = project.add_instance(img, box=(30, 10, 20, 20), box_source="detected")
    full = {"nose": (1, 1), "left_eye": (2, 2), "right_eye": (3, 3), "tail": (4, 4)}
    project.set_points(img, full)  # no instance given: the first
    assert project.points(img, first.id)["tail"].x == 4 and project.points(img, second.id) == {}
    assert project.image(img).review_status == "partial"  # the second object is not labelled yet
    project.set_points(img, {k: (x + 30, y + 10) for k, (x, y) in full.items()}, instance_id=second.id)
    assert project.image(img).review_status == "reviewed"
    assert [i.review_status for i in project.instances(img)] == ["reviewed", "reviewed"]
    project.write_predictions([(img, {"nose": (40.0, 20.0, 0.3)}, False, second.id)], method="m", model=None)
    assert project.points(img, second.id)["nose"].status != "predicted"  # never over a person's point
    third = project.add_instance(img)
    project.write_predictions([(img, {"nose": (50.0, 20.0, 0.3)}, False, third.id)], method="m", model=None)
    assert project.image(img).review_status == "predicted"
    assert {r.instance_id for r in project.all_points() if r.image_id == img} == {first.id, second.id, third.id}
    assert project.delete_instance(third.id) == 1
    assert project.image(img).review_status == "reviewed"
    copy = project.duplicate_instance(second.id, offset=(5, 0))
    assert project.points(img, copy.id)["nose"].x == 36 and project.points(img, copy.id)["nose"].status == "manual"
    assert copy.box == (35.0, 10.0, 20.0, 20.0)
    project.rename_instance(copy.id, "mouse 3")
    assert [i.name for i in project.instances(img)] == ["mouse 1", None, "mouse 3"]
    with pytest.raises(UserInputError, match="belongs to another image"):
        project.set_points(project.image_by_path("plain/b.png").id, {"nose": (1, 1)}, instance_id=second.id)
    with pytest.raises(UserInputError, match="no instance with id 999"):
        project.points(img, 999)
    project.remove_images([img])
    assert _rows(project, f"SELECT count(*) FROM instance WHERE image_id = {img}") == [(0,)]


def test_only_unaccepted_detected_boxes_are_swept(project):
    img = project.image_by_path("plain/b.png").id
    kept = project.add_instance(img, box=(1, 1, 10, 10), box_source="detected")
    gone = project.add_instance(img, box=(20, 1, 10, 10), box_source="detected")
    accepted = project.add_instance(img, box=(5, 5, 10, 10), box_source="detected")
    project.set_box(accepted.id, (5, 5, 12, 12))  # adjusted: now drawn
    project.set_points(img, {"nose": (2, 2)}, instance_id=kept.id)
    project.write_predictions([(img, {"nose": (21.0, 2.0, 0.5)}, False, gone.id)], method="m", model=None)
    assert project.delete_detected_boxes() == 1
    assert [i.id for i in project.instances(img)] == [kept.id, accepted.id]


def _boxes(n: int) -> list:
    """Generated boxes: mostly numbers (some inf/nan, negative, huge, off the image), some junk."""
    rng = random.Random(6)
    special = [0.0, -0.0, -1.0, 1e-9, 1e308, float("inf"), float("-inf"), float("nan"), 49.999, 50.0, 40.0]
    out: list = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.7:
            lows = (-20, -20, -5, -5)
            out.append(tuple(rng.choice(special) if rng.random() < 0.2 else rng.uniform(lo, 60) for lo in lows))
        elif kind < 0.85:
            out.append(tuple(rng.randint(-3, 60) for _ in range(rng.randint(0, 6))))
        else:
            out.append(("1", None, [2], "x")[: rng.randint(0, 4)])
    return out


def test_any_box_is_stored_inside_its_image_with_a_positive_size_or_refused(project):
    img = project.image_by_path("plain/b.png").id  # 50 x 40
    stored = refused = 0
    for box in _boxes(80):
        before = len(project.instances(img))
        try:
            made = project.add_instance(img, box=box)
        except UserInputError:
            assert len(project.instances(img)) == before  # refused: nothing written
            refused += 1
            continue
        x, y, w, h = made.box
        assert 0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= 50 and y + h <= 40, box
        stored += 1
    assert stored > 10 and refused > 10


def test_the_database_itself_refuses_a_box_without_source_or_a_point_on_another_images_instance(project):
    img = project.image_by_path("plain/a.jpg").id
    other = project.image_by_path("plain/b.png").id
    inst = project.add_instance(img)
    for sql in (
        f"INSERT INTO instance (image_id, box_x, box_y, box_w, box_h, review_status, created_at) VALUES ({img}, 1, 1, 2, 2, 'unlabeled', 0)",
        f"INSERT INTO instance (image_id, box_x, box_y, box_w, box_h, box_source, review_status, created_at) VALUES ({img}, 1, 1, 0, 2, 'drawn', 'unlabeled', 0)",
        f"INSERT INTO point (image_id, instance_id, keypoint_id, x, y, visibility, status, created_at, updated_at) "
        f"VALUES ({other}, {inst.id}, 1, 1, 1, 2, 'manual', 0, 0)",
    ):
        with pytest.raises(Exception, match="(?i)(constraint|check|foreign)"):
            with project._engine.begin() as conn:
                conn.execute(text(sql))


def test_focus_makes_the_single_object_calls_edit_the_selected_instance(project):
    img = project.image_by_path("plain/a.jpg").id
    project.set_points(img, {"nose": (1, 1)})
    first = project.instances(img)[0]
    second = project.add_instance(img, box=(10, 10, 20, 20))
    project.focus_instance(img, second.id)
    project.set_point(img, "nose", 15, 15)
    snapshot = project.snapshot_point(img, "tail")
    project.set_point(img, "tail", 16, 16)
    project.restore_point(img, "tail", snapshot)  # undo goes to the focused instance too
    assert {n: p.x for n, p in project.points(img).items()} == {"nose": 15}
    assert project.points(img, first.id)["nose"].x == 1
    project.delete_point(img, "nose")
    assert project.points(img) == {} and project.points(img, first.id)["nose"].x == 1
    project.focus_instance(img, None)
    assert project.points(img)["nose"].x == 1
    project.focus_instance(img, second.id)
    project.delete_instance(second.id)  # gone: back to the first
    assert project.points(img)["nose"].x == 1
    with pytest.raises(UserInputError, match="another image"):
        project.focus_instance(project.image_by_path("plain/b.png").id, first.id)


def test_review_goes_instance_by_instance_least_confident_first(project):
    img = project.image_by_path("plain/b.png").id
    a, b, c = (project.add_instance(img) for _ in range(3))
    project.write_predictions([(img, {"nose": (1.0, 1.0, 0.9)}, False, a.id),
                               (img, {"nose": (2.0, 2.0, 0.2), "tail": (3.0, 3.0, 0.8)}, False, b.id),
                               (img, {"nose": (4.0, 4.0, None)}, False, c.id)], method="m", model=None)
    assert project.instances_to_review(img) == [c.id, b.id, a.id]
    project.focus_instance(img, c.id)
    project.accept_predictions([img], names=["nose"], min_confidence=0.85)
    assert project.instances_to_review(img) == [c.id, b.id]


def test_a_team_project_upgraded_to_instances_keeps_its_members_rights(tmp_path, pg_url):
    """The point table is rebuilt by the upgrade: its owner, grants, guards and row security come
    back, and members may write instances."""
    from labeler.store.copying import copy_project
    from labeler.store.roles import grant
    from labeler.store.testing import make_project

    local, _ = make_project(tmp_path)
    local.close()
    copy_project(tmp_path / "test.labeler", pg_url)
    grant(pg_url, "inst_upgrade_ann", "annotator")
    project = Project.open(pg_url)
    img = project.image_by_path("plain/a.jpg").id
    location = _as_schema_6(project)
    with Project.open(location) as owner:  # the owner opens it first: the upgrade runs
        assert owner.schema_version == 7
    with Project.open(location.replace("postgres:@", "inst_upgrade_ann@", 1)) as ann:
        ann.set_point(img, "nose", 3, 4)
        extra = ann.add_instance(img, box=(1, 1, 10, 10))
        ann.set_points(img, {"tail": (5, 5)}, instance_id=extra.id)
        assert ann.points(img)["nose"].annotator == "inst_upgrade_ann"  # the server's guard is back


def test_accepting_one_object_touches_only_the_object_the_single_object_calls_use(project):
    """Generated: 1-4 objects with predictions, focus on none or any of them; the app's Space
    (``one_object``) accepts exactly the focused (else the first) object's predictions."""
    img = project.image_by_path("plain/b.png").id
    rng = random.Random(24)
    for _ in range(12):
        for inst in project.instances(img):
            project.delete_instance(inst.id)
        objs = [project.add_instance(img).id for _ in range(rng.randint(1, 4))]
        project.write_predictions([(img, {"nose": (1.0, 1.0, rng.random()), "tail": (2.0, 2.0, rng.random())}, False, o)
                                   for o in objs], method="m", model=None)
        focus = rng.choice([None, *objs])
        project.focus_instance(img, focus)
        chosen = objs[0] if focus is None else focus
        assert project.accept_predictions([img], one_object=True) == 2
        for o in objs:
            statuses = {p.status for p in project.points(img, o).values()}
            assert statuses == ({"accepted"} if o == chosen else {"predicted"}), (objs, focus, o)
        project.focus_instance(img, None)
