import { describe, expect, it } from "vitest";
import { formatBytes, formatDate, formatDuration, formatMetric, formatNumber, formatPercent } from "../src/lib/format";

describe("formatting", () => {
  it("formats numbers in the locale", () => {
    expect(formatNumber(1234567, "en-US")).toBe("1,234,567");
    expect(formatNumber(0.12345, "en-US", 3)).toBe("0.123");
    expect(formatPercent(0.5, "zh-CN")).toBe("50%");
  });

  it("shows fraction metrics as percentages and others as numbers", () => {
    expect(formatMetric(0.9123, "balanced_accuracy", "en-US")).toBe("91.2%");
    expect(formatMetric(0.75, "knn.k=20.balanced_accuracy", "en-US")).toBe("75%");
    expect(formatMetric(1.5, "loss", "en-US")).toBe("1.5");
    expect(formatMetric(null, "image_auroc", "en-US")).toBe("—");
    expect(formatMetric(Number.NaN, "loss", "en-US")).toBe("—");
  });

  it("formats sizes with units", () => {
    expect(formatBytes(512, "en-US")).toBe("512 byte");
    expect(formatBytes(2048, "en-US")).toBe("2 kB");
    expect(formatBytes(5 * 1024 ** 2, "en-US")).toBe("5 MB");
  });

  it("formats durations in hours, minutes and seconds", () => {
    expect(formatDuration(12, "en-US")).toBe("12s");
    expect(formatDuration(200, "en-US")).toBe("3m 20s");
    expect(formatDuration(3900, "en-US")).toBe("1h 5m");
    expect(formatDuration(-1, "en-US")).toBe("—");
    expect(formatDuration(75, "zh-CN")).toMatch(/1.*分.*15.*秒/);
  });

  it("formats dates in the locale and survives missing ones", () => {
    const iso = "2026-03-04T05:06:07Z";
    expect(formatDate(iso, "en-US")).toMatch(/2026/);
    expect(formatDate(iso, "zh-CN")).toMatch(/2026年/);
    expect(formatDate(null, "en-US")).toBe("—");
    expect(formatDate("not a date", "en-US")).toBe("—");
  });
});
