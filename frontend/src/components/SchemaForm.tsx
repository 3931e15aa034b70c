/** A form for a job kind's JSON schema: one input per setting, the engine's defaults shown. */

import { useMemo } from "react";
import { useI18n } from "../i18n";
import { buildFields, initialText, type FormField, type JsonSchema } from "../lib/schemaForm";

function Input({ field, text, onChange }: { field: FormField; text: string; onChange: (text: string) => void }) {
  const { t } = useI18n();
  const id = `field-${field.path}`;
  const common = { id, "aria-describedby": field.description ? `${id}-help` : undefined };
  let control;
  if (field.kind === "boolean") {
    control = (
      <select {...common} value={text} onChange={(e) => onChange(e.target.value)}>
        <option value="">{t("advanced.default")}</option>
        <option value="true">{t("common.yes")}</option>
        <option value="false">{t("common.no")}</option>
      </select>
    );
  } else if (field.kind === "enum") {
    control = (
      <select {...common} value={text} onChange={(e) => onChange(e.target.value)}>
        {field.nullable || field.defaultValue === undefined ? <option value="">{t("advanced.default")}</option> : null}
        {field.options.map((option) => (
          <option key={option} value={option}>
            {option}
          </option>
        ))}
      </select>
    );
  } else {
    control = (
      <input
        {...common}
        inputMode={field.kind === "string" ? undefined : "decimal"}
        value={text}
        placeholder={field.defaultValue === undefined || field.defaultValue === null ? t("advanced.auto") : ""}
        onChange={(e) => onChange(e.target.value)}
      />
    );
  }
  return (
    <div className="schema-field">
      <label htmlFor={id}>
        <code>{field.path}</code>
      </label>
      {control}
      {field.description && (
        <small id={`${id}-help`}>{field.description}</small>
      )}
    </div>
  );
}

export function SchemaForm({ schema, base, texts, onChange }: {
  schema: JsonSchema;
  base: Record<string, unknown>;
  texts: Record<string, string>;
  onChange: (texts: Record<string, string>) => void;
}) {
  const fields = useMemo(() => buildFields(schema), [schema]);
  const groups = useMemo(() => {
    const byGroup = new Map<string, FormField[]>();
    for (const field of fields) {
      const group = field.path.includes(".") ? field.path.split(".").slice(0, -1).join(".") : "";
      byGroup.set(group, [...(byGroup.get(group) ?? []), field]);
    }
    return [...byGroup.entries()];
  }, [fields]);
  return (
    <div className="schema-form">
      {groups.map(([group, members]) => (
        <fieldset key={group || "top"}>
          {group && <legend>{group}</legend>}
          {members.map((field) => (
            <Input
              key={field.path}
              field={field}
              text={texts[field.path] ?? initialText(field, base)}
              onChange={(text) => onChange({ ...texts, [field.path]: text })}
            />
          ))}
        </fieldset>
      ))}
    </div>
  );
}
