/** "Label these next" on the labeling page: starts a suggest job on the dataset's latest version
 *  with the project's latest pretrained backbone, follows it, then lists the images to label
 *  next, labels to check and near duplicates; each opens its image for labeling. */

import { useEffect, useState } from "react";
import { api, type Schemas } from "../api/client";
import { errorText, unwrap } from "../api/problems";
import { useI18n } from "../i18n";
import { formatNumber, formatPercent } from "../lib/format";
import { ACTIVE_STATUSES, doneFraction, type JobProgress } from "../lib/progress";
import { Link } from "../lib/router";
import { latestCheckpointJob, latestSuggestJob, reasonText, suggestBody } from "../lib/suggestions";
import { useFollowedJob } from "../lib/useFollowedJob";
import { useLoad } from "../lib/useLoad";
import { ErrorMessage, Loading, ProgressBar } from "./common";

type Suggestions = Schemas["SuggestionsOut"];
type ImageRef = Schemas["SuggestedImageRef"];
const POLL_MS = 1000;

async function loadContext(datasetId: string) {
  const dataset = unwrap(await api.GET("/api/v1/datasets/{dataset_id}", { params: { path: { dataset_id: datasetId } } }));
  const [versions, pretrains, suggests] = await Promise.all([
    api.GET("/api/v1/datasets/{dataset_id}/versions", { params: { path: { dataset_id: datasetId }, query: { limit: 100 } } }).then(unwrap),
    api.GET("/api/v1/projects/{project_id}/jobs", { params: { path: { project_id: dataset.project_id }, query: { kind: "pretrain", status: "succeeded", limit: 20 } } }).then(unwrap),
    api.GET("/api/v1/projects/{project_id}/jobs", { params: { path: { project_id: dataset.project_id }, query: { kind: "suggest", limit: 20 } } }).then(unwrap),
  ]);
  const versionIds = versions.items.map((version) => version.id);
  return {
    projectId: dataset.project_id,
    latestVersion: versions.items[0] ?? null,
    checkpoint: latestCheckpointJob(pretrains.items),
    previous: latestSuggestJob(suggests.items, versionIds),
  };
}

function Thumb({ image, onOpen }: { image: ImageRef; onOpen: (itemId: string) => void }) {
  const { t } = useI18n();
  if (!image.item_id) return <span className="hint">{t("suggest.gone", { path: image.path })}</span>;
  return (
    <button type="button" className="suggestion-open" onClick={() => onOpen(image.item_id as string)} aria-label={t("suggest.open", { path: image.path })}>
      {image.thumbnail_url && <img src={image.thumbnail_url} alt="" width={64} height={64} loading="lazy" />}
      <span>{image.path}</span>
    </button>
  );
}

function SuggestionLists({ suggestions, onOpen }: { suggestions: Suggestions; onOpen: (itemId: string) => void }) {
  const { t, locale } = useI18n();
  return (
    <>
      <p className="hint">
        {t("suggest.summary", { images: formatNumber(suggestions.images, locale), labeled: formatNumber(suggestions.labeled, locale) })}
      </p>
      {suggestions.ranked.length === 0 ? (
        <p className="hint">{t("suggest.nothing")}</p>
      ) : (
        <ol className="suggestions" data-testid="suggestions">
          {suggestions.ranked.map((entry) => (
            <li key={entry.path}>
              <Thumb image={entry} onOpen={onOpen} />
              <ul className="reasons">
                {entry.reasons.map((reason) => (
                  <li key={reason}>{reasonText(reason, t)}</li>
                ))}
              </ul>
            </li>
          ))}
        </ol>
      )}
      {suggestions.suspect_labels.length > 0 && (
        <>
          <h3>{t("suggest.suspects")}</h3>
          <ul className="suggestions" data-testid="suspect-labels">
            {suggestions.suspect_labels.map((entry) => (
              <li key={entry.path}>
                <Thumb image={entry} onOpen={onOpen} />
                <span>{t("suggest.suspect", { label: entry.label, said: entry.neighbours_say, confidence: formatPercent(entry.confidence, locale) })}</span>
              </li>
            ))}
          </ul>
        </>
      )}
      {suggestions.near_duplicates.length > 0 && (
        <>
          <h3>{t("suggest.duplicates")}</h3>
          <ul className="suggestions" data-testid="near-duplicates">
            {suggestions.near_duplicates.map((pair) => (
              <li key={`${pair.first.path}|${pair.second.path}`}>
                <Thumb image={pair.first} onOpen={onOpen} />
                <Thumb image={pair.second} onOpen={onOpen} />
                <span>{t("suggest.similarity", { similarity: formatNumber(pair.similarity, locale, 3) })}</span>
              </li>
            ))}
          </ul>
        </>
      )}
    </>
  );
}

