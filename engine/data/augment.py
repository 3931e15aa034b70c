"""Two-view augmentation, batched on the training device.

Each view, in the order of the torchvision MoCo v2 / BYOL pipelines: random-resized crop at
native resolution (``engine.data.crops``) -> horizontal / vertical flip, 90-degree turns ->
color jitter -> random grayscale -> Gaussian blur -> solarize -> normalize. Every random
parameter is drawn per sample from the ``torch.Generator`` passed in (re-seeding it
reproduces the views exactly), every op is vectorized over the batch (no Python loop over
samples, no host sync), and a sample a probability does not select is left bit-identical.

    augment = TwoViewAugment(config.augment, image_size=64, channels=1, mean=[0.4], std=[0.2])
    view1, view2 = augment(batch.images, batch.sizes, generator)   # float32 [B, 1, 64, 64] each
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from engine.data.crops import crop_and_resize, sample_crop_boxes
from engine.data.geometry import ViewGeometry
from engine.schemas.pretrain import AugmentConfig, CropConfig, ViewAugmentConfig

# ITU-R 601 luma, as torchvision's rgb_to_grayscale; also YIQ's Y row.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
SOLARIZE_THRESHOLD = 0.5
# Blur kernel radius in sigmas: covers 99.7% of the Gaussian's mass.
BLUR_RADIUS_SIGMAS = 3


def _chroma_quarter_turn() -> tuple[float, ...]:
    """Row-major 3 x 3 RGB -> RGB matrix: drop luma, turn the YIQ chroma (I, Q) by +90°.

    With it, turning the chroma by any angle t is gray + cos t (x - gray) + sin t (this @ x).
    """
    rgb_to_yiq = torch.tensor(
        [LUMA_WEIGHTS, (0.596, -0.274, -0.322), (0.211, -0.523, 0.312)], dtype=torch.float64
    )
    yiq_to_rgb = torch.linalg.inv(rgb_to_yiq)
    quarter_turn = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64)
    matrix = yiq_to_rgb[:, 1:] @ quarter_turn @ rgb_to_yiq[1:, :]
    return tuple(matrix.flatten().tolist())


CHROMA_QUARTER_TURN = _chroma_quarter_turn()


@functools.lru_cache(maxsize=64)
def _constant(values: tuple[float, ...], device: torch.device) -> torch.Tensor:
    """float32 [len(values)] on ``device``, copied there once (later calls do no transfer)."""
    return torch.tensor(values, dtype=torch.float32, device=device)


# ------------------------------------------------------------------ per-sample random draws
def _coin_flips(probability: float, count: int, generator: torch.Generator,
                device: torch.device) -> torch.Tensor:
    """bool [count], each True with ``probability``."""
    return torch.rand(count, generator=generator, device=device) < probability


def _uniform(low: float, high: float, count: int, generator: torch.Generator,
             device: torch.device) -> torch.Tensor:
    """float32 [count] uniform in [low, high)."""
    return low + (high - low) * torch.rand(count, generator=generator, device=device)


def _per_sample(values: torch.Tensor) -> torch.Tensor:
    """[B] -> [B, 1, 1, 1], to broadcast one value per image over [B, C, H, W]."""
    return values.view(-1, 1, 1, 1)


def _where_chosen(chosen: torch.Tensor, changed: torch.Tensor, original: torch.Tensor
                  ) -> torch.Tensor:
    """[B, C, H, W]: ``changed`` for images with chosen [B] True, else ``original`` as is."""
    return torch.where(_per_sample(chosen), changed, original)


# ------------------------------------------------------------------------------- the ops
def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """[B, C, H, W] in [0, 1] -> (x - mean[c]) / std[c], float like ``x``; mean, std: C floats."""
    mean_t = _constant(tuple(float(m) for m in mean), x.device).to(x.dtype).view(1, -1, 1, 1)
    std_t = _constant(tuple(float(s) for s in std), x.device).to(x.dtype).view(1, -1, 1, 1)
    return (x - mean_t) / std_t


def to_grayscale(x: torch.Tensor) -> torch.Tensor:
    """RGB [B, 3, H, W] -> luma [B, 1, H, W]; a one-channel [B, 1, H, W] is returned as is."""
    if x.shape[1] == 1:
        return x
    red, green, blue = x.unbind(dim=1)
    luma = LUMA_WEIGHTS[0] * red + LUMA_WEIGHTS[1] * green + LUMA_WEIGHTS[2] * blue
    return luma.unsqueeze(1)


def rotate_quarter_turns(x: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Square [B, C, S, S] turned counter-clockwise by turns [B] (0..3) quarter turns each.

    All four rotations are computed for the whole batch, then each image picks its own.
    """
    rotations = torch.stack([torch.rot90(x, quarter, dims=(2, 3)) for quarter in range(4)])
    return rotations[turns, torch.arange(x.shape[0], device=x.device)]


