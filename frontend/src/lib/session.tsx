/** Who is signed in (GET /auth/me) and in which organization; shared by every page. */

import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { api, type Schemas } from "../api/client";
import { unwrap } from "../api/problems";
import { loadSession, renewalTime, saveSession, type StoredSession } from "../api/session";
import { navigate } from "./router";

export type Me = Schemas["UserOut"];

interface SessionState {
  me: Me | null;
  ready: boolean;
  organizationId: string | null;
  signIn: (pair: Schemas["TokenPair"]) => Promise<void>;
  signOut: () => Promise<void>;
  switchOrganization: (organizationId: string) => void;
  refreshMe: () => Promise<void>;
}

const Context = createContext<SessionState | null>(null);

async function fetchMe(): Promise<Me> {
  return unwrap(await api.GET("/api/v1/auth/me"));
}

const LAST_ORGANIZATION = "hatchery.lastOrganization";

/** The organization to act in: this session's, else the one last used on this browser (kept
 *  across sign-outs), if still a membership; else the first. */
function chosenOrganization(me: Me, stored: StoredSession | null): string | null {
  const ids = me.memberships.map((membership) => membership.organization_id);
  const last = localStorage.getItem(LAST_ORGANIZATION);
  for (const candidate of [stored?.organizationId, last]) {
    if (candidate && ids.includes(candidate)) return candidate;
  }
  return ids[0] ?? null;
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [ready, setReady] = useState(false);
  const [organizationId, setOrganizationId] = useState<string | null>(loadSession()?.organizationId ?? null);

  const refreshMe = useCallback(async () => {
    const stored = loadSession();
    if (!stored) {
      setMe(null);
      return;
    }
    try {
      const user = await fetchMe();
      const organization = chosenOrganization(user, loadSession());
      const current = loadSession();
      if (current && current.organizationId !== organization) saveSession({ ...current, organizationId: organization });
      setOrganizationId(organization);
      if (organization) localStorage.setItem(LAST_ORGANIZATION, organization);
      setMe(user);
    } catch {
      saveSession(null);
      setMe(null);
    }
  }, []);

  useEffect(() => {
    refreshMe().finally(() => setReady(true));
    const dropped = () => {
      if (!loadSession()) setMe(null);
    };
    window.addEventListener("hatchery-session", dropped);
    return () => window.removeEventListener("hatchery-session", dropped);
  }, [refreshMe]);

  const signIn = useCallback(
    async (pair: Schemas["TokenPair"]) => {
      saveSession({
        accessToken: pair.access_token,
        refreshToken: pair.refresh_token,
        organizationId: null,
        renewAt: renewalTime(pair.expires_in),
      });
      await refreshMe();
    },
    [refreshMe],
  );

  const signOut = useCallback(async () => {
    const stored = loadSession();
    try {
      if (stored) await api.POST("/api/v1/auth/logout", { body: { refresh_token: stored.refreshToken } });
    } finally {
      // In one render: the sign-in page and no user (so no page is kept for after sign-in).
      navigate("/signin", true);
      saveSession(null);
      setMe(null);
    }
  }, []);

  const switchOrganization = useCallback((id: string) => {
    const stored = loadSession();
    if (stored) saveSession({ ...stored, organizationId: id });
    localStorage.setItem(LAST_ORGANIZATION, id);
    setOrganizationId(id);
  }, []);

  return (
    <Context.Provider value={{ me, ready, organizationId, signIn, signOut, switchOrganization, refreshMe }}>
      {children}
    </Context.Provider>
  );
}

export function useSession(): SessionState {
  const value = useContext(Context);
  if (!value) throw new Error("useSession outside SessionProvider");
  return value;
}
