/** The typed API client, generated from the API's OpenAPI document (src/api/schema.d.ts). */

import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";
import { authHeaders, renewalTime, loadSession, needsRefresh, saveSession } from "./session";

export type Schemas = components["schemas"];

let refreshing: Promise<boolean> | null = null;

/** Trades the refresh token for new tokens once (concurrent 401s share one refresh). */
async function refreshTokens(): Promise<boolean> {
  const session = loadSession();
  if (!session) return false;
  refreshing ??= (async () => {
    const response = await fetch("/api/v1/auth/refresh", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: session.refreshToken }),
    });
    if (!response.ok) {
      saveSession(null);
      return false;
    }
    const pair = (await response.json()) as Schemas["TokenPair"];
    saveSession({ ...session, accessToken: pair.access_token, refreshToken: pair.refresh_token, renewAt: renewalTime(pair.expires_in) });
    return true;
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

/** Renews the access token first when it is about to run out (requests carry a fresh one). */
export async function ensureFreshToken(): Promise<void> {
  if (needsRefresh(loadSession(), Date.now())) await refreshTokens();
}

const auth: Middleware = {
  async onRequest({ request }) {
    if (!request.url.includes("/api/v1/auth/")) await ensureFreshToken();
    for (const [name, value] of Object.entries(authHeaders())) {
      if (!request.headers.has(name)) request.headers.set(name, value);
    }
    return request;
  },
  async onResponse({ request, response }) {
    // A request with a body cannot be sent twice; those rely on ensureFreshToken.
    const repeatable = request.method === "GET" || request.method === "HEAD";
    if (response.status !== 401 || !repeatable || request.url.includes("/api/v1/auth/")) return response;
    if (!(await refreshTokens())) return response;
    const retry = new Request(request, { headers: new Headers(request.headers) });
    for (const [name, value] of Object.entries(authHeaders())) retry.headers.set(name, value);
    return fetch(retry);
  },
};

export const api = createClient<paths>({ baseUrl: "" });
api.use(auth);

export interface UploadProgress {
  loaded: number;
  total: number;
}

/**
 * POST a multipart form with upload progress (fetch reports none): the uploads and the
 * predictions. Resolves with the parsed JSON body; rejects with the problem's detail.
 */
export async function postForm<T>(url: string, form: FormData, onProgress?: (progress: UploadProgress) => void): Promise<T> {
  await ensureFreshToken();
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", url);
    for (const [name, value] of Object.entries(authHeaders())) request.setRequestHeader(name, value);
    request.upload.onprogress = (event) => onProgress?.({ loaded: event.loaded, total: event.total });
    request.onload = () => {
      let body: unknown = request.responseText;
      try {
        body = JSON.parse(request.responseText);
      } catch {
        /* not JSON: keep the text */
      }
      if (request.status >= 200 && request.status < 300) resolve(body as T);
      else reject({ status: request.status, body });
    };
    request.onerror = () => reject({ status: 0, body: "network" });
    request.send(form);
  });
}
