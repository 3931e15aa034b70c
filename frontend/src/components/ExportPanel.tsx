/** "Download the model" on the Models page: exports a model version's model as ONNX or
 *  TorchScript (an ``export`` job), follows the job, then offers the file with the parity
 *  check in plain words; the earlier finished exports of the same model are listed too. */

import { useEffect, useState } from "react";
import { api, type Schemas } from "../api/client";
import { errorText, unwrap } from "../api/problems";
import { useI18n } from "../i18n";
import { EXPORT_FORMATS, exportBody, exportFileName, exportFormat, exportsModel, finishedExports, formatDifference, parityOf, type ExportFormat } from "../lib/exports";
import { formatDate } from "../lib/format";
import { ACTIVE_STATUSES, doneFraction, type JobProgress } from "../lib/progress";
import { useFollowedJob } from "../lib/useFollowedJob";
import { useLoad } from "../lib/useLoad";
import { ArtifactLink } from "./ArtifactLink";
import { ChoiceGroup, ErrorMessage, Loading, ProgressBar } from "./common";

type Job = Schemas["JobOut"];

async function loadExports(projectId: string, modelJobId: string): Promise<Job[]> {
  const page = unwrap(
    await api.GET("/api/v1/projects/{project_id}/jobs", {
      params: { path: { project_id: projectId }, query: { kind: "export", model_job_id: modelJobId, limit: 50 } },
    }),
  );
  return page.items.filter((job) => exportsModel(job, modelJobId));
}

function FormatName({ format }: { format: ExportFormat | null }) {
  const { t } = useI18n();
  return <>{format ? t(`models.exportFormat.${format}` as "models.exportFormat.onnx") : "—"}</>;
}

/** The parity check of an export in the reader's words. */
function ParityText({ job }: { job: Job }) {
  const { t, locale } = useI18n();
  const parity = parityOf(job);
  if (!parity) return null;
  const difference = formatDifference(parity.difference, locale, (bound) => t("models.exportLessThan", { bound }));
  return <span data-testid="export-parity">{t(parity.key, { difference })}</span>;
}

/** A finished export: its download link and what the parity check found. */
function ExportedFile({ job }: { job: Job }) {
  const { t } = useI18n();
  const file = exportFileName(job);
  return (
    <div className="export-file">
      <ArtifactLink jobId={job.id} name="export" testId="export-download">
        {t("models.exportDownload", { file })}
      </ArtifactLink>{" "}
      <ParityText job={job} />
    </div>
  );
}

/** The export being made now: its progress, then its file or why it failed. */
function CurrentExport({ job }: { job: Job }) {
  const { t } = useI18n();
  if (ACTIVE_STATUSES.has(job.status)) {
    return <ProgressBar value={job.status === "queued" ? null : doneFraction(job.progress as JobProgress, job.status)} label={t("models.exporting")} />;
  }
  if (job.status === "succeeded") {
    return (
      <div data-testid="export-result" role="status">
        <p>{t("models.exportReady")}</p>
        <ExportedFile job={job} />
      </div>
    );
  }
  const reason = job.status === "cancelled" ? t("models.exportCancelled") : job.error || t("models.exportFailed");
  return (
    <div data-testid="export-error">
      <ErrorMessage error={t("models.exportFailedBecause", { reason })} />
    </div>
  );
}

function EarlierExports({ jobs }: { jobs: Job[] }) {
  const { t, locale } = useI18n();
  if (jobs.length === 0) return null;
  return (
    <>
      <h3>{t("models.exportEarlier")}</h3>
      <ul className="exports" data-testid="exports">
        {jobs.map((job) => (
          <li key={job.id}>
            <strong>
              <FormatName format={exportFormat(job)} />
            </strong>{" "}
            <small>{formatDate(job.finished_at ?? job.created_at, locale)}</small>
            <ExportedFile job={job} />
          </li>
        ))}
      </ul>
    </>
  );
}

export function ExportPanel({ projectId, modelJobId, task }: { projectId: string; modelJobId: string | null; task: string }) {
  const { t } = useI18n();
  const exports = useLoad(() => (modelJobId ? loadExports(projectId, modelJobId) : Promise.resolve([])), [projectId, modelJobId]);
  const { job, follow, error: followError } = useFollowedJob();
  const [format, setFormat] = useState<ExportFormat>("onnx");
  const [submitting, setSubmitting] = useState(false);
  const [error, setError] = useState<string | null>(null);

  // An export still being made (the page was left meanwhile) is followed again.
  useEffect(() => {
    const unfinished = exports.data?.find((candidate) => ACTIVE_STATUSES.has(candidate.status));
    if (unfinished && !job) follow(unfinished);
  }, [exports.data, job, follow]);

  // A finished export joins the list once the next one starts; read the list again.
  const ended = job !== null && !ACTIVE_STATUSES.has(job.status);
  const { reload } = exports;
  useEffect(() => {
    if (ended) reload();
  }, [ended, job?.id, reload]);

  const start = async () => {
    if (!modelJobId) return;
    setError(null);
    setSubmitting(true);
    try {
      follow(unwrap(await api.POST("/api/v1/projects/{project_id}/jobs", { params: { path: { project_id: projectId } }, body: exportBody(modelJobId, format) })));
    } catch (failure) {
      setError(errorText(failure));
    } finally {
      setSubmitting(false);
    }
  };

  let body;
  if (task === "backbone") body = <p className="hint">{t("models.exportBackbone")}</p>;
  else if (!modelJobId) body = <p className="hint">{t("models.exportNoJob")}</p>;
  else {
    const running = submitting || (job !== null && ACTIVE_STATUSES.has(job.status));
    body = (
      <>
        <ChoiceGroup
          legend={t("models.exportFormat")}
          name="export-format"
          choices={EXPORT_FORMATS}
          value={format}
          onChange={setFormat}
          title={(choice) => <FormatName format={choice} />}
          hint={(choice) => t(`models.exportFormatHint.${choice}` as "models.exportFormatHint.onnx")}
        />
        <button type="button" onClick={() => void start()} disabled={running} data-testid="export-start">
          {t("models.exportStart")}
        </button>
        {job && <CurrentExport job={job} />}
        <ErrorMessage error={error ?? followError} />
        {exports.data ? <EarlierExports jobs={finishedExports(exports.data, modelJobId, job?.id)} /> : exports.error ? <ErrorMessage error={exports.error} /> : <Loading />}
      </>
    );
  }
  return (
    <section className="panel" aria-labelledby="export-heading">
      <h2 id="export-heading">{t("models.exportTitle")}</h2>
      <p className="hint">{t("models.exportHint")}</p>
      {body}
    </section>
  );
}
