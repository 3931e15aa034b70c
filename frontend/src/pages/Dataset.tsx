/** A dataset: upload, stats, a filtered gallery of thumbnails, and its frozen versions. */

import { useState, type FormEvent } from "react";
import { api } from "../api/client";
import { errorText, unwrap } from "../api/problems";
import { Empty, ErrorMessage, Loading, PageTitle } from "../components/common";
import { Uploader } from "../components/Uploader";
import { useI18n } from "../i18n";
import { formatBytes, formatDate, formatNumber } from "../lib/format";
import { Link } from "../lib/router";
import { useLoad } from "../lib/useLoad";

export interface DatasetStats {
  items: number;
  bytes: number;
  labeled: number;
  defect: number;
  good: number;
  classes: Record<string, number>;
  splits: Record<string, number>;
}

type Labeled = "all" | "yes" | "no";
type Condition = "all" | "good" | "defect";
const PAGE = 60;

function Stats({ stats }: { stats: DatasetStats }) {
  const { t, locale } = useI18n();
  const figures: [string, string][] = [
    [t("dataset.images"), formatNumber(stats.items, locale)],
    [t("dataset.labeled"), formatNumber(stats.labeled, locale)],
    [t("dataset.good"), formatNumber(stats.good, locale)],
    [t("dataset.defect"), formatNumber(stats.defect, locale)],
    [t("dataset.size"), formatBytes(stats.bytes, locale)],
  ];
  return (
    <dl className="stats" data-testid="stats">
      {figures.map(([name, value]) => (
        <div key={name}>
          <dt>{name}</dt>
          <dd>{value}</dd>
        </div>
      ))}
      {Object.entries(stats.classes).map(([name, count]) => (
        <div key={name}>
          <dt>{name}</dt>
          <dd>{formatNumber(count, locale)}</dd>
        </div>
      ))}
    </dl>
  );
}

