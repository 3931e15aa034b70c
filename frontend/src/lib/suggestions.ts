/** "Label these next": which pretrain job and version a suggest job uses, its request body,
 *  and the engine's reasons (engine/labeling/suggest.py, in English) in the reader's language. */

import type { Schemas } from "../api/client";
import type { MessageKey } from "../i18n/en";

type Job = Schemas["JobOut"];
type Translate = (key: MessageKey, params?: Record<string, string | number>) => string;

export const SUGGESTIONS = 20;

/** The newest succeeded pretrain job that left a checkpoint (jobs come newest first), or null. */
export function latestCheckpointJob(jobs: Job[]): Job | null {
  return jobs.find((job) => job.kind === "pretrain" && job.status === "succeeded" && Boolean(job.artifacts?.checkpoint)) ?? null;
}

/** The newest suggest job that ranked one of ``versionIds`` (a version of this dataset), or null. */
export function latestSuggestJob(jobs: Job[], versionIds: string[]): Job | null {
  return (
    jobs.find((job) => {
      if (job.kind !== "suggest") return false;
      const data = String(job.config?.data ?? "");
      return versionIds.some((id) => data === `dataset-version://${id}`);
    }) ?? null
  );
}

/** The job body that ranks a version's unlabeled images with a pretrain job's backbone (on the CPU queue). */
export function suggestBody(versionId: string, checkpointJobId: string, count = SUGGESTIONS) {
  return {
    kind: "suggest",
    name: "label these next",
    priority: 0,
    gpus: 0,
    inputs: { dataset_version_id: versionId, checkpoint_job_id: checkpointJobId },
    config: { k: count },
  };
}

const REASONS: [RegExp, MessageKey, string[]][] = [
  [/^far from every labeled image \(distance ([\d.]+)\)$/, "suggest.reasonFar", ["distance"]],
  [/^its labeled neighbours disagree \((.*)\)$/, "suggest.reasonDisagree", ["votes"]],
  [/^from a group of similar images no label touches yet \(cluster (\d+), (\d+) images\)$/, "suggest.reasonUntouched", ["cluster", "images"]],
];

/** One of the engine's reasons in the reader's language; an unknown one as the engine wrote it. */
export function reasonText(reason: string, t: Translate): string {
  for (const [pattern, key, names] of REASONS) {
    const match = pattern.exec(reason);
    if (match) return t(key, Object.fromEntries(names.map((name, index) => [name, match[index + 1] ?? ""])));
  }
  return reason;
}
