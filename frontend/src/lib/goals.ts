/** The Train page's plain-words choices, turned into the body of a `pipeline` job. */

export const GOALS = ["classify", "anomaly", "detect", "segment"] as const;
export type Goal = (typeof GOALS)[number];

export const EFFORTS = ["quick", "planned"] as const;
export type Effort = (typeof EFFORTS)[number];

/** A pipeline job body as POST /projects/{id}/jobs takes it. */
export interface PipelineBody {
  kind: "pipeline";
  name: string;
  priority: number;
  /** 0: the CPU (a quick check); undefined: the installation's default (a GPU when it has one) */
  gpus?: number;
  inputs: { dataset_version_id: string };
  config: Record<string, unknown>;
}

/** The time a planned pipeline may take when the user does not say (the engine's default). */
export const DEFAULT_BUDGET_MINUTES = 20;
export const MAX_BUDGET_MINUTES = 7 * 24 * 60;

/**
 * "quick" checks the whole path on a CPU in about a minute (a few pretrain steps on small
 * images; the model it gives is poor); "planned" lets the engine plan the recipe from the
 * data and the task within a time budget (the pipeline's ``plan: auto``).
 */
function pretrainFor(effort: Effort): Record<string, unknown> {
  if (effort === "planned") return {};
  return {
    backbone: { name: "resnet18" },
    data: { image_size: 64 },
    batch_size: 4,
    steps: 2,
    memory: { size: 8 },
    runtime: { device: "cpu", batchnorm_leak_fix: "none" },
  };
}

function settingsFor(goal: Goal, effort: Effort): Record<string, unknown> {
  if (effort === "planned") return {};
  switch (goal) {
    case "classify":
      // steps: the labels alone, the baseline measured beside the probe, train this many
      return { classify: { method: "linear", image_size: 64, steps: 20, device: "cpu" } };
    case "anomaly":
      return { anomaly: { input_scale: 0.25, bank_size: 256, patches_per_image: 256, device: "cpu" } };
    default:
      return { detect: { steps: 2, batch_size: 2, image_size: 64, warmup_steps: 0, device: "cpu" } };
  }
}

export function pipelineBody(goal: Goal, effort: Effort, versionId: string, name: string,
  budgetMinutes: number = DEFAULT_BUDGET_MINUTES): PipelineBody {
  return {
    kind: "pipeline",
    name,
    priority: 0,
    ...(effort === "quick" && { gpus: 0 }),
    inputs: { dataset_version_id: versionId },
    config: {
      ...(effort === "planned" && { plan: "auto", budget_minutes: budgetMinutes }),
      pretrain: pretrainFor(effort),
      finetune: { task: goal, train: `dataset-version://${versionId}`, ...settingsFor(goal, effort) },
    },
  };
}
