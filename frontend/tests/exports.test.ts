import { describe, expect, it } from "vitest";
import type { Schemas } from "../src/api/client";
import { en } from "../src/i18n/en";
import { zh } from "../src/i18n/zh";
import { interpolate } from "../src/i18n";
import { exportBody, exportFileName, exportFormat, exportsModel, finishedExports, formatDifference, parityOf } from "../src/lib/exports";

const job = (id: string, status: string, extra: Partial<Schemas["JobOut"]> = {}) =>
  ({ id, kind: "export", status, artifacts: {}, config: { model: "job://m1", format: "onnx" }, result: {}, ...extra }) as Schemas["JobOut"];
const file = (key: string) => ({ export: { key, size: 10 } });

describe("download exports", () => {
  it("asks for an export job on the CPU naming the model's job and the format", () => {
    expect(exportBody("m1", "torchscript")).toEqual({ kind: "export", name: "", priority: 0, gpus: 0, inputs: { model_job_id: "m1" }, config: { format: "torchscript" } });
  });

  it("lists the finished exports of this model only, newest first, but the one shown above", () => {
    const jobs = [
      job("now", "succeeded", { artifacts: file("o/jobs/now/model.onnx") }),
      job("running", "running"),
      job("failed", "failed", { error: "export reads anomaly and classify models" }),
      job("other", "succeeded", { artifacts: file("o/jobs/other/model.onnx"), config: { model: "job://m2" } }),
      job("predict", "succeeded", { kind: "predict", artifacts: file("k") }),
      job("older", "succeeded", { artifacts: file("o/jobs/older/model.torchscript.pt") }),
    ];
    expect(finishedExports(jobs, "m1").map((each) => each.id)).toEqual(["now", "older"]);
    expect(finishedExports(jobs, "m1", "now").map((each) => each.id)).toEqual(["older"]);
    expect(exportsModel(jobs[3] as Schemas["JobOut"], "m1")).toBe(false);
  });

  it("names the file and its format from the job", () => {
    const script = job("a", "succeeded", { artifacts: file("org/jobs/a/model.torchscript.pt"), result: { format: "torchscript" } });
    expect(exportFileName(script)).toBe("model.torchscript.pt");
    expect(exportFormat(script)).toBe("torchscript");
    expect(exportFileName(job("b", "succeeded"))).toBe("model.onnx");
    expect(exportFormat(job("c", "succeeded", { config: { format: "tflite" } }))).toBeNull();
  });

  it("says the parity check in plain words: identical, rounding, or a difference to check", () => {
    const parity = (difference: unknown) => parityOf(job("p", "succeeded", { result: { max_abs_difference: difference } }));
    expect(parity(0)?.key).toBe("models.exportParityIdentical");
    expect(parity(3.1e-7)?.key).toBe("models.exportParityClose");
    expect(parity(0.001)?.key).toBe("models.exportParityClose");
    expect(parity(0.02)).toEqual({ key: "models.exportParityOff", difference: 0.02 });
    expect(parity(undefined)).toBeNull();
    const detector = (found: number) => parityOf(job("d", "succeeded", { result: { max_abs_difference: 0, objects_compared: found } }));
    expect(detector(0)?.key).toBe("models.exportParityNoObjects");
    expect(detector(3)?.key).toBe("models.exportParityIdentical");
    expect(zh["models.exportParityNoObjects"]).toBeTruthy();
    expect(parity(Number.NaN)).toBeNull();
    const lessThan = (bound: string) => interpolate(en["models.exportLessThan"], { bound });
    expect(formatDifference(3.1e-7, "en-US", lessThan)).toBe("less than 0.000001");
    expect(formatDifference(0.0000234, "en-US", lessThan)).toBe("0.000023");
    expect(formatDifference(0.0213, "zh-CN", lessThan)).toBe("0.021");
    const said = interpolate(en["models.exportParityOff"], { difference: formatDifference(0.0213, "en-US", lessThan) });
    expect(said).toContain("differ by up to 0.021");
    expect(zh["models.exportParityOff"]).toContain("{difference}");
  });
});