def adjust_brightness(x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] in [0, 1] times factors [B], clamped to [0, 1]."""
    return (x * _per_sample(factors)).clamp_(0.0, 1.0)


def adjust_contrast(x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Blend [B, C, H, W] with its mean gray level by factors [B] (0: flat gray, 1: as is)."""
    mean_gray = to_grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
    factors = _per_sample(factors)
    return (factors * x + (1 - factors) * mean_gray).clamp_(0.0, 1.0)


def adjust_saturation(x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Blend RGB [B, 3, H, W] with its grayscale by factors [B] (0: gray, 1: as is)."""
    factors = _per_sample(factors)
    return (factors * x + (1 - factors) * to_grayscale(x)).clamp_(0.0, 1.0)


def rotate_hue(x: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Shift the hue of RGB [B, 3, H, W] in [0, 1] by turns [B] of the color circle.

    A rotation of the chroma plane (I, Q) of YIQ space by -2π·turns, luma kept: a linear,
    vectorized approximation of torchvision's ``adjust_hue`` (a shift of HSV hue, same
    direction and period) that needs no per-pixel RGB <-> HSV conversion. Clamped to [0, 1].
    """
    angles = _per_sample(-2 * math.pi * turns)
    gray = to_grayscale(x)
    quarter_turn = _constant(CHROMA_QUARTER_TURN, x.device).to(x.dtype).view(3, 3)
    chroma_turned = torch.einsum("ij,bjhw->bihw", quarter_turn, x)
    turned = gray + torch.cos(angles) * (x - gray) + torch.sin(angles) * chroma_turned
    return turned.clamp_(0.0, 1.0)


def gaussian_blur(x: torch.Tensor, sigmas: torch.Tensor, radius: int) -> torch.Tensor:
    """Blur each image of [B, C, H, W] with its own sigma [B] (pixels) -> [B, C, H, W].

    Kernel: 2 * radius + 1 taps (radius < min(H, W)), one normalized [B, K] row per image.
    Two separable depthwise convolutions (groups = B * C) on the batch viewed as
    [1, B * C, H, W], with reflect padding.
    """
    batch, channels, height, width = x.shape
    if radius < 1:
        return x
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    sigmas = sigmas.to(x.dtype).clamp(min=1e-3)
    kernels = torch.exp(-0.5 * (offsets[None, :] / sigmas[:, None]) ** 2)  # [B, K]
    kernels = (kernels / kernels.sum(dim=1, keepdim=True)).repeat_interleave(channels, dim=0)
    taps, groups = 2 * radius + 1, batch * channels
    flat = x.reshape(1, groups, height, width)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="reflect"),
                    kernels.view(groups, 1, 1, taps), groups=groups)
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="reflect"),
                    kernels.view(groups, 1, taps, 1), groups=groups)
    return flat.view(batch, channels, height, width)


