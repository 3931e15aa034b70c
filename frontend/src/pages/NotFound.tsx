import { Empty, PageTitle } from "../components/common";
import { useI18n } from "../i18n";
import { Link } from "../lib/router";

export function NotFoundPage() {
  const { t } = useI18n();
  return (
    <section>
      <PageTitle>{t("notFound.title")}</PageTitle>
      <Empty title={t("notFound.title")} hint={t("notFound.hint")} action={<Link href="/">{t("nav.projects")}</Link>} />
    </section>
  );
}
