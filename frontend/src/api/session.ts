/** The signed-in session kept in localStorage: tokens and the chosen organization. */

export interface StoredSession {
  accessToken: string;
  refreshToken: string;
  organizationId: string | null;
}

const KEY = "hatchery.session";

export function loadSession(): StoredSession | null {
  try {
    const raw = localStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as StoredSession) : null;
  } catch {
    return null;
  }
}

export function saveSession(session: StoredSession | null): void {
  if (session) localStorage.setItem(KEY, JSON.stringify(session));
  else localStorage.removeItem(KEY);
  window.dispatchEvent(new Event("hatchery-session"));
}

export function authHeaders(session: StoredSession | null = loadSession()): Record<string, string> {
  const headers: Record<string, string> = {};
  if (session) headers.Authorization = `Bearer ${session.accessToken}`;
  if (session?.organizationId) headers["X-Hatchery-Organization"] = session.organizationId;
  return headers;
}
