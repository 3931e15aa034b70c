/** The admin page's devices: each worker's GPUs (or CPU) as fractions to chart. */

import type { Schemas } from "../api/client";

type Worker = Schemas["WorkerOut"];

export interface DeviceRow {
  label: string;
  kind: string;
  memory: number | null; // used / total
  utilization: number | null;
}

/** Utilization as a fraction: workers report 0–1 (older ones 0–100). */
export function utilizationFraction(value: number | null | undefined): number | null {
  if (value === null || value === undefined) return null;
  return Math.min(1, Math.max(0, value > 1 ? value / 100 : value));
}

/** One row per device of the online workers, GPUs first. */
export function deviceRows(workers: Worker[]): DeviceRow[] {
  const rows = workers
    .filter((worker) => worker.online)
    .flatMap((worker) =>
      worker.devices.map((device) => ({
        label: device.kind === "cuda" ? `${worker.name} · GPU ${device.index}` : `${worker.name} · CPU`,
        kind: device.kind,
        memory: device.memory_total_bytes > 0 ? device.memory_used_bytes / device.memory_total_bytes : null,
        utilization: utilizationFraction(device.utilization),
      })),
    );
  return rows.sort((a, b) => Number(b.kind === "cuda") - Number(a.kind === "cuda"));
}

/** Whether any online worker has a GPU. */
export function hasGpu(workers: Worker[]): boolean {
  return deviceRows(workers).some((row) => row.kind === "cuda");
}
