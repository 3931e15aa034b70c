"""Exporting a model directory to ONNX or TorchScript, preprocessing baked in.

The exported graph takes what a camera gives — a uint8 image [1, C, H, W] — and does what
``predict`` does: classify resizes and normalizes, then returns class probabilities [1, K];
anomaly scales and standardizes, scores every patch against the memory bank and returns the
image score [1] and the anomaly map [1, H, W] (one tile: an image the model would tile is
scored whole by the export); detect and segment resize and normalize inside the detector and
return its boxes, class indices and scores (segment: each box's mask probabilities too), all
of them, best first — the model card's score threshold is for the caller to apply. The
export is run on a real image beside the eager model and the largest absolute difference of
their outputs is reported.

A detector is exported by tracing (torchvision writes its detectors to be traced; the number
of boxes stays data-dependent), to ONNX through the TorchScript-based exporter: the
dynamo-based one cannot follow non-maximum suppression's data-dependent shapes.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN

from engine.data.decode import decode_image
from engine.downstream.anomaly import load_anomaly_model
from engine.downstream.classify import load_classifier
from engine.downstream.detection_model import load_detector
from engine.downstream.model_dir import PARITY_SAMPLE, ModelCard, load_card, load_weights
from engine.downstream.patchcore import MAP_SIGMA, PatchCore
from engine.errors import HatcheryInputError

Format = Literal["onnx", "torchscript"]
OPSET = 18


class ClassifierGraph(nn.Module):
    """uint8 [1, C, H, W] -> class probabilities [1, K]."""

    def __init__(self, classifier: nn.Module, image_size: int, mean: list[float],
                 std: list[float]) -> None:
        super().__init__()
        self.classifier, self.image_size = classifier, image_size
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image.float() / 255.0
        x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear",
                          antialias=True, align_corners=False)
        return self.classifier((x - self.mean) / self.std).softmax(dim=1)


class AnomalyGraph(nn.Module):
    """uint8 [1, C, H, W] -> (image score [1], anomaly map [1, H, W])."""

    def __init__(self, model: PatchCore) -> None:
        super().__init__()
        self.extractor = model.extractor
        self.scale, self.even_lighting = model.scale, model.even_lighting
        self.register_buffer("bank", model.bank)
        self.register_buffer("bank_norms", model.bank.pow(2).sum(1))
        self.register_buffer("mean", torch.tensor(model.mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(model.std).view(1, -1, 1, 1))
        radius = math.ceil(3 * MAP_SIGMA)
        offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
        kernel = torch.exp(-0.5 * (offsets / MAP_SIGMA) ** 2)
        self.register_buffer("kernel", (kernel / kernel.sum()).view(1, 1, 1, -1))
        self.radius = radius

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        height, width = image.shape[-2], image.shape[-1]
        x = image.float() / 255.0
        if self.scale != 1.0:
            x = F.interpolate(x, scale_factor=self.scale, mode="bilinear",
                              antialias=self.scale < 1, align_corners=False,
                              recompute_scale_factor=True)
        if self.even_lighting:
            x = (x - x.mean(dim=(2, 3), keepdim=True)) / x.std(
                dim=(2, 3), keepdim=True).clamp_min(1e-3)
        else:
            x = (x - self.mean) / self.std
        features, _ = self.extractor(x)  # [1, D, h, w]
        dims, rows, columns = features.shape[1], features.shape[2], features.shape[3]
        patches = features.reshape(dims, rows * columns).transpose(0, 1)
        squared = (patches.pow(2).sum(1, keepdim=True) - 2 * patches @ self.bank.transpose(0, 1)
                   + self.bank_norms)
        distances = squared.min(dim=1).values.clamp_min(0).sqrt()
        patch_map = distances.reshape(1, 1, rows, columns)
        native = F.interpolate(patch_map, size=(height, width), mode="bilinear",
                               align_corners=False)
        smoothed = F.conv2d(F.pad(native, (self.radius, self.radius, 0, 0), mode="reflect"),
                            self.kernel)
        smoothed = F.conv2d(F.pad(smoothed, (0, 0, self.radius, self.radius), mode="reflect"),
                            self.kernel.transpose(2, 3))
        return distances.max().reshape(1), smoothed[:, 0]


class DetectorGraph(nn.Module):
    """uint8 [1, C, H, W] -> boxes [K, 4] (x0, y0, x1, y1, image pixels), class indices [K]
    (into the card's class names), scores [K]; with masks, mask probabilities [K, H, W]."""

    def __init__(self, detector: GeneralizedRCNN, masks: bool) -> None:
        super().__init__()
        self.detector, self.masks = detector, masks

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        found = self.detector([image[0].float() / 255.0])[0]
        outputs = (found["boxes"], found["labels"] - 1, found["scores"])
        return (*outputs, found["masks"][:, 0]) if self.masks else outputs


SAMPLE_SIDE = 256  # the side of the generated sample image when none is given


def export_model(model_dir: str | Path, format: Format, out: str | Path | None = None,
                 sample: str | Path | None = None) -> dict[str, Any]:
    """Write ``out`` (default: ``model.onnx`` / ``model.torchscript.pt`` in the model
    directory); run it and the eager model on one image and report the largest absolute
    difference of their outputs. The image: ``sample``, else the validation image a
    detector keeps in its model directory, else a random one."""
    device = torch.device("cpu")
    card = load_card(model_dir)
    prep = card.preprocessing
    image, sample_source = _parity_image(model_dir, card, sample)
    if out is None:
        out = Path(model_dir) / ("model.onnx" if format == "onnx" else "model.torchscript.pt")
    if card.task == "classify":
        classifier, card = load_classifier(model_dir, device)
        graph: nn.Module = ClassifierGraph(classifier, prep.image_size, prep.mean, prep.std)
        names = ["probabilities"]
    elif card.task == "anomaly":
        model, card = load_anomaly_model(model_dir, device)
        graph = AnomalyGraph(model)
        names = ["score", "anomaly_map"]
    else:
        detector, card = load_detector(model_dir, device)
        graph = DetectorGraph(detector, masks=card.task == "segment")
        names = ["boxes", "classes", "scores", *(["masks"] if card.task == "segment" else [])]
    graph.eval()
    with torch.no_grad():
        eager = _as_tuple(graph(image))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    traced_by_torchscript = isinstance(graph, DetectorGraph)
    if format == "torchscript":
        with torch.no_grad(), _tracer_warnings_quiet():
            traced = torch.jit.trace(graph, image, check_trace=False)
        traced.save(str(out))
        with torch.no_grad():
            exported = _as_tuple(torch.jit.load(str(out))(image))
    else:
        exported = _onnx(graph, image, names, out, traced_by_torchscript)
    report = {"model": str(model_dir), "task": card.task, "format": format, "out": str(out),
              "outputs": names, "sample": sample_source,
              "max_abs_difference": _largest_difference(eager, exported, names)}
    if isinstance(graph, DetectorGraph):
        # parity over no box at all says little: the report shows how many were compared
        report["objects_compared"] = int(eager[0].shape[0])
    return report


def _parity_image(model_dir: str | Path, card: ModelCard, sample: str | Path | None
                  ) -> tuple[torch.Tensor, str]:
    """uint8 [1, C, H, W] to measure parity on, and where it came from in words."""
    prep = card.preprocessing
    if sample is not None:
        return decode_image(sample, prep.channels, prep.bit_depth).unsqueeze(0), str(sample)
    kept = load_weights(model_dir).get(PARITY_SAMPLE)
    if kept is not None:
        return kept.unsqueeze(0), "the validation image kept in the model directory"
    generator = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (1, prep.channels, SAMPLE_SIDE, SAMPLE_SIDE),
                          generator=generator, dtype=torch.uint8)
    return image, f"a random {SAMPLE_SIDE} px image"


