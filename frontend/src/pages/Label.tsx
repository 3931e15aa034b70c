/** Labeling: one image at a time, a class or good/defect by keyboard, saved as you go. */

import { useEffect, useRef, useState, type KeyboardEvent as ReactKeyboardEvent, type PointerEvent } from "react";
import { api, type Schemas } from "../api/client";
import { errorText, unwrap } from "../api/problems";
import { Empty, ErrorMessage, Loading, PageTitle } from "../components/common";
import { SuggestPanel } from "../components/SuggestPanel";
import { useI18n } from "../i18n";
import { formatNumber } from "../lib/format";
import { boxBetween, isBox, toImagePoint, type Point } from "../lib/boxes";
import { addPoint, closePolygon, isPolygon, moveCursor, outlineKey, svgPoints, withoutPolygon } from "../lib/polygons";
import { actionFor, applyAction, parseClasses, type Action, type ItemLabels } from "../lib/labeling";
import { Link } from "../lib/router";
import { useLoad } from "../lib/useLoad";

type Item = Schemas["ItemOut"];

function labelsOf(item: Item): ItemLabels {
  return {
    split: (item.split as ItemLabels["split"]) ?? null,
    class_name: item.class_name ?? null,
    is_defect: item.is_defect ?? null,
    annotations: item.annotations,
  };
}

async function loadItems(datasetId: string) {
  const path = { dataset_id: datasetId };
  const [page, stats] = await Promise.all([
    api.GET("/api/v1/datasets/{dataset_id}/items", { params: { path, query: { limit: 500 } } }).then(unwrap),
    api.GET("/api/v1/datasets/{dataset_id}/stats", { params: { path } }).then(unwrap),
  ]);
  const classes = Object.keys((stats as { classes?: Record<string, number> }).classes ?? {});
  return { items: page.items, total: page.total, classes };
}

