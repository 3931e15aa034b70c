"""What a worker runs on: GPU name, memory used/total, utilization — or its CPU.

NVML (the ``nvidia-ml-py`` package) answers without touching CUDA; without it, torch.cuda is
asked only when torch is already loaded in this process (importing it just to look would cost
a worker seconds and a CUDA context); otherwise the worker reports its CPU and memory.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def _visible_indices(count: int) -> list[int]:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return list(range(count))
    return [int(part) for part in visible.split(",") if part.strip().isdigit()]


def _nvml_devices() -> list[dict[str, Any]] | None:
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:
        return None
    try:
        devices = []
        for index in _visible_indices(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            name = pynvml.nvmlDeviceGetName(handle)
            devices.append({
                "kind": "cuda", "index": index,
                "name": name.decode() if isinstance(name, bytes) else name,
                "memory_used_bytes": int(memory.used), "memory_total_bytes": int(memory.total),
                "utilization": float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu) / 100})
        return devices
    finally:
        pynvml.nvmlShutdown()


def _torch_devices() -> list[dict[str, Any]] | None:
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    devices = []
    for index in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(index)
        try:
            utilization = torch.cuda.utilization(index) / 100
        except Exception:  # needs NVML too
            utilization = None
        devices.append({"kind": "cuda", "index": index,
                        "name": torch.cuda.get_device_name(index),
                        "memory_used_bytes": int(total - free),
                        "memory_total_bytes": int(total), "utilization": utilization})
    return devices


def _cpu_device() -> dict[str, Any]:
    total = used = 0
    try:
        with open("/proc/meminfo") as meminfo:
            fields = dict(line.split(":", 1) for line in meminfo)
        total = int(fields["MemTotal"].split()[0]) * 1024
        used = total - int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    cores = os.cpu_count() or 1
    return {"kind": "cpu", "index": 0, "name": f"{cores}-core CPU",
            "memory_used_bytes": used, "memory_total_bytes": total,
            "utilization": round(min(1.0, load / cores), 3)}


def describe_devices() -> list[dict[str, Any]]:
    return _nvml_devices() or _torch_devices() or [_cpu_device()]
