import { describe, expect, it } from "vitest";
import { accuracyOf, heatmaps, misclassified, rowShare, type Evaluation } from "../src/lib/evaluation";

const image = (path: string, truth: string, predicted: string, score: number, picture: string | null = null) => ({
  path,
  true: truth,
  predicted,
  score,
  picture_url: picture,
});

const evaluation: Evaluation = {
  model_version_id: "v",
  task: "anomaly",
  class_names: ["good", "defect"],
  threshold: 0.5,
  confusion_matrix: [
    [3, 1],
    [0, 0],
  ],
  curves: [],
  images_total: 4,
  images: [image("a", "good", "defect", 0.7, "a.png"), image("b", "good", "good", 0.2, "b.png"), image("c", "good", "good", 0.9, "c.png"), image("d", "good", "good", 0.1)],
};

describe("a model's evaluation", () => {
  it("shades a cell by its share of the true class's images", () => {
    expect(rowShare(evaluation.confusion_matrix, 0, 1)).toBe(0.25);
    expect(rowShare(evaluation.confusion_matrix, 1, 1)).toBe(0); // no defect image: no division by zero
    expect(accuracyOf(evaluation.confusion_matrix)).toBe(0.75);
    expect(accuracyOf([])).toBeNull();
  });

  it("lists the wrong images and the heat maps, highest score first", () => {
    expect(misclassified(evaluation.images).map((i) => i.path)).toEqual(["a"]);
    expect(heatmaps(evaluation).map((i) => i.path)).toEqual(["c", "a", "b"]);
    expect(heatmaps(evaluation, 1).map((i) => i.path)).toEqual(["c"]);
    expect(heatmaps({ ...evaluation, task: "classify" })).toEqual([]);
  });
});
