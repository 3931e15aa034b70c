/** Sign in and sign up (a new account makes its own organization). */

import { useState, type FormEvent } from "react";
import { api } from "../api/client";
import { errorText, unwrap } from "../api/problems";
import { ErrorMessage, PageTitle } from "../components/common";
import { useI18n } from "../i18n";
import { Link } from "../lib/router";
import { useSession } from "../lib/session";

export function SignInPage() {
  const { t } = useI18n();
  const { signIn } = useSession();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      // signed in, the app opens the page asked for before (App.tsx)
      await signIn(unwrap(await api.POST("/api/v1/auth/login", { body: { email, password } })));
    } catch (failure) {
      setError(errorText(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="narrow">
      <PageTitle>{t("auth.signInTitle")}</PageTitle>
      <form onSubmit={submit} className="stack">
        <label>
          {t("auth.email")}
          <input type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label>
          {t("auth.password")}
          <input type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        <ErrorMessage error={error} />
        <button type="submit" disabled={busy}>
          {t("auth.signIn")}
        </button>
      </form>
      <p>
        {t("auth.noAccount")} <Link href="/signup">{t("auth.signUp")}</Link>
      </p>
    </section>
  );
}

export function SignUpPage() {
  const { t } = useI18n();
  const { signIn } = useSession();
  const [form, setForm] = useState({ email: "", password: "", organization_name: "", display_name: "" });
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const field = (name: keyof typeof form) => ({
    value: form[name],
    onChange: (event: { target: { value: string } }) => setForm({ ...form, [name]: event.target.value }),
  });

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(unwrap(await api.POST("/api/v1/auth/signup", { body: form })));
    } catch (failure) {
      setError(errorText(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="narrow">
      <PageTitle>{t("auth.signUpTitle")}</PageTitle>
      <form onSubmit={submit} className="stack">
        <label>
          {t("auth.displayName")}
          <input autoComplete="name" {...field("display_name")} />
        </label>
        <label>
          {t("auth.organization")}
          <input required {...field("organization_name")} />
          <small>{t("auth.organizationHint")}</small>
        </label>
        <label>
          {t("auth.email")}
          <input type="email" autoComplete="username" required {...field("email")} />
        </label>
        <label>
          {t("auth.password")}
          <input type="password" autoComplete="new-password" required minLength={10} {...field("password")} />
          <small>{t("auth.passwordHint")}</small>
        </label>
        <ErrorMessage error={error} />
        <button type="submit" disabled={busy}>
          {t("auth.createAccount")}
        </button>
      </form>
      <p>
        {t("auth.haveAccount")} <Link href="/signin">{t("auth.signIn")}</Link>
      </p>
    </section>
  );
}
