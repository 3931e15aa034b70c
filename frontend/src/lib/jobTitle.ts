/** What a job is called on screen: its name, else its task or kind in the reader's language. */

import type { MessageKey } from "../i18n/en";

interface Titled {
  name: string;
  kind: string;
  config: Record<string, unknown>;
}

export function jobTitle(job: Titled, t: (key: MessageKey) => string): string {
  if (job.name) return job.name;
  const finetune = job.config.finetune as { task?: string } | undefined;
  const task = finetune?.task ?? (job.kind === "finetune" ? (job.config.task as string | undefined) : undefined);
  if (task) return t(`task.${task}` as MessageKey);
  return t(`kind.${job.kind}` as MessageKey);
}
