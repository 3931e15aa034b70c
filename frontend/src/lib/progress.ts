/** A job's progress document (engine/train/progress.py + the pipeline's stage) in numbers. */

export interface JobProgress {
  step?: number;
  total_steps?: number;
  loss?: number | null;
  eta_seconds?: number | null;
  stage?: string;
  stage_number?: number;
  stages?: number;
}

/** Done fraction in [0, 1] (a pipeline's stages count equally), or null when unknown. */
export function doneFraction(progress: JobProgress, status: string): number | null {
  if (status === "succeeded") return 1;
  const { step, total_steps: total, stage_number: stage, stages } = progress;
  const within = step !== undefined && total ? Math.min(1, step / total) : null;
  if (stage && stages) return (stage - 1 + (within ?? 0)) / stages;
  return within ?? (status === "queued" ? 0 : null);
}

/** [{step, loss}] points of a series ([[step, value], ...]). */
export function seriesPoints(series: Record<string, [number, number][]>, name: string): { step: number; value: number }[] {
  return (series[name] ?? []).map(([step, value]) => ({ step, value }));
}

/** The last ``lines`` lines of a log. */
export function logTail(text: string, lines = 40): string {
  const all = text.replace(/\s+$/, "").split("\n");
  return all.slice(-lines).join("\n");
}

export const ACTIVE_STATUSES = new Set(["queued", "running"]);
