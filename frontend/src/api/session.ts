/** The signed-in session kept in localStorage: tokens and the chosen organization. */

export interface StoredSession {
  accessToken: string;
  refreshToken: string;
  organizationId: string | null;
  /** When to renew the access token (ms since the epoch); unknown for older sessions. */
  renewAt?: number;
}

/** Renew a minute before the access token runs out, or after three quarters of its life
 *  when it lives less than four minutes. */
export function renewalTime(expiresInSeconds: number, now: number = Date.now()): number {
  const lifetime = expiresInSeconds * 1000;
  return now + Math.max(lifetime * 0.75, lifetime - 60_000);
}

/** Whether the access token should be renewed before the next request. */
export function needsRefresh(session: StoredSession | null, now: number): boolean {
  return typeof session?.renewAt === "number" && now >= session.renewAt;
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