export function LabelPage({ datasetId }: { datasetId: string }) {
  const { t, locale } = useI18n();
  const loaded = useLoad(() => loadItems(datasetId), [datasetId]);
  const [items, setItems] = useState<Item[]>([]);
  const [index, setIndex] = useState(0);
  const [classText, setClassText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [boxClass, setBoxClass] = useState("");
  const [draft, setDraft] = useState<{ start: Point; end: Point } | null>(null);
  const [tool, setTool] = useState<"box" | "outline">("box");
  const [outline, setOutline] = useState<Point[]>([]);
  const [cursor, setCursor] = useState<Point | null>(null);
  const surface = useRef<SVGSVGElement>(null);

  useEffect(() => {
    if (!loaded.data) return;
    setItems(loaded.data.items);
    const firstUnlabeled = loaded.data.items.findIndex((item) => !item.labeled);
    setIndex(Math.max(0, firstUnlabeled));
    setClassText((text) => text || loaded.data!.classes.join(", "));
  }, [loaded.data]);

  useEffect(() => {
    setOutline([]); // an outline in progress belongs to the image it was started on
    setCursor(null);
  }, [index]);

  const classes = parseClasses(classText);
  /** Opens an item (a suggestion) for labeling, at the top of the page. */
  const openItem = (itemId: string) => {
    const at = items.findIndex((item) => item.id === itemId);
    if (at < 0) return;
    setIndex(at);
    window.scrollTo({ top: 0 });
  };
  const current = items[index];

  /** One labeling action or move (from a key or a button); labels are saved at once. */
  async function perform(action: Action) {
    if (!current) return;
    if (action.type === "next") return setIndex((at) => Math.min(items.length - 1, at + 1));
    if (action.type === "previous") return setIndex((at) => Math.max(0, at - 1));
    const labels = applyAction(labelsOf(current), action, classes);
    if (labels) await save(current, labels, action.type !== "test");
  }

  /** Saves the whole labels of ``item`` (the API clears what is left out). */
  async function save(item: Item, labels: ItemLabels, advance: boolean) {
    setSaving(true);
    setError(null);
    try {
      const saved = unwrap(
        await api.PUT("/api/v1/datasets/{dataset_id}/items/{item_id}/labels", {
          params: { path: { dataset_id: datasetId, item_id: item.id } },
          body: labels as Schemas["Labels"],
        }),
      );
      setItems((all) => all.map((row) => (row.id === saved.id ? saved : row)));
      if (advance) setIndex((at) => Math.min(items.length - 1, at + 1));
    } catch (failure) {
      setError(errorText(failure));
    } finally {
      setSaving(false);
    }
  }

  const labelSize = current ? Math.max(current.width, current.height) / 32 : 8; // about 16 px on screen
  const boxClassName = boxClass || classes.find((name) => name !== "good") || "";
  const pointAt = (event: PointerEvent<SVGSVGElement>): Point | null => {
    if (!current || !surface.current) return null;
    return toImagePoint(event.clientX, event.clientY, surface.current.getBoundingClientRect(), current);
  };
  const startBox = (event: PointerEvent<SVGSVGElement>) => {
    const point = pointAt(event);
    if (!point || !boxClassName) return;
    if (tool === "outline") {
      setOutline((points) => addPoint(points, point));
      setCursor(point);
      return;
    }
    event.currentTarget.setPointerCapture(event.pointerId);
    setDraft({ start: point, end: point });
  };
  const moveBox = (event: PointerEvent<SVGSVGElement>) => {
    const point = pointAt(event);
    if (draft && point) setDraft({ ...draft, end: point });
  };
  const endBox = async (event: PointerEvent<SVGSVGElement>) => {
    const point = pointAt(event);
    const box = draft && point ? boxBetween(draft.start, point, boxClassName) : null;
    setDraft(null);
    if (!box || !current) return;
    const labels = labelsOf(current);
    await save(current, { ...labels, is_defect: true, annotations: [...labels.annotations, { ...box }] }, false);
  };
  /** Closes the outline in progress (three points or more) and saves it with the image's labels. */
  const finishOutline = async () => {
    const polygon = closePolygon(outline, boxClassName);
    if (!polygon || !current) return;
    setOutline([]);
    const labels = labelsOf(current);
    await save(current, { ...labels, is_defect: true, annotations: [...labels.annotations, { ...polygon }] }, false);
  };
  const removeOutline = async (at: number) => {
    if (!current) return;
    const labels = labelsOf(current);
    await save(current, { ...labels, annotations: withoutPolygon(labels.annotations, at) }, false);
  };
  /** The outline tool by keyboard (the surface has the focus): see ``outlineKey``. */
  const outlineByKey = (event: ReactKeyboardEvent<SVGSVGElement>) => {
    if (tool !== "outline" || !current) return;
    const key = outlineKey(event.key, event.shiftKey);
    if (!key) return;
    event.preventDefault();
    event.stopPropagation(); // not the page's labeling shortcuts
    const here = cursor ?? { x: current.width / 2, y: current.height / 2 };
    if (key.type === "move") setCursor(moveCursor(here, key.dx, key.dy, current));
    else if (key.type === "add") {
      setCursor(here);
      setOutline((points) => addPoint(points, here));
    } else if (key.type === "close") void finishOutline();
    else if (key.type === "cancel") setOutline([]);
    else if (key.type === "undo") setOutline((points) => points.slice(0, -1));
    else if (key.type === "removeLast") {
      const count = current.annotations.filter(isPolygon).length;
      if (count > 0) void removeOutline(count - 1);
    }
  };
  const removeBoxes = async () => {
    if (!current) return;
    const labels = labelsOf(current);
    await save(current, { ...labels, annotations: labels.annotations.filter((annotation) => !isBox(annotation)) }, false);
  };

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement;
      if (tool === "outline" && outline.length > 0 && (event.key === "Enter" || event.key === "Escape")) {
        event.preventDefault(); // a mouse-drawn outline closes or cancels from anywhere on the page
        if (event.key === "Enter") void finishOutline();
        else setOutline([]);
        return;
      }
      if (["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName) || event.ctrlKey || event.metaKey || event.altKey) return;
      const action = actionFor(event.key);
      if (!action) return;
      event.preventDefault();
      void perform(action);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [perform]);

  if (!loaded.data) return loaded.error ? <ErrorMessage error={loaded.error} /> : <Loading />;
  const labeledCount = items.filter((item) => item.labeled).length;

  return (
    <section>
      <p className="breadcrumb">
        <Link href={`/datasets/${datasetId}`}>{t("label.back")}</Link>
      </p>
      <PageTitle>{t("label.title")}</PageTitle>
      {items.length === 0 ? (
        <Empty title={t("dataset.noImages")} hint={t("dataset.noImagesHint")} action={<Link href={`/datasets/${datasetId}`}>{t("label.back")}</Link>} />
      ) : (
        <div className="label-layout">
          <div className="label-image">
            {current && (
              <figure>
                <div className="box-surface">
                  <img src={current.thumbnail_url} alt={current.path} data-testid="label-image" />
                  <svg
                    ref={surface}
                    viewBox={`0 0 ${current.width} ${current.height}`}
                    preserveAspectRatio="none"
                    onPointerDown={startBox}
                    onPointerMove={moveBox}
                    onPointerUp={(event) => void endBox(event)}
                    onDoubleClick={() => {
                      if (tool !== "outline") return;
                      window.getSelection()?.removeAllRanges(); // a double-click selects a word nearby
                      void finishOutline();
                    }}
                    onKeyDown={outlineByKey}
                    tabIndex={tool === "outline" ? 0 : undefined}
                    data-testid="box-surface"
                    data-tool={tool}
                    aria-label={tool === "outline" ? t("label.outlineSurface") : t("label.boxSurface")}
                    role={tool === "outline" ? "application" : "img"}
                  >
                    {current.annotations.filter(isBox).map((box, at) => (
                      <g key={at} className="box">
                        <rect x={box.x} y={box.y} width={box.width} height={box.height} />
                        <text x={box.x + 1} y={box.y + labelSize} fontSize={labelSize}>
                          {box.class_name}
                        </text>
                      </g>
                    ))}
                    {current.annotations.filter(isPolygon).map((polygon, at) => (
                      <g key={`outline-${at}`} className="outline">
                        <polygon points={svgPoints(polygon.points)} />
                        <text x={polygon.points[0]?.[0] ?? 0} y={(polygon.points[0]?.[1] ?? 0) - 2} fontSize={labelSize}>
                          {polygon.class_name}
                        </text>
                      </g>
                    ))}
                    {outline.length > 0 && (
                      <g className="outline-draft" data-testid="outline-draft" data-points={outline.length}>
                        <polyline points={svgPoints(cursor && tool === "outline" ? [...outline, cursor] : outline)} />
                        {outline.map((point, at) => (
                          <circle key={at} cx={point.x} cy={point.y} r={labelSize / 4} />
                        ))}
                      </g>
                    )}
                    {tool === "outline" && cursor && (
                      <circle className="outline-cursor" cx={cursor.x} cy={cursor.y} r={labelSize / 2} />
                    )}
                    {draft && (
                      <rect
                        className="box-draft"
                        x={Math.min(draft.start.x, draft.end.x)}
                        y={Math.min(draft.start.y, draft.end.y)}
                        width={Math.abs(draft.end.x - draft.start.x)}
                        height={Math.abs(draft.end.y - draft.start.y)}
                      />
                    )}
                  </svg>
                </div>
                <figcaption>
                  <strong>{current.path}</strong>
                  <span data-testid="current-labels">
                    {current.class_name ?? t("label.noClass")} ·{" "}
                    {current.is_defect === true ? t("dataset.defect") : current.is_defect === false ? t("dataset.good") : t("label.noCondition")} ·{" "}
                    {current.split === "test" ? t("label.test") : t("label.train")} ·{" "}
                    {t("label.boxes", { count: formatNumber(current.annotations.filter(isBox).length, locale) })} ·{" "}
                    {t("label.outlines", { count: formatNumber(current.annotations.filter(isPolygon).length, locale) })}
                  </span>
                </figcaption>
              </figure>
            )}
            <p role="status">
              {t("label.position", {
                index: formatNumber(index + 1, locale),
                total: formatNumber(items.length, locale),
                labeled: formatNumber(labeledCount, locale),
              })}
              {saving && ` · ${t("label.saving")}`}
            </p>
            <ErrorMessage error={error} />
          </div>
          <aside className="label-tools">
            <label>
              {t("label.classes")}
              <input value={classText} onChange={(e) => setClassText(e.target.value)} placeholder={t("label.classesPlaceholder")} data-testid="classes" />
              <small>{t("label.classesHint")}</small>
            </label>
            <div className="button-grid" role="group" aria-label={t("label.actions")}>
              {classes.slice(0, 9).map((name, at) => (
                <button key={name} type="button" onClick={() => void perform({ type: "class", index: at })} aria-keyshortcuts={String(at + 1)}>
                  <kbd>{at + 1}</kbd> {name}
                </button>
              ))}
              <button type="button" onClick={() => void perform({ type: "good" })} aria-keyshortcuts="G">
                <kbd>G</kbd> {t("dataset.good")}
              </button>
              <button type="button" onClick={() => void perform({ type: "defect" })} aria-keyshortcuts="D">
                <kbd>D</kbd> {t("dataset.defect")}
              </button>
              <button type="button" className="secondary" onClick={() => void perform({ type: "test" })} aria-keyshortcuts="T">
                <kbd>T</kbd> {t("label.toggleTest")}
              </button>
              <button type="button" className="secondary" onClick={() => void perform({ type: "clear" })} aria-keyshortcuts="X">
                <kbd>X</kbd> {t("label.clear")}
              </button>
              <button type="button" className="secondary" onClick={() => void perform({ type: "previous" })} aria-keyshortcuts="ArrowLeft">
                <kbd>←</kbd> {t("common.previous")}
              </button>
              <button type="button" className="secondary" onClick={() => void perform({ type: "next" })} aria-keyshortcuts="ArrowRight">
                <kbd>→</kbd> {t("common.next")}
              </button>
            </div>
            <fieldset className="tool-choice">
              <legend>{t("label.tool")}</legend>
              <label>
                <input type="radio" name="tool" checked={tool === "box"} onChange={() => setTool("box")} /> {t("label.toolBox")}
              </label>
              <label>
                <input type="radio" name="tool" checked={tool === "outline"} onChange={() => setTool("outline")} data-testid="tool-outline" /> {t("label.toolOutline")}
              </label>
            </fieldset>
            <label>
              {t("label.boxClass")}
              <select value={boxClassName} onChange={(e) => setBoxClass(e.target.value)} data-testid="box-class">
                {classes.map((name) => (
                  <option key={name} value={name}>
                    {name}
                  </option>
                ))}
              </select>
              <small>{tool === "outline" ? t("label.outlineHint") : t("label.boxHint")}</small>
            </label>
            {current && current.annotations.filter(isPolygon).length > 0 && (
              <ul className="outline-list" aria-label={t("label.outlineList")}>
                {current.annotations.filter(isPolygon).map((polygon, at) => (
                  <li key={at}>
                    <button type="button" className="secondary" onClick={() => void removeOutline(at)}>
                      {t("label.removeOutline", { number: formatNumber(at + 1, locale), name: polygon.class_name })}
                    </button>
                  </li>
                ))}
              </ul>
            )}
            <button type="button" className="secondary" onClick={() => void removeBoxes()}>
              {t("label.removeBoxes")}
            </button>
            <p className="hint">{t("label.shortcuts")}</p>
            <p className="hint">{t("label.testHint")}</p>
          </aside>
          <ol className="strip" aria-label={t("label.all")}>
            {items.map((item, at) => (
              <li key={item.id}>
                <button
                  type="button"
                  className={at === index ? "thumb current" : item.labeled ? "thumb labeled" : "thumb"}
                  onClick={() => setIndex(at)}
                  aria-current={at === index}
                  aria-label={item.path}
                >
                  <img src={item.thumbnail_url} alt="" width={48} height={48} loading="lazy" />
                </button>
              </li>
            ))}
          </ol>
        </div>
      )}
      {items.length > 0 && <SuggestPanel datasetId={datasetId} onOpen={openItem} />}
    </section>
  );
}
