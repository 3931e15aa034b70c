/** A download link of one of a job's artifacts: the API answers with a presigned URL (valid
 *  for an hour by default); a link older than STALE_MS asks for a fresh one when clicked. */

import { useState, type ReactNode } from "react";
import { api } from "../api/client";
import { errorText, unwrap } from "../api/problems";
import { useLoad } from "../lib/useLoad";
import { ErrorMessage } from "./common";

const STALE_MS = 10 * 60 * 1000;

async function presigned(jobId: string, name: string): Promise<{ url: string; at: number }> {
  const answer = unwrap(await api.GET("/api/v1/jobs/{job_id}/artifacts/{name}", { params: { path: { job_id: jobId, name } } }));
  if (!answer.url) throw new Error(`no download address for ${name}`);
  return { url: answer.url, at: Date.now() };
}

export function ArtifactLink({ jobId, name, children, testId }: { jobId: string; name: string; children: ReactNode; testId?: string }) {
  const link = useLoad(() => presigned(jobId, name), [jobId, name]);
  const [refreshError, setRefreshError] = useState<string | null>(null);
  if (link.error) return <ErrorMessage error={link.error} />;
  if (!link.data) return <span className="hint">{children}</span>;
  const { url, at } = link.data;
  return (
    <>
    <a
      className="button secondary"
      href={url}
      download
      data-testid={testId}
      onClick={(event) => {
        if (Date.now() - at < STALE_MS) return;
        event.preventDefault();
        setRefreshError(null);
        presigned(jobId, name).then(
          (fresh) => window.location.assign(fresh.url),
          (failure: unknown) => setRefreshError(errorText(failure)),
        );
      }}
    >
      {children}
    </a>
    <ErrorMessage error={refreshError} />
    </>
  );
}
