import { describe, expect, it } from "vitest";
import type { Schemas } from "../src/api/client";
import { en } from "../src/i18n/en";
import { interpolate } from "../src/i18n";
import { latestCheckpointJob, latestSuggestJob, reasonText, suggestBody } from "../src/lib/suggestions";

const job = (id: string, kind: string, status: string, extra: Partial<Schemas["JobOut"]> = {}) =>
  ({ id, kind, status, artifacts: {}, config: {}, ...extra }) as Schemas["JobOut"];
const t = (key: keyof typeof en, params?: Record<string, string | number>) => interpolate(en[key], params);

describe("label these next", () => {
  it("uses the newest pretrain job that left a checkpoint", () => {
    const jobs = [job("a", "pretrain", "succeeded"), job("b", "pretrain", "succeeded", { artifacts: { checkpoint: { key: "k" } } }), job("c", "pretrain", "succeeded", { artifacts: { checkpoint: { key: "k" } } })];
    expect(latestCheckpointJob(jobs)?.id).toBe("b");
    expect(latestCheckpointJob([job("x", "pretrain", "failed", { artifacts: { checkpoint: { key: "k" } } })])).toBeNull();
  });

  it("finds the newest suggest job of this dataset's versions", () => {
    const jobs = [job("other", "suggest", "succeeded", { config: { data: "dataset-version://v9" } }), job("ours", "suggest", "running", { config: { data: "dataset-version://v2" } })];
    expect(latestSuggestJob(jobs, ["v1", "v2"])?.id).toBe("ours");
    expect(latestSuggestJob(jobs, ["v3"])).toBeNull();
  });

  it("asks for a suggest job on the CPU naming the version and the pretrain job", () => {
    expect(suggestBody("v1", "j1", 5)).toMatchObject({ kind: "suggest", gpus: 0, inputs: { dataset_version_id: "v1", checkpoint_job_id: "j1" }, config: { k: 5 } });
  });

  it("says the engine's reasons in the reader's words, unknown ones as written", () => {
    expect(reasonText("far from every labeled image (distance 0.83)", t)).toBe("Unlike every labeled image (distance 0.83)");
    expect(reasonText("its labeled neighbours disagree (crazing 0.51, scratches 0.49)", t)).toBe("Its labeled neighbours disagree (crazing 0.51, scratches 0.49)");
    expect(reasonText("from a group of similar images no label touches yet (cluster 3, 12 images)", t)).toBe("From a group of 12 similar images with no label yet (group 3)");
    expect(reasonText("something new", t)).toBe("something new");
  });
});
