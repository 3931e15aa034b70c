/** Upload images and archives with a progress bar and the API's verdict for every file. */

import { useId, useState, type DragEvent } from "react";
import { postForm, type Schemas } from "../api/client";
import { problemMessage } from "../api/problems";
import { useI18n } from "../i18n";
import { formatBytes } from "../lib/format";
import { inBatches, isArchive, verdictCounts, type FileVerdict } from "../lib/uploads";
import { ProgressBar } from "./common";

interface Row {
  name: string;
  size: number;
  progress: number;
  state: "waiting" | "uploading" | "checking" | "done" | "failed";
  error: string;
  verdicts: FileVerdict[];
}

export function Uploader({ datasetId, onUploaded }: { datasetId: string; onUploaded: () => void }) {
  const { t, locale } = useI18n();
  const inputId = useId();
  const [rows, setRows] = useState<Row[]>([]);
  const [dragging, setDragging] = useState(false);

  const update = (index: number, change: Partial<Row>) =>
    setRows((current) => current.map((row, at) => (at === index ? { ...row, ...change } : row)));

  const upload = async (files: File[]) => {
    if (files.length === 0) return;
    const offset = rows.length;
    setRows((current) => [
      ...current,
      ...files.map((file): Row => ({ name: file.name, size: file.size, progress: 0, state: "waiting", error: "", verdicts: [] })),
    ]);
    await inBatches(files, 2, async (file, index) => {
      const at = offset + index;
      const form = new FormData();
      const archive = isArchive(file.name);
      form.append(archive ? "file" : "files", file, file.name);
      const url = `/api/v1/datasets/${datasetId}/${archive ? "archives" : "items"}`;
      update(at, { state: "uploading" });
      try {
        const report = await postForm<Schemas["IngestReportOut"]>(url, form, ({ loaded, total }) =>
          update(at, { progress: total ? loaded / total : 0, state: loaded >= total ? "checking" : "uploading" }),
        );
        update(at, { state: "done", progress: 1, verdicts: report.files });
      } catch (failure) {
        const { status, body } = failure as { status: number; body: unknown };
        update(at, { state: "failed", error: status === 0 ? t("error.network") : problemMessage(body, status) });
      }
    });
    onUploaded();
  };

  const drop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    void upload(Array.from(event.dataTransfer.files));
  };

  return (
    <section aria-labelledby={`${inputId}-heading`} className="panel">
      <h2 id={`${inputId}-heading`}>{t("upload.title")}</h2>
      <div
        className={dragging ? "dropzone dragging" : "dropzone"}
        onDragOver={(event) => {
          event.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={drop}
      >
        <label htmlFor={inputId}>{t("upload.choose")}</label>
        <input
          id={inputId}
          type="file"
          multiple
          accept="image/*,.zip,.tar,.tgz,.gz,.bmp,.tif,.tiff"
          data-testid="upload-input"
          onChange={(event) => {
            void upload(Array.from(event.target.files ?? []));
            event.target.value = "";
          }}
        />
        <small>{t("upload.hint")}</small>
      </div>
      {rows.length > 0 && (
        <ul className="upload-rows" aria-live="polite">
          {rows.map((row, index) => (
            <li key={`${row.name}-${index}`} className={`upload-row upload-${row.state}`}>
              <div className="upload-head">
                <strong>{row.name}</strong>
                <small>{formatBytes(row.size, locale)}</small>
                <span className="upload-state">{t(`upload.state.${row.state}` as "upload.state.done")}</span>
              </div>
              {(row.state === "uploading" || row.state === "checking") && (
                <ProgressBar value={row.state === "checking" ? null : row.progress} label={t("upload.progress", { name: row.name })} />
              )}
              {row.error && (
                <p className="error" role="alert">
                  {row.error}
                </p>
              )}
              {row.verdicts.length > 0 && (
                <>
                  <p className="verdict-counts">
                    {verdictCounts(row.verdicts).map(([verdict, count]) => (
                      <span key={verdict} className={`badge verdict-${verdict}`}>
                        {t(`upload.verdict.${verdict}` as "upload.verdict.added")}: {count}
                      </span>
                    ))}
                  </p>
                  <details open={row.verdicts.some((v) => v.status === "rejected")}>
                    <summary>{t("upload.details")}</summary>
                    <ul className="verdicts">
                      {row.verdicts.map((verdict, at) => (
                        <li key={`${verdict.path}-${at}`} className={`verdict-${verdict.status}`} data-testid="verdict">
                          <span>{verdict.path}</span>{" "}
                          <span className={`badge verdict-${verdict.status}`}>
                            {t(`upload.verdict.${verdict.status}` as "upload.verdict.added")}
                          </span>
                          {verdict.detail && <span className="verdict-detail"> — {verdict.detail}</span>}
                        </li>
                      ))}
                    </ul>
                  </details>
                </>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
