/** Platform admins: queues, workers and their GPUs, usage per organization. */

import { api } from "../api/client";
import { unwrap } from "../api/problems";
import { Empty, ErrorMessage, Loading, PageTitle } from "../components/common";
import { DeviceChart } from "../components/DeviceChart";
import { useI18n } from "../i18n";
import { formatBytes, formatDate, formatDuration, formatNumber, formatPercent } from "../lib/format";
import { useLoad } from "../lib/useLoad";

async function loadAdmin() {
  const [queues, workers, usage] = await Promise.all([
    api.GET("/api/v1/admin/queues").then(unwrap),
    api.GET("/api/v1/admin/workers").then(unwrap),
    api.GET("/api/v1/admin/usage").then(unwrap),
  ]);
  return { queues, workers, usage };
}

export function AdminPage() {
  const { t, locale } = useI18n();
  const loaded = useLoad(loadAdmin, []);
  if (!loaded.data) return (
    <section>
      <PageTitle>{t("admin.title")}</PageTitle>
      {loaded.error ? <ErrorMessage error={loaded.error} /> : <Loading />}
    </section>
  );
  const { queues, workers, usage } = loaded.data;
  return (
    <section>
      <PageTitle actions={<button type="button" className="secondary" onClick={loaded.reload}>{t("common.refresh")}</button>}>{t("admin.title")}</PageTitle>
      <section className="panel" aria-labelledby="queues-heading">
        <h2 id="queues-heading">{t("admin.queues")}</h2>
        {queues.length === 0 ? <Empty title={t("admin.noQueues")} hint={t("admin.noQueuesHint")} /> : (
          <table>
            <thead><tr><th scope="col">{t("admin.queue")}</th><th scope="col">{t("status.queued")}</th><th scope="col">{t("status.running")}</th><th scope="col">{t("admin.oldestWait")}</th></tr></thead>
            <tbody>
              {queues.map((queue) => (
                <tr key={queue.queue}>
                  <th scope="row">{queue.queue}</th>
                  <td>{formatNumber(queue.queued, locale)}</td>
                  <td>{formatNumber(queue.running, locale)}</td>
                  <td>{queue.oldest_wait_seconds === null ? "—" : formatDuration(queue.oldest_wait_seconds, locale)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section className="panel" aria-labelledby="workers-heading">
        <h2 id="workers-heading">{t("admin.workers")}</h2>
        {workers.length === 0 ? <Empty title={t("admin.noWorkers")} hint={t("admin.noWorkersHint")} /> : (
          <>
          <DeviceChart workers={workers} />
          <div className="table-scroll">
            <table>
              <thead><tr><th scope="col">{t("admin.worker")}</th><th scope="col">{t("admin.queuesOf")}</th><th scope="col">{t("admin.devices")}</th><th scope="col">{t("admin.currentJob")}</th><th scope="col">{t("admin.lastSeen")}</th></tr></thead>
              <tbody>
                {workers.map((worker) => (
                  <tr key={`${worker.name}-${worker.pid}`}>
                    <th scope="row">{worker.name} <small>{worker.hostname}</small> {worker.online ? <span className="badge badge-succeeded">{t("admin.online")}</span> : <span className="badge badge-failed">{t("admin.offline")}</span>}</th>
                    <td>{worker.queues.join(", ")}</td>
                    <td>
                      {worker.devices.map((device) => (
                        <div key={`${device.kind}${device.index}`}>
                          {device.name} · {formatBytes(device.memory_used_bytes, locale)} / {formatBytes(device.memory_total_bytes, locale)}
                          {device.utilization !== null && ` · ${formatPercent(device.utilization > 1 ? device.utilization / 100 : device.utilization, locale)}`}
                        </div>
                      ))}
                    </td>
                    <td>{worker.current_job_id ?? "—"}</td>
                    <td>{formatDate(worker.last_seen_at, locale)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          </>
        )}
      </section>
      <section className="panel" aria-labelledby="usage-heading">
        <h2 id="usage-heading">{t("admin.usage")}</h2>
        <table>
          <thead><tr><th scope="col">{t("auth.organization")}</th><th scope="col">{t("admin.gpuHours")}</th><th scope="col">{t("status.running")}</th><th scope="col">{t("status.queued")}</th></tr></thead>
          <tbody>
            {usage.map((row) => (
              <tr key={row.organization_id}>
                <th scope="row">{row.name}</th>
                <td>{formatNumber(row.gpu_hours_this_month, locale, 2)}</td>
                <td>{formatNumber(row.running_jobs, locale)}</td>
                <td>{formatNumber(row.queued_jobs, locale)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </section>
  );
}
