/** Small building blocks every page uses: title, progress bar, error, empty state, loading,
 *  a group of radio choices. */

import { useEffect, useRef, type ReactNode } from "react";
import { useI18n } from "../i18n";
import { formatPercent } from "../lib/format";

/** The page's heading; it takes the focus when the page opens, so screen readers announce it. */
export function PageTitle({ children, actions }: { children: string; actions?: ReactNode }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${children} · Hatchery`;
    heading.current?.focus();
  }, [children]);
  return (
    <div className="page-title">
      <h1 ref={heading} tabIndex={-1}>
        {children}
      </h1>
      {actions && <div className="actions">{actions}</div>}
    </div>
  );
}

export function ProgressBar({ value, label }: { value: number | null; label: string }) {
  const { locale } = useI18n();
  const fraction = value === null ? null : Math.min(1, Math.max(0, value));
  return (
    <div className="progress">
      <div
        className="progress-track"
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={fraction === null ? undefined : Math.round(fraction * 100)}
      >
        <div
          className={fraction === null ? "progress-fill indeterminate" : "progress-fill"}
          style={{ width: fraction === null ? "30%" : `${fraction * 100}%` }}
        />
      </div>
      <span className="progress-text">{fraction === null ? "…" : formatPercent(fraction, locale)}</span>
    </div>
  );
}

export function ErrorMessage({ error }: { error: string | null | undefined }) {
  const { t } = useI18n();
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {error === "network" ? t("error.network") : error}
    </p>
  );
}

export function Empty({ title, hint, action }: { title: string; hint: string; action?: ReactNode }) {
  return (
    <div className="empty">
      <p className="empty-title">{title}</p>
      <p>{hint}</p>
      {action}
    </div>
  );
}

export function Loading() {
  const { t } = useI18n();
  return (
    <p className="loading" role="status">
      {t("common.loading")}
    </p>
  );
}

export function StatusBadge({ status }: { status: string }) {
  const { t } = useI18n();
  const known = ["queued", "running", "succeeded", "failed", "cancelled"].includes(status);
  return (
    <span className={`badge badge-${status}`}>
      {known ? t(`status.${status}` as "status.queued") : status}
    </span>
  );
}

/** Radio choices in a fieldset, each with its name in bold and a hint under it. */
export function ChoiceGroup<T extends string>({ legend, name, choices, value, onChange, title, hint }: {
  legend: string;
  name: string;
  choices: readonly T[];
  value: T;
  onChange: (choice: T) => void;
  title: (choice: T) => ReactNode;
  hint: (choice: T) => string;
}) {
  return (
    <fieldset>
      <legend>{legend}</legend>
      {choices.map((choice) => (
        <label key={choice} className="choice">
          <input type="radio" name={name} value={choice} checked={value === choice} onChange={() => onChange(choice)} />
          <span>
            <strong>{title(choice)}</strong>
            <small>{hint(choice)}</small>
          </span>
        </label>
      ))}
    </fieldset>
  );
}