export function SuggestPanel({ datasetId, onOpen }: { datasetId: string; onOpen: (itemId: string) => void }) {
  const { t } = useI18n();
  const context = useLoad(() => loadContext(datasetId), [datasetId]);
  const { job, follow: setJob, error: followError } = useFollowedJob(POLL_MS);
  const [suggestions, setSuggestions] = useState<Suggestions | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (context.data?.previous && !job) setJob(context.data.previous);
  }, [context.data, job]);

  // Once the followed job has succeeded, read its suggestions.
  useEffect(() => {
    if (job?.status !== "succeeded") return;
    let live = true;
    api
      .GET("/api/v1/jobs/{job_id}/suggestions", { params: { path: { job_id: job.id } } })
      .then(unwrap)
      .then((answer) => live && setSuggestions(answer))
      .catch((failure: unknown) => live && setError(errorText(failure)));
    return () => {
      live = false;
    };
  }, [job?.id, job?.status]);

  const start = async () => {
    const ready = context.data;
    if (!ready?.latestVersion || !ready.checkpoint) return;
    setError(null);
    setSuggestions(null);
    try {
      const submitted = unwrap(
        await api.POST("/api/v1/projects/{project_id}/jobs", {
          params: { path: { project_id: ready.projectId } },
          body: suggestBody(ready.latestVersion.id, ready.checkpoint.id),
        }),
      );
      setJob(submitted);
    } catch (failure) {
      setError(errorText(failure));
    }
  };

  let body;
  if (!context.data) body = context.error ? <ErrorMessage error={context.error} /> : <Loading />;
  else if (!context.data.latestVersion)
    body = (
      <p className="hint" data-testid="suggest-needs">
        {t("suggest.needsVersion")} <Link href={`/datasets/${datasetId}`}>{t("suggest.saveVersion")}</Link>
      </p>
    );
  else if (!context.data.checkpoint)
    body = (
      <p className="hint" data-testid="suggest-needs">
        {t("suggest.needsPretrain")} <Link href={`/projects/${context.data.projectId}/train`}>{t("project.train")}</Link>
      </p>
    );
  else {
    const running = job !== null && ACTIVE_STATUSES.has(job.status);
    body = (
      <>
        <p className="hint">{t("suggest.hint", { version: context.data.latestVersion.number })}</p>
        <button type="button" onClick={() => void start()} disabled={running} data-testid="suggest-start">
          {suggestions || job ? t("suggest.again") : t("suggest.start")}
        </button>
        {running && <ProgressBar value={doneFraction(job.progress as JobProgress, job.status)} label={t("suggest.running")} />}
        {job?.status === "failed" && <ErrorMessage error={job.error || t("suggest.failed")} />}
        {suggestions && <SuggestionLists suggestions={suggestions} onOpen={onOpen} />}
      </>
    );
  }
  return (
    <section className="panel suggest-panel" aria-labelledby="suggest-heading">
      <h2 id="suggest-heading">{t("suggest.title")}</h2>
      {body}
      <ErrorMessage error={error ?? followError} />
    </section>
  );
}
