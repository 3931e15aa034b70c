"""Batched crops and two-view augmentation (engine.data.crops, engine.data.augment)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF

from engine.data.augment import (
    TwoViewAugment,
    adjust_contrast,
    gaussian_blur,
    normalize,
    rotate_hue,
    to_grayscale,
)
from engine.data.crops import crop_and_resize, grid_tile_boxes, sample_crop_boxes
from engine.schemas.pretrain import AugmentConfig, CropConfig, ViewAugmentConfig
from engine.schemas.recipes import byol_views, mocov2_view

MEAN3, STD3 = (0.45, 0.4, 0.35), (0.25, 0.2, 0.3)
MEAN1, STD1 = (0.4,), (0.2,)


# --------------------------------------------------------------------------------- helpers
def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def padded_batch(sizes: list[tuple[int, int]], channels: int, seed: int = 0
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Random uint8 images of the given (h, w), zero-padded into [B, C, Hmax, Wmax]."""
    g = generator(seed)
    height, width = max(h for h, _ in sizes), max(w for _, w in sizes)
    images = torch.zeros(len(sizes), channels, height, width, dtype=torch.uint8)
    for row, (h, w) in enumerate(sizes):
        images[row, :, :h, :w] = torch.randint(0, 256, (channels, h, w), generator=g,
                                               dtype=torch.uint8)
    return images, torch.tensor(sizes, dtype=torch.long)


def random_sizes(count: int, low: int, high: int, seed: int = 0) -> list[tuple[int, int]]:
    values = torch.randint(low, high + 1, (count, 2), generator=generator(seed))
    return [(int(h), int(w)) for h, w in values]


def no_photometric() -> ViewAugmentConfig:
    return ViewAugmentConfig(color_jitter_prob=0, grayscale_prob=0, blur_prob=0, solarize_prob=0)


def whole_image_config(view: ViewAugmentConfig | None = None, **geometry) -> AugmentConfig:
    """Crops that are always the whole (square) image; no flips unless asked."""
    view = view or no_photometric()
    geometry = {"hflip_prob": 0.0, **geometry}
    return AugmentConfig(crop=CropConfig(scale=(1, 1), ratio=(1, 1)), view1=view, view2=view,
                         **geometry)


def whole_image_reference(images: torch.Tensor, size: int, mean, std) -> torch.Tensor:
    """The normalized resize of whole square images [B, C, H, H]."""
    side = images.shape[-1]
    boxes = torch.tensor([[0.0, 0.0, side, side]]).expand(images.shape[0], 4)
    return normalize(crop_and_resize(images, boxes, size), mean, std)


