/** The organization's projects, and a form to start one. */

import { useState, type FormEvent } from "react";
import { api } from "../api/client";
import { errorText, unwrap } from "../api/problems";
import { Empty, ErrorMessage, Loading, PageTitle } from "../components/common";
import { useI18n } from "../i18n";
import { formatDate } from "../lib/format";
import { Link, navigate } from "../lib/router";
import { useLoad } from "../lib/useLoad";

export function ProjectsPage() {
  const { t, locale } = useI18n();
  const projects = useLoad(async () => unwrap(await api.GET("/api/v1/projects", { params: { query: { limit: 200 } } })), []);
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);

  const create = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      const project = unwrap(await api.POST("/api/v1/projects", { body: { name, description: "" } }));
      navigate(`/projects/${project.id}`);
    } catch (failure) {
      setError(errorText(failure));
    }
  };

  return (
    <section>
      <PageTitle>{t("projects.title")}</PageTitle>
      <form onSubmit={create} className="row-form" aria-label={t("projects.create")}>
        <label>
          {t("projects.name")}
          <input required value={name} onChange={(e) => setName(e.target.value)} placeholder={t("projects.namePlaceholder")} />
        </label>
        <button type="submit">{t("projects.create")}</button>
      </form>
      <ErrorMessage error={error ?? projects.error} />
      {projects.loading && !projects.data && <Loading />}
      {projects.data && projects.data.items.length === 0 && <Empty title={t("projects.emptyTitle")} hint={t("projects.emptyHint")} />}
      {projects.data && projects.data.items.length > 0 && (
        <ul className="cards">
          {projects.data.items.map((project) => (
            <li key={project.id} className="card">
              <Link href={`/projects/${project.id}`}>{project.name}</Link>
              <small>{t("common.created", { date: formatDate(project.created_at, locale) })}</small>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
