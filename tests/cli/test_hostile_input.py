"""Files from someone else, through the command line: one `error:` line (exit 2) or a note."""

from __future__ import annotations

import json

from labeler.store.testing import edit_behind_labelers_back, write_image




def _small(cli, tmp_path, names=("a.png", "b.png")):
    root = tmp_path / "imgs"
    for i, name in enumerate(names):
        write_image(root / name, size=(40, 30), seed=i)
    project = tmp_path / "p.labeler"
    assert cli("init", project, "--images", root, "--keypoints", "a,b").code == 0
    return project, root


def test_video_frame_names_are_reachable_by_label_and_import(cli, tmp_path):
    project, _ = _small(cli, tmp_path, names=("1:05:33.jpg", "frames/0:00:01.png"))
    r = cli("label", project, "1:05:33.jpg", "a=3,4")
    assert r.code == 0, r.err
    r = cli("label", project, "frames/0:00:01.png", "a=5,6")
    assert r.code == 0, r.err
    out = tmp_path / "l.json"
    assert cli("export", project, "--coco", out).code == 0
    fresh = tmp_path / "fresh.labeler"
    assert cli("init", fresh, "--images", tmp_path / "imgs", "--keypoints", "a,b").code == 0
    r = cli("import", fresh, "--coco", out)
    assert r.code == 0, r.err
    assert "2 images" in r.out or "2 image" in r.out


def test_a_path_leaving_the_images_folder_stops_every_command(cli, tmp_path):
    project, root = _small(cli, tmp_path)
    (tmp_path / "private").mkdir()
    write_image(tmp_path / "private" / "x.png", size=(40, 30))
    assert cli("label", project, "a.png", "a=3,4", "b=5,6").code == 0
    edit_behind_labelers_back(project, "UPDATE image SET path = '../private/x.png' WHERE path = 'b.png'")
    for args in (("status", project), ("export", project, "--coco", tmp_path / "o.json"),
                 ("export", project, "--pairs", tmp_path / "pairs")):
        r = cli(*args)
        assert r.code == 2, (args, r.err)
        assert r.err.startswith("error: ") and "leaves the images folder" in r.err
        assert "../private/x.png" in r.err
    assert not (tmp_path / "o.json").exists() and not (tmp_path / "pairs").exists()


def test_names_with_terminal_escapes_are_shown_harmless(cli, tmp_path):
    project, _ = _small(cli, tmp_path)
    evil = "\x1b]0;pwned\x07\x1b[2J\u202egpj.exe"
    r = cli("label", project, evil, "a=1,2")
    assert r.code == 2
    assert "\x1b" not in r.err and "\u202e" not in r.err and "\x07" not in r.err
    huge = "x" * 1_000_000 + ".jpg"
    r = cli("label", project, huge, "a=1,2")
    assert r.code == 2 and len(r.err) < 2000


def test_a_coco_file_with_many_missing_images_prints_a_short_list(cli, tmp_path):
    project, _ = _small(cli, tmp_path)
    coco = {
        "images": [{"id": i, "file_name": f"gone{i}.png", "width": 40, "height": 30} for i in range(1, 2001)],
        "annotations": [
            {"id": i, "image_id": i, "category_id": 1, "num_keypoints": 1, "keypoints": [1, 1, 2, 0, 0, 0]}
            for i in range(1, 2001)
        ],
        "categories": [{"id": 1, "name": "x", "keypoints": ["a", "b"], "skeleton": []}],
    }
    path = tmp_path / "many.json"
    path.write_text(json.dumps(coco))
    r = cli("import", project, "--coco", path)
    assert len((r.out + r.err).splitlines()) < 60, (r.out + r.err)[:3000]
    assert "1990 more" in r.out + r.err or "more" in r.out + r.err


def test_coco_files_with_huge_numbers_are_one_error_line(cli, tmp_path):
    project, _ = _small(cli, tmp_path)
    for raw in ('{"images": [{"id": 1' + "0" * 5000 + ', "file_name": "a.png", "width": 40, "height": 30}],'
                ' "annotations": [], "categories": [{"id": 1, "name": "x", "keypoints": ["a", "b"]}]}',
                '{"images": [{"id": 1, "file_name": "a.png", "width": 1e999, "height": 30}],'
                ' "annotations": [], "categories": [{"id": 1, "name": "x", "keypoints": ["a", "b"]}]}',
                '{"images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 30}],'
                ' "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "keypoints": [1e999, 1, 2, 0, 0, 0]}],'
                ' "categories": [{"id": 1, "name": "x", "keypoints": ["a", "b"]}]}',
                "[" * 100000 + "]" * 100000):
        path = tmp_path / "bad.json"
        path.write_text(raw)
        r = cli("import", project, "--coco", path)
        assert r.code == 2, r.err[-2000:]
        assert r.err.startswith("error: ") and "Traceback" not in r.err


