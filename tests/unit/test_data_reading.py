"""Image folders: formats, bit depths, bad files skipped and listed; resumable sampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from engine.data.dataset import DecodedImageDataset, collate_padded
from engine.data.decode import UnreadableImageError, decode_image
from engine.data.folder import DataFolderError, probe_format, scan_image_folder
from engine.data.sampler import ResumableBatchSampler


def write_images(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nested").mkdir()
    Image.fromarray(np.full((10, 12), 200, np.uint8)).save(folder / "gray.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "nested" / "rgb.JPG")
    Image.fromarray(np.full((6, 6), 4095, np.uint16)).save(folder / "twelve_bit.tif")
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(folder / "mono.bmp")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_scan_keeps_images_recursively_and_lists_broken_ones(tmp_path):
    scan = scan_image_folder(write_images(tmp_path / "data"))
    names = sorted(scan.relative(path) for path in scan.paths)
    assert names == ["gray.png", "mono.bmp", "nested/rgb.JPG", "twelve_bit.tif"]
    assert [name for name, _ in scan.skipped] == ["broken.jpg"]


def test_missing_folder_is_one_clear_error(tmp_path):
    with pytest.raises(DataFolderError, match="does not exist"):
        scan_image_folder(tmp_path / "nowhere")


def test_decode_converts_modes_and_bit_depths(tmp_path):
    folder = write_images(tmp_path / "data")
    gray = decode_image(folder / "gray.png", channels=3)
    assert gray.shape == (3, 10, 12) and gray.dtype == torch.uint8 and int(gray[0, 0, 0]) == 200
    assert decode_image(folder / "nested" / "rgb.JPG", channels=1).shape == (1, 8, 8)
    # 4095 is full scale for 12 significant bits.
    assert int(decode_image(folder / "twelve_bit.tif", channels=1, bit_depth=12).max()) == 255
    assert int(decode_image(folder / "twelve_bit.tif", channels=1, bit_depth=16).max()) == 15
    with pytest.raises(UnreadableImageError):
        decode_image(folder / "broken.jpg", channels=1)


def test_probe_finds_gray_data_and_its_bit_depth(tmp_path):
    folder = write_images(tmp_path / "data")
    scan = scan_image_folder(folder)
    image_format = probe_format([p for p in scan.paths if "rgb" not in p.name])
    assert image_format.channels == 1 and image_format.bit_depth == 12
    assert probe_format(scan.paths).channels == 3


def test_one_sixteen_bit_image_does_not_darken_a_twelve_bit_data_set(tmp_path):
    """Nine 12-bit shots and one from a 16-bit camera: the data set stays 12-bit (the
    others keep their full range) and the odd one is scaled to fit, not clipped."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    for index in range(9):
        Image.fromarray(np.full((6, 6), 4000 - index, np.uint16)).save(folder / f"{index}.png")
    Image.fromarray(np.full((6, 6), 60000, np.uint16)).save(folder / "other_camera.png")
    image_format = probe_format(scan_image_folder(folder).paths)
    assert image_format.bit_depth == 12
    assert int(decode_image(folder / "0.png", 1, image_format.bit_depth).max()) == 250
    assert int(decode_image(folder / "other_camera.png", 1, image_format.bit_depth).max()) \
        == 60000 >> 8


def test_cached_dataset_drops_undecodable_files(tmp_path):
    folder = write_images(tmp_path / "data")
    paths = [*scan_image_folder(folder).paths, folder / "broken.jpg"]
    dataset = DecodedImageDataset(paths, channels=1, bit_depth=12, cache=True)
    assert len(dataset) == 4 and len(dataset.skipped) == 1
    batch = collate_padded([dataset[i] for i in range(len(dataset))])
    assert batch.images.shape == (4, 1, 10, 12)
    assert batch.sizes.tolist() == [[10, 12], [5, 5], [8, 8], [6, 6]]


def test_sampler_resumes_mid_epoch_and_shards_ranks():
    full = list(ResumableBatchSampler(20, 4, seed=3, epoch=1))
    resumed = list(ResumableBatchSampler(20, 4, seed=3, epoch=1, start_batch=2))
    assert resumed == full[2:]
    assert full != list(ResumableBatchSampler(20, 4, seed=3, epoch=2))
    rank0 = ResumableBatchSampler(20, 4, seed=3, epoch=0, rank=0, world_size=2)
    rank1 = ResumableBatchSampler(20, 4, seed=3, epoch=0, rank=1, world_size=2)
    seen0 = {i for batch in rank0 for i in batch}
    seen1 = {i for batch in rank1 for i in batch}
    assert len(rank0) == 2 and not seen0 & seen1


def test_sampler_by_size_cuts_batches_of_similar_images_and_still_resumes():
    """640 images of four sizes in a shuffled order: batches of 8 within pools of 16 batches
    mostly hold one size each."""
    shapes = [(200 + 100 * (index % 4), 300) for index in range(640)]
    areas = [height * width for height, width in shapes]
    plain = list(ResumableBatchSampler(640, 8, seed=0, epoch=0))
    bucketed = list(ResumableBatchSampler(640, 8, seed=0, epoch=0, shapes=shapes))
    assert sorted(i for batch in bucketed for i in batch) == list(range(640))

    def sizes_per_batch(batches):
        return sum(len({areas[i] for i in batch}) for batch in batches) / len(batches)

    assert sizes_per_batch(plain) > 3  # random batches mix all four sizes
    assert sizes_per_batch(bucketed) < 1.3  # a pool sorted by size mixes at a border only
    padded = sum(8 * max(areas[i] for i in batch) for batch in bucketed)
    assert padded < 0.8 * sum(8 * max(areas[i] for i in batch) for batch in plain)
    resumed = list(ResumableBatchSampler(640, 8, seed=0, epoch=0, shapes=shapes,
                                         start_batch=5))
    assert resumed == bucketed[5:]
    # batch order is shuffled within a pool: small and large batches alternate
    assert [areas[batch[0]] for batch in bucketed[:16]] != sorted(
        areas[batch[0]] for batch in bucketed[:16])


def test_dataset_shapes_from_cache_and_from_headers(tmp_path):
    folder = write_images(tmp_path / "data")
    paths = [path for path in sorted(folder.rglob("*")) if path.suffix != ".txt"
             and path.name != "broken.jpg" and path.is_file()]
    uncached = DecodedImageDataset(paths, channels=1).shapes()
    cached = DecodedImageDataset(paths, channels=1, cache=True).shapes()
    assert uncached == cached and sorted(cached) == [(5, 5), (6, 6), (8, 8), (10, 12)]
