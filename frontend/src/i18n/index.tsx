/** English and Simplified Chinese: the chosen language is kept in localStorage. */

import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import { en, type MessageKey } from "./en";
import { zh } from "./zh";

export const LANGUAGES = { en: "English", zh: "中文" } as const;
export type Language = keyof typeof LANGUAGES;
export const MESSAGES: Record<Language, Record<MessageKey, string>> = { en, zh };
const LOCALES: Record<Language, string> = { en: "en-US", zh: "zh-CN" };
const KEY = "hatchery.language";

export type Params = Record<string, string | number>;

/** ``{name}`` placeholders filled from ``params``. */
export function interpolate(template: string, params: Params = {}): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in params ? String(params[name]) : whole);
}

export function storedLanguage(): Language {
  const stored = typeof localStorage === "undefined" ? null : localStorage.getItem(KEY);
  if (stored === "en" || stored === "zh") return stored;
  return typeof navigator !== "undefined" && navigator.language.startsWith("zh") ? "zh" : "en";
}

/** A metric's name in words where the messages have one (kNN ones read "kNN k=20 …"), else as is. */
export function metricLabel(t: I18n["t"], name: string): string {
  const key = `metric.${name}`;
  if (key in en) return t(key as MessageKey);
  const knn = /^knn\.k=(\d+)\.(.+)$/.exec(name);
  if (knn && `metric.${knn[2]}` in en) return `kNN k=${knn[1]} ${t(`metric.${knn[2]}` as MessageKey)}`;
  return name;
}

export interface I18n {
  language: Language;
  locale: string;
  t: (key: MessageKey, params?: Params) => string;
  setLanguage: (language: Language) => void;
}

const Context = createContext<I18n | null>(null);

export function I18nProvider({ children }: { children: ReactNode }) {
  const [language, setState] = useState<Language>(storedLanguage);
  const setLanguage = useCallback((next: Language) => {
    localStorage.setItem(KEY, next);
    document.documentElement.lang = next === "zh" ? "zh-CN" : "en";
    setState(next);
  }, []);
  const value = useMemo<I18n>(() => {
    document.documentElement.lang = language === "zh" ? "zh-CN" : "en";
    return {
      language,
      locale: LOCALES[language],
      t: (key, params) => interpolate(MESSAGES[language][key] ?? key, params),
      setLanguage,
    };
  }, [language, setLanguage]);
  return <Context.Provider value={value}>{children}</Context.Provider>;
}

export function useI18n(): I18n {
  const value = useContext(Context);
  if (!value) throw new Error("useI18n outside I18nProvider");
  return value;
}
