"""COCO keypoint files as other labeling tools write them: imported, or refused with a message that
says what to do.

The fixtures are written by hand after each tool's documented layout (no tool's output is copied):
CVAT "COCO Keypoints 1.0" (every label becomes a category, labels without a skeleton get
``keypoints: []``; ``attributes``, ``segmentation: []``; v=0 points keep their coordinates), Roboflow
(category 0 is a placeholder supercategory; image and annotation ids start at 0), Label Studio
(categories carry no keypoint names; integer coordinates; no ``area``) and the original
``person_keypoints_*.json`` (several people per image).
"""

from __future__ import annotations

import json

import pytest

from labeler.errors import FormatError
from labeler.formats.coco import import_coco, read_coco
from labeler.store import Project, find_image_files, probe_files, relative_to_root
from labeler.store.testing import write_image

NAMES = ["head", "left_wing", "right_wing", "tail"]


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "images"
    write_image(root / "frames" / "a.jpg", size=(64, 48))
    write_image(root / "frames" / "b.jpg", size=(64, 48), seed=1)
    write_image(root / "c.png", size=(64, 48), seed=2)
    probed = probe_files([(f, relative_to_root(f, root)) for f in find_image_files(root)], progress=False)[0]
    p = Project.create(tmp_path / "p.labeler", root, [], images=probed)
    yield p
    p.close()


