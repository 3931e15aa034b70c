/** A project at a glance: its datasets, its jobs and its models, and what to do next. */

import { useState, type FormEvent } from "react";
import { api } from "../api/client";
import { errorText, unwrap } from "../api/problems";
import { Empty, ErrorMessage, Loading, PageTitle, StatusBadge } from "../components/common";
import { useI18n } from "../i18n";
import { formatDate } from "../lib/format";
import { jobTitle } from "../lib/jobTitle";
import { nextStep, type NextStep } from "../lib/nextStep";
import { Link, navigate } from "../lib/router";
import { useLoad } from "../lib/useLoad";

type Loaded = Awaited<ReturnType<typeof loadProject>>;

/** What to do next, in plain words, with the link that does it. */
function NextStepPanel({ projectId, datasets, jobs, models }: Pick<Loaded, "datasets" | "jobs" | "models"> & { projectId: string }) {
  const { t } = useI18n();
  const active = jobs.filter((job) => job.status === "queued" || job.status === "running");
  const step = nextStep({
    datasets: datasets.length,
    activeJobs: active.length,
    jobs: jobs.length,
    models: models.length,
    inProduction: models.filter((model) => "production" in (model.aliases ?? {})).length,
  });
  const links: Record<NextStep, string | null> = {
    createDataset: null,
    prepareData: datasets[0] ? `/datasets/${datasets[0].id}` : null,
    followTraining: active[0] ? `/jobs/${active[0].id}` : null,
    pickModel: `/projects/${projectId}/models`,
    useModel: `/projects/${projectId}/models`,
  };
  const link = links[step];
  return (
    <section className="panel next-step" aria-labelledby="next-heading" data-testid="next-step" data-step={step}>
      <h2 id="next-heading">{t("next.title")}</h2>
      <p>{t(`next.${step}` as "next.createDataset")}</p>
      {link && <Link href={link}>{t(`next.${step}Action` as "next.prepareDataAction")}</Link>}
    </section>
  );
}

async function loadProject(projectId: string) {
  const path = { project_id: projectId };
  const [project, datasets, jobs, models] = await Promise.all([
    api.GET("/api/v1/projects/{project_id}", { params: { path } }).then(unwrap),
    api.GET("/api/v1/projects/{project_id}/datasets", { params: { path, query: { limit: 100 } } }).then(unwrap),
    api.GET("/api/v1/projects/{project_id}/jobs", { params: { path, query: { limit: 100 } } }).then(unwrap),
    api.GET("/api/v1/projects/{project_id}/models", { params: { path, query: { limit: 100 } } }).then(unwrap),
  ]);
  return { project, datasets: datasets.items, jobs: jobs.items.filter((job) => !job.parent_id), models: models.items };
}

export function ProjectPage({ projectId }: { projectId: string }) {
  const { t, locale } = useI18n();
  const loaded = useLoad(() => loadProject(projectId), [projectId]);
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);

  const createDataset = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      const dataset = unwrap(
        await api.POST("/api/v1/projects/{project_id}/datasets", {
          params: { path: { project_id: projectId } },
          body: { name, description: "" },
        }),
      );
      navigate(`/datasets/${dataset.id}`);
    } catch (failure) {
      setError(errorText(failure));
    }
  };

  if (!loaded.data) return loaded.error ? <ErrorMessage error={loaded.error} /> : <Loading />;
  const { project, datasets, jobs, models } = loaded.data;
  return (
    <section>
      <PageTitle
        actions={
          <>
            <Link className="button" href={`/projects/${projectId}/train`}>
              {t("project.train")}
            </Link>
            <Link className="button secondary" href={`/projects/${projectId}/models`}>
              {t("project.compare")}
            </Link>
          </>
        }
      >
        {project.name}
      </PageTitle>
      <NextStepPanel projectId={projectId} datasets={datasets} jobs={jobs} models={models} />
      <div className="grid-3">
        <section aria-labelledby="datasets-heading" className="panel">
          <h2 id="datasets-heading">{t("project.datasets")}</h2>
          {datasets.length === 0 ? (
            <Empty title={t("project.noDatasets")} hint={t("project.noDatasetsHint")} />
          ) : (
            <ul className="list">
              {datasets.map((dataset) => (
                <li key={dataset.id}>
                  <Link href={`/datasets/${dataset.id}`}>{dataset.name}</Link>
                  <small>{formatDate(dataset.created_at, locale)}</small>
                </li>
              ))}
            </ul>
          )}
          <form onSubmit={createDataset} className="row-form">
            <label>
              {t("project.datasetName")}
              <input required value={name} onChange={(e) => setName(e.target.value)} />
            </label>
            <button type="submit">{t("project.createDataset")}</button>
          </form>
          <ErrorMessage error={error} />
        </section>
        <section aria-labelledby="jobs-heading" className="panel">
          <h2 id="jobs-heading">{t("project.jobs")}</h2>
          {jobs.length === 0 ? (
            <Empty title={t("project.noJobs")} hint={t("project.noJobsHint")} />
          ) : (
            <ul className="list">
              {jobs.map((job) => (
                <li key={job.id}>
                  <Link href={`/jobs/${job.id}`}>{jobTitle(job, t)}</Link>
                  <StatusBadge status={job.status} />
                  <small>{formatDate(job.created_at, locale)}</small>
                </li>
              ))}
            </ul>
          )}
        </section>
        <section aria-labelledby="models-heading" className="panel">
          <h2 id="models-heading">{t("project.models")}</h2>
          {models.length === 0 ? (
            <Empty title={t("project.noModels")} hint={t("project.noModelsHint")} />
          ) : (
            <ul className="list">
              {models.map((model) => (
                <li key={model.id}>
                  <Link href={`/projects/${projectId}/models`}>{model.name}</Link>
                  {"production" in (model.aliases ?? {}) && <span className="badge badge-succeeded">{t("models.production")}</span>}
                </li>
              ))}
            </ul>
          )}
        </section>
      </div>
    </section>
  );
}