def test_bad_coordinates_in_a_project_are_refused_on_export(cli, tmp_path):
    project, _ = _small(cli, tmp_path)
    assert cli("label", project, "a.png", "a=3,4", "b=5,6").code == 0
    for value in ("9e999", "-9e999", "'abc'", "1000"):
        edit_behind_labelers_back(project, f"UPDATE point SET x = {value} WHERE keypoint_id = (SELECT id FROM keypoint WHERE name = 'a')")
        r = cli("export", project, "--coco", tmp_path / "o.json")
        assert r.code == 2, (value, r.err)
        assert r.err.startswith("error: ") and "a.png" in r.err and "Traceback" not in r.err
        assert not (tmp_path / "o.json").exists()


def test_bad_schema_version_and_meta_are_one_error_line(cli, tmp_path):
    project, _ = _small(cli, tmp_path)
    for statement in ("UPDATE meta SET value = '0' WHERE key = 'schema_version'",
                      "UPDATE meta SET value = '-2' WHERE key = 'schema_version'",
                      "UPDATE meta SET value = x'00ff' WHERE key = 'images_root'"):
        backup = project.read_bytes()
        edit_behind_labelers_back(project, statement)
        r = cli("status", project)
        assert r.code == 2 and r.err.startswith("error: "), (statement, r.err)
        project.write_bytes(backup)


def test_exports_name_images_replaced_by_another_picture(cli, tmp_path):
    import os

    project, root = _small(cli, tmp_path, names=("a.png", "b.png", "c.png"))
    for name in ("a.png", "b.png", "c.png"):
        assert cli("label", project, name, "a=3,4", "b=5,6").code == 0
    st = (root / "b.png").stat()
    write_image(root / "b.png", size=(40, 30), seed=99)
    os.utime(root / "b.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    r = cli("export", project, "--coco", tmp_path / "o.json")
    assert r.code == 0
    assert "b.png" in r.err and "another picture" in r.err
    r = cli("export", project, "--pairs", tmp_path / "pairs")
    assert r.code == 0, r.err
    assert "b.png" in r.out + r.err and "another picture" in r.out + r.err
    meta = json.loads((tmp_path / "pairs" / "labeler_export.json").read_text()) if (tmp_path / "pairs" / "labeler_export.json").exists() else None
    if meta is not None:
        assert "b.png" not in json.dumps(meta.get("images", meta))
    r = cli("status", project)
    assert "another picture" in r.out and "b.png" in r.out


def test_clear_cache_command(cli, tmp_path):
    from labeler.store import Project

    project, _ = _small(cli, tmp_path)
    with Project.open(project) as p:
        p.cache_put("refstate/x", b"junk")
        p.cache_put("engine/y", b"{}")
    r = cli("clear-cache", project)
    assert r.code == 0 and "deleted 2 cache entries" in r.out
    with Project.open(project) as p:
        assert p.cache_keys() == []


def test_init_and_add_images_do_not_follow_links_out_of_the_images_folder(cli, tmp_path):
    import os

    root = tmp_path / "imgs"
    write_image(root / "a.png", size=(40, 30))
    os.symlink("/", root / "everything")
    write_image(tmp_path / "private" / "p.png", size=(40, 30))
    project = tmp_path / "p.labeler"
    r = cli("init", project, "--images", root, "--keypoints", "a,b")
    assert r.code == 1, r.err
    assert "everything: symbolic link leading outside the images folder" in r.err
    assert "images: 1" in r.out
    os.symlink(tmp_path / "private", root / "data")
    r = cli("add-images", project)
    assert "data: symbolic link leading outside the images folder" in r.err
    assert "added 0 image(s)" in r.out
    r = cli("add-images", project, root / "data")  # named explicitly: its files are still outside
    assert "added 0 image(s)" in r.out, r.out + r.err
    assert "p.png: symbolic link leading outside the images folder" in r.err
