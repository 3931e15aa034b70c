import { describe, expect, it } from "vitest";
import { predictCurl } from "../src/lib/curl";
import { pipelineBody } from "../src/lib/goals";
import { actionFor, applyAction, parseClasses, type ItemLabels } from "../src/lib/labeling";
import { doneFraction, logTail, seriesPoints } from "../src/lib/progress";
import { matchPath } from "../src/lib/router";
import { inBatches, isArchive, verdictCounts } from "../src/lib/uploads";
import { problemMessage } from "../src/api/problems";

describe("the Train page's pipeline body", () => {
  it("names the version by id and asks for the chosen task", () => {
    const body = pipelineBody("anomaly", "planned", "v1", "first", 45);
    expect(body).toEqual({
      kind: "pipeline",
      name: "first",
      priority: 0,
      inputs: { dataset_version_id: "v1" },
      config: {
        plan: "auto",
        budget_minutes: 45,
        pretrain: {},
        finetune: { task: "anomaly", train: "dataset-version://v1" },
      },
    });
  });

  it("keeps a quick check small and on the CPU", () => {
    const body = pipelineBody("classify", "quick", "v1", "q");
    expect(body.gpus).toBe(0);
    expect(body.config.plan).toBeUndefined();
    expect(body.config.pretrain).toMatchObject({ steps: 2, data: { image_size: 64 } });
    expect(body.config.finetune).toMatchObject({ task: "classify", classify: { method: "linear", steps: 20 } });
    expect(pipelineBody("segment", "quick", "v", "s").config.finetune).toMatchObject({ detect: { steps: 2 } });
  });
});

describe("labeling shortcuts", () => {
  const blank: ItemLabels = { split: null, class_name: null, is_defect: null, annotations: [] };
  it("maps keys to actions", () => {
    expect(actionFor("1")).toEqual({ type: "class", index: 0 });
    expect(actionFor("G")).toEqual({ type: "good" });
    expect(actionFor("ArrowRight")).toEqual({ type: "next" });
    expect(actionFor("0")).toBeNull();
    expect(actionFor("q")).toBeNull();
  });
  it("writes the labels of an action", () => {
    const classes = parseClasses("good, scratch，dent, scratch");
    expect(classes).toEqual(["good", "scratch", "dent"]);
    expect(applyAction(blank, { type: "class", index: 1 }, classes)).toMatchObject({ class_name: "scratch", is_defect: true });
    expect(applyAction(blank, { type: "class", index: 0 }, classes)).toMatchObject({ class_name: "good", is_defect: false });
    expect(applyAction(blank, { type: "class", index: 5 }, classes)).toBeNull();
    expect(applyAction(blank, { type: "defect" }, classes)).toMatchObject({ is_defect: true });
    expect(applyAction(blank, { type: "test" }, classes)?.split).toBe("test");
    expect(applyAction({ ...blank, split: "test" }, { type: "test" }, classes)?.split).toBe("train");
    expect(applyAction({ ...blank, split: "test", class_name: "dent" }, { type: "clear" }, classes)).toEqual({ ...blank, split: "test" });
  });
});

describe("job progress", () => {
  it("counts a pipeline's stages equally", () => {
    expect(doneFraction({ step: 5, total_steps: 10, stage_number: 2, stages: 2 }, "running")).toBe(0.75);
    expect(doneFraction({ step: 1, total_steps: 4 }, "running")).toBe(0.25);
    expect(doneFraction({}, "running")).toBeNull();
    expect(doneFraction({}, "queued")).toBe(0);
    expect(doneFraction({}, "succeeded")).toBe(1);
  });
  it("reads series and log tails", () => {
    expect(seriesPoints({ loss: [[1, 2.5]] }, "loss")).toEqual([{ step: 1, value: 2.5 }]);
    expect(seriesPoints({}, "loss")).toEqual([]);
    expect(logTail("a\nb\nc\n", 2)).toBe("b\nc");
  });
});

describe("uploads", () => {
  it("sends archives to the archive endpoint", () => {
    expect(isArchive("parts.zip")).toBe(true);
    expect(isArchive("parts.TAR.GZ")).toBe(true);
    expect(isArchive("part.jpg")).toBe(false);
  });
  it("counts verdicts", () => {
    const files = [
      { path: "a", status: "added" as const, detail: "" },
      { path: "b", status: "rejected" as const, detail: "not an image" },
      { path: "c", status: "added" as const, detail: "" },
    ];
    expect(verdictCounts(files)).toEqual([["added", 2], ["rejected", 1]]);
  });
  it("runs at most the limit at a time", async () => {
    let running = 0;
    let most = 0;
    const done: number[] = [];
    await inBatches([1, 2, 3, 4, 5], 2, async (item) => {
      running += 1;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 1));
      done.push(item);
      running -= 1;
    });
    expect(most).toBe(2);
    expect(done.sort()).toEqual([1, 2, 3, 4, 5]);
  });
});

