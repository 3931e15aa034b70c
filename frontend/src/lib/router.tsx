/** A small history-API router: the API serves index.html for every app path. */

import { useEffect, useState, type AnchorHTMLAttributes, type MouseEvent } from "react";

const EVENT = "hatchery-navigate";
const AFTER_SIGN_IN = "hatchery.afterSignIn";

/** Remembers the page asked for before signing in, to open it afterwards. */
export function rememberForAfterSignIn(path: string): void {
  if (path !== "/signin" && path !== "/signup") sessionStorage.setItem(AFTER_SIGN_IN, path);
}

/** The page to open after signing in (once), "/" when none was asked for. */
export function takeAfterSignIn(): string {
  const path = sessionStorage.getItem(AFTER_SIGN_IN);
  sessionStorage.removeItem(AFTER_SIGN_IN);
  return path && path.startsWith("/") && !path.startsWith("//") ? path : "/";
}

export function navigate(path: string, replace = false): void {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  window.dispatchEvent(new Event(EVENT));
  window.scrollTo(0, 0);
}

export function usePath(): string {
  const [path, setPath] = useState(window.location.pathname);
  useEffect(() => {
    const update = () => setPath(window.location.pathname);
    window.addEventListener("popstate", update);
    window.addEventListener(EVENT, update);
    return () => {
      window.removeEventListener("popstate", update);
      window.removeEventListener(EVENT, update);
    };
  }, []);
  return path;
}

/** The parameters of ``pattern`` ("/projects/:id") in ``path``, or null when it does not match. */
export function matchPath(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split("/").filter(Boolean);
  const have = path.split("/").filter(Boolean);
  if (want.length !== have.length) return null;
  const params: Record<string, string> = {};
  for (const [index, part] of want.entries()) {
    const value = have[index] as string;
    if (part.startsWith(":")) params[part.slice(1)] = decodeURIComponent(value);
    else if (part !== value) return null;
  }
  return params;
}

export function Link({ href, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const follow = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    if (event.defaultPrevented || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    navigate(href);
  };
  return <a href={href} onClick={follow} {...rest} />;
}
