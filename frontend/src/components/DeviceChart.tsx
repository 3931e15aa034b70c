/** Memory in use and utilization of every online worker's devices, as bars (recharts). */

import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { Schemas } from "../api/client";
import { useI18n } from "../i18n";
import { deviceRows, hasGpu } from "../lib/devices";
import { formatPercent } from "../lib/format";

export function DeviceChart({ workers }: { workers: Schemas["WorkerOut"][] }) {
  const { t, locale } = useI18n();
  const rows = deviceRows(workers);
  if (rows.length === 0) return null;
  const height = 60 + rows.length * 44;
  return (
    <figure className="chart" aria-label={t("admin.deviceChart")} data-testid="device-chart">
      <figcaption>{t("admin.deviceChart")}</figcaption>
      {!hasGpu(workers) && (
        <p className="hint" data-testid="no-gpu">
          {t("admin.noGpu")}
        </p>
      )}
      <div style={{ width: "100%", height }}>
        <ResponsiveContainer>
          <BarChart data={rows} layout="vertical" margin={{ top: 8, right: 24, bottom: 8, left: 8 }}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis type="number" domain={[0, 1]} tickFormatter={(value: number) => formatPercent(value, locale)} />
            <YAxis type="category" dataKey="label" width={200} />
            <Tooltip formatter={(value) => (value === null ? "—" : formatPercent(Number(value), locale))} />
            <Legend />
            <Bar dataKey="memory" name={t("admin.memoryUsed")} fill="#2563eb" isAnimationActive={false} />
            <Bar dataKey="utilization" name={t("admin.utilization")} fill="#16a34a" isAnimationActive={false} />
          </BarChart>
        </ResponsiveContainer>
      </div>
    </figure>
  );
}
