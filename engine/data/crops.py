"""Batched crop geometry: random-resized-crop boxes at native resolution, crop-and-resize,
and the tile grid used to embed large images.

A box is float ``(x1, y1, x2, y2)`` in native pixel coordinates, pixel ``i`` covering
``[i, i + 1)``; ``(0, 0, width, height)`` is the whole image. Images arrive as a zero-padded
batch (each image top-left aligned in ``[B, C, Hmax, Wmax]``), so every box must lie inside
its own image's true size, which ``sample_crop_boxes`` guarantees.
"""

from __future__ import annotations

import math

import torch
from torchvision.ops import roi_align

from engine.schemas.pretrain import CropConfig

# Random-resized-crop tries per image, drawn at once; torchvision's RandomResizedCrop uses ten.
CROP_TRIES = 10


def _uniform(low: float, high: float, shape: tuple[int, ...], generator: torch.Generator,
             device: torch.device) -> torch.Tensor:
    """float32 ``shape`` drawn uniformly from [low, high)."""
    return low + (high - low) * torch.rand(shape, generator=generator, device=device)


def _log_uniform(low: float, high: float, shape: tuple[int, ...], generator: torch.Generator,
                 device: torch.device) -> torch.Tensor:
    """float32 ``shape`` whose logarithm is uniform in [log low, log high)."""
    return torch.exp(_uniform(math.log(low), math.log(high), shape, generator, device))