def changed_samples(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """bool [B]: samples that differ from the reference anywhere."""
    return (x != reference).flatten(1).any(dim=1)


def assert_fraction_near(observed: torch.Tensor, probability: float) -> None:
    """bool [B] observed events: their rate within 4 sigma of ``probability``."""
    count = observed.numel()
    sigma = math.sqrt(probability * (1 - probability) / count)
    rate = observed.float().mean().item()
    assert abs(rate - probability) <= 4 * sigma + 1e-9, (rate, probability)


# ------------------------------------------------------------------------------ crop boxes
def test_fraction_boxes_lie_inside_true_sizes_and_follow_scale() -> None:
    sizes = torch.tensor(random_sizes(512, 8, 120))
    crop = CropConfig(unit="fraction", scale=(0.2, 0.6), ratio=(3 / 4, 4 / 3))
    boxes = sample_crop_boxes(sizes, crop, generator())
    assert boxes.shape == (512, 4) and boxes.dtype == torch.float32
    heights, widths = sizes[:, 0].float(), sizes[:, 1].float()
    x1, y1, x2, y2 = boxes.unbind(1)
    assert (x1 >= 0).all() and (y1 >= 0).all()
    assert (x2 <= widths).all() and (y2 <= heights).all()
    assert (x2 > x1).all() and (y2 > y1).all()
    # A fallback (no try fit an elongated image) is centered and spans one whole side.
    centered = ((x1 + x2 - widths).abs() < 1e-3) & ((y1 + y2 - heights).abs() < 1e-3)
    whole_side = (x2 - x1 == widths) | (y2 - y1 == heights)
    tried = ~(centered & whole_side)
    assert tried.float().mean() > 0.75  # sizes 8..120: some images are very elongated
    area_fraction = ((x2 - x1) * (y2 - y1) / (heights * widths))[tried]
    assert area_fraction.min() >= 0.2 - 1e-4 and area_fraction.max() <= 0.6 + 1e-4
    ratio = ((x2 - x1) / (y2 - y1))[tried]
    assert ratio.min() >= 3 / 4 - 1e-4 and ratio.max() <= 4 / 3 + 1e-4
    # Positions are spread: boxes touch neither edge on average.
    assert 0.3 < (x1 / (widths - (x2 - x1)).clamp(min=1e-6)).mean() < 0.7


def test_fraction_fallback_is_the_largest_centered_crop() -> None:
    sizes = torch.tensor([[10, 200], [200, 10]])
    crop = CropConfig(unit="fraction", scale=(0.9, 1.0), ratio=(1.0, 1.0))
    boxes = sample_crop_boxes(sizes, crop, generator())
    expected = torch.tensor([[95.0, 0.0, 105.0, 10.0], [0.0, 95.0, 10.0, 105.0]])
    torch.testing.assert_close(boxes, expected)


def test_pixel_boxes_have_sides_in_range_and_are_clamped_to_small_images() -> None:
    sizes = torch.tensor(random_sizes(256, 60, 150, seed=1) + [(5, 7)] * 8)
    crop = CropConfig(unit="pixels", scale=(8, 32), ratio=(3 / 4, 4 / 3))
    boxes = sample_crop_boxes(sizes, crop, generator(3))
    heights, widths = sizes[:, 0].float(), sizes[:, 1].float()
    x1, y1, x2, y2 = boxes.unbind(1)
    assert (x1 >= 0).all() and (y1 >= 0).all()
    assert (x2 <= widths).all() and (y2 <= heights).all()
    sides = torch.sqrt((x2 - x1) * (y2 - y1))
    assert sides[:256].min() >= 8 - 1e-4 and sides[:256].max() <= 32 + 1e-4
    torch.testing.assert_close(boxes[256:], torch.tensor([[0.0, 0.0, 7.0, 5.0]]).expand(8, 4))


def _shared_fraction(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Boxes [B, 4] each -> [B, 2]: the overlap along x and y over the shorter side."""
    low = torch.maximum(first[:, :2], second[:, :2])
    high = torch.minimum(first[:, 2:], second[:, 2:])
    shorter = torch.minimum(first[:, 2:] - first[:, :2], second[:, 2:] - second[:, :2])
    return (high - low) / shorter


@pytest.mark.parametrize("unit, scale", [("pixels", (16.0, 48.0)), ("fraction", (0.05, 0.3))])
@pytest.mark.parametrize("min_overlap", [0.0, 0.5, 1.0])
def test_boxes_near_others_overlap_them_by_the_fraction_asked(unit: str, scale, min_overlap
                                                              ) -> None:
    sizes = torch.tensor(random_sizes(512, 60, 200, seed=2))
    crop = CropConfig(unit=unit, scale=scale)
    near = sample_crop_boxes(sizes, crop, generator(4))
    boxes = sample_crop_boxes(sizes, crop, generator(5), near=near, min_overlap=min_overlap)
    heights, widths = sizes[:, 0].float(), sizes[:, 1].float()
    x1, y1, x2, y2 = boxes.unbind(1)
    assert (x1 >= 0).all() and (y1 >= 0).all()
    assert (x2 <= widths + 1e-4).all() and (y2 <= heights + 1e-4).all()
    shared = _shared_fraction(boxes, near)
    assert shared.min() >= min_overlap - 1e-4
    # The sides are drawn as without ``near``: only the position is constrained.
    free = sample_crop_boxes(sizes, crop, generator(5))
    torch.testing.assert_close(boxes[:, 2:] - boxes[:, :2], free[:, 2:] - free[:, :2])
    if min_overlap < 1:  # positions still vary around the box they must meet
        assert (boxes[:, 0] - near[:, 0]).std() > 1.0


def test_independent_small_crops_of_a_large_image_mostly_share_nothing() -> None:
    """Why ``augment.view_overlap`` exists: 64-128 px crops of 256 px images."""
    sizes = torch.tensor([[256, 256]] * 2000)
    crop = CropConfig(unit="pixels", scale=(64, 128))
    first, second = (sample_crop_boxes(sizes, crop, generator(seed)) for seed in (0, 1))
    apart = (_shared_fraction(first, second) <= 0).any(dim=1).float().mean()
    assert apart > 0.3
    paired = sample_crop_boxes(sizes, crop, generator(1), near=first, min_overlap=0.5)
    assert (_shared_fraction(first, paired) >= 0.5 - 1e-4).all()


# -------------------------------------------------------------------------- crop_and_resize
@pytest.mark.parametrize("out_size", [8, 40])
def test_crop_and_resize_of_constant_images_is_constant_despite_padding(out_size: int) -> None:
    sizes = [(12, 20), (30, 9), (17, 17)]
    images = torch.zeros(3, 3, 30, 20, dtype=torch.uint8)
    for row, (h, w) in enumerate(sizes):
        images[row, :, :h, :w] = 200
    boxes = torch.tensor([[0.0, 0.0, w, h] for h, w in sizes])
    out = crop_and_resize(images, boxes, out_size)
    assert out.shape == (3, 3, out_size, out_size) and out.dtype == torch.float32
    torch.testing.assert_close(out, torch.full_like(out, 200 / 255))
    out_float = crop_and_resize(images.float() / 255, boxes, out_size)
    torch.testing.assert_close(out_float, torch.full_like(out, 200 / 255))


def smooth_image(side: int = 96) -> torch.Tensor:
    """float [1, 1, side, side] in [0, 1], smooth in both directions."""
    ys, xs = torch.meshgrid(torch.arange(side, dtype=torch.float32),
                            torch.arange(side, dtype=torch.float32), indexing="ij")
    return (0.5 + 0.25 * torch.sin(xs / 7) + 0.2 * torch.cos(ys / 5))[None, None]


@pytest.mark.parametrize(
    ("box", "out_size"),
    [((8, 16, 40, 48), 16), ((8, 16, 72, 80), 16), ((5, 7, 50, 52), 20), ((10, 20, 18, 28), 16)],
)
def test_crop_and_resize_matches_an_antialiased_resize_of_the_slice(box, out_size) -> None:
    image = smooth_image()
    x1, y1, x2, y2 = box
    out = crop_and_resize(image, torch.tensor([box], dtype=torch.float32), out_size)
    reference = F.interpolate(image[:, :, y1:y2, x1:x2], size=(out_size, out_size),
                              mode="bilinear", antialias=True, align_corners=False)
    difference = (out - reference).abs()
    assert difference.max() < 0.03 and difference.mean() < 0.006


def test_crop_and_resize_never_reads_the_padding() -> None:
    image, _ = padded_batch([(9, 13)], channels=1, seed=5)
    padded = torch.zeros(1, 1, 30, 30, dtype=torch.uint8)
    padded[:, :, :9, :13] = image
    corner = torch.tensor([[7.3, 5.5, 13.0, 9.0]])  # touches the bottom-right border; upscaled
    # Equal up to float rounding: roi_align clamps at a real border, replicates at padding.
    torch.testing.assert_close(crop_and_resize(padded, corner, 24),
                               crop_and_resize(image, corner, 24), rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------ tile grid
@pytest.mark.parametrize(
    ("height", "width", "tile", "max_tiles"),
    [(64, 64, 32, 16), (100, 70, 32, 16), (1000, 900, 32, 16), (500, 60, 50, 4),
     (40, 30, 64, 16), (7, 300, 10, 5), (128, 128, 128, 1)],
)
def test_grid_tiles_cover_the_image_within_max_tiles(height, width, tile, max_tiles) -> None:
    boxes = grid_tile_boxes(height, width, tile, max_tiles)
    assert 1 <= boxes.shape[0] <= max_tiles and boxes.shape[1] == 4
    x1, y1, x2, y2 = boxes.long().unbind(1)
    assert (x1 >= 0).all() and (y1 >= 0).all() and (x2 <= width).all() and (y2 <= height).all()
    covered = torch.zeros(height, width, dtype=torch.bool)
    for left, top, right, bottom in zip(x1, y1, x2, y2, strict=True):
        covered[top:bottom, left:right] = True
    assert covered.all()
    tile_sides = torch.stack([x2 - x1, y2 - y1], dim=1)
    assert (tile_sides >= torch.tensor([min(tile, width), min(tile, height)])).all()


def test_grid_tile_boxes_of_a_small_image_is_the_whole_image() -> None:
    torch.testing.assert_close(grid_tile_boxes(20, 30, 64), torch.tensor([[0.0, 0.0, 30, 20]]))


def test_grid_tile_boxes_keep_the_tile_when_it_fits() -> None:
    boxes = grid_tile_boxes(96, 64, 32)
    assert boxes.shape[0] == 6
    assert ((boxes[:, 2:] - boxes[:, :2]) == 32).all()


# ------------------------------------------------------------------------------ the views
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("recipe", ["mocov2", "byol"])
def test_views_have_the_right_shape_dtype_and_range(channels: int, recipe: str) -> None:
    view1, view2 = (mocov2_view(), mocov2_view()) if recipe == "mocov2" else byol_views()
    config = AugmentConfig(view1=view1, view2=view2, vflip_prob=0.5, rotate90=True)
    mean, std = (MEAN1, STD1) if channels == 1 else (MEAN3, STD3)
    augment = TwoViewAugment(config, image_size=24, channels=channels, mean=mean, std=std)
    images, sizes = padded_batch(random_sizes(16, 10, 50), channels)
    first, second = augment(images, sizes, generator())
    for view in (first, second):
        assert view.shape == (16, channels, 24, 24) and view.dtype == torch.float32
        assert torch.isfinite(view).all()
        low = (0 - torch.tensor(mean)) / torch.tensor(std)
        high = (1 - torch.tensor(mean)) / torch.tensor(std)
        assert (view >= low.view(1, -1, 1, 1) - 1e-5).all()
        assert (view <= high.view(1, -1, 1, 1) + 1e-5).all()
    assert not torch.equal(first, second)


@pytest.mark.parametrize("channels", [1, 3])
def test_without_augmentation_a_view_is_the_normalized_resize(channels: int) -> None:
    mean, std = (MEAN1, STD1) if channels == 1 else (MEAN3, STD3)
    augment = TwoViewAugment(whole_image_config(), 16, channels, mean, std)
    images = (smooth_image(40) * 255).round().to(torch.uint8).expand(4, channels, 40, 40)
    sizes = torch.tensor([[40, 40]] * 4)
    view = augment.view(images, sizes, no_photometric(), generator())
    torch.testing.assert_close(view, whole_image_reference(images, 16, mean, std),
                               rtol=0, atol=0)
    antialiased = F.interpolate(images.float() / 255, size=(16, 16), mode="bilinear",
                                antialias=True, align_corners=False)
    difference = (view - normalize(antialiased, mean, std)).abs() * torch.tensor(std).min()
    assert difference.max() < 0.03


@pytest.mark.parametrize(
    ("geometry", "expected"),
    [({"hflip_prob": 1.0}, lambda x: x.flip(3)), ({"vflip_prob": 1.0}, lambda x: x.flip(2))],
)
def test_flips_are_exact(geometry: dict, expected) -> None:
    augment = TwoViewAugment(whole_image_config(**geometry), 12, 3, MEAN3, STD3)
    images, sizes = padded_batch([(12, 12)] * 4, 3)
    view = augment.view(images, sizes, no_photometric(), generator())
    torch.testing.assert_close(view, expected(whole_image_reference(images, 12, MEAN3, STD3)),
                               rtol=0, atol=0)


def test_quarter_turns_are_exact_and_all_used() -> None:
    augment = TwoViewAugment(whole_image_config(rotate90=True), 12, 1, MEAN1, STD1)
    images, sizes = padded_batch([(12, 12)] * 64, 1)
    view = augment.view(images, sizes, no_photometric(), generator())
    reference = whole_image_reference(images, 12, MEAN1, STD1)
    turns_seen = set()
    for sample, original in zip(view, reference, strict=True):
        matches = [k for k in range(4) if torch.equal(sample, torch.rot90(original, k, (1, 2)))]
        assert len(matches) == 1
        turns_seen.add(matches[0])
    assert turns_seen == {0, 1, 2, 3}


def test_same_seed_same_views_other_seed_other_views() -> None:
    config = AugmentConfig(view1=mocov2_view(), view2=mocov2_view(), vflip_prob=0.5)
    augment = TwoViewAugment(config, 16, 3, MEAN3, STD3)
    images, sizes = padded_batch(random_sizes(8, 16, 40), 3)
    first = augment(images, sizes, generator(7))
    again = augment(images, sizes, generator(7))
    other = augment(images, sizes, generator(8))
    for view, repeated, different in zip(first, again, other, strict=True):
        assert torch.equal(view, repeated)
        assert not torch.equal(view, different)


def test_a_view_is_its_cut_recolored() -> None:
    """``cut`` then ``photometric`` draws what ``view`` draws, in the same order."""
    config = AugmentConfig(view1=mocov2_view(), view2=mocov2_view(), vflip_prob=0.5)
    augment = TwoViewAugment(config, 16, 3, MEAN3, STD3)
    images, sizes = padded_batch(random_sizes(8, 16, 40), 3)
    whole = augment.view(images, sizes, mocov2_view(), generator(5))
    halves_generator = generator(5)
    halves = augment.photometric(augment.cut(images, sizes, halves_generator), mocov2_view(),
                                 halves_generator)
    assert torch.equal(whole, halves)


def test_view_overlap_places_view_2_on_view_1_and_leaves_view_1_alone() -> None:
    crop = CropConfig(unit="pixels", scale=(12, 24))
    images, sizes = padded_batch(random_sizes(64, 60, 90, seed=3), 3)
    free = TwoViewAugment(AugmentConfig(crop=crop, view1=mocov2_view(), view2=mocov2_view()),
                          16, 3, MEAN3, STD3)
    paired = TwoViewAugment(AugmentConfig(crop=crop, view1=mocov2_view(), view2=mocov2_view(),
                                          view_overlap=0.6), 16, 3, MEAN3, STD3)
    (view1, geometry1), (_, free_geometry2) = free.with_geometry(images, sizes, generator(2))
    (paired_view1, paired_geometry1), (_, geometry2) = paired.with_geometry(images, sizes,
                                                                            generator(2))
    assert torch.equal(view1, paired_view1)
    torch.testing.assert_close(geometry1.boxes, paired_geometry1.boxes)
    assert (_shared_fraction(geometry1.boxes, geometry2.boxes) >= 0.6 - 1e-4).all()
    assert (_shared_fraction(geometry1.boxes, free_geometry2.boxes) < 0.6).any()


def test_padding_does_not_change_the_views() -> None:
    config = AugmentConfig(view1=mocov2_view(), view2=mocov2_view())
    augment = TwoViewAugment(config, 16, 3, MEAN3, STD3)
    images, sizes = padded_batch(random_sizes(8, 10, 30), 3)
    more_padding = F.pad(images, (0, 17, 0, 9))
    for view, padded_view in zip(augment(images, sizes, generator(1)),
                                 augment(more_padding, sizes, generator(1)), strict=True):
        torch.testing.assert_close(view, padded_view, rtol=0, atol=1e-5)


# ------------------------------------------------------------ probabilities, bit-identical
def bright_images(count: int, channels: int, side: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Colorful uint8 images with every value >= 160 (so solarizing changes every pixel)."""
    values = torch.randint(160, 256, (count, channels, side, side), generator=generator(11))
    return values.to(torch.uint8), torch.tensor([[side, side]] * count)


@pytest.mark.parametrize(
    ("view", "channels", "probability"),
    [
        (ViewAugmentConfig(color_jitter_prob=0, grayscale_prob=0, blur_prob=0,
                           solarize_prob=0.3), 1, 0.3),
        (ViewAugmentConfig(color_jitter_prob=0, grayscale_prob=0.2, blur_prob=0,
                           solarize_prob=0), 3, 0.2),
        (ViewAugmentConfig(color_jitter_prob=0.6, grayscale_prob=0, blur_prob=0,
                           solarize_prob=0), 3, 0.6),
        (ViewAugmentConfig(color_jitter_prob=0.8, grayscale_prob=0, blur_prob=0,
                           solarize_prob=0), 1, 0.8),
        (ViewAugmentConfig(color_jitter_prob=0, grayscale_prob=0, blur_prob=0.5,
                           solarize_prob=0), 3, 0.5),
    ],
    ids=["solarize", "grayscale", "jitter-rgb", "jitter-gray", "blur"],
)
def test_probabilities_are_respected_and_unselected_samples_untouched(
    view: ViewAugmentConfig, channels: int, probability: float
) -> None:
    mean, std = (MEAN1, STD1) if channels == 1 else (MEAN3, STD3)
    augment = TwoViewAugment(whole_image_config(view), 8, channels, mean, std)
    images, sizes = bright_images(512, channels)
    out = augment.view(images, sizes, view, generator(2))
    # Every selected sample changes, so the changed fraction is the selected fraction.
    assert_fraction_near(changed_samples(out, whole_image_reference(images, 8, mean, std)),
                         probability)


def test_grayscale_makes_channels_equal() -> None:
    view = ViewAugmentConfig(color_jitter_prob=0, grayscale_prob=1, blur_prob=0, solarize_prob=0)
    augment = TwoViewAugment(whole_image_config(view), 8, 3, (0.5,) * 3, (0.25,) * 3)
    images, sizes = bright_images(4, 3)
    out = augment.view(images, sizes, view, generator())
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])


