/** Follows a job until it ends: reads it again every ``pollMs`` while it is queued or running
 *  (after a failed read too: the error shows until a read succeeds). */

import { useEffect, useState } from "react";
import { api, type Schemas } from "../api/client";
import { errorText, unwrap } from "../api/problems";
import { ACTIVE_STATUSES } from "./progress";

type Job = Schemas["JobOut"];

export interface FollowedJob {
  /** The job as last read, or null before one is followed. */
  job: Job | null;
  /** Starts following ``job`` (a submitted one, or one found still running). */
  follow: (job: Job | null) => void;
  /** Why the job could not be read again, in plain words. */
  error: string | null;
}

export function useFollowedJob(pollMs = 1000): FollowedJob {
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [failures, setFailures] = useState(0);
  useEffect(() => {
    if (!job || !ACTIVE_STATUSES.has(job.status)) return;
    let live = true;
    const timer = window.setTimeout(async () => {
      try {
        const next = unwrap(await api.GET("/api/v1/jobs/{job_id}", { params: { path: { job_id: job.id } } }));
        if (!live) return;
        setError(null);
        setJob(next);
      } catch (failure) {
        if (!live) return;
        setError(errorText(failure));
        setFailures((count) => count + 1);
      }
    }, pollMs);
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
  }, [job, pollMs, failures]);
  return { job, follow: setJob, error };
}