def _largest_difference(eager: tuple[torch.Tensor, ...], exported: tuple[Any, ...],
                        names: list[str]) -> float:
    """The largest absolute difference between matching outputs (0 for empty ones); an
    export whose output has another shape (a detector that found another number of boxes)
    is no match at all and fails."""
    largest = 0.0
    for name, mine, theirs in zip(names, eager, exported, strict=True):
        theirs = torch.as_tensor(theirs)
        if mine.shape != theirs.shape:
            raise RuntimeError(f"the export's {name} has shape {tuple(theirs.shape)}, the "
                               f"model's {tuple(mine.shape)}: the export does not match")
        if mine.numel():
            largest = max(largest, float((mine.double() - theirs.double()).abs().max()))
    return largest


def _as_tuple(value: Any) -> tuple[torch.Tensor, ...]:
    return tuple(value) if isinstance(value, tuple | list) else (value,)


@contextlib.contextmanager
def _tracer_warnings_quiet() -> Iterator[None]:
    """Tracing a detector warns about every Python number it records; those are the sizes
    torchvision recomputes from the traced image's shape, so the warnings say nothing."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


def _onnx(graph: nn.Module, image: torch.Tensor, names: list[str], out: Path,
          traced_by_torchscript: bool) -> tuple[torch.Tensor, ...]:
    """Export ``graph`` to ONNX with the image's height and width dynamic (by the dynamo
    exporter, or with ``traced_by_torchscript`` the TorchScript one) and run it with
    onnxruntime on ``image``."""
    try:
        import onnxruntime
    except ImportError:
        raise HatcheryInputError("ONNX export needs onnx and onnxruntime: pip install "
                                 "'hatchery[export]'") from None
    if traced_by_torchscript:
        with torch.no_grad(), _tracer_warnings_quiet():
            torch.onnx.export(graph, (image,), str(out), input_names=["image"],
                              output_names=names, opset_version=OPSET, dynamo=False,
                              dynamic_axes={"image": {2: "height", 3: "width"}})
    else:
        torch.onnx.export(graph, (image,), str(out), input_names=["image"],
                          output_names=names,
                          dynamic_shapes=({2: torch.export.Dim("height", min=32, max=16384),
                                           3: torch.export.Dim("width", min=32, max=16384)},),
                          opset_version=OPSET, dynamo=True, verbose=False)
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    return tuple(torch.from_numpy(value) for value in session.run(None, {"image": image.numpy()}))