# ------------------------------------------------------------------------- photometric ops
def high_frequency_energy(x: torch.Tensor) -> torch.Tensor:
    """[B] mean squared difference between horizontal and vertical neighbours."""
    dx = (x[..., :, 1:] - x[..., :, :-1]).pow(2).flatten(1).mean(1)
    dy = (x[..., 1:, :] - x[..., :-1, :]).pow(2).flatten(1).mean(1)
    return dx + dy


@pytest.mark.parametrize("channels", [1, 3])
def test_blur_reduces_high_frequency_energy(channels: int) -> None:
    view = ViewAugmentConfig(color_jitter_prob=0, grayscale_prob=0, blur_prob=1,
                             blur_sigma=(1.0, 2.0), solarize_prob=0)
    mean, std = (MEAN1, STD1) if channels == 1 else (MEAN3, STD3)
    augment = TwoViewAugment(whole_image_config(view), 16, channels, mean, std)
    images, sizes = padded_batch([(16, 16)] * 8, channels)
    blurred = augment.view(images, sizes, view, generator())
    sharp = whole_image_reference(images, 16, mean, std)
    assert (high_frequency_energy(blurred) < 0.25 * high_frequency_energy(sharp)).all()


def test_gaussian_blur_matches_torchvision_per_sample() -> None:
    images = torch.rand(4, 3, 20, 20, generator=generator())
    sigmas = torch.tensor([0.3, 0.8, 1.5, 2.0])
    radius = 6
    blurred = gaussian_blur(images, sigmas, radius)
    for image, sigma, result in zip(images, sigmas.tolist(), blurred, strict=True):
        reference = TF.gaussian_blur(image, kernel_size=[2 * radius + 1] * 2, sigma=[sigma] * 2)
        torch.testing.assert_close(result, reference, rtol=0, atol=1e-5)