def blur_radius(max_sigma: float, image_size: int) -> int:
    """Radius of the blur kernel: ceil(3 sigma_max), capped so the kernel fits the image."""
    return max(0, min(math.ceil(BLUR_RADIUS_SIGMAS * max_sigma), (image_size - 1) // 2))


def solarize(x: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] in [0, 1]: values >= 0.5 become 1 - value, the rest stay."""
    return torch.where(x >= SOLARIZE_THRESHOLD, 1.0 - x, x)


# --------------------------------------------------------------------------- the pipeline
class TwoViewAugment:
    """Two independently augmented, normalized views of a padded uint8 batch.

    config: a resolved ``AugmentConfig`` (view1, view2 set); image_size: S, the side of the
    square views; channels: C (1 or 3); mean, std: C floats each, the data set's statistics.
    """

    def __init__(self, config: AugmentConfig, image_size: int, channels: int,
                 mean: Sequence[float], std: Sequence[float]) -> None:
        if config.view1 is None or config.view2 is None:
            raise ValueError("resolve the config first: augment.view1/view2 are unset")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if len(mean) != channels or len(std) != channels:
            raise ValueError(f"need {channels} mean and std values, got {len(mean)}, {len(std)}")
        if image_size < 1:
            raise ValueError(f"image_size must be positive, got {image_size}")
        self.config = config
        self.view_configs: tuple[ViewAugmentConfig, ViewAugmentConfig] = (config.view1,
                                                                          config.view2)
        self.image_size = image_size
        self.channels = channels
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)

    def __call__(self, images: torch.Tensor, sizes: torch.Tensor, generator: torch.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """images: uint8 [B, C, Hmax, Wmax] (zero-padded, top-left aligned); sizes: int64
        [B, 2] true (height, width) -> two normalized float32 [B, C, S, S] views, each with
        its own crop. ``generator`` lives on the images' device."""
        (view1, _), (view2, _) = self.with_geometry(images, sizes, generator)
        return view1, view2

    def with_geometry(self, images: torch.Tensor, sizes: torch.Tensor,
                      generator: torch.Generator,
                      second_images: tuple[torch.Tensor, torch.Tensor] | None = None,
                      ) -> tuple[tuple[torch.Tensor, ViewGeometry], ...]:
        """As ``__call__`` (the same views for the same generator state), each view with the
        geometry that cut it: ((view1, geometry1), (view2, geometry2)). ``second_images``:
        (images, sizes) to cut view 2 from instead, row for row (another shot of each
        image's part, ``engine.data.other_shots``)."""
        first, second = self.view_configs
        images2, sizes2 = second_images if second_images is not None else (images, sizes)
        view1, geometry1 = self.view_with_geometry(images, sizes, first, generator)
        near = None if self.config.view_overlap is None else geometry1.boxes
        view2 = self._cut_and_augment(images2, sizes2, self.config.crop, self.image_size,
                                      second, generator, near)
        return (view1, geometry1), view2

    def view(self, images: torch.Tensor, sizes: torch.Tensor, view_config: ViewAugmentConfig,
             generator: torch.Generator) -> torch.Tensor:
        """One augmented view: uint8 [B, C, Hmax, Wmax], sizes [B, 2] -> float32 [B, C, S, S]."""
        return self.view_with_geometry(images, sizes, view_config, generator)[0]

    def view_with_geometry(self, images: torch.Tensor, sizes: torch.Tensor,
                           view_config: ViewAugmentConfig, generator: torch.Generator
                           ) -> tuple[torch.Tensor, ViewGeometry]:
        """``view`` and the geometry that cut it from the images."""
        return self._cut_and_augment(images, sizes, self.config.crop, self.image_size,
                                     view_config, generator)

    def local_views(self, images: torch.Tensor, sizes: torch.Tensor,
                    generator: torch.Generator) -> torch.Tensor:
        """Multi-crop's small views (``config.local_crops``): uint8 [B, C, Hmax, Wmax], sizes
        [B, 2] -> float32 [L, B, C, s, s], L = ``local_crops.count``, s = its size, each with
        its own crop and view 2's photometric pipeline. Drawn after the global views, so
        turning them on leaves those unchanged for the same generator state."""
        local = self.config.local_crops
        if local.count == 0 or local.size is None or local.crop is None:
            raise ValueError("no local crops: resolve a config with augment.local_crops.count > 0")
        assert self.config.view2 is not None
        return torch.stack([
            self._cut_and_augment(images, sizes, local.crop, local.size, self.config.view2,
                                  generator)[0]
            for _ in range(local.count)
        ])

    def _cut_and_augment(self, images: torch.Tensor, sizes: torch.Tensor, crop: CropConfig,
                         size: int, view_config: ViewAugmentConfig,
                         generator: torch.Generator, near: torch.Tensor | None = None
                         ) -> tuple[torch.Tensor, ViewGeometry]:
        """One view of side ``size`` cut as ``crop`` says, with the geometry that cut it;
        ``near``: boxes [B, 4] the crops must overlap by ``config.view_overlap``."""
        x, geometry = self._cut_with_geometry(images, sizes, crop, size, generator, near)
        return self.photometric(x, view_config, generator), geometry

    def cut(self, images: torch.Tensor, sizes: torch.Tensor, generator: torch.Generator
            ) -> torch.Tensor:
        """The geometric half of a view: uint8 [B, C, Hmax, Wmax], sizes [B, 2] -> float32
        [B, C, S, S] in [0, 1], cropped as ``config.crop`` says, flipped and turned, not yet
        recolored nor normalized (``photometric`` does both). Views that must show the same
        pixels (FixMatch's weak and strong) are recolored from one cut."""
        return self._cut_with_geometry(images, sizes, self.config.crop, self.image_size,
                                       generator)[0]

    def _cut_with_geometry(self, images: torch.Tensor, sizes: torch.Tensor, crop: CropConfig,
                           size: int, generator: torch.Generator,
                           near: torch.Tensor | None = None
                           ) -> tuple[torch.Tensor, ViewGeometry]:
        """``cut`` at side ``size`` with ``crop``, and the geometry that cut it; ``near`` as
        in ``_cut_and_augment``."""
        if images.shape[1] != self.channels:
            raise ValueError(f"expected {self.channels} channels, got images {tuple(images.shape)}")
        overlap = self.config.view_overlap or 0.0
        boxes = sample_crop_boxes(sizes, crop, generator, near, overlap)
        return self._flip_and_turn(crop_and_resize(images, boxes, size), boxes, generator)

    def photometric(self, x: torch.Tensor, view_config: ViewAugmentConfig,
                    generator: torch.Generator) -> torch.Tensor:
        """The photometric half of a view: float32 [B, C, S, S] in [0, 1] -> recolored,
        blurred, solarized as ``view_config`` says, normalized."""
        x = self._jitter_colors(x, view_config, generator)
        x = self._random_grayscale(x, view_config.grayscale_prob, generator)
        x = self._random_blur(x, view_config, generator)
        x = self._random_solarize(x, view_config.solarize_prob, generator)
        return normalize(x, self.mean, self.std)

    def _flip_and_turn(self, x: torch.Tensor, boxes: torch.Tensor, generator: torch.Generator
                       ) -> tuple[torch.Tensor, ViewGeometry]:
        """[B, C, S, S]: horizontal flip, vertical flip, then a random number of quarter
        turns; with the geometry of the crop ``boxes`` [B, 4] and of those draws."""
        config, count, device = self.config, x.shape[0], x.device
        geometry = ViewGeometry.unflipped(boxes)
        hflip, vflip, turns = geometry.hflip, geometry.vflip, geometry.turns
        if config.hflip_prob > 0:
            hflip = _coin_flips(config.hflip_prob, count, generator, device)
            x = _where_chosen(hflip, x.flip(3), x)
        if config.vflip_prob > 0:
            vflip = _coin_flips(config.vflip_prob, count, generator, device)
            x = _where_chosen(vflip, x.flip(2), x)
        if config.rotate90:
            turns = torch.randint(0, 4, (count,), generator=generator, device=device)
            x = rotate_quarter_turns(x, turns)
        return x, ViewGeometry(boxes, hflip, vflip, turns)

    @staticmethod
    def _jitter_colors(x: torch.Tensor, view_config: ViewAugmentConfig,
                       generator: torch.Generator) -> torch.Tensor:
        """[B, C, S, S], with probability color_jitter_prob per image: brightness, contrast,
        saturation and hue in that fixed order (torchvision shuffles it), clamped after each.
        Saturation and hue need color and skip one-channel images."""
        if view_config.color_jitter_prob == 0:
            return x
        count, device = x.shape[0], x.device
        chosen = _coin_flips(view_config.color_jitter_prob, count, generator, device)
        brightness, contrast, saturation = (
            _uniform(max(0.0, 1 - strength), 1 + strength, count, generator, device)
            for strength in (view_config.brightness, view_config.contrast, view_config.saturation)
        )
        hue = _uniform(-view_config.hue, view_config.hue, count, generator, device)
        jittered = x
        if view_config.brightness > 0:
            jittered = adjust_brightness(jittered, brightness)
        if view_config.contrast > 0:
            jittered = adjust_contrast(jittered, contrast)
        if x.shape[1] == 3 and view_config.saturation > 0:
            jittered = adjust_saturation(jittered, saturation)
        if x.shape[1] == 3 and view_config.hue > 0:
            jittered = rotate_hue(jittered, hue)
        return _where_chosen(chosen, jittered, x)

    @staticmethod
    def _random_grayscale(x: torch.Tensor, probability: float, generator: torch.Generator
                          ) -> torch.Tensor:
        """RGB [B, 3, S, S]: each image replaced by its luma in all three channels with
        ``probability``. One-channel images are returned as is."""
        if x.shape[1] == 1 or probability == 0:
            return x
        chosen = _coin_flips(probability, x.shape[0], generator, x.device)
        return _where_chosen(chosen, to_grayscale(x).expand_as(x), x)

    @staticmethod
    def _random_blur(x: torch.Tensor, view_config: ViewAugmentConfig,
                     generator: torch.Generator) -> torch.Tensor:
        """[B, C, S, S]: with blur_prob per image, a Gaussian blur of sigma ~ U(blur_sigma).

        The whole batch is blurred (one kernel per image) and the unchosen images kept: cheaper
        on a GPU than gathering the chosen ones, which would need a host sync.
        """
        radius = blur_radius(view_config.blur_sigma[1], min(x.shape[2], x.shape[3]))
        if view_config.blur_prob == 0 or radius < 1:
            return x
        count, device = x.shape[0], x.device
        chosen = _coin_flips(view_config.blur_prob, count, generator, device)
        sigmas = _uniform(*view_config.blur_sigma, count, generator, device)
        return _where_chosen(chosen, gaussian_blur(x, sigmas, radius), x)

    @staticmethod
    def _random_solarize(x: torch.Tensor, probability: float, generator: torch.Generator
                         ) -> torch.Tensor:
        """[B, C, S, S]: each image solarized with ``probability``."""
        if probability == 0:
            return x
        chosen = _coin_flips(probability, x.shape[0], generator, x.device)
        return _where_chosen(chosen, solarize(x), x)
