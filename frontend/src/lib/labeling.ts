/** The labeling page's keyboard shortcuts and the labels they write. */

export type Split = "train" | "val" | "test";

export interface ItemLabels {
  split: Split | null;
  class_name: string | null;
  is_defect: boolean | null;
  annotations: Record<string, unknown>[];
}

export type Action =
  | { type: "class"; index: number }
  | { type: "good" }
  | { type: "defect" }
  | { type: "test" }
  | { type: "clear" }
  | { type: "next" }
  | { type: "previous" };

/** The action of a key, or null: 1-9 a class, g good, d defect, t test, x clear, arrows / j k move. */
export function actionFor(key: string): Action | null {
  if (/^[1-9]$/.test(key)) return { type: "class", index: Number(key) - 1 };
  switch (key.toLowerCase()) {
    case "g":
      return { type: "good" };
    case "d":
      return { type: "defect" };
    case "t":
      return { type: "test" };
    case "x":
      return { type: "clear" };
    case "arrowright":
    case "j":
      return { type: "next" };
    case "arrowleft":
    case "k":
      return { type: "previous" };
    default:
      return null;
  }
}

/** The class names typed as "a, b, c" (trimmed, unique, in order). */
export function parseClasses(text: string): string[] {
  return [...new Set(text.split(/[,，\n]/).map((name) => name.trim()).filter(Boolean))];
}

/**
 * The labels after ``action`` (a labeling action; null for a move). A class named "good"
 * marks a good part, any other class a defect of that kind.
 */
export function applyAction(labels: ItemLabels, action: Action, classes: string[]): ItemLabels | null {
  switch (action.type) {
    case "class": {
      const name = classes[action.index];
      if (!name) return null;
      return { ...labels, class_name: name, is_defect: name !== "good" };
    }
    case "good":
      return { ...labels, is_defect: false };
    case "defect":
      return { ...labels, is_defect: true };
    case "test":
      return { ...labels, split: labels.split === "test" ? "train" : "test" };
    case "clear":
      return { split: labels.split, class_name: null, is_defect: null, annotations: [] };
    default:
      return null;
  }
}