def test_gaussian_blur_keeps_constant_images() -> None:
    images = torch.full((2, 1, 9, 9), 0.3)
    torch.testing.assert_close(gaussian_blur(images, torch.tensor([0.5, 3.0]), 4), images)


def test_hue_rotation_follows_torchvision_direction_and_period() -> None:
    image = torch.rand(1, 3, 16, 16, generator=generator(4))
    image = ((image - image.mean(dim=1, keepdim=True)) * 2 + 0.5).clamp(0, 1)  # saturated
    for shift in (0.05, 0.1, -0.1):
        reference = TF.adjust_hue(image, shift)
        error = (rotate_hue(image, torch.tensor([shift])) - reference).abs().mean()
        wrong_way = (rotate_hue(image, torch.tensor([-shift])) - reference).abs().mean()
        assert error < 0.6 * wrong_way
    torch.testing.assert_close(rotate_hue(image, torch.tensor([1.0])), image, atol=1e-5, rtol=0)
    gray = torch.full((1, 3, 4, 4), 0.4)
    torch.testing.assert_close(rotate_hue(gray, torch.tensor([0.3])), gray, atol=1e-6, rtol=0)


def test_contrast_blends_toward_the_mean_gray_level() -> None:
    image = torch.rand(2, 3, 8, 8, generator=generator(6))
    flat = adjust_contrast(image, torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(flat[0], to_grayscale(image[:1]).mean().expand(3, 8, 8))
    torch.testing.assert_close(flat[1], image[1])


def test_normalize_uses_per_channel_statistics() -> None:
    x = torch.full((2, 3, 4, 4), 0.5)
    out = normalize(x, MEAN3, STD3)
    expected = (0.5 - torch.tensor(MEAN3)) / torch.tensor(STD3)
    torch.testing.assert_close(out[:, :, 0, 0], expected.expand(2, 3))


def test_mismatched_channels_are_rejected() -> None:
    config = AugmentConfig(view1=mocov2_view(), view2=mocov2_view())
    with pytest.raises(ValueError, match="mean and std"):
        TwoViewAugment(config, 16, 3, MEAN1, STD1)
    augment = TwoViewAugment(config, 16, 1, MEAN1, STD1)
    images, sizes = padded_batch([(10, 10)], 3)
    with pytest.raises(ValueError, match="channels"):
        augment(images, sizes, generator())
    with pytest.raises(ValueError, match="resolve"):
        TwoViewAugment(AugmentConfig(), 16, 1, MEAN1, STD1)
