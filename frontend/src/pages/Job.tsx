/** A job: live progress bar, ETA, loss curve and log tail (polled), cancel and retry. */

import { useEffect, useState } from "react";
import { api, ensureFreshToken, type Schemas } from "../api/client";
import { errorText, unwrap } from "../api/problems";
import { authHeaders } from "../api/session";
import { ErrorMessage, Loading, PageTitle, ProgressBar, StatusBadge } from "../components/common";
import { LossChart } from "../components/LossChart";
import { useI18n } from "../i18n";
import { formatDate, formatDuration, formatNumber } from "../lib/format";
import { ACTIVE_STATUSES, doneFraction, logTail, seriesPoints, type JobProgress } from "../lib/progress";
import { jobTitle } from "../lib/jobTitle";
import { Link } from "../lib/router";
import { readEventStream, type SseEvent } from "../lib/sse";

type Job = Schemas["JobOut"];

/** What a pipeline's plan stage chose and why (``result.plan``, engine/planning). */
interface PlanSummary {
  budget_minutes?: number;
  reasons?: { choice: string; value: unknown; why: string }[];
}
// The stream brings status and progress at once; the loss curve, the log and the stages are
// polled (faster when the stream cannot be read).
const POLL_MS = 3000;
const POLL_WITHOUT_STREAM_MS = 1500;

interface Live {
  job: Job;
  stages: Job[];
  loss: { step: number; value: number }[];
  lossOf: string;
  log: string;
}

async function loadLive(jobId: string): Promise<Live> {
  const job = unwrap(await api.GET("/api/v1/jobs/{job_id}", { params: { path: { job_id: jobId } } }));
  let stages: Job[] = [];
  if (job.kind === "pipeline") {
    stages = unwrap(await api.GET("/api/v1/jobs/{job_id}/stages", { params: { path: { job_id: jobId } } }));
  }
  const withLoss = [job, ...stages.filter((stage) => stage.status !== "queued")];
  let loss: Live["loss"] = [];
  let lossOf = job.kind;
  for (const candidate of withLoss) {
    const metrics = unwrap(await api.GET("/api/v1/jobs/{job_id}/metrics", { params: { path: { job_id: candidate.id } } }));
    const points = seriesPoints(metrics.series as Record<string, [number, number][]>, "loss");
    if (points.length > loss.length) {
      loss = points;
      lossOf = candidate.kind;
    }
  }
  await ensureFreshToken();
  const response = await fetch(`/api/v1/jobs/${jobId}/logs`, { headers: authHeaders() });
  const log = response.ok ? await response.text() : "";
  return { job, stages, loss, lossOf, log };
}

