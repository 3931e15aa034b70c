/** Boxes drawn on the labeling image, in the original image's pixels (the API's units). */

export interface Point {
  x: number;
  y: number;
}

export interface Box {
  type: "box";
  class_name: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

const MIN_SIDE = 2; // pixels: a click, not a box

/** A point of the drawing surface (client coordinates) in image pixels, clamped to the image. */
export function toImagePoint(clientX: number, clientY: number, rect: { left: number; top: number; width: number; height: number },
  image: { width: number; height: number }): Point {
  const x = ((clientX - rect.left) / rect.width) * image.width;
  const y = ((clientY - rect.top) / rect.height) * image.height;
  return { x: Math.min(image.width, Math.max(0, x)), y: Math.min(image.height, Math.max(0, y)) };
}

/** The box between two corners (any drag direction), rounded to pixels; null when too small. */
export function boxBetween(start: Point, end: Point, className: string): Box | null {
  const x = Math.round(Math.min(start.x, end.x));
  const y = Math.round(Math.min(start.y, end.y));
  const width = Math.round(Math.max(start.x, end.x)) - x;
  const height = Math.round(Math.max(start.y, end.y)) - y;
  if (width < MIN_SIDE || height < MIN_SIDE) return null;
  return { type: "box", class_name: className, x, y, width, height };
}

export function isBox(annotation: Record<string, unknown>): annotation is Record<string, unknown> & Box {
  return annotation.type === "box";
}
