/** The one thing a project's home suggests doing next, from what the project holds. */

export type NextStep = "createDataset" | "prepareData" | "followTraining" | "pickModel" | "useModel";

export interface ProjectFacts {
  datasets: number;
  activeJobs: number;
  jobs: number;
  models: number;
  inProduction: number;
}

export function nextStep(facts: ProjectFacts): NextStep {
  if (facts.datasets === 0) return "createDataset";
  if (facts.activeJobs > 0) return "followTraining";
  if (facts.models === 0) return "prepareData";
  if (facts.inProduction === 0) return "pickModel";
  return "useModel";
}