export function JobPage({ jobId }: { jobId: string }) {
  const { t, locale } = useI18n();
  const [live, setLive] = useState<Live | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);

  const [streaming, setStreaming] = useState(false);
  const active = live ? ACTIVE_STATUSES.has(live.job.status) : false;

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const next = await loadLive(jobId);
        if (stopped) return;
        setLive(next);
        setError(null);
        if (ACTIVE_STATUSES.has(next.job.status)) timer = setTimeout(poll, streaming ? POLL_MS : POLL_WITHOUT_STREAM_MS);
      } catch (failure) {
        if (stopped) return;
        setError(errorText(failure));
        timer = setTimeout(poll, POLL_MS * 2);
      }
    };
    void poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [jobId, tick, streaming]);

  // The live stream (GET /jobs/{id}/stream): status and progress as they change.
  useEffect(() => {
    if (!active) return;
    const abort = new AbortController();
    const onEvent = ({ event, data }: SseEvent) => {
      if (event === "end") {
        setTick((value) => value + 1);
        return;
      }
      const parsed = JSON.parse(data) as Record<string, unknown>;
      setLive((current) => {
        if (!current) return current;
        const job = event === "status"
          ? { ...current.job, status: parsed.status as Job["status"] }
          : { ...current.job, progress: parsed };
        return { ...current, job };
      });
    };
    setStreaming(true);
    ensureFreshToken()
      .then(() => readEventStream(`/api/v1/jobs/${jobId}/stream`, authHeaders(), abort.signal, onEvent))
      .catch(() => undefined)
      .finally(() => !abort.signal.aborted && setStreaming(false));
    return () => abort.abort();
  }, [jobId, active]);

  const act = async (action: "cancel" | "retry") => {
    setError(null);
    try {
      const path = { params: { path: { job_id: jobId } } };
      unwrap(action === "cancel" ? await api.POST("/api/v1/jobs/{job_id}/cancel", path) : await api.POST("/api/v1/jobs/{job_id}/retry", path));
      setTick((value) => value + 1);
    } catch (failure) {
      setError(errorText(failure));
    }
  };

  if (!live) return error ? <ErrorMessage error={error} /> : <Loading />;
  const { job, stages, loss, lossOf, log } = live;
  const progress = job.progress as JobProgress;
  const fraction = doneFraction(progress, job.status);
  const modelVersionId = (job.result as { model_version_id?: string }).model_version_id;
  const plan = (job.result as { plan?: PlanSummary }).plan;

  return (
    <section>
      <p className="breadcrumb">
        <Link href={`/projects/${job.project_id}`}>{t("dataset.backToProject")}</Link>
      </p>
      <PageTitle
        actions={
          <>
            {active && (
              <button type="button" className="danger" onClick={() => void act("cancel")} disabled={job.cancel_requested}>
                {job.cancel_requested ? t("job.cancelling") : t("job.cancel")}
              </button>
            )}
            {(job.status === "failed" || job.status === "cancelled") && (
              <button type="button" onClick={() => void act("retry")}>
                {t("job.retry")}
              </button>
            )}
          </>
        }
      >
        {jobTitle(job, t)}
      </PageTitle>
      <div className="panel">
        <p>
          <span data-testid="job-status" data-status={job.status}>
            <StatusBadge status={job.status} />
          </span>
          {progress.stage && progress.stages && (
            <span>
              {" · "}
              {t("job.stage", {
                number: formatNumber(progress.stage_number ?? 1, locale),
                total: formatNumber(progress.stages, locale),
                stage: t(`kind.${progress.stage}` as "kind.pipeline"),
              })}
            </span>
          )}
        </p>
        <ProgressBar value={fraction} label={t("job.progress")} />
        <dl className="stats">
          {progress.step !== undefined && (
            <div>
              <dt>{t("job.step")}</dt>
              <dd>
                {formatNumber(progress.step, locale)} / {formatNumber(progress.total_steps ?? 0, locale)}
              </dd>
            </div>
          )}
          {active && progress.eta_seconds !== undefined && progress.eta_seconds !== null && (
            <div>
              <dt>{t("job.eta")}</dt>
              <dd>{formatDuration(progress.eta_seconds, locale)}</dd>
            </div>
          )}
          {progress.loss !== undefined && progress.loss !== null && (
            <div>
              <dt>{t("job.loss")}</dt>
              <dd>{formatNumber(progress.loss, locale, 4)}</dd>
            </div>
          )}
          <div>
            <dt>{t("common.createdAt")}</dt>
            <dd>{formatDate(job.created_at, locale)}</dd>
          </div>
          {job.finished_at && (
            <div>
              <dt>{t("job.finished")}</dt>
              <dd>{formatDate(job.finished_at, locale)}</dd>
            </div>
          )}
        </dl>
        {job.error && (
          <p className="error" role="alert">
            {t("job.failedBecause", { error: job.error })}
          </p>
        )}
        <ErrorMessage error={error} />
        {job.status === "succeeded" && modelVersionId && (
          <p className="success" role="status">
            {t("job.modelReady")} <Link href={`/projects/${job.project_id}/models`}>{t("project.compare")}</Link>
          </p>
        )}
      </div>
      {plan && (
        <section className="panel" aria-labelledby="plan-heading">
          <h2 id="plan-heading">{t("job.plan")}</h2>
          <p className="hint">{t("job.planHint", { minutes: formatNumber(plan.budget_minutes ?? 0, locale) })}</p>
          <dl className="reasons" data-testid="plan-reasons">
            {(plan.reasons ?? []).map((reason, at) => (
              <div key={at}>
                <dt>
                  <code>{reason.choice}</code> = {String(reason.value)}
                </dt>
                <dd>{reason.why}</dd>
              </div>
            ))}
          </dl>
        </section>
      )}
      {stages.length > 0 && (
        <section className="panel" aria-labelledby="stages-heading">
          <h2 id="stages-heading">{t("job.stages")}</h2>
          <ol className="list">
            {stages.map((stage) => (
              <li key={stage.id}>
                {t(`kind.${stage.kind}` as "kind.pipeline")} <StatusBadge status={stage.status} />
              </li>
            ))}
          </ol>
        </section>
      )}
      <section className="panel" aria-labelledby="loss-heading">
        <h2 id="loss-heading">{t("job.lossCurve")}</h2>
        {loss.length > 0 ? <LossChart points={loss} title={t("job.lossOf", { stage: t(`kind.${lossOf}` as "kind.pipeline") })} /> : <p className="hint">{t("job.noLoss")}</p>}
      </section>
      <section className="panel" aria-labelledby="log-heading">
        <h2 id="log-heading">{t("job.log")}</h2>
        {log ? <pre className="log" tabIndex={0} data-testid="log">{logTail(log)}</pre> : <p className="hint">{t("job.noLog")}</p>}
      </section>
    </section>
  );
}
