/** The training loss over steps (recharts). */

import { CartesianGrid, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { useI18n } from "../i18n";
import { formatNumber } from "../lib/format";

export function LossChart({ points, title }: { points: { step: number; value: number }[]; title: string }) {
  const { t, locale } = useI18n();
  return (
    <figure className="chart" aria-label={title}>
      <figcaption>{title}</figcaption>
      <div style={{ width: "100%", height: 240 }}>
        <ResponsiveContainer>
          <LineChart data={points} margin={{ top: 8, right: 16, bottom: 16, left: 8 }}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="step" tickFormatter={(value: number) => formatNumber(value, locale)} label={{ value: t("job.step"), position: "insideBottom", offset: -8 }} />
            <YAxis tickFormatter={(value: number) => formatNumber(value, locale, 3)} width={64} />
            <Tooltip formatter={(value) => formatNumber(Number(value), locale, 4)} labelFormatter={(step) => `${t("job.step")} ${formatNumber(Number(step), locale)}`} />
            <Line type="monotone" dataKey="value" name={t("job.loss")} stroke="#2563eb" dot={points.length < 30} isAnimationActive={false} />
          </LineChart>
        </ResponsiveContainer>
      </div>
    </figure>
  );
}
