import { describe, expect, it } from "vitest";
import { addPoint, closePolygon, isPolygon, moveCursor, outlineKey, svgPoints, withoutPolygon } from "../src/lib/polygons";

describe("outlines", () => {
  it("adds points, ignoring the repeat of a double-click, and closes from three", () => {
    let draft = addPoint([], { x: 10.04, y: 5 });
    draft = addPoint(draft, { x: 10.3, y: 5.2 }); // the second click of a double-click
    expect(draft).toEqual([{ x: 10, y: 5 }]);
    draft = addPoint(addPoint(draft, { x: 30, y: 5 }), { x: 20, y: 25 });
    expect(closePolygon(draft.slice(0, 2), "scratch")).toBeNull();
    expect(closePolygon(draft, "")).toBeNull();
    expect(closePolygon(draft, "scratch")).toEqual({ type: "polygon", class_name: "scratch", points: [[10, 5], [30, 5], [20, 25]] });
    expect(svgPoints(draft)).toBe("10,5 30,5 20,25");
  });

  it("removes one outline and keeps the other annotations in place", () => {
    const box = { type: "box", class_name: "a", x: 0, y: 0, width: 2, height: 2 };
    const first = { type: "polygon", class_name: "a", points: [[0, 0], [1, 0], [0, 1]] };
    const second = { type: "polygon", class_name: "b", points: [[0, 0], [2, 0], [0, 2]] };
    expect(withoutPolygon([first, box, second], 1)).toEqual([first, box]);
    expect(withoutPolygon([first, box, second], 0).filter(isPolygon)).toEqual([second]);
  });

  it("is drawn by keyboard: arrows move a cursor kept on the image, Enter closes, Escape cancels", () => {
    expect(outlineKey("ArrowRight", false)).toEqual({ type: "move", dx: 1, dy: 0 });
    expect(outlineKey("ArrowUp", true)).toEqual({ type: "move", dx: 0, dy: -5 });
    expect(outlineKey(" ", false)).toEqual({ type: "add" });
    expect(outlineKey("Enter", false)).toEqual({ type: "close" });
    expect(outlineKey("Escape", false)).toEqual({ type: "cancel" });
    expect(outlineKey("Backspace", false)).toEqual({ type: "undo" });
    expect(outlineKey("Delete", false)).toEqual({ type: "removeLast" });
    expect(outlineKey("g", false)).toBeNull();
    const image = { width: 200, height: 100 };
    expect(moveCursor({ x: 100, y: 50 }, 1, 0, image)).toEqual({ x: 104, y: 50 });
    expect(moveCursor({ x: 198, y: 2 }, 5, -5, image)).toEqual({ x: 200, y: 0 });
  });
});