def _fraction_crop_sides(heights: torch.Tensor, widths: torch.Tensor, crop: CropConfig,
                         generator: torch.Generator
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Crop (width, height) [B] each covering a fraction of the area, and fallback [B] bool.

    ``CROP_TRIES`` tries per image at once: area fraction uniform in ``crop.scale``, aspect
    ratio (width / height) log-uniform in ``crop.ratio``; the first try that fits the image
    wins. An image where none fits gets the largest crop with an allowed aspect ratio, to be
    centered (``fallback`` is True there).
    """
    count, device = heights.shape[0], heights.device
    shape = (count, CROP_TRIES)
    areas = _uniform(*crop.scale, shape, generator, device) * (heights * widths)[:, None]
    ratios = _log_uniform(*crop.ratio, shape, generator, device)
    try_widths, try_heights = torch.sqrt(areas * ratios), torch.sqrt(areas / ratios)
    fits = (try_widths <= widths[:, None]) & (try_heights <= heights[:, None])
    first_fit = torch.argmax(fits.to(torch.uint8), dim=1, keepdim=True)  # 0 when none fits
    crop_widths = try_widths.gather(1, first_fit).squeeze(1)
    crop_heights = try_heights.gather(1, first_fit).squeeze(1)

    min_ratio, max_ratio = crop.ratio
    image_ratios = widths / heights
    fallback_widths = torch.where(image_ratios > max_ratio, heights * max_ratio, widths)
    fallback_heights = torch.where(image_ratios < min_ratio, widths / min_ratio, heights)
    fallback = ~fits.any(dim=1)
    crop_widths = torch.where(fallback, fallback_widths.minimum(widths), crop_widths)
    crop_heights = torch.where(fallback, fallback_heights.minimum(heights), crop_heights)
    return crop_widths, crop_heights, fallback


def _pixel_crop_sides(heights: torch.Tensor, widths: torch.Tensor, crop: CropConfig,
                      generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop (width, height) [B] whose side sqrt(width * height) is uniform in ``crop.scale``
    native pixels, aspect ratio log-uniform in ``crop.ratio``; each side clamped to the image
    (and to at least one pixel)."""
    count, device = heights.shape[0], heights.device
    sides = _uniform(*crop.scale, (count,), generator, device)
    ratio_roots = torch.sqrt(_log_uniform(*crop.ratio, (count,), generator, device))
    crop_widths = (sides * ratio_roots).clamp(min=1.0).minimum(widths)
    crop_heights = (sides / ratio_roots).clamp(min=1.0).minimum(heights)
    return crop_widths, crop_heights


def sample_crop_boxes(sizes: torch.Tensor, crop: CropConfig, generator: torch.Generator,
                      near: torch.Tensor | None = None, min_overlap: float = 0.0
                      ) -> torch.Tensor:
    """One random-resized-crop box per image: sizes int64 [B, 2] (height, width) -> float32
    boxes [B, 4] (x1, y1, x2, y2) inside each image.

    ``crop.unit == "fraction"``: torchvision RandomResizedCrop semantics (see
    ``_fraction_crop_sides``), without rounding the box to whole pixels. ``"pixels"``: the
    side is drawn in native pixels (see ``_pixel_crop_sides``). The position is uniform over
    the places the box fits, except for a fraction-mode fallback, which is centered. With
    ``near`` (boxes [B, 4], one per image), it is uniform over the places where the new box
    also shares at least ``min_overlap`` of the shorter of the two sides with ``near`` along
    each axis (see ``_positions_near``). All randomness comes from ``generator``, which must
    live on ``sizes.device``.
    """
    heights, widths = sizes[:, 0].float(), sizes[:, 1].float()
    count, device = sizes.shape[0], sizes.device
    if crop.unit == "fraction":
        crop_widths, crop_heights, centered = _fraction_crop_sides(heights, widths, crop,
                                                                   generator)
    else:
        crop_widths, crop_heights = _pixel_crop_sides(heights, widths, crop, generator)
        centered = torch.zeros(count, dtype=torch.bool, device=device)
    position = torch.rand(count, 2, generator=generator, device=device)
    position = torch.where(centered[:, None], 0.5, position)
    if near is None:
        x1 = position[:, 0] * (widths - crop_widths)
        y1 = position[:, 1] * (heights - crop_heights)
    else:
        near = near.to(device=device, dtype=torch.float32)
        x1 = _positions_near(near[:, 0], near[:, 2], crop_widths, widths, min_overlap,
                             position[:, 0])
        y1 = _positions_near(near[:, 1], near[:, 3], crop_heights, heights, min_overlap,
                             position[:, 1])
    # minimum(): x1 + width may round one ulp past the border.
    x2 = (x1 + crop_widths).minimum(widths)
    y2 = (y1 + crop_heights).minimum(heights)
    return torch.stack([x1, y1, x2, y2], dim=1)


def _positions_near(near_start: torch.Tensor, near_end: torch.Tensor, sides: torch.Tensor,
                    length: torch.Tensor, min_overlap: float, uniform: torch.Tensor
                    ) -> torch.Tensor:
    """Starts [B] along one axis for boxes of ``sides`` [B] inside [0, length] that share at
    least ``min_overlap`` x min(side, near side) with [near_start, near_end] [B], placed at
    ``uniform`` [B] (in [0, 1)) along the allowed range.

    The range [near_start - side + shared, near_end - shared] met with [0, length - side] is
    never empty: ``near`` lies inside the image and ``shared`` is at most either side (the
    ``maximum`` below only absorbs float rounding at its ends).
    """
    shared = min_overlap * torch.minimum(sides, near_end - near_start)
    low = (near_start - sides + shared).clamp(min=0.0)
    high = torch.minimum(near_end - shared, length - sides).clamp(min=0.0)
    high = torch.maximum(high, low)
    return low + uniform * (high - low)


def _replicate_box_borders(pixels: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Copy each box's edge rows/columns one pixel outward, in place on float [B, C, H, W].

    ``roi_align`` samples bilinearly, and a sample in the outer half of a box's last pixel
    also reads the next pixel. In a padded batch that pixel may be zero padding, which would
    darken the crop's border. After this copy, what lies just outside box b in image b equals
    its edge, so a crop only ever sees pixels it overlaps (torchvision's crop-then-resize
    behaves the same way). Rows first, then columns, so the corners are covered too.
    """
    for axis, low, high in ((2, boxes[:, 1], boxes[:, 3]), (3, boxes[:, 0], boxes[:, 2])):
        length = pixels.shape[axis]
        first_inside = low.floor().long().clamp(0, length - 1)
        last_inside = (high.ceil().long() - 1).clamp(0, length - 1)
        # Where the neighbour falls off the image, copy a line onto itself (a no-op).
        before = torch.where(first_inside > 0, first_inside - 1, first_inside)
        after = torch.where(last_inside < length - 1, last_inside + 1, last_inside)
        for source, target in ((first_inside, before), (last_inside, after)):
            index_shape = [-1, 1, 1, 1]
            expand_shape = list(pixels.shape)
            expand_shape[axis] = 1
            source_index = source.view(index_shape).expand(expand_shape)
            target_index = target.view(index_shape).expand(expand_shape)
            pixels.scatter_(axis, target_index, pixels.gather(axis, source_index))
    return pixels


def crop_and_resize(images: torch.Tensor, boxes: torch.Tensor, out_size: int) -> torch.Tensor:
    """Cut box b out of image b and resize it to out_size x out_size.

    images: [B, C, H, W], uint8 (0..255) or float (0..1); boxes: [B, 4] as in the module
    docstring -> float32 [B, C, S, S] in [0, 1].

    One ``roi_align`` call for the whole batch (``aligned=True``: pixel i's center is at
    i + 0.5, matching the box convention). ``sampling_ratio=-1`` lets roi_align pick, per
    box, ceil(box side / S) evenly spaced bilinear samples per output pixel along each axis
    and average them: a box filter over each output pixel's footprint, so a downscaled crop
    is anti-aliased (close to an area resize) however large the box is, while an upscaled
    crop gets one sample, plain bilinear. The choice is per box and needs no host sync.
    Samples never read outside the pixels a box overlaps (see ``_replicate_box_borders``),
    so the zero padding of a mixed-size batch never leaks in.

    Memory: one float32 copy of ``images`` (an expanded view is materialized).
    """
    pixels = images.to(dtype=torch.float32, memory_format=torch.contiguous_format, copy=True)
    if images.dtype == torch.uint8:
        pixels.div_(255.0)
    boxes = boxes.to(device=pixels.device, dtype=torch.float32)
    pixels = _replicate_box_borders(pixels, boxes)
    owners = torch.arange(boxes.shape[0], device=pixels.device, dtype=torch.float32)
    rois = torch.cat([owners[:, None], boxes], dim=1)
    resized = roi_align(pixels, rois, output_size=out_size, spatial_scale=1.0,
                        sampling_ratio=-1, aligned=True)
    return resized.clamp_(0.0, 1.0)


def _smallest_fitting_tile(height: int, width: int, tile: int, max_tiles: int) -> int:
    """Smallest tile side >= ``tile`` whose grid over height x width has <= max_tiles tiles."""
    if math.ceil(height / tile) * math.ceil(width / tile) <= max_tiles:
        return tile
    # A grid of rows x (max_tiles // rows) tiles needs a side covering both directions.
    needed = min(
        max(math.ceil(height / rows), math.ceil(width / (max_tiles // rows)))
        for rows in range(1, max_tiles + 1)
    )
    return max(tile, needed)


def _evenly_spaced_starts(length: int, tile: int) -> torch.Tensor:
    """float32 [N] whole-pixel starts of the fewest tiles covering ``length``, first at 0,
    last ending at ``length``, evenly spaced (so neighbours overlap when needed)."""
    count = math.ceil(length / tile)
    if count == 1:
        return torch.zeros(1)
    return torch.linspace(0, length - tile, count).round()


def grid_tile_boxes(height: int, width: int, tile: int, max_tiles: int = 16) -> torch.Tensor:
    """Tiles covering a height x width image: float32 boxes [T, 4] (x1, y1, x2, y2), row-major,
    1 <= T <= max_tiles, on the CPU.

    Tiles are ``tile`` x ``tile`` native pixels (clamped to the image), evenly spaced and
    overlapping where the image is not a multiple of the tile. If covering the image would
    take more than ``max_tiles`` tiles, the tile grows to the smallest side that fits. An
    image no larger than the tile is one box, the whole image.
    """
    if height < 1 or width < 1 or tile < 1 or max_tiles < 1:
        raise ValueError(f"need positive sizes, got {height}x{width}, tile {tile}, "
                         f"max_tiles {max_tiles}")
    side = _smallest_fitting_tile(height, width, tile, max_tiles)
    tile_height, tile_width = min(side, height), min(side, width)
    y1, x1 = torch.meshgrid(_evenly_spaced_starts(height, tile_height),
                            _evenly_spaced_starts(width, tile_width), indexing="ij")
    y1, x1 = y1.reshape(-1), x1.reshape(-1)
    return torch.stack([x1, y1, x1 + tile_width, y1 + tile_height], dim=1)
