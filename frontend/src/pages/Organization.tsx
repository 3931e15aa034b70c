/** The organization: its members and roles, its API keys (made and revoked here). */

import { useState, type FormEvent } from "react";
import { api, type Schemas } from "../api/client";
import { errorText, unwrap } from "../api/problems";
import { Empty, ErrorMessage, Loading, PageTitle } from "../components/common";
import { useI18n } from "../i18n";
import { formatDate } from "../lib/format";
import { useSession } from "../lib/session";
import { useLoad } from "../lib/useLoad";

type Scope = "read" | "write" | "admin";
type Role = "owner" | "admin" | "member" | "viewer";
const ROLES: Role[] = ["owner", "admin", "member", "viewer"];

async function loadOrganization() {
  const [organization, members, keys] = await Promise.all([
    api.GET("/api/v1/organization").then(unwrap),
    api.GET("/api/v1/members").then(unwrap),
    api.GET("/api/v1/api-keys").then(unwrap).catch(() => [] as Schemas["ApiKeyOut"][]),
  ]);
  return { organization, members, keys };
}

export function OrganizationPage() {
  const { t, locale } = useI18n();
  const { refreshMe, switchOrganization } = useSession();
  const loaded = useLoad(loadOrganization, []);
  const [keyName, setKeyName] = useState("");
  const [scope, setScope] = useState<Scope>("write");
  const [newKey, setNewKey] = useState<string | null>(null);
  const [orgName, setOrgName] = useState("");
  const [inviteEmail, setInviteEmail] = useState("");
  const [inviteRole, setInviteRole] = useState<Role>("member");
  const [invitation, setInvitation] = useState<string | null>(null);
  const [acceptToken, setAcceptToken] = useState("");
  const [error, setError] = useState<string | null>(null);

  const createKey = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      const scopes: Scope[] = scope === "read" ? ["read"] : scope === "write" ? ["read", "write"] : ["read", "write", "admin"];
      const created = unwrap(await api.POST("/api/v1/api-keys", { body: { name: keyName, scopes } }));
      setNewKey(created.key);
      setKeyName("");
      loaded.reload();
    } catch (failure) {
      setError(errorText(failure));
    }
  };

  const revoke = async (keyId: string) => {
    setError(null);
    try {
      unwrap(await api.DELETE("/api/v1/api-keys/{key_id}", { params: { path: { key_id: keyId } } }));
      loaded.reload();
    } catch (failure) {
      setError(errorText(failure));
    }
  };

  const changeRole = async (userId: string, role: Role) => {
    setError(null);
    try {
      unwrap(await api.PATCH("/api/v1/members/{user_id}", { params: { path: { user_id: userId } }, body: { role } }));
      loaded.reload();
    } catch (failure) {
      setError(errorText(failure));
    }
  };

  const invite = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      const created = unwrap(await api.POST("/api/v1/invitations", { body: { email: inviteEmail, role: inviteRole } }));
      setInvitation(created.token);
      setInviteEmail("");
    } catch (failure) {
      setError(errorText(failure));
    }
  };

  const accept = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      const joined = unwrap(await api.POST("/api/v1/invitations/accept", { body: { token: acceptToken.trim() } }));
      setAcceptToken("");
      await refreshMe();
      switchOrganization(joined.id);
    } catch (failure) {
      setError(errorText(failure));
    }
  };

  const createOrganization = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      unwrap(await api.POST("/api/v1/organizations", { body: { name: orgName } }));
      setOrgName("");
      await refreshMe();
    } catch (failure) {
      setError(errorText(failure));
    }
  };

  if (!loaded.data) return loaded.error ? <ErrorMessage error={loaded.error} /> : <Loading />;
  const { organization, members, keys } = loaded.data;
  return (
    <section>
      <PageTitle>{organization.name}</PageTitle>
      <ErrorMessage error={error} />
      <section className="panel" aria-labelledby="members-heading">
        <h2 id="members-heading">{t("org.members")}</h2>
        <table>
          <thead><tr><th scope="col">{t("auth.email")}</th><th scope="col">{t("org.role")}</th><th scope="col">{t("org.joined")}</th></tr></thead>
          <tbody>
            {members.map((member) => (
              <tr key={member.user_id}>
                <th scope="row">{member.email}</th>
                <td>
                  <select
                    aria-label={t("org.roleOf", { email: member.email })}
                    value={member.role}
                    onChange={(e) => void changeRole(member.user_id, e.target.value as Role)}
                  >
                    {ROLES.map((role) => (
                      <option key={role} value={role}>
                        {t(`role.${role}` as "role.owner")}
                      </option>
                    ))}
                  </select>
                </td>
                <td>{formatDate(member.joined_at, locale)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section className="panel" aria-labelledby="invite-heading">
        <h2 id="invite-heading">{t("org.invite")}</h2>
        <p className="hint">{t("org.inviteHint")}</p>
        {invitation && (
          <div className="success" role="status">
            <p>{t("org.invitationShownOnce")}</p>
            <pre className="code" tabIndex={0} data-testid="invitation">{invitation}</pre>
          </div>
        )}
        <form onSubmit={invite} className="row-form">
          <label>
            {t("auth.email")}
            <input type="email" required value={inviteEmail} onChange={(e) => setInviteEmail(e.target.value)} />
          </label>
          <label>
            {t("org.role")}
            <select value={inviteRole} onChange={(e) => setInviteRole(e.target.value as Role)}>
              {ROLES.map((role) => (
                <option key={role} value={role}>
                  {t(`role.${role}` as "role.owner")}
                </option>
              ))}
            </select>
          </label>
          <button type="submit">{t("org.sendInvite")}</button>
        </form>
        <form onSubmit={accept} className="row-form">
          <label>
            {t("org.acceptToken")}
            <input required value={acceptToken} onChange={(e) => setAcceptToken(e.target.value)} />
          </label>
          <button type="submit" className="secondary">{t("org.accept")}</button>
        </form>
      </section>
      <section className="panel" aria-labelledby="keys-heading">
        <h2 id="keys-heading">{t("org.keys")}</h2>
        <p className="hint">{t("org.keysHint")}</p>
        {newKey && (
          <div className="success" role="status">
            <p>{t("org.keyShownOnce")}</p>
            <pre className="code" tabIndex={0} data-testid="new-key">{newKey}</pre>
          </div>
        )}
        {keys.length === 0 ? <Empty title={t("org.noKeys")} hint={t("org.noKeysHint")} /> : (
          <table>
            <thead><tr><th scope="col">{t("org.keyName")}</th><th scope="col">{t("org.scopes")}</th><th scope="col">{t("common.createdAt")}</th><th scope="col">{t("org.lastUsed")}</th><th scope="col">{t("models.actions")}</th></tr></thead>
            <tbody>
              {keys.map((key) => (
                <tr key={key.id}>
                  <th scope="row">{key.name} <code>{key.prefix}</code></th>
                  <td>{key.scopes.map((scope) => t(`scope.${scope}` as "scope.read")).join(", ")}</td>
                  <td>{formatDate(key.created_at, locale)}</td>
                  <td>{formatDate(key.last_used_at, locale)}</td>
                  <td>{key.revoked_at ? t("org.revoked") : <button type="button" className="danger" onClick={() => void revoke(key.id)}>{t("org.revoke")}</button>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <form onSubmit={createKey} className="row-form">
          <label>
            {t("org.keyName")}
            <input required value={keyName} onChange={(e) => setKeyName(e.target.value)} />
          </label>
          <label>
            {t("org.scopes")}
            <select value={scope} onChange={(e) => setScope(e.target.value as Scope)}>
              <option value="read">{t("org.scope.read")}</option>
              <option value="write">{t("org.scope.write")}</option>
              <option value="admin">{t("org.scope.admin")}</option>
            </select>
          </label>
          <button type="submit">{t("org.createKey")}</button>
        </form>
      </section>
      <section className="panel" aria-labelledby="neworg-heading">
        <h2 id="neworg-heading">{t("org.newOrganization")}</h2>
        <form onSubmit={createOrganization} className="row-form">
          <label>
            {t("auth.organization")}
            <input required value={orgName} onChange={(e) => setOrgName(e.target.value)} />
          </label>
          <button type="submit">{t("org.create")}</button>
        </form>
      </section>
    </section>
  );
}
