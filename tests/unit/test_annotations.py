"""Annotation importers: COCO JSON, Pascal VOC XML and YOLO text files read into one form;
every broken input is one error that names the file and the line or field."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.data.annotations import AnnotationError, detect_format, read_annotations

WIDTH, HEIGHT = 32, 24
SHARED_DATA = Path(os.environ.get("HATCHERY_SHARED_DATA",
                                  Path(__file__).resolve().parents[3] / "shared" / "data"))


def image(path: Path, width: int = WIDTH, height: int = HEIGHT) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((height, width), 128, np.uint8)).save(path)
    return path


# ------------------------------------------------------------------------------------ COCO
def coco_file(root: Path, **changes) -> Path:
    """a.png (a scratch with a polygon, a pit with an RLE, a crowd region) and b.png (no
    object), categories 7 (pit) and 3 (scratch)."""
    image(root / "images" / "a.png")
    image(root / "b.png")
    rle = {"size": [HEIGHT, WIDTH], "counts": [HEIGHT * 20 + 2, 3, HEIGHT - 3,
                                               3, WIDTH * HEIGHT - HEIGHT * 21 - 5]}
    data = {
        "images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}],
        "categories": [{"id": 7, "name": "pit"}, {"id": 3, "name": "scratch"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "bbox": [2, 2, 10, 6],
             "segmentation": [[2, 2, 12, 2, 12, 8, 2, 8]]},
            {"id": 2, "image_id": 1, "category_id": 7, "bbox": [20, 2, 2, 3],
             "segmentation": rle},
            {"id": 3, "image_id": 1, "category_id": 7, "bbox": [0, 0, 5, 5], "iscrowd": 1},
        ]}
    for key, value in changes.items():
        section, index, field = key.split("__")
        data[section][int(index)][field] = value
    path = root / "train.json"
    path.write_text(json.dumps(data, indent=1))
    return path


def test_coco_boxes_outlines_and_classes_in_the_order_of_their_ids(tmp_path):
    found = read_annotations(coco_file(tmp_path))
    assert found.format == "coco" and found.class_names == ["scratch", "pit"]
    first, second = found.images
    assert first.path == tmp_path / "images" / "a.png" and (first.height, first.width) == (24, 32)
    np.testing.assert_allclose(first.boxes, [[2, 2, 12, 8], [20, 2, 22, 5]])
    assert first.labels.tolist() == [0, 1]  # the crowd region is left out
    masks = first.masks()
    assert masks.shape == (2, HEIGHT, WIDTH) and masks[0, 3:7, 3:11].all()
    assert masks[1].sum() == 6 and masks[1, 2:5, 20:22].all()  # the RLE's column-major runs
    assert len(second.labels) == 0 and second.masks().shape == (0, HEIGHT, WIDTH)
    assert found.objects == 2 and found.outlined


@pytest.mark.parametrize(("changes", "message"), [
    ({"annotations__0__bbox": [2, 2, 10]}, r"train.json: annotations\[0\].bbox: expected"),
    ({"annotations__1__category_id": 99}, r"annotations\[1\].category_id: no category has id"),
    ({"annotations__0__image_id": 5}, r"annotations\[0\].image_id: no image has id 5"),
    ({"annotations__0__bbox": [40, 2, 5, 5]}, r"annotations\[0\].bbox: the box .* no area"),
    ({"images__1__file_name": "gone.png"}, r"images\[1\].file_name: gone.png is neither"),
    ({"annotations__0__segmentation": [[1, 2, 3, 4]]},
     r"annotations\[0\].segmentation\[0\]: a polygon needs .* at least 6; got 4"),
    ({"categories__0__name": 5}, r"categories\[0\].name: missing or not a string"),
])
def test_broken_coco_names_the_field(tmp_path, changes, message):
    with pytest.raises(AnnotationError, match=message):
        read_annotations(coco_file(tmp_path, **changes))


def test_coco_that_is_not_json_names_the_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{\n  "images": [],\n  "annotations": [,]\n}')
    with pytest.raises(AnnotationError, match=r"bad.json line 3: not valid JSON"):
        read_annotations(path)


# ------------------------------------------------------------------------------ Pascal VOC
def voc_xml(path: Path, filename: str, objects: list[tuple[str, tuple]]) -> Path:
    body = "".join(
        f"<object><name>{name}</name><bndbox><xmin>{box[0]}</xmin><ymin>{box[1]}</ymin>"
        f"<xmax>{box[2]}</xmax><ymax>{box[3]}</ymax></bndbox></object>"
        for name, box in objects)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<annotation>\n<filename>{filename}</filename>\n{body}\n</annotation>")
    return path


def test_voc_finds_images_anywhere_under_the_folder(tmp_path):
    image(tmp_path / "JPEGImages" / "a.png")
    image(tmp_path / "JPEGImages" / "b.png")
    voc_xml(tmp_path / "Annotations" / "a.xml", "a.png",
            [("scratch", (2, 3, 10, 12)), ("dent", (5, 5, 40, 9))])
    voc_xml(tmp_path / "Annotations" / "b.xml", "", [("scratch", (1, 1, 4, 4))])
    found = read_annotations(tmp_path)
    assert found.format == "voc" and found.class_names == ["dent", "scratch"]
    a, b = found.images
    assert a.path.name == "a.png" and a.labels.tolist() == [1, 0]
    np.testing.assert_allclose(a.boxes[1], [5, 5, 32, 9])  # clipped to the image
    assert b.path.name == "b.png"  # no <filename>: the image of the .xml's own name
    assert not found.outlined and found.first_without_outline() == a.path
    with pytest.raises(AnnotationError, match=r"a\.png has a box without one"):
        found.require_outlines(tmp_path)


def test_voc_errors_name_the_file_and_the_object(tmp_path):
    image(tmp_path / "a.png")
    voc_xml(tmp_path / "a.xml", "a.png", [("scratch", (1, 1, 4, 4)), ("dent", ("x", 1, 4, 4))])
    with pytest.raises(AnnotationError, match=r"a.xml: object 2 \(dent\): <xmin> 'x' is not"):
        read_annotations(tmp_path)
    (tmp_path / "a.xml").write_text("<annotation>\n<filename>a.png</filename>\n<object>")
    with pytest.raises(AnnotationError, match=r"a.xml line 3: not well-formed XML"):
        read_annotations(tmp_path)
    voc_xml(tmp_path / "a.xml", "missing.png", [])
    with pytest.raises(AnnotationError, match=r"a.xml: filename: no image missing.png"):
        read_annotations(tmp_path)


def test_val_classes_must_be_training_classes(tmp_path):
    image(tmp_path / "a.png")
    voc_xml(tmp_path / "a.xml", "a.png", [("crack", (1, 1, 4, 4))])
    with pytest.raises(AnnotationError, match="class 'crack' is not one of the training"):
        read_annotations(tmp_path, class_names=["scratch", "dent"])
    voc_xml(tmp_path / "a.xml", "a.png", [("dent", (1, 1, 4, 4))])
    assert read_annotations(tmp_path, class_names=["scratch", "dent"]).images[0].labels == [1]


# ------------------------------------------------------------------------------------ YOLO
def yolo_set(root: Path, lines: str = "0 0.25 0.5 0.25 0.5\n1 0.5 0.25 0.75 0.25 0.75 0.75\n"
             ) -> Path:
    """images/train/{a,b,c}.png: a has a box and a polygon, b an empty .txt, c none."""
    for name in "abc":
        image(root / "images" / "train" / f"{name}.png")
    (root / "labels" / "train").mkdir(parents=True)
    (root / "labels" / "train" / "a.txt").write_text(lines)
    (root / "labels" / "train" / "b.txt").write_text("")
    (root / "data.yaml").write_text("path: .\nnames:\n  0: scratch\n  1: pit\n")
    return root / "images" / "train"


def test_yolo_boxes_polygons_and_good_parts(tmp_path):
    found = read_annotations(yolo_set(tmp_path))
    assert found.format == "yolo" and found.class_names == ["scratch", "pit"]
    a, b, c = found.images
    np.testing.assert_allclose(a.boxes, [[4, 6, 12, 18], [16, 6, 24, 18]])
    assert a.labels.tolist() == [0, 1] and a.shapes[0] is None
    assert a.shapes[1] == [[16.0, 6.0, 24.0, 6.0, 24.0, 18.0]]
    assert a.masks()[1, 7, 23] and not a.masks()[1, 17, 17]  # the triangle's two sides
    assert len(b.labels) == 0 and len(c.labels) == 0
    assert not found.outlined


def test_yolo_labels_beside_images_with_classes_txt(tmp_path):
    image(tmp_path / "a.png")
    (tmp_path / "a.txt").write_text("1 0.1 0.1 0.5 0.1 0.5 0.5 0.1 0.5\n")
    (tmp_path / "classes.txt").write_text("good\ndefect\n")
    found = read_annotations(tmp_path)
    assert found.class_names == ["good", "defect"] and found.outlined
    np.testing.assert_allclose(found.images[0].boxes, [[3.2, 2.4, 16, 12]], rtol=1e-6)


@pytest.mark.parametrize(("lines", "message"), [
    ("0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2\n", r"a.txt line 2: expected 'class cx cy w h'"),
    ("0 1.2 0.5 0.1 0.1\n", r"a.txt line 1: coordinates are normalized to \[0, 1\]"),
    ("x 0.5 0.5 0.1 0.1\n", r"a.txt line 1: the class 'x' is not a whole number"),
    ("\n\n5 0.5 0.5 0.1 0.1\n", r"a.txt line 3: class 5, but .*data.yaml names 2 class"),
    ("0 0.5 0.5 0.0 0.1\n", r"a.txt line 1: the box .* has no area"),
    ("0 0.5 0.5 abc 0.1\n", r"a.txt line 1: coordinates are not numbers"),
])
def test_broken_yolo_names_the_line(tmp_path, lines, message):
    with pytest.raises(AnnotationError, match=message):
        read_annotations(yolo_set(tmp_path, lines))


def test_a_folder_without_annotations_is_refused(tmp_path):
    image(tmp_path / "a.png")
    with pytest.raises(AnnotationError, match="holds no annotations"):
        detect_format(tmp_path)
    with pytest.raises(AnnotationError, match="do not exist"):
        read_annotations(tmp_path / "nowhere")


# ------------------------------------------------------------------------------- real data
def test_real_neu_det_and_kolektorsdd_annotations(tmp_path):
    neu, kolektor = SHARED_DATA / "neu-det", SHARED_DATA / "kolektorsdd" / "Datasets"
    if not (neu / "ANNOTATIONS").is_dir() or not (kolektor / "labels").is_dir():
        pytest.skip("NEU-DET or KolektorSDD not found")
    for stem in ("crazing_1", "scratches_2"):
        (tmp_path / "neu").mkdir(exist_ok=True)
        (tmp_path / "neu" / f"{stem}.xml").symlink_to(neu / "ANNOTATIONS" / f"{stem}.xml")
        (tmp_path / "neu" / f"{stem}.jpg").symlink_to(neu / "IMAGES" / f"{stem}.jpg")
    found = read_annotations(tmp_path / "neu")
    assert found.class_names == ["crazing", "scratches"]
    assert found.images[0].boxes.tolist()[0] == [2, 2, 193, 194]
    for stem in ("005", "000"):  # a defect's polygon, a good part
        for kind, suffix in (("images", ".jpg"), ("labels", ".txt")):
            target = tmp_path / "kolektor" / kind / "train" / f"{stem}{suffix}"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(kolektor / kind / "train" / f"{stem}{suffix}")
    (tmp_path / "kolektor" / "data.yaml").symlink_to(kolektor / "data.yaml")
    found = read_annotations(tmp_path / "kolektor" / "images" / "train")
    assert found.class_names == ["defect"] and found.outlined
    assert [len(image.labels) for image in found.images] == [0, 1]
    assert found.images[1].masks().sum() > 100
