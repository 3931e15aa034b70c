import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { en } from "../src/i18n/en";
import { zh } from "../src/i18n/zh";
import { interpolate, MESSAGES } from "../src/i18n";

const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

function sources(folder: string): string[] {
  return readdirSync(folder).flatMap((name) => {
    const path = join(folder, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.tsx?$/.test(name) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

describe("messages", () => {
  it("has the same keys in English and Chinese", () => {
    const english = Object.keys(en).sort();
    const chinese = Object.keys(zh).sort();
    expect(chinese.filter((key) => !english.includes(key))).toEqual([]);
    expect(english.filter((key) => !chinese.includes(key))).toEqual([]);
  });

  it("has no empty message and the same placeholders in both languages", () => {
    for (const [language, messages] of Object.entries(MESSAGES)) {
      for (const [key, text] of Object.entries(messages)) {
        expect(text.trim(), `${language} ${key}`).not.toBe("");
        expect(placeholders(text), `${language} ${key}`).toEqual(placeholders(en[key as keyof typeof en]));
      }
    }
  });

  it("has a message for every key the app's code names", () => {
    const used = new Set<string>();
    const families = new Set<string>();
    for (const file of sources(join(import.meta.dirname, "../src"))) {
      const text = readFileSync(file, "utf8");
      for (const match of text.matchAll(/\bt\(\s*"([\w.]+)"/g)) used.add(match[1] as string);
      for (const match of text.matchAll(/\bt\(\s*`([\w.]+)\$\{/g)) families.add(match[1] as string);
    }
    expect(used.size).toBeGreaterThan(100);
    expect([...used].filter((key) => !(key in en))).toEqual([]);
    for (const family of families) {
      expect(Object.keys(en).some((key) => key.startsWith(family)), family).toBe(true);
    }
  });

  it("has every status, job kind, task, verdict and upload state the app shows", () => {
    const required = [
      ...["queued", "running", "succeeded", "failed", "cancelled"].map((s) => `status.${s}`),
      ...["pipeline", "plan", "pretrain", "finetune", "evaluate", "predict", "export", "probe"].map((k) => `kind.${k}`),
      ...["classify", "anomaly", "detect", "segment", "backbone"].map((k) => `task.${k}`),
      ...["added", "duplicate", "replaced", "rejected"].map((k) => `upload.verdict.${k}`),
      ...["waiting", "uploading", "checking", "done", "failed"].map((k) => `upload.state.${k}`),
      ...["owner", "admin", "member", "viewer"].map((k) => `role.${k}`),
      ...["number", "integer", "minimum", "maximum", "required"].map((k) => `advanced.problem.${k}`),
    ];
    expect(required.filter((key) => !(key in en))).toEqual([]);
  });

  it("fills placeholders and leaves unknown ones", () => {
    expect(interpolate("{a} of {b}", { a: 1 })).toBe("1 of {b}");
  });
});
