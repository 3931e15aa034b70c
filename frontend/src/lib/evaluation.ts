/** What the Models page draws from a model version's evaluation (GET /model-versions/{id}/evaluation). */

import type { Schemas } from "../api/client";

export type Evaluation = Schemas["ModelEvaluation"];
export type EvaluatedImage = Schemas["EvaluatedImage"];

/** A cell's share of its row (the true class's images): 0 for an empty row. */
export function rowShare(matrix: number[][], row: number, column: number): number {
  const total = (matrix[row] ?? []).reduce((sum, count) => sum + count, 0);
  return total === 0 ? 0 : (matrix[row]?.[column] ?? 0) / total;
}

/** The images the model got wrong, in the evaluation's order (most confidently wrong first). */
export function misclassified(images: EvaluatedImage[]): EvaluatedImage[] {
  return images.filter((image) => image.true !== image.predicted);
}

/** Heat maps to show for an anomaly model: the images that have one, highest score first. */
export function heatmaps(evaluation: Evaluation, limit = 12): EvaluatedImage[] {
  if (evaluation.task !== "anomaly") return [];
  return evaluation.images
    .filter((image) => image.picture_url)
    .sort((a, b) => b.score - a.score)
    .slice(0, limit);
}

/** Images right out of all: the matrix's diagonal over its sum (null when empty). */
export function accuracyOf(matrix: number[][]): number | null {
  let hits = 0;
  let total = 0;
  matrix.forEach((row, index) => {
    row.forEach((count, column) => {
      total += count;
      if (column === index) hits += count;
    });
  });
  return total === 0 ? null : hits / total;
}
