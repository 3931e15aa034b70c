/** Models: every version side by side on the platform's metrics, the best highlighted; set
 *  one as production, try it on images, call it from a script, download it as a file. */

import { useState } from "react";
import { api, postForm, type Schemas } from "../api/client";
import { errorText, problemMessage, unwrap } from "../api/problems";
import { Empty, ErrorMessage, Loading, PageTitle, ProgressBar } from "../components/common";
import { EvaluationPanel } from "../components/EvaluationPanel";
import { ExportPanel } from "../components/ExportPanel";
import { metricLabel, useI18n } from "../i18n";
import { predictCurl } from "../lib/curl";
import { formatMetric, formatNumber, formatPercent } from "../lib/format";
import { Link } from "../lib/router";
import { useSession } from "../lib/session";
import { useLoad } from "../lib/useLoad";

type Row = Schemas["ComparisonRow"];
type Prediction = Record<string, unknown>;

async function loadModels(projectId: string) {
  const models = unwrap(await api.GET("/api/v1/projects/{project_id}/models", { params: { path: { project_id: projectId }, query: { limit: 100 } } })).items;
  const modelOf = new Map<string, Schemas["ModelOut"]>();
  const versionOf = new Map<string, Schemas["ModelVersionOut"]>();
  for (const model of models) {
    const versions = unwrap(await api.GET("/api/v1/models/{model_id}/versions", { params: { path: { model_id: model.id }, query: { limit: 50 } } })).items;
    for (const version of versions) {
      modelOf.set(version.id, model);
      versionOf.set(version.id, version);
    }
  }
  const ids = [...modelOf.keys()].slice(0, 50);
  if (ids.length === 0) return { rows: [] as Row[], metrics: [] as string[], modelOf, versionOf };
  const comparison = unwrap(await api.GET("/api/v1/model-comparison", { params: { query: { version_id: ids } } }));
  return { rows: comparison.rows, metrics: comparison.metrics, modelOf, versionOf };
}

function PredictionList({ predictions }: { predictions: Prediction[] }) {
  const { t, locale } = useI18n();
  return (
    <ul className="predictions" data-testid="predictions">
      {predictions.map((prediction, index) => {
        const name = String(prediction.path ?? prediction.name ?? index + 1);
        if (prediction.error) return <li key={index} className="error">{name}: {String(prediction.error)}</li>;
        const scores = prediction.scores as Record<string, number> | undefined;
        return (
          <li key={index}>
            <strong>{name}</strong>{" "}
            {prediction.class !== undefined && <span className="badge">{String(prediction.class)}</span>}
            {prediction.verdict !== undefined && (
              <span className={`badge verdict-${prediction.verdict === "good" ? "added" : "rejected"}`}>
                {prediction.verdict === "good" ? t("dataset.good") : t("dataset.defect")}
              </span>
            )}
            {typeof prediction.score === "number" && <span> {t("models.score")}: {formatNumber(prediction.score, locale, 3)}</span>}
            {typeof prediction.heatmap_url === "string" && (
              <img className="heatmap" src={prediction.heatmap_url} alt={t("models.heatmapOf", { name })} width={128} height={128} />
            )}
            {scores && (
              <small>
                {" "}
                {Object.entries(scores)
                  .sort((a, b) => b[1] - a[1])
                  .slice(0, 3)
                  .map(([label, score]) => `${label} ${formatPercent(score, locale, 1)}`)
                  .join(" · ")}
              </small>
            )}
          </li>
        );
      })}
    </ul>
  );
}