function Gallery({ datasetId, classes, version }: { datasetId: string; classes: string[]; version: number }) {
  const { t, locale } = useI18n();
  const [labeled, setLabeled] = useState<Labeled>("all");
  const [condition, setCondition] = useState<Condition>("all");
  const [className, setClassName] = useState("");
  const [offset, setOffset] = useState(0);
  const items = useLoad(async () => {
    const query = {
      offset,
      limit: PAGE,
      ...(labeled !== "all" && { labeled: labeled === "yes" }),
      ...(condition !== "all" && { is_defect: condition === "defect" }),
      ...(className && { class_name: className }),
    };
    return unwrap(await api.GET("/api/v1/datasets/{dataset_id}/items", { params: { path: { dataset_id: datasetId }, query } }));
  }, [datasetId, labeled, condition, className, offset, version]);

  return (
    <section aria-labelledby="gallery-heading" className="panel">
      <h2 id="gallery-heading">{t("dataset.gallery")}</h2>
      <div className="filters" role="group" aria-label={t("dataset.filters")}>
        <label className="inline-field">
          <span>{t("dataset.filterLabeled")}</span>
          <select data-testid="filter-labeled" value={labeled} onChange={(e) => { setLabeled(e.target.value as Labeled); setOffset(0); }}>
            <option value="all">{t("common.all")}</option>
            <option value="yes">{t("dataset.labeledYes")}</option>
            <option value="no">{t("dataset.labeledNo")}</option>
          </select>
        </label>
        <label className="inline-field">
          <span>{t("dataset.filterCondition")}</span>
          <select value={condition} onChange={(e) => { setCondition(e.target.value as Condition); setOffset(0); }}>
            <option value="all">{t("common.all")}</option>
            <option value="good">{t("dataset.good")}</option>
            <option value="defect">{t("dataset.defect")}</option>
          </select>
        </label>
        <label className="inline-field">
          <span>{t("dataset.filterClass")}</span>
          <select value={className} onChange={(e) => { setClassName(e.target.value); setOffset(0); }}>
            <option value="">{t("common.all")}</option>
            {classes.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorMessage error={items.error} />
      {!items.data && !items.error && <Loading />}
      {items.data && items.data.total === 0 && <Empty title={t("dataset.noImages")} hint={t("dataset.noImagesHint")} />}
      {items.data && items.data.items.length > 0 && (
        <>
          <ul className="gallery" data-testid="gallery">
            {items.data.items.map((item) => (
              <li key={item.id}>
                <figure>
                  <img src={item.thumbnail_url} alt={item.path} loading="lazy" width={128} height={128} />
                  <figcaption>
                    <span className="path">{item.path}</span>
                    <span>
                      {item.class_name ?? (item.is_defect === true ? t("dataset.defect") : item.is_defect === false ? t("dataset.good") : t("dataset.unlabeled"))}
                      {item.split === "test" && ` · ${t("label.test")}`}
                    </span>
                  </figcaption>
                </figure>
              </li>
            ))}
          </ul>
          <div className="pager">
            <button type="button" className="secondary" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
              {t("common.previous")}
            </button>
            <span>
              {t("common.range", {
                from: formatNumber(offset + 1, locale),
                to: formatNumber(offset + items.data.items.length, locale),
                total: formatNumber(items.data.total, locale),
              })}
            </span>
            <button type="button" className="secondary" disabled={offset + PAGE >= items.data.total} onClick={() => setOffset(offset + PAGE)}>
              {t("common.next")}
            </button>
          </div>
        </>
      )}
    </section>
  );
}

function Versions({ datasetId, version, onFrozen }: { datasetId: string; version: number; onFrozen: () => void }) {
  const { t, locale } = useI18n();
  const versions = useLoad(
    async () => unwrap(await api.GET("/api/v1/datasets/{dataset_id}/versions", { params: { path: { dataset_id: datasetId }, query: { limit: 100 } } })),
    [datasetId, version],
  );
  const [note, setNote] = useState("");
  const [error, setError] = useState<string | null>(null);
  const freeze = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      unwrap(await api.POST("/api/v1/datasets/{dataset_id}/versions", { params: { path: { dataset_id: datasetId } }, body: { note } }));
      setNote("");
      onFrozen();
    } catch (failure) {
      setError(errorText(failure));
    }
  };
  return (
    <section aria-labelledby="versions-heading" className="panel">
      <h2 id="versions-heading">{t("dataset.versions")}</h2>
      <p className="hint">{t("dataset.versionsHint")}</p>
      {versions.data && versions.data.items.length === 0 && <Empty title={t("dataset.noVersions")} hint={t("dataset.noVersionsHint")} />}
      {versions.data && versions.data.items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">{t("dataset.version")}</th>
              <th scope="col">{t("dataset.images")}</th>
              <th scope="col">{t("dataset.labeled")}</th>
              <th scope="col">{t("dataset.note")}</th>
              <th scope="col">{t("common.createdAt")}</th>
            </tr>
          </thead>
          <tbody>
            {versions.data.items.map((row) => (
              <tr key={row.id}>
                <td>v{row.number}</td>
                <td>{formatNumber(Number(row.stats.items ?? 0), locale)}</td>
                <td>{formatNumber(Number(row.stats.labeled ?? 0), locale)}</td>
                <td>{row.note}</td>
                <td>{formatDate(row.created_at, locale)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form onSubmit={freeze} className="row-form">
        <label>
          {t("dataset.note")}
          <input value={note} onChange={(e) => setNote(e.target.value)} />
        </label>
        <button type="submit">{t("dataset.freeze")}</button>
      </form>
      <ErrorMessage error={error} />
    </section>
  );
}

export function DatasetPage({ datasetId }: { datasetId: string }) {
  const { t } = useI18n();
  const [version, setVersion] = useState(0);
  const bump = () => setVersion((value) => value + 1);
  const dataset = useLoad(async () => unwrap(await api.GET("/api/v1/datasets/{dataset_id}", { params: { path: { dataset_id: datasetId } } })), [datasetId]);
  const stats = useLoad(
    async () => unwrap(await api.GET("/api/v1/datasets/{dataset_id}/stats", { params: { path: { dataset_id: datasetId } } })) as unknown as DatasetStats,
    [datasetId, version],
  );
  if (!dataset.data) return dataset.error ? <ErrorMessage error={dataset.error} /> : <Loading />;
  return (
    <section>
      <p className="breadcrumb">
        <Link href={`/projects/${dataset.data.project_id}`}>{t("dataset.backToProject")}</Link>
      </p>
      <PageTitle
        actions={
          <>
            <Link className="button" href={`/datasets/${datasetId}/label`}>
              {t("dataset.label")}
            </Link>
            <Link className="button secondary" href={`/projects/${dataset.data.project_id}/train`}>
              {t("project.train")}
            </Link>
          </>
        }
      >
        {dataset.data.name}
      </PageTitle>
      {stats.data && <Stats stats={stats.data} />}
      <Uploader datasetId={datasetId} onUploaded={bump} />
      <Gallery datasetId={datasetId} classes={Object.keys(stats.data?.classes ?? {})} version={version} />
      <Versions datasetId={datasetId} version={version} onFrozen={bump} />
    </section>
  );
}
