/** Train: what the model should do, in plain words, on which data; submits a pipeline job. */

import { useMemo, useState, type FormEvent } from "react";
import { api } from "../api/client";
import { errorText, unwrap } from "../api/problems";
import { ChoiceGroup, Empty, ErrorMessage, Loading, PageTitle } from "../components/common";
import { SchemaForm } from "../components/SchemaForm";
import { useI18n } from "../i18n";
import { formatDate, formatNumber } from "../lib/format";
import { DEFAULT_BUDGET_MINUTES, EFFORTS, GOALS, MAX_BUDGET_MINUTES, pipelineBody, type Effort, type Goal } from "../lib/goals";
import { Link, navigate } from "../lib/router";
import { buildFields, collectConfig, type JsonSchema } from "../lib/schemaForm";
import { useLoad } from "../lib/useLoad";

interface VersionChoice {
  id: string;
  label: string;
}

async function loadChoices(projectId: string, locale: string) {
  const path = { project_id: projectId };
  const datasets = unwrap(await api.GET("/api/v1/projects/{project_id}/datasets", { params: { path, query: { limit: 100 } } }));
  const versions: VersionChoice[] = [];
  for (const dataset of datasets.items) {
    const page = unwrap(await api.GET("/api/v1/datasets/{dataset_id}/versions", { params: { path: { dataset_id: dataset.id }, query: { limit: 50 } } }));
    for (const version of page.items) {
      const items = formatNumber(Number(version.stats.items ?? 0), locale);
      versions.push({ id: version.id, label: `${dataset.name} v${version.number} (${items}) · ${formatDate(version.created_at, locale)}` });
    }
  }
  const kinds = unwrap(await api.GET("/api/v1/job-kinds")) as Record<string, { config_schema: JsonSchema }>;
  return { versions, schema: kinds.pipeline?.config_schema ?? {} };
}

export function TrainPage({ projectId }: { projectId: string }) {
  const { t, locale } = useI18n();
  const loaded = useLoad(() => loadChoices(projectId, locale), [projectId, locale]);
  const [goal, setGoal] = useState<Goal>("classify");
  const [effort, setEffort] = useState<Effort>("quick");
  const [versionId, setVersionId] = useState("");
  const [name, setName] = useState("");
  const [budget, setBudget] = useState(String(DEFAULT_BUDGET_MINUTES));
  const [texts, setTexts] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const fields = useMemo(() => buildFields(loaded.data?.schema ?? {}), [loaded.data]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    const version = versionId || loaded.data?.versions[0]?.id;
    if (!version) return;
    const body = pipelineBody(goal, effort, version, name.trim(), Number(budget));
    const advanced = collectConfig(fields, texts, body.config);
    if (advanced.errors.length > 0) {
      const first = advanced.errors[0]!;
      setError(t("advanced.invalid", { field: first.path, problem: t(`advanced.problem.${first.message}` as "advanced.problem.number") }));
      return;
    }
    setBusy(true);
    try {
      const job = unwrap(
        await api.POST("/api/v1/projects/{project_id}/jobs", {
          params: { path: { project_id: projectId } },
          body: { ...body, config: advanced.config },
        }),
      );
      navigate(`/jobs/${job.id}`);
    } catch (failure) {
      setError(errorText(failure));
    } finally {
      setBusy(false);
    }
  };

  if (!loaded.data) return loaded.error ? <ErrorMessage error={loaded.error} /> : <Loading />;
  const { versions, schema } = loaded.data;
  const preset = pipelineBody(goal, effort, versionId || versions[0]?.id || "", name, Number(budget)).config;
  return (
    <section>
      <p className="breadcrumb">
        <Link href={`/projects/${projectId}`}>{t("dataset.backToProject")}</Link>
      </p>
      <PageTitle>{t("train.title")}</PageTitle>
      {versions.length === 0 ? (
        <Empty title={t("train.noVersions")} hint={t("train.noVersionsHint")} action={<Link href={`/projects/${projectId}`}>{t("dataset.backToProject")}</Link>} />
      ) : (
        <form onSubmit={submit} className="stack">
          <ChoiceGroup
            legend={t("train.goalQuestion")}
            name="goal"
            choices={GOALS}
            value={goal}
            onChange={setGoal}
            title={(choice) => t(`train.goal.${choice}` as "train.goal.classify")}
            hint={(choice) => t(`train.goalHint.${choice}` as "train.goalHint.classify")}
          />
          <label>
            {t("train.data")}
            <select value={versionId || versions[0]?.id} onChange={(e) => setVersionId(e.target.value)} data-testid="version">
              {versions.map((version) => (
                <option key={version.id} value={version.id}>
                  {version.label}
                </option>
              ))}
            </select>
            <small>{t("train.dataHint")}</small>
          </label>
          <ChoiceGroup
            legend={t("train.effort")}
            name="effort"
            choices={EFFORTS}
            value={effort}
            onChange={setEffort}
            title={(choice) => t(`train.effort.${choice}` as "train.effort.quick")}
            hint={(choice) => t(`train.effortHint.${choice}` as "train.effortHint.quick")}
          />
          {effort === "planned" && (
            <label>
              {t("train.budget")}
              <input
                type="number"
                min={1}
                max={MAX_BUDGET_MINUTES}
                step={1}
                required
                value={budget}
                onChange={(e) => setBudget(e.target.value)}
                data-testid="budget"
              />
              <small>{t("train.budgetHint")}</small>
            </label>
          )}
          <label>
            {t("train.name")}
            <input value={name} onChange={(e) => setName(e.target.value)} placeholder={t(`train.goal.${goal}` as "train.goal.classify")} />
          </label>
          <details>
            <summary>{t("advanced.title")}</summary>
            <p className="hint">{t("advanced.hint")}</p>
            <SchemaForm schema={schema} base={preset} texts={texts} onChange={setTexts} />
          </details>
          <ErrorMessage error={error} />
          <button type="submit" disabled={busy}>
            {t("train.start")}
          </button>
        </form>
      )}
    </section>
  );
}