function TryIt({ versionId, task }: { versionId: string; task: string }) {
  const { t } = useI18n();
  const { organizationId } = useSession();
  const [progress, setProgress] = useState<number | null>(null);
  const [predictions, setPredictions] = useState<Prediction[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  const curl = predictCurl(window.location.origin, versionId, organizationId);

  const predict = async (files: File[]) => {
    if (files.length === 0) return;
    setError(null);
    setPredictions(null);
    setProgress(0);
    const form = new FormData();
    for (const file of files.slice(0, 16)) form.append("files", file, file.name);
    if (task === "anomaly") form.append("heatmaps", "true");
    try {
      const answer = await postForm<{ predictions: Prediction[] }>(`/api/v1/model-versions/${versionId}/predict`, form, ({ loaded, total }) =>
        setProgress(total ? loaded / total : null),
      );
      setPredictions(answer.predictions.map((prediction, index) => ({ path: files[index]?.name, ...prediction })));
    } catch (failure) {
      const { status, body } = failure as { status: number; body: unknown };
      setError(status === 0 ? "network" : problemMessage(body, status));
    } finally {
      setProgress(null);
    }
  };

  return (
    <section className="panel" aria-labelledby="try-heading">
      <h2 id="try-heading">{t("models.tryTitle")}</h2>
      <label>
        {t("models.tryChoose")}
        <input type="file" accept="image/*" multiple data-testid="predict-input" onChange={(e) => void predict(Array.from(e.target.files ?? []))} />
        <small>{t("models.tryHint")}</small>
      </label>
      {progress !== null && <ProgressBar value={progress >= 1 ? null : progress} label={t("models.predicting")} />}
      <ErrorMessage error={error} />
      {predictions && <PredictionList predictions={predictions} />}
      <h3>{t("models.curlTitle")}</h3>
      <p className="hint">
        {t("models.curlHint")} <Link href="/organization">{t("nav.organization")}</Link>
      </p>
      <pre className="code" tabIndex={0} data-testid="curl">
        {curl}
      </pre>
      <button
        type="button"
        className="secondary"
        onClick={() => void navigator.clipboard?.writeText(curl).then(() => setCopied(true), () => setCopied(false))}
      >
        {copied ? t("models.copied") : t("models.copy")}
      </button>
    </section>
  );
}

export function ModelsPage({ projectId }: { projectId: string }) {
  const { t, locale } = useI18n();
  const loaded = useLoad(() => loadModels(projectId), [projectId]);
  const [selected, setSelected] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const setProduction = async (row: Row) => {
    const model = loaded.data?.modelOf.get(row.model_version_id);
    if (!model) return;
    setError(null);
    try {
      unwrap(
        await api.PUT("/api/v1/models/{model_id}/aliases/{alias}", {
          params: { path: { model_id: model.id, alias: "production" } },
          body: { model_version_id: row.model_version_id },
        }),
      );
      loaded.reload();
    } catch (failure) {
      setError(errorText(failure));
    }
  };

  if (!loaded.data) return loaded.error ? <ErrorMessage error={loaded.error} /> : <Loading />;
  const { rows, modelOf, versionOf } = loaded.data;
  const shown = rows.filter((row) => row.primary_metric).map((row) => row.primary_metric as string);
  const columns = [...new Set(shown)];
  const chosen = selected ?? rows.find((row) => row.rank === 1)?.model_version_id ?? rows[0]?.model_version_id ?? null;
  const chosenRow = rows.find((row) => row.model_version_id === chosen);
  const chosenTask = chosenRow?.task ?? "";

  return (
    <section>
      <p className="breadcrumb">
        <Link href={`/projects/${projectId}`}>{t("dataset.backToProject")}</Link>
      </p>
      <PageTitle>{t("models.title")}</PageTitle>
      {rows.length === 0 ? (
        <Empty title={t("project.noModels")} hint={t("project.noModelsHint")} action={<Link className="button" href={`/projects/${projectId}/train`}>{t("project.train")}</Link>} />
      ) : (
        <>
          <p className="hint">{t("models.hint")}</p>
          <div className="table-scroll">
            <table data-testid="comparison">
              <caption>{t("models.tableCaption")}</caption>
              <thead>
                <tr>
                  <th scope="col">{t("models.model")}</th>
                  <th scope="col">{t("models.task")}</th>
                  {columns.map((metric) => (
                    <th key={metric} scope="col" title={metric}>
                      {metricLabel(t, metric)}
                    </th>
                  ))}
                  <th scope="col">{t("models.rank")}</th>
                  <th scope="col">{t("models.actions")}</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((row) => {
                  const model = modelOf.get(row.model_version_id);
                  const production = model?.aliases?.production === row.model_version_id;
                  return (
                    <tr key={row.model_version_id} className={row.rank === 1 ? "best" : undefined} aria-selected={chosen === row.model_version_id}>
                      <th scope="row">
                        {row.model} v{row.version}
                        {row.rank === 1 && <span className="badge badge-best">{t("models.best")}</span>}
                        {production && <span className="badge badge-succeeded">{t("models.production")}</span>}
                      </th>
                      <td>{t(`task.${row.task}` as "task.classify")}</td>
                      {columns.map((metric) => (
                        <td key={metric}>{formatMetric(row.metrics[metric], metric, locale)}</td>
                      ))}
                      <td>{row.rank === null ? "—" : formatNumber(row.rank, locale)}</td>
                      <td className="row-actions">
                        <button type="button" className="secondary" onClick={() => setSelected(row.model_version_id)}>
                          {t("models.try")}
                        </button>
                        {!production && (
                          <button type="button" onClick={() => void setProduction(row)}>
                            {t("models.setProduction")}
                          </button>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          <ErrorMessage error={error} />
          {chosen && chosenRow && chosenTask !== "backbone" && (
            <EvaluationPanel key={`evaluation-${chosen}`} versionId={chosen} title={t("evaluation.title", { model: `${chosenRow.model} v${chosenRow.version}` })} />
          )}
          {chosen && <TryIt key={chosen} versionId={chosen} task={chosenTask} />}
          {chosen && <ExportPanel key={`export-${chosen}`} projectId={projectId} modelJobId={versionOf.get(chosen)?.job_id ?? null} task={chosenTask} />}
        </>
      )}
    </section>
  );
}
