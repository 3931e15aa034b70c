import { describe, expect, it } from "vitest";
import type { Schemas } from "../src/api/client";
import { deviceRows, hasGpu, utilizationFraction } from "../src/lib/devices";

const worker = (name: string, online: boolean, devices: Partial<Schemas["DeviceOut"]>[]) =>
  ({ name, online, devices }) as Schemas["WorkerOut"];

describe("the admin page's devices", () => {
  it("charts the online workers' GPUs first, as fractions", () => {
    const workers = [
      worker("cpu-1", true, [{ kind: "cpu", index: 0, memory_used_bytes: 2, memory_total_bytes: 8, utilization: 0.5 }]),
      worker("gpu-1", true, [{ kind: "cuda", index: 1, memory_used_bytes: 30, memory_total_bytes: 120, utilization: 75 }]),
      worker("gone", false, [{ kind: "cuda", index: 0, memory_used_bytes: 1, memory_total_bytes: 1, utilization: 1 }]),
    ];
    expect(deviceRows(workers)).toEqual([
      { label: "gpu-1 · GPU 1", kind: "cuda", memory: 0.25, utilization: 0.75 },
      { label: "cpu-1 · CPU", kind: "cpu", memory: 0.25, utilization: 0.5 },
    ]);
    expect(hasGpu(workers)).toBe(true);
    expect(hasGpu(workers.slice(0, 1))).toBe(false);
  });

  it("reads utilization reported as a fraction or a percentage, unknown as null", () => {
    expect(utilizationFraction(0.3)).toBe(0.3);
    expect(utilizationFraction(30)).toBe(0.3);
    expect(utilizationFraction(null)).toBeNull();
  });
});