def _dump(tmp_path, data, name="export.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def _points(project):
    paths = {im.id: im.path for im in project.list_images()}
    return {(paths[r.image_id], r.name): (r.x, r.y, r.visibility) for r in project.all_points()}


def _cvat():
    """CVAT 'COCO Keypoints 1.0': skeleton label 'bird' plus plain labels 'perch' and 'nest'."""
    return {
        "licenses": [{"name": "", "id": 0, "url": ""}],
        "info": {"contributor": "", "date_created": "", "description": "", "url": "", "version": "", "year": ""},
        "categories": [
            {"id": 1, "name": "perch", "supercategory": "", "keypoints": [], "skeleton": []},
            {"id": 2, "name": "bird", "supercategory": "", "keypoints": NAMES, "skeleton": [[1, 2], [1, 3], [1, 4]]},
            {"id": 3, "name": "nest", "supercategory": "", "keypoints": [], "skeleton": []},
        ],
        "images": [
            {"id": 1, "width": 64, "height": 48, "file_name": "frames/a.jpg", "license": 0, "flickr_url": "", "coco_url": "", "date_captured": 0},
            {"id": 2, "width": 64, "height": 48, "file_name": "frames/b.jpg", "license": 0, "flickr_url": "", "coco_url": "", "date_captured": 0},
            {"id": 3, "width": 64, "height": 48, "file_name": "c.png", "license": 0, "flickr_url": "", "coco_url": "", "date_captured": 0},
        ],
        "annotations": [
            {
                "id": 1, "image_id": 1, "category_id": 2, "segmentation": [], "area": 600.0,
                "bbox": [10.0, 5.0, 30.0, 20.0], "iscrowd": 0,
                "attributes": {"occluded": False, "keyframe": True},
                # the 'outside' tail keeps its coordinates with v = 0
                "keypoints": [10.5, 5.25, 2, 20.0, 10.0, 1, 30.0, 12.0, 2, 40.0, 25.0, 0],
                "num_keypoints": 3,
            },
            {
                "id": 2, "image_id": 2, "category_id": 1, "segmentation": [], "area": 100.0,
                "bbox": [0.0, 0.0, 10.0, 10.0], "iscrowd": 0, "attributes": {"occluded": False},
            },
        ],
    }


def test_cvat_skeleton_with_plain_box_labels_imports_the_skeleton(project, tmp_path):
    report = import_coco(project, _dump(tmp_path, _cvat()))
    assert project.schema().keypoints == tuple(NAMES)
    assert _points(project) == {
        ("frames/a.jpg", "head"): (10.5, 5.25, 2),
        ("frames/a.jpg", "left_wing"): (20.0, 10.0, 1),
        ("frames/a.jpg", "right_wing"): (30.0, 12.0, 2),
    }
    assert report.matched == 3 and report.merge.written == 3
    assert any("ignored 1 annotation of other categories (such as boxes)" in n for n in report.notes)


def test_cvat_two_skeletons_ask_for_category_and_list_them(project, tmp_path):
    data = _cvat()
    data["categories"].append({"id": 4, "name": "cat", "supercategory": "", "keypoints": ["ear", "nose"], "skeleton": []})
    path = _dump(tmp_path, data)
    with pytest.raises(FormatError) as err:
        read_coco(path)
    message = str(err.value)
    assert "'bird' (1 annotation)" in message and "'cat' (0 annotations)" in message
    assert "--category" in message and "perch" not in message
    import_coco(project, path, category="bird")
    assert len(_points(project)) == 3


def test_roboflow_placeholder_category_and_ids_from_zero(project, tmp_path):
    data = {
        "info": {"year": "2024", "version": "1", "description": "Exported from roboflow.com"},
        "licenses": [{"id": 1, "url": "https://creativecommons.org/licenses/by/4.0/", "name": "CC BY 4.0"}],
        "categories": [
            {"id": 0, "name": "birds-x1Yz", "supercategory": "none"},
            {"id": 1, "name": "bird", "supercategory": "birds-x1Yz", "keypoints": NAMES, "skeleton": [[1, 2]]},
        ],
        "images": [
            {"id": 0, "license": 1, "file_name": "c.png", "height": 48, "width": 64, "date_captured": "2024-09-10T07:12:44+00:00"},
            {"id": 1, "license": 1, "file_name": "frames/b.jpg", "height": 48, "width": 64, "date_captured": "2024-09-10T07:12:44+00:00"},
        ],
        "annotations": [
            {
                "id": 0, "image_id": 0, "category_id": 1, "bbox": [1, 2, 40, 30], "area": 1200,
                "segmentation": [], "iscrowd": 0,
                "keypoints": [3, 4, 2, 0, 0, 0, 63.5, 47.5, 2, 12, 30, 1], "num_keypoints": 3,
            },
        ],
    }
    report = import_coco(project, _dump(tmp_path, data))
    assert _points(project) == {
        ("c.png", "head"): (3.0, 4.0, 2),
        ("c.png", "right_wing"): (63.5, 47.5, 2),
        ("c.png", "tail"): (12.0, 30.0, 1),
    }
    assert report.matched == 2 and report.notes == ()


def _label_studio():
    """Label Studio's COCO export of KeyPointLabels: one category per label name, ids from 0, no
    keypoint names in any category, integer coordinates, no 'area' or 'segmentation'."""
    return {
        "images": [
            {"width": 64, "height": 48, "id": 0, "file_name": "frames/a.jpg"},
            {"width": None, "height": None, "id": 1, "file_name": "frames/b.jpg"},
        ],
        "categories": [{"id": 0, "name": "left_wing"}, {"id": 1, "name": "head"}, {"id": 2, "name": "tail"}],
        "annotations": [
            {
                "id": 0, "image_id": 0, "category_id": 1,
                "keypoints": [10, 5, 2, 20, 10, 2, 0, 0, 0, 40, 25, 2], "num_keypoints": 3,
                "bbox": [10, 5, 30, 20], "iscrowd": 0,
            }
        ],
        "info": {"year": 2024, "version": "1.0", "description": "", "contributor": "Label Studio", "url": ""},
    }


def test_label_studio_without_keypoint_names_is_refused_with_what_to_add(project, tmp_path):
    path = _dump(tmp_path, _label_studio())
    with pytest.raises(FormatError) as err:
        import_coco(project, path)
    message = str(err.value)
    assert "no category lists the keypoint names" in message
    assert "category_id 1" in message and "'head'" in message and "4 names" in message
    assert '"keypoints"' in message
    assert _points(project) == {} and project.schema().keypoints == ()


def test_label_studio_with_names_added_imports_and_null_sizes_are_accepted(project, tmp_path):
    data = _label_studio()
    data["categories"][1]["keypoints"] = NAMES
    import_coco(project, _dump(tmp_path, data))
    assert _points(project) == {
        ("frames/a.jpg", "head"): (10.0, 5.0, 2),
        ("frames/a.jpg", "left_wing"): (20.0, 10.0, 2),
        ("frames/a.jpg", "tail"): (40.0, 25.0, 2),
    }


def _person_keypoints():
    """The original person_keypoints_*.json layout: several people on one image, crowd regions, RLE."""
    names = ["nose", "left_eye", "right_eye"]
    return {
        "info": {"description": "COCO 2017 Dataset"},
        "licenses": [{"url": "http://creativecommons.org/licenses/by-nc-sa/2.0/", "id": 1, "name": "x"}],
        "images": [
            {"license": 4, "file_name": "c.png", "coco_url": "http://x/c.png", "height": 48, "width": 64, "date_captured": "2013-11-14 17:02:52", "flickr_url": "http://y", "id": 397133},
            {"license": 1, "file_name": "frames/a.jpg", "coco_url": "", "height": 48, "width": 64, "date_captured": "", "flickr_url": "", "id": 37777},
        ],
        "annotations": [
            {"segmentation": [[1, 1, 5, 1, 5, 5]], "num_keypoints": 2, "area": 16.0, "iscrowd": 0,
             "keypoints": [3, 4, 2, 5, 6, 1, 0, 0, 0], "image_id": 397133, "bbox": [1, 1, 4, 4], "category_id": 1, "id": 200887},
            {"segmentation": [[20, 20, 30, 20, 30, 30]], "num_keypoints": 0, "area": 50.0, "iscrowd": 0,
             "keypoints": [0, 0, 0, 0, 0, 0, 0, 0, 0], "image_id": 397133, "bbox": [20, 20, 10, 10], "category_id": 1, "id": 200888},
            {"segmentation": {"counts": [0, 5, 10], "size": [48, 64]}, "num_keypoints": 0, "area": 30.0, "iscrowd": 1,
             "keypoints": [0, 0, 0, 0, 0, 0, 0, 0, 0], "image_id": 37777, "bbox": [0, 0, 5, 5], "category_id": 1, "id": 900100},
            {"segmentation": [[1, 1, 5, 1, 5, 5]], "num_keypoints": 1, "area": 16.0, "iscrowd": 0,
             "keypoints": [7, 8, 2, 0, 0, 0, 0, 0, 0], "image_id": 37777, "bbox": [1, 1, 4, 4], "category_id": 1, "id": 200889},
        ],
        "categories": [
            {"supercategory": "person", "id": 1, "name": "person", "keypoints": names, "skeleton": [[2, 3], [1, 2], [1, 3]]}
        ],
    }


def test_person_keypoints_with_several_people_import_as_instances_with_their_boxes(project, tmp_path):
    import_coco(project, _dump(tmp_path, _person_keypoints()))
    c = project.image_by_path("c.png").id
    first, second = project.instances(c)
    assert (first.box, first.box_source) == ((1.0, 1.0, 4.0, 4.0), "imported")
    assert (second.box, second.box_source) == ((20.0, 20.0, 10.0, 10.0), "imported")
    assert {n: (p.x, p.y) for n, p in project.points(c, first.id).items()} == {"nose": (3.0, 4.0), "left_eye": (5.0, 6.0)}
    assert project.points(c, second.id) == {}  # a person without keypoints: a box to label
    (only,) = project.instances(project.image_by_path("frames/a.jpg").id)
    assert only.box is None  # one annotation on an image: its bbox stays derived, as before
    import_coco(project, _dump(tmp_path, _person_keypoints()))  # the same file again changes nothing
    assert len(project.instances(c)) == 2


def test_person_keypoints_with_one_person_per_image_imports_and_skips_crowd(project, tmp_path):
    data = _person_keypoints()
    del data["annotations"][1]
    report = import_coco(project, _dump(tmp_path, data))
    assert _points(project) == {
        ("c.png", "nose"): (3.0, 4.0, 2),
        ("c.png", "left_eye"): (5.0, 6.0, 1),
        ("frames/a.jpg", "nose"): (7.0, 8.0, 2),
    }
    assert any("ignored 1 crowd annotation (iscrowd 1)" in n for n in report.notes)


def test_missing_optional_fields_and_unannotated_images(project, tmp_path):
    """No area, iscrowd, num_keypoints, segmentation or bbox; an image listed without annotations;
    ids far from 1; float ids; a file_name with a folder."""
    data = {
        "images": [
            {"id": 1001.0, "file_name": "frames/b.jpg", "width": 64, "height": 48},
            {"id": 5, "file_name": "c.png"},
        ],
        "annotations": [{"id": 77, "image_id": 1001, "category_id": 9, "keypoints": [1, 2, 2] + [0, 0, 0] * 3}],
        "categories": [{"id": 9, "name": "bird", "keypoints": NAMES}],
    }
    report = import_coco(project, _dump(tmp_path, data))
    assert _points(project) == {("frames/b.jpg", "head"): (1.0, 2.0, 2)}
    assert report.matched == 2 and report.not_imported == ()


def test_category_without_keypoints_chosen_by_name_says_so(project, tmp_path):
    with pytest.raises(FormatError, match=r"category 'perch' has no keypoints \(categories with keypoints: bird\)"):
        import_coco(project, _dump(tmp_path, _cvat()), category="perch")


def test_points_under_a_category_without_names_are_not_dropped(project, tmp_path):
    """Names added to the wrong category (here the placeholder of a Label Studio file): the points
    would be ignored as 'another category'; the file is refused instead."""
    data = _label_studio()
    data["categories"][0]["keypoints"] = NAMES  # the annotations use category 1
    with pytest.raises(FormatError) as err:
        import_coco(project, _dump(tmp_path, data))
    assert "annotations[0] of frames/a.jpg: has labelled keypoints, but its category_id 1 ('head') names no keypoints" in str(err.value)
    assert "'left_wing' (id 0)" in str(err.value)
    assert _points(project) == {}


def test_a_plain_detection_file_is_not_a_keypoint_file(project, tmp_path):
    data = _cvat()
    data["categories"][1]["keypoints"] = []
    for ann in data["annotations"]:
        ann.pop("keypoints", None)
    with pytest.raises(FormatError, match="no category lists keypoint names and no annotation has 'keypoints'"):
        import_coco(project, _dump(tmp_path, data))


def test_cvat_outside_points_with_coordinates_are_reported(project, tmp_path):
    """CVAT writes a point marked 'outside' as x, y, 0: not imported (COCO's v=0 is 'not labelled'), but said."""
    report = import_coco(project, _dump(tmp_path, _cvat()))
    assert ("frames/a.jpg", "tail") not in _points(project)
    assert any("1 point has visibility 0 but a position" in n and "not labelled" in n for n in report.notes), report.notes
