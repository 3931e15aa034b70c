/** Outlines (polygons) drawn on the labeling image, in the original image's pixels: the labels
 *  schema's ``{type: "polygon", class_name, points: [[x, y], ...]}`` (three points or more). */

import type { Point } from "./boxes";

export interface Polygon {
  type: "polygon";
  class_name: string;
  points: [number, number][];
}

const SAME_POINT = 1; // pixels: a second click here (a double-click) adds nothing
export const CURSOR_STEP = 0.02; // of the image's longer side, per arrow key (Shift: ×5)

export function isPolygon(annotation: Record<string, unknown>): annotation is Record<string, unknown> & Polygon {
  return annotation.type === "polygon";
}

/** The draft with ``point`` added (rounded to a tenth of a pixel), unless it repeats the last one. */
export function addPoint(draft: Point[], point: Point): Point[] {
  const last = draft[draft.length - 1];
  if (last && Math.hypot(last.x - point.x, last.y - point.y) < SAME_POINT) return draft;
  return [...draft, { x: Math.round(point.x * 10) / 10, y: Math.round(point.y * 10) / 10 }];
}

/** The closed polygon of a draft, or null when it has fewer than three points. */
export function closePolygon(draft: Point[], className: string): Polygon | null {
  if (draft.length < 3 || !className) return null;
  return { type: "polygon", class_name: className, points: draft.map(({ x, y }) => [x, y]) };
}

/** SVG ``points`` of a polygon or draft. */
export function svgPoints(points: Point[] | [number, number][]): string {
  return points.map((point) => (Array.isArray(point) ? `${point[0]},${point[1]}` : `${point.x},${point.y}`)).join(" ");
}

/** The annotations without the ``index``-th polygon (other annotations kept in place). */
export function withoutPolygon(annotations: Record<string, unknown>[], index: number): Record<string, unknown>[] {
  let seen = -1;
  return annotations.filter((annotation) => !(isPolygon(annotation) && ++seen === index));
}

export type OutlineKey =
  | { type: "add" }
  | { type: "close" }
  | { type: "cancel" }
  | { type: "undo" }
  | { type: "removeLast" }
  | { type: "move"; dx: number; dy: number };

/** What a key does on the focused outline surface: arrows move the cursor, Space or + adds a
 *  point there, Enter closes the outline, Escape cancels it, Backspace drops its last point,
 *  Delete removes the image's last outline. */
export function outlineKey(key: string, shift: boolean): OutlineKey | null {
  const step = shift ? 5 : 1;
  switch (key) {
    case "ArrowLeft":
      return { type: "move", dx: -step, dy: 0 };
    case "ArrowRight":
      return { type: "move", dx: step, dy: 0 };
    case "ArrowUp":
      return { type: "move", dx: 0, dy: -step };
    case "ArrowDown":
      return { type: "move", dx: 0, dy: step };
    case " ":
    case "+":
      return { type: "add" };
    case "Enter":
      return { type: "close" };
    case "Escape":
      return { type: "cancel" };
    case "Backspace":
      return { type: "undo" };
    case "Delete":
      return { type: "removeLast" };
    default:
      return null;
  }
}

/** The keyboard cursor moved by ``steps`` of ``CURSOR_STEP``, kept on the image. */
export function moveCursor(cursor: Point, dx: number, dy: number, image: { width: number; height: number }): Point {
  const step = Math.max(image.width, image.height) * CURSOR_STEP;
  return {
    x: Math.min(image.width, Math.max(0, cursor.x + dx * step)),
    y: Math.min(image.height, Math.max(0, cursor.y + dy * step)),
  };
}
