/** "Download exports" on the Models page: the export job's request body, which of a project's
 *  jobs are finished exports of one model, and the parity check (the worker's
 *  ``max_abs_difference`` between the exported file and the trained model) in plain words. */

import type { Schemas } from "../api/client";
import type { MessageKey } from "../i18n/en";

type Job = Schemas["JobOut"];

export const EXPORT_FORMATS = ["onnx", "torchscript"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Differences at most this large are rounding: the exported file answers as the model does. */
export const PARITY_TOLERANCE = 1e-3;
/** Below this a difference is said as "less than" it (no row of zeros to count). */
export const TINY_DIFFERENCE = 1e-6;

/** The job body that exports a finetune job's model (export jobs run on the CPU queue). */
export function exportBody(modelJobId: string, format: ExportFormat) {
  return { kind: "export", name: "", priority: 0, gpus: 0, inputs: { model_job_id: modelJobId }, config: { format } };
}

/** Whether ``job`` is an export of ``modelJobId``'s model (its config names the job). */
export function exportsModel(job: Job, modelJobId: string): boolean {
  return job.kind === "export" && job.config?.model === `job://${modelJobId}`;
}

/** The finished exports (succeeded, with their file) of ``modelJobId``, newest first, but ``except``. */
export function finishedExports(jobs: Job[], modelJobId: string, except?: string | null): Job[] {
  return jobs.filter((job) => exportsModel(job, modelJobId) && job.status === "succeeded" && Boolean(job.artifacts?.export) && job.id !== except);
}

/** The format an export job wrote (its result's, else its config's). */
export function exportFormat(job: Job): ExportFormat | null {
  const format = job.result?.format ?? job.config?.format;
  return (EXPORT_FORMATS as readonly unknown[]).includes(format) ? (format as ExportFormat) : null;
}

/** The exported file's name (the last part of the artifact's key), e.g. ``model.onnx``. */
export function exportFileName(job: Job): string {
  const artifact = job.artifacts?.export as { key?: unknown } | string | undefined;
  const key = typeof artifact === "string" ? artifact : typeof artifact?.key === "string" ? artifact.key : "";
  return key.split("/").pop() || (exportFormat(job) === "torchscript" ? "model.torchscript.pt" : "model.onnx");
}

export interface Parity {
  key: MessageKey;
  difference: number;
}

/** What the parity check found, as a message key and the difference it names; null without one.
 *  A detector's export is compared on its objects: none found on the sample is said as such. */
export function parityOf(job: Job): Parity | null {
  const difference = job.result?.max_abs_difference;
  if (typeof difference !== "number" || !Number.isFinite(difference) || difference < 0) return null;
  // a detector that found no object on the sample compared empty lists: that says little
  if (job.result?.objects_compared === 0) return { key: "models.exportParityNoObjects", difference };
  if (difference === 0) return { key: "models.exportParityIdentical", difference };
  if (difference <= PARITY_TOLERANCE) return { key: "models.exportParityClose", difference };
  return { key: "models.exportParityOff", difference };
}

/** A small difference in plain decimals (two significant digits), or "less than 0.000001". */
export function formatDifference(difference: number, locale: string, lessThan: (bound: string) => string): string {
  const plain = new Intl.NumberFormat(locale, { maximumSignificantDigits: 2, maximumFractionDigits: 20 });
  if (difference > 0 && difference < TINY_DIFFERENCE) return lessThan(plain.format(TINY_DIFFERENCE));
  return plain.format(difference);
}
