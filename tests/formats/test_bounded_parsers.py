"""Every parser is bounded in memory and linear in time: one bomb and one wide or long file per
format, read in a child process whose address space is capped (RLIMIT_AS) and whose each case
must finish within a time bound. A case may be refused (one FormatError) or read; it may not
run out of memory, recurse, or take quadratic time."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

#: The child's address-space cap (bytes) and each case's time bound (seconds, on a loaded 2-core machine).
MEMORY_CAP = 1_500_000_000
SECONDS = 15.0

CHILD = textwrap.dedent(
    r'''
    import json, resource, sys, time, traceback, zlib, io
    from pathlib import Path
    import numpy as np
    from PIL import Image
    resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))
    from labeler.errors import LabelerError
    from labeler.store import Project
    from labeler.formats.coco import import_coco
    from labeler.formats.dlc import import_dlc
    from labeler.formats.yolo import import_yolo
    from labeler.formats.spair import read_pair
    from labeler.correspondence.base import ReferenceState

    tmp = Path(sys.argv[1])
    images = tmp / "images"
    (images / "labeled-data" / "f").mkdir(parents=True)
    Image.new("RGB", (16, 12)).save(images / "labeled-data" / "f" / "a.png")
    project = Project.create(tmp / "p.labeler", images, ["k0", "k1"])

    def yolo(folder, data_yaml, label=None):
        (folder / "images" / "train").mkdir(parents=True)
        (folder / "labels" / "train").mkdir(parents=True)
        Image.new("RGB", (16, 12)).save(folder / "images" / "train" / "a.png")
        (folder / "data.yaml").write_text(data_yaml)
        if label is not None:
            (folder / "labels" / "train" / "a.txt").write_text(label)
        return folder

    def dlc_csv(path, columns, rows=1):
        head = ["scorer", "bodyparts", "coords"]
        lines = [",".join([head[0]] + ["me"] * columns), ",".join([head[1]] + [f"b{i // 2}" for i in range(columns)]),
                 ",".join([head[2]] + ["x", "y"] * (columns // 2))]
        lines += [",".join(["labeled-data/f/a.png"] + ["1.5"] * columns)] * rows
        path.write_text("\n".join(lines) + "\n")
        return path

    def state(header):
        buf = io.BytesIO()
        np.savez(buf, header=np.frombuffer(header.encode(), dtype=np.uint8), points=np.zeros((1, 2)))
        return buf.getvalue()

    anchors = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [*a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}]\n" for i in range(1, 9)
    ) + "kpt_shape: *a8\ntrain: images/train\n"
    wide_names = "kpt_shape: [2, 3]\ntrain: images/train\nnames:\n" + "".join(f"  {i}: c{i}\n" for i in range(5_000))
    cases = {
        "yolo data.yaml alias bomb": lambda: import_yolo(project, yolo(tmp / "y1", anchors)),
        "yolo data.yaml 29 MB": lambda: import_yolo(project, yolo(tmp / "y2", "kpt_shape: [2, 3]\ntrain: images/train\n#" + "x" * 29_000_000)),
        "yolo data.yaml 5k names": lambda: import_yolo(project, yolo(tmp / "y3", wide_names, "0 0.5 0.5 0.1 0.1 0.1 0.1 2 0.2 0.2 2\n")),
        "yolo data.yaml deep nesting": lambda: import_yolo(project, yolo(tmp / "y4", "kpt_shape: " + "[" * 100_000 + "]" * 100_000 + "\n")),
        "yolo data.yaml huge nc": lambda: import_yolo(project, yolo(tmp / "y5", "kpt_shape: [2, 3]\ntrain: images/train\nnc: 1000000000000\n")),
        "yolo label 3x10^5 numbers": lambda: import_yolo(project, yolo(tmp / "y6", "kpt_shape: [2, 3]\ntrain: images/train\n", "0 " + "0.5 " * 300_000)),
        "yolo label 10^5 rows": lambda: import_yolo(project, yolo(tmp / "y7", "kpt_shape: [2, 3]\ntrain: images/train\n",
                                                                  "0 0.5 0.5 0.1 0.1 0.1 0.1 2 0.2 0.2 2\n" * 100_000)),
        "dlc csv 10^5 columns": lambda: import_dlc(project, dlc_csv(tmp / "CollectedData_w.csv", 100_000)),
        "dlc csv 3x10^4 rows": lambda: import_dlc(project, dlc_csv(tmp / "CollectedData_l.csv", 4, 30_000)),
        "dlc csv bomb (one 30 MB cell)": lambda: import_dlc(project, (tmp / "CollectedData_b.csv").write_text(
            "scorer,me,me\nbodyparts,a,a\ncoords,x,y\nlabeled-data/f/a.png," + "9" * 30_000_000 + ",1\n") and tmp / "CollectedData_b.csv"),
        "coco json deep nesting": lambda: import_coco(project, (tmp / "d.json").write_text("[" * 200_000 + "]" * 200_000) and tmp / "d.json"),
        "coco json 3x10^4 annotations": lambda: import_coco(project, (tmp / "w.json").write_text(json.dumps({
            "images": [{"id": 1, "file_name": "labeled-data/f/a.png", "width": 16, "height": 12}],
            "annotations": [{"id": i, "image_id": 1, "category_id": 1, "keypoints": [1, 1, 2, 2, 2, 2]} for i in range(30_000)],
            "categories": [{"id": 1, "name": "x", "keypoints": ["k0", "k1"]}]})) and tmp / "w.json"),
        "spair json deep nesting": lambda: read_pair((tmp / "s.json").write_text('{"src_kps": ' + "[" * 200_000 + "]" * 200_000 + "}") and tmp / "s.json"),
        "spair json 10^5 keypoints": lambda: read_pair((tmp / "s2.json").write_text(json.dumps({
            "src_imname": "a", "trg_imname": "b", "category": "c", "src_kps": [[1, 2]] * 100_000, "trg_kps": [[1, 2]] * 100_000,
            "kps_ids": list(range(100_000)), "src_bndbox": [0, 0, 1, 1], "trg_bndbox": [0, 0, 1, 1],
            "src_imsize": [1, 1, 3], "trg_imsize": [1, 1, 3], "pair_id": 1})) and tmp / "s2.json"),
        "cache header 200k brackets": lambda: ReferenceState.from_bytes(state("[" * 200_000 + "]" * 200_000)),
        "cache header 10 MB": lambda: ReferenceState.from_bytes(state(json.dumps({"format": 1, "names": ["k"] * 1_000_000}))),
    }
    results = {}
    for name, case in cases.items():
        start = time.perf_counter()
        try:
            case()
            outcome = "read"
        except (LabelerError, ValueError) as exc:
            outcome = "refused: " + str(exc).splitlines()[0][:200]
        except BaseException as exc:
            outcome = "FAILED: " + "".join(traceback.format_exception_only(type(exc), exc)).strip()[:300]
        results[name] = (outcome, time.perf_counter() - start)
    project.close()
    print(json.dumps(results))
    '''
).replace("CAP", str(MEMORY_CAP))


def test_every_parser_is_bounded(tmp_path):
    child = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr[-3000:]
    results = json.loads(child.stdout.strip().splitlines()[-1])
    failed = {name: r for name, r in results.items() if r[0].startswith("FAILED") or r[1] > SECONDS}
    assert not failed, failed
    for bomb in ("yolo data.yaml alias bomb", "yolo data.yaml 29 MB", "yolo data.yaml deep nesting", "yolo data.yaml huge nc",
                 "coco json deep nesting", "spair json deep nesting", "cache header 200k brackets"):
        assert results[bomb][0].startswith("refused"), (bomb, results[bomb])
