/**
 * Turns a JSON schema (pydantic's model_json_schema) into a flat list of form fields, and
 * the values of those fields back into a config object. Nested objects become dotted paths
 * ("data.image_size"); `$ref`s are resolved against `$defs`; `anyOf [X, null]` is an
 * optional X. Fields of a shape the form cannot edit (free dicts, lists of objects) are
 * left to the JSON box.
 */

export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
}

export type FieldKind = "number" | "integer" | "boolean" | "string" | "enum";

export interface FormField {
  path: string;
  label: string;
  kind: FieldKind;
  description: string;
  required: boolean;
  nullable: boolean;
  defaultValue: unknown;
  options: string[];
  minimum?: number;
  maximum?: number;
}

const MAX_DEPTH = 6;

export function resolveRef(schema: JsonSchema, root: JsonSchema): JsonSchema {
  let current = schema;
  for (let hops = 0; current.$ref && hops < 20; hops += 1) {
    const name = current.$ref.split("/").pop() ?? "";
    const target = root.$defs?.[name];
    if (!target) return {};
    const { $ref: _ignored, ...rest } = current;
    current = { ...target, ...rest };
  }
  if (current.allOf?.length === 1 && current.allOf[0]) {
    const { allOf, ...rest } = current;
    return { ...resolveRef(allOf[0] as JsonSchema, root), ...rest };
  }
  return current;
}

/** The non-null branch of `anyOf [X, null]` and whether null was allowed. */
export function unwrapNullable(schema: JsonSchema, root: JsonSchema): { schema: JsonSchema; nullable: boolean } {
  const resolved = resolveRef(schema, root);
  const branches = resolved.anyOf ?? resolved.oneOf;
  if (!branches) return { schema: resolved, nullable: resolved.type === "null" };
  const others = branches.filter((branch) => branch.type !== "null");
  const nullable = others.length < branches.length;
  if (others.length === 1 && others[0]) {
    const { anyOf: _a, oneOf: _o, ...rest } = resolved;
    return { schema: { ...resolveRef(others[0], root), ...rest }, nullable };
  }
  return { schema: { ...resolved, type: "__mixed" }, nullable };
}

function humanize(name: string): string {
  const words = name.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function kindOf(schema: JsonSchema): FieldKind | null {
  if (schema.enum) return "enum";
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  switch (type) {
    case "integer":
      return "integer";
    case "number":
      return "number";
    case "boolean":
      return "boolean";
    case "string":
      return "string";
    default:
      return null;
  }
}

/** Every editable leaf of ``schema``, in the schema's order, with dotted paths. */
export function buildFields(schema: JsonSchema, root: JsonSchema = schema, prefix = "", depth = 0): FormField[] {
  const fields: FormField[] = [];
  const object = resolveRef(schema, root);
  const required = new Set(object.required ?? []);
  for (const [name, property] of Object.entries(object.properties ?? {})) {
    const path = prefix ? `${prefix}.${name}` : name;
    const { schema: inner, nullable } = unwrapNullable(property, root);
    if (inner.properties && depth < MAX_DEPTH) {
      fields.push(...buildFields(inner, root, path, depth + 1));
      continue;
    }
    const kind = kindOf(inner);
    if (!kind) continue;
    fields.push({
      path,
      label: inner.title && !/^[A-Z][a-z]+( [A-Z][a-z]+)*$/.test(inner.title) ? inner.title : humanize(name),
      kind,
      description: inner.description ?? "",
      required: required.has(name),
      nullable,
      defaultValue: property.default ?? inner.default,
      options: (inner.enum ?? []).map(String),
      minimum: inner.minimum ?? inner.exclusiveMinimum,
      maximum: inner.maximum ?? inner.exclusiveMaximum,
    });
  }
  return fields;
}

/** The value a form input shows for a field: its value in ``base`` (a preset), else its
 *  default, else "". */
export function initialText(field: FormField, base: Record<string, unknown> = {}): string {
  const preset = getPath(base, field.path);
  const value = preset !== undefined && typeof preset !== "object" ? preset : field.defaultValue;
  if (value === undefined || value === null) return "";
  return String(value);
}

export type FieldError = { path: string; message: "number" | "integer" | "minimum" | "maximum" | "required" };

/** Parses one input's text into the field's value; undefined = leave the field out. */
export function parseField(field: FormField, text: string): { value?: unknown; error?: FieldError["message"] } {
  const trimmed = text.trim();
  if (trimmed === "") return field.required && field.defaultValue === undefined ? { error: "required" } : {};
  switch (field.kind) {
    case "boolean":
      return { value: trimmed === "true" };
    case "integer":
    case "number": {
      const value = Number(trimmed);
      if (!Number.isFinite(value)) return { error: "number" };
      if (field.kind === "integer" && !Number.isInteger(value)) return { error: "integer" };
      if (field.minimum !== undefined && value < field.minimum) return { error: "minimum" };
      if (field.maximum !== undefined && value > field.maximum) return { error: "maximum" };
      return { value };
    }
    default:
      return { value: trimmed };
  }
}

/** Writes ``value`` at a dotted ``path`` of ``target`` (making the objects on the way). */
export function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let node = target;
  keys.slice(0, -1).forEach((key) => {
    const next = node[key];
    if (typeof next !== "object" || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  });
  node[keys[keys.length - 1] as string] = value;
}

export function getPath(source: unknown, path: string): unknown {
  let node: unknown = source;
  for (const key of path.split(".")) {
    if (typeof node !== "object" || node === null) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/**
 * The config from the form: ``base`` (a preset) with the fields whose text differs from what
 * they showed at first written over it, so the engine's own defaults stay in charge of the
 * rest. Returns the errors by path.
 */
export function collectConfig(fields: FormField[], texts: Record<string, string>, base: Record<string, unknown> = {}):
  { config: Record<string, unknown>; errors: FieldError[] } {
  const config = structuredClone(base);
  const errors: FieldError[] = [];
  for (const field of fields) {
    const text = texts[field.path];
    if (text === undefined || text === initialText(field, base)) continue;
    const parsed = parseField(field, text);
    if (parsed.error) errors.push({ path: field.path, message: parsed.error });
    else if (parsed.value !== undefined) setPath(config, field.path, parsed.value);
  }
  return { config, errors };
}
