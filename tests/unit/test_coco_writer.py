"""write_coco is read_coco's inverse: boxes, classes and outlines (polygons and RLE) survive
the round trip, images without objects too."""

from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils

from engine.data.annotations import AnnotatedImage, read_annotations
from engine.data.coco_writer import write_coco


def test_a_written_coco_file_reads_back_the_same_objects(tmp_path):
    from PIL import Image

    for name in ("a.png", "b.png", "c.png"):
        Image.fromarray(np.zeros((20, 30), np.uint8)).save(tmp_path / name)
    square = np.zeros((20, 30), np.uint8, order="F")
    square[5:10, 4:12] = 1
    rle = mask_utils.encode(square)
    images = [
        AnnotatedImage(tmp_path / "a.png", 20, 30, np.array([[1, 2, 11, 9]], np.float32),
                       np.array([1]), [[[1.0, 2.0, 11.0, 2.0, 11.0, 9.0, 1.0, 9.0]]]),
        AnnotatedImage(tmp_path / "b.png", 20, 30, np.array([[4, 5, 12, 10]], np.float32),
                       np.array([0]), [rle]),
        AnnotatedImage(tmp_path / "c.png", 20, 30, np.zeros((0, 4), np.float32),
                       np.zeros(0, np.int64), []),
    ]
    write_coco(images, ["pit", "scratch"], tmp_path / "set.json", ["a.png", "b.png", "c.png"])
    found = read_annotations(tmp_path / "set.json")
    assert found.class_names == ["pit", "scratch"] and found.outlined
    for written, read in zip(images, found.images, strict=True):
        assert read.path == written.path
        np.testing.assert_allclose(read.boxes, written.boxes)
        np.testing.assert_array_equal(read.labels, written.labels)
        np.testing.assert_array_equal(read.masks(), written.masks())
    assert found.images[1].masks()[0].sum() == 40
