import { describe, expect, it } from "vitest";
import { buildFields, collectConfig, getPath, initialText, parseField, setPath, type JsonSchema } from "../src/lib/schemaForm";

// The shape pydantic's model_json_schema gives: $defs, $ref, anyOf [X, null], enums, bounds.
const SCHEMA: JsonSchema = {
  type: "object",
  required: ["pretrain"],
  properties: {
    pretrain: { $ref: "#/$defs/Pretrain" },
    finetune: { anyOf: [{ $ref: "#/$defs/Finetune" }, { type: "null" }], default: null },
    model_name: { anyOf: [{ type: "string", maxLength: 200 }, { type: "null" }], default: null, title: "Model Name" },
    tags: { type: "object", additionalProperties: { type: "string" } },
    notes: { type: "array", items: { type: "object" } },
  },
  $defs: {
    Pretrain: {
      type: "object",
      properties: {
        steps: { type: "integer", minimum: 1, maximum: 1000, default: 100, description: "optimizer steps" },
        method: { enum: ["mocov2", "moby", "hatchery"], type: "string", default: "hatchery" },
        data: { $ref: "#/$defs/Data" },
      },
    },
    Data: { type: "object", properties: { image_size: { type: "integer", default: 96, minimum: 16 } } },
    Finetune: {
      type: "object",
      required: ["task"],
      properties: {
        task: { enum: ["classify", "anomaly"], type: "string" },
        baselines: { type: "boolean", default: true },
        learning_rate: { type: "number", exclusiveMinimum: 0, default: 0.03 },
      },
    },
  },
};

describe("form building from a JSON schema", () => {
  const fields = buildFields(SCHEMA);
  const byPath = Object.fromEntries(fields.map((field) => [field.path, field]));

  it("flattens nested objects, $refs and optional sections into dotted fields", () => {
    expect(fields.map((field) => field.path)).toEqual([
      "pretrain.steps",
      "pretrain.method",
      "pretrain.data.image_size",
      "finetune.task",
      "finetune.baselines",
      "finetune.learning_rate",
      "model_name",
    ]);
  });

  it("keeps kinds, bounds, enums, defaults and descriptions", () => {
    expect(byPath["pretrain.steps"]).toMatchObject({ kind: "integer", minimum: 1, maximum: 1000, defaultValue: 100, description: "optimizer steps" });
    expect(byPath["pretrain.method"]).toMatchObject({ kind: "enum", options: ["mocov2", "moby", "hatchery"] });
    expect(byPath["finetune.task"]).toMatchObject({ kind: "enum", required: true });
    expect(byPath["finetune.baselines"]).toMatchObject({ kind: "boolean", defaultValue: true });
    expect(byPath["model_name"]).toMatchObject({ kind: "string", nullable: true });
    expect(initialText(byPath["pretrain.steps"]!)).toBe("100");
    expect(initialText(byPath["model_name"]!)).toBe("");
  });

  it("parses and checks what is typed", () => {
    const steps = byPath["pretrain.steps"]!;
    expect(parseField(steps, "20")).toEqual({ value: 20 });
    expect(parseField(steps, "2.5").error).toBe("integer");
    expect(parseField(steps, "0").error).toBe("minimum");
    expect(parseField(steps, "5000").error).toBe("maximum");
    expect(parseField(steps, "many").error).toBe("number");
    expect(parseField(byPath["finetune.baselines"]!, "false")).toEqual({ value: false });
    expect(parseField(byPath["finetune.task"]!, "").error).toBe("required");
  });

  it("writes only the changed fields into the config, nested", () => {
    const { config, errors } = collectConfig(fields, {
      "pretrain.steps": "100", // the default: left to the engine
      "pretrain.data.image_size": "64",
      "finetune.task": "anomaly",
      model_name: "",
    });
    expect(errors).toEqual([]);
    expect(config).toEqual({ pretrain: { data: { image_size: 64 } }, finetune: { task: "anomaly" } });
  });

  it("reports errors by field", () => {
    const { errors } = collectConfig(fields, { "pretrain.steps": "-3" });
    expect(errors).toEqual([{ path: "pretrain.steps", message: "minimum" }]);
  });

  it("sets and gets dotted paths", () => {
    const target: Record<string, unknown> = { a: 1 };
    setPath(target, "a.b.c", 2);
    expect(getPath(target, "a.b.c")).toBe(2);
    expect(getPath(target, "a.x.y")).toBeUndefined();
  });
});

describe("a preset under the form", () => {
  const fields = buildFields(SCHEMA);
  const steps = fields.find((field) => field.path === "pretrain.steps")!;
  const base = { pretrain: { steps: 2, data: { image_size: 64 } }, finetune: { task: "classify" } };

  it("shows the preset's values instead of the defaults", () => {
    expect(initialText(steps, base)).toBe("2");
    expect(initialText(steps)).toBe("100");
  });

  it("keeps the preset and writes only what was changed over it", () => {
    const untouched = collectConfig(fields, { "pretrain.steps": "2" }, base);
    expect(untouched.config).toEqual(base);
    const changed = collectConfig(fields, { "pretrain.data.image_size": "96" }, base);
    expect(changed.config).toEqual({ pretrain: { steps: 2, data: { image_size: 96 } }, finetune: { task: "classify" } });
    expect(base.pretrain.data.image_size).toBe(64); // the preset itself is not changed
  });
});
