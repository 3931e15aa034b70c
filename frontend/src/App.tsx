/** The app shell: header (navigation, organization, language, sign out) and the page of the path. */

import { useEffect, type ReactNode } from "react";
import { Loading } from "./components/common";
import { LANGUAGES, useI18n, type Language } from "./i18n";
import { Link, matchPath, navigate, rememberForAfterSignIn, takeAfterSignIn, usePath } from "./lib/router";
import { useSession } from "./lib/session";
import { AdminPage } from "./pages/Admin";
import { SignInPage, SignUpPage } from "./pages/Auth";
import { DatasetPage } from "./pages/Dataset";
import { JobPage } from "./pages/Job";
import { LabelPage } from "./pages/Label";
import { ModelsPage } from "./pages/Models";
import { NotFoundPage } from "./pages/NotFound";
import { OrganizationPage } from "./pages/Organization";
import { ProjectPage } from "./pages/Project";
import { ProjectsPage } from "./pages/Projects";
import { TrainPage } from "./pages/Train";

type Route = [string, (params: Record<string, string>) => ReactNode];

const ROUTES: Route[] = [
  ["/", () => <ProjectsPage />],
  ["/projects/:projectId", (p) => <ProjectPage projectId={p.projectId as string} />],
  ["/projects/:projectId/train", (p) => <TrainPage projectId={p.projectId as string} />],
  ["/projects/:projectId/models", (p) => <ModelsPage projectId={p.projectId as string} />],
  ["/datasets/:datasetId", (p) => <DatasetPage datasetId={p.datasetId as string} />],
  ["/datasets/:datasetId/label", (p) => <LabelPage datasetId={p.datasetId as string} />],
  ["/jobs/:jobId", (p) => <JobPage jobId={p.jobId as string} />],
  ["/organization", () => <OrganizationPage />],
  ["/admin", () => <AdminPage />],
];

function pageFor(path: string): ReactNode {
  for (const [pattern, render] of ROUTES) {
    const params = matchPath(pattern, path);
    if (params) return render(params);
  }
  return <NotFoundPage />;
}

function LanguagePicker() {
  const { t, language, setLanguage } = useI18n();
  return (
    <label className="inline-field">
      <span>{t("nav.language")}</span>
      <select value={language} onChange={(event) => setLanguage(event.target.value as Language)} data-testid="language">
        {Object.entries(LANGUAGES).map(([code, name]) => (
          <option key={code} value={code}>
            {name}
          </option>
        ))}
      </select>
    </label>
  );
}

function Header() {
  const { t } = useI18n();
  const { me, organizationId, switchOrganization, signOut } = useSession();
  return (
    <header className="app-header">
      <a className="skip" href="#main">
        {t("nav.skip")}
      </a>
      <Link href="/" className="brand">
        Hatchery
      </Link>
      {me && (
        <nav aria-label={t("nav.main")}>
          <Link href="/">{t("nav.projects")}</Link>
          <Link href="/organization">{t("nav.organization")}</Link>
          {me.is_platform_admin && <Link href="/admin">{t("nav.admin")}</Link>}
        </nav>
      )}
      <div className="header-tools">
        {me && me.memberships.length > 0 && (
          <label className="inline-field">
            <span>{t("nav.organizationPicker")}</span>
            <select
              value={organizationId ?? ""}
              onChange={(event) => {
                switchOrganization(event.target.value);
                navigate("/");
              }}
              data-testid="organization"
            >
              {me.memberships.map((membership) => (
                <option key={membership.organization_id} value={membership.organization_id}>
                  {membership.organization_name}
                </option>
              ))}
            </select>
          </label>
        )}
        <LanguagePicker />
        {me && (
          <button type="button" className="secondary" onClick={() => void signOut()}>
            {t("nav.signOut")}
          </button>
        )}
      </div>
    </header>
  );
}

export function App() {
  const path = usePath();
  const { me, ready, organizationId } = useSession();
  const publicPage = path === "/signin" || path === "/signup";
  useEffect(() => {
    if (ready && !me && !publicPage) {
      rememberForAfterSignIn(path);
      navigate("/signin", true);
    }
    if (ready && me && publicPage) navigate(takeAfterSignIn(), true);
  }, [ready, me, publicPage, path]);

  let page: ReactNode;
  if (!ready) page = <Loading />;
  else if (path === "/signin") page = <SignInPage />;
  else if (path === "/signup") page = <SignUpPage />;
  else if (!me) page = <Loading />;
  else page = <div key={organizationId ?? ""}>{pageFor(path)}</div>;

  return (
    <>
      <Header />
      <main id="main">{page}</main>
    </>
  );
}