describe("errors, routes and the curl example", () => {
  it("shows the problem's detail", () => {
    expect(problemMessage({ title: "Not found", detail: "no project 1" }, 404)).toBe("no project 1");
    expect(problemMessage({ title: "Conflict" }, 409)).toBe("Conflict");
    expect(problemMessage(undefined, 502)).toBe("HTTP 502");
  });
  it("matches paths with parameters", () => {
    expect(matchPath("/projects/:id", "/projects/42")).toEqual({ id: "42" });
    expect(matchPath("/projects/:id", "/projects/42/train")).toBeNull();
    expect(matchPath("/", "/")).toEqual({});
  });
  it("puts a placeholder, never a key, in the curl example", () => {
    const curl = predictCurl("http://h:8000", "v1", "org1");
    expect(curl).toContain("$HATCHERY_API_KEY");
    expect(curl).toContain("/api/v1/model-versions/v1/predict");
    expect(curl).toContain("X-Hatchery-Organization: org1");
  });
});

describe("metric names", () => {
  it("reads known metrics in words and keeps unknown ones", async () => {
    const { metricLabel, MESSAGES } = await import("../src/i18n");
    const { interpolate } = await import("../src/i18n");
    const t = (key: keyof typeof MESSAGES.en) => interpolate(MESSAGES.en[key]);
    expect(metricLabel(t, "balanced_accuracy")).toBe("Balanced accuracy");
    expect(metricLabel(t, "knn.k=20.balanced_accuracy")).toBe("kNN k=20 Balanced accuracy");
    expect(metricLabel(t, "something_new")).toBe("something_new");
  });
});

describe("boxes", async () => {
  const { boxBetween, toImagePoint } = await import("../src/lib/boxes");
  it("maps the drawing surface to image pixels, clamped", () => {
    const rect = { left: 10, top: 20, width: 100, height: 50 };
    expect(toImagePoint(60, 45, rect, { width: 200, height: 100 })).toEqual({ x: 100, y: 50 });
    expect(toImagePoint(0, 500, rect, { width: 200, height: 100 })).toEqual({ x: 0, y: 100 });
  });
  it("makes a box from any two corners and ignores clicks", () => {
    expect(boxBetween({ x: 50.4, y: 40 }, { x: 10, y: 10.6 }, "scratch")).toEqual({ type: "box", class_name: "scratch", x: 10, y: 11, width: 40, height: 29 });
    expect(boxBetween({ x: 5, y: 5 }, { x: 6, y: 30 }, "scratch")).toBeNull();
  });
});

describe("job titles", async () => {
  const { jobTitle } = await import("../src/lib/jobTitle");
  const t = (key: string) => `<${key}>`;
  it("prefers the name, then the task, then the kind", () => {
    expect(jobTitle({ name: "mine", kind: "pipeline", config: {} }, t)).toBe("mine");
    expect(jobTitle({ name: "", kind: "pipeline", config: { finetune: { task: "anomaly" } } }, t)).toBe("<task.anomaly>");
    expect(jobTitle({ name: "", kind: "finetune", config: { task: "detect" } }, t)).toBe("<task.detect>");
    expect(jobTitle({ name: "", kind: "pretrain", config: {} }, t)).toBe("<kind.pretrain>");
  });
});

describe("the job stream's events", async () => {
  const { parseSse } = await import("../src/lib/sse");
  it("parses complete events and keeps the rest", () => {
    const { events, rest } = parseSse('event: status\ndata: {"status": "running"}\n\nevent: progress\r\ndata: {"step": 1}\r\n\r\nevent: pro');
    expect(events).toEqual([
      { event: "status", data: '{"status": "running"}' },
      { event: "progress", data: '{"step": 1}' },
    ]);
    expect(rest).toBe("event: pro");
    expect(parseSse(": comment\n\nevent: end\ndata: {}\n\n").events).toEqual([{ event: "end", data: "{}" }]);
  });
});

describe("token renewal", async () => {
  const { needsRefresh, renewalTime } = await import("../src/api/session");
  it("renews a minute before a 15-minute token runs out, at 3/4 of a short one's life", () => {
    expect(renewalTime(900, 0)).toBe(840_000);
    expect(renewalTime(60, 0)).toBe(45_000);
    const session = { accessToken: "a", refreshToken: "r", organizationId: null, renewAt: 840_000 };
    expect(needsRefresh(session, 839_999)).toBe(false);
    expect(needsRefresh(session, 840_000)).toBe(true);
    expect(needsRefresh({ ...session, renewAt: undefined }, 10 ** 12)).toBe(false);
    expect(needsRefresh(null, 0)).toBe(false);
    expect(needsRefresh({ ...session, renewAt: 0 }, 1)).toBe(true);
  });
});

describe("a project's next step", async () => {
  const { nextStep } = await import("../src/lib/nextStep");
  const empty = { datasets: 0, activeJobs: 0, jobs: 0, models: 0, inProduction: 0 };
  it("walks from data to a model in production", () => {
    expect(nextStep(empty)).toBe("createDataset");
    expect(nextStep({ ...empty, datasets: 1 })).toBe("prepareData");
    expect(nextStep({ ...empty, datasets: 1, jobs: 1, activeJobs: 1 })).toBe("followTraining");
    expect(nextStep({ ...empty, datasets: 1, jobs: 1, models: 1 })).toBe("pickModel");
    expect(nextStep({ ...empty, datasets: 1, jobs: 1, models: 1, inProduction: 1 })).toBe("useModel");
  });
});
