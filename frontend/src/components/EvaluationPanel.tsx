/** A model version's evaluation on its validation images: the confusion matrix, ROC and
 *  precision-recall curves, anomaly heat maps and the images it got wrong. */

import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { api } from "../api/client";
import { unwrap } from "../api/problems";
import { useI18n } from "../i18n";
import { accuracyOf, heatmaps, misclassified, rowShare, type EvaluatedImage, type Evaluation } from "../lib/evaluation";
import { formatNumber, formatPercent } from "../lib/format";
import { useLoad } from "../lib/useLoad";
import { Empty, ErrorMessage, Loading } from "./common";

const TICKS = [0, 0.25, 0.5, 0.75, 1];
const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04"];

/** A class name as shown: good/defect in the reader's language, classes as named. */
function useClassLabel() {
  const { t } = useI18n();
  return (name: string) => (name === "good" ? t("dataset.good") : name === "defect" ? t("dataset.defect") : name);
}

function ConfusionMatrix({ evaluation }: { evaluation: Evaluation }) {
  const { t, locale } = useI18n();
  const classLabel = useClassLabel();
  const matrix = evaluation.confusion_matrix;
  return (
    <div className="table-scroll">
      <table className="confusion" data-testid="confusion-matrix">
        <caption>{t("evaluation.confusionCaption")}</caption>
        <thead>
          <tr>
            <th scope="col">{t("evaluation.trueVsPredicted")}</th>
            {evaluation.class_names.map((name) => (
              <th key={name} scope="col">{classLabel(name)}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {evaluation.class_names.map((name, row) => (
            <tr key={name}>
              <th scope="row">{classLabel(name)}</th>
              {evaluation.class_names.map((other, column) => {
                const share = rowShare(matrix, row, column);
                const hue = row === column ? "22, 163, 74" : "220, 38, 38";
                return (
                  <td
                    key={other}
                    style={{ background: `rgba(${hue}, ${0.08 + share * 0.5})` }}
                    title={t("evaluation.cellTitle", { truth: classLabel(name), predicted: classLabel(other), share: formatPercent(share, locale) })}
                  >
                    {formatNumber(matrix[row]?.[column] ?? 0, locale)}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function CurveChart({ evaluation, kind }: { evaluation: Evaluation; kind: "roc" | "pr" }) {
  const { t, locale } = useI18n();
  const classLabel = useClassLabel();
  const title = kind === "roc" ? t("evaluation.roc") : t("evaluation.pr");
  const area = (curve: Evaluation["curves"][number]) => (kind === "roc" ? curve.auc : curve.average_precision);
  return (
    <figure className="chart" aria-label={title} data-testid={`curve-${kind}`}>
      <figcaption>
        {title}:{" "}
        {evaluation.curves.map((curve) => `${classLabel(curve.label)} ${formatNumber(area(curve), locale, 3)}`).join(" · ")}
      </figcaption>
      <small className="axis-title">↑ {kind === "roc" ? t("evaluation.truePositiveRate") : t("evaluation.precision")}</small>
      <div style={{ width: "100%", height: 260 }}>
        <ResponsiveContainer>
          <LineChart margin={{ top: 8, right: 16, bottom: 20, left: 4 }}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis
              type="number"
              dataKey="x"
              domain={[0, 1]}
              ticks={TICKS}
              tickFormatter={(value: number) => formatNumber(value, locale, 2)}
              label={{ value: kind === "roc" ? t("evaluation.falsePositiveRate") : t("evaluation.recall"), position: "insideBottom", offset: -12 }}
            />
            <YAxis
              type="number"
              dataKey="y"
              domain={[0, 1]}
              width={48}
              ticks={TICKS}
              tickFormatter={(value: number) => formatNumber(value, locale, 2)}
            />
            <Tooltip formatter={(value) => formatNumber(Number(value), locale, 3)} labelFormatter={(x) => formatNumber(Number(x), locale, 3)} />
            {evaluation.curves.length > 1 && <Legend verticalAlign="top" />}
            {evaluation.curves.map((curve, index) => (
              <Line
                key={curve.label}
                data={curve[kind]}
                dataKey="y"
                name={classLabel(curve.label)}
                stroke={COLORS[index % COLORS.length]}
                dot={false}
                type="linear"
                isAnimationActive={false}
              />
            ))}
          </LineChart>
        </ResponsiveContainer>
      </div>
    </figure>
  );
}

function Pictures({ images, testId, label }: { images: EvaluatedImage[]; testId: string; label: string }) {
  const { t, locale } = useI18n();
  const classLabel = useClassLabel();
  return (
    <ul className="evaluated-images" data-testid={testId} aria-label={label}>
      {images.map((image) => (
        <li key={image.path}>
          {image.picture_url ? (
            <img src={image.picture_url} alt={t("evaluation.pictureOf", { name: image.path })} width={128} height={128} loading="lazy" />
          ) : (
            <span className="no-picture">{t("evaluation.noPicture")}</span>
          )}
          <small>
            <strong>{image.path}</strong>
            <br />
            {t("evaluation.truth")}: {classLabel(image.true)} · {t("evaluation.predicted")}: {classLabel(image.predicted)}
            <br />
            {t("models.score")}: {formatNumber(image.score, locale, 3)}
          </small>
        </li>
      ))}
    </ul>
  );
}

/** The evaluation of one model version, or why there is none. */
export function EvaluationPanel({ versionId, title }: { versionId: string; title: string }) {
  const { t, locale } = useI18n();
  const loaded = useLoad(
    async () => {
      const { data, error, response } = await api.GET("/api/v1/model-versions/{version_id}/evaluation", { params: { path: { version_id: versionId } } });
      if (response.status === 404) return null; // none kept for this version
      return unwrap({ data, error, response });
    },
    [versionId],
  );
  const evaluation = loaded.data;
  return (
    <section className="panel" aria-labelledby="evaluation-heading" data-testid="evaluation">
      <h2 id="evaluation-heading">{title}</h2>
      {loaded.error ? (
        <ErrorMessage error={loaded.error} />
      ) : evaluation === undefined ? (
        <Loading />
      ) : evaluation === null ? (
        <Empty title={t("evaluation.none")} hint={t("evaluation.noneHint")} />
      ) : (
        <>
          <p className="hint">
            {t("evaluation.hint", { images: formatNumber(evaluation.images_total, locale) })}
            {evaluation.threshold !== null && evaluation.threshold !== undefined && ` ${t("evaluation.threshold", { threshold: formatNumber(evaluation.threshold, locale, 3) })}`}
          </p>
          <div className="evaluation-grid">
            <div>
              <h3>{t("evaluation.confusion")}</h3>
              <ConfusionMatrix evaluation={evaluation} />
              {accuracyOf(evaluation.confusion_matrix) !== null && (
                <p className="hint">{t("evaluation.accuracy", { share: formatPercent(accuracyOf(evaluation.confusion_matrix) as number, locale) })}</p>
              )}
            </div>
            {evaluation.curves.length > 0 ? (
              <>
                <CurveChart evaluation={evaluation} kind="roc" />
                <CurveChart evaluation={evaluation} kind="pr" />
              </>
            ) : (
              <p className="hint">{t("evaluation.noCurves")}</p>
            )}
          </div>
          {evaluation.task === "anomaly" && heatmaps(evaluation).length > 0 && (
            <>
              <h3>{t("evaluation.heatmaps")}</h3>
              <p className="hint">{t("evaluation.heatmapsHint")}</p>
              <Pictures images={heatmaps(evaluation)} testId="heatmaps" label={t("evaluation.heatmaps")} />
            </>
          )}
          <h3>{t("evaluation.misclassified")}</h3>
          {misclassified(evaluation.images).length === 0 ? (
            <p className="hint" data-testid="misclassified-none">{t("evaluation.noneWrong")}</p>
          ) : (
            <Pictures images={misclassified(evaluation.images)} testId="misclassified" label={t("evaluation.misclassified")} />
          )}
        </>
      )}
    </section>
  );
}
