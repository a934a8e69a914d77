/**
 * The "Run as job" form's model: which input each notebook parameter gets, and turning
 * what the user typed back into typed values. Pure, so every rule is unit-tested.
 */

export type ParamType = 'int' | 'float' | 'bool' | 'str' | 'list' | 'dict';

/** One parameter as GET notebooks/parameters declares it. */
export interface Parameter {
  name: string;
  type: ParamType | string;
  default?: unknown;
  description?: string | null;
}

export type FieldKind = 'number' | 'checkbox' | 'text' | 'json';

export interface FieldModel {
  name: string;
  type: ParamType | string;
  kind: FieldKind;
  /** The input's starting value: text for inputs, a boolean for checkboxes. */
  initial: string | boolean;
  description: string;
  /** For number inputs: "1" for int, "any" for float (so the browser accepts 1e-3). */
  step?: string;
}

export type Entry = string | boolean;
export type Parsed = { ok: true; value: unknown } | { ok: false; error: string };

export const MESSAGES = {
  int: 'must be a whole number, e.g. 3',
  float: 'must be a number, e.g. 0.5 or 1e-3',
  bool: 'must be true or false',
  list: 'must be a JSON list, e.g. [1, 2]',
  dict: 'must be a JSON object, e.g. {"key": 1}'
} as const;

function jsonText(value: unknown, empty: string): string {
  if (value === undefined || value === null) {
    return empty;
  }
  try {
    return JSON.stringify(value);
  } catch {
    return empty;
  }
}

/** The field for each parameter, prefilled with its default. */
export function fieldsFor(parameters: ReadonlyArray<Parameter>): FieldModel[] {
  return parameters.map(p => {
    const description = p.description ?? '';
    const text = p.default === undefined || p.default === null ? '' : String(p.default);
    switch (p.type) {
      case 'int':
        return { name: p.name, type: p.type, kind: 'number', initial: text, description, step: '1' };
      case 'float':
        return { name: p.name, type: p.type, kind: 'number', initial: text, description, step: 'any' };
      case 'bool':
        return { name: p.name, type: p.type, kind: 'checkbox', initial: p.default === true, description };
      case 'list':
        return { name: p.name, type: p.type, kind: 'json', initial: jsonText(p.default, '[]'), description };
      case 'dict':
        return { name: p.name, type: p.type, kind: 'json', initial: jsonText(p.default, '{}'), description };
      default:
        // str, and any type the server adds later: plain text, passed through unchanged
        return { name: p.name, type: p.type, kind: 'text', initial: text, description };
    }
  });
}

const INT = /^[+-]?\d+$/;
// Decimal notation only: Number() would also take "0x10", "" and " ", which Python's float() does not.
const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/** One entry as the parameter's type, or the reason it is not one. */
export function parseField(type: ParamType | string, input: Entry): Parsed {
  const text = typeof input === 'boolean' ? String(input) : input;
  const trimmed = text.trim();
  switch (type) {
    case 'int': {
      const value = Number(trimmed);
      return INT.test(trimmed) && Number.isSafeInteger(value)
        ? { ok: true, value }
        : { ok: false, error: MESSAGES.int };
    }
    case 'float': {
      const value = Number(trimmed);
      return FLOAT.test(trimmed) && Number.isFinite(value)
        ? { ok: true, value }
        : { ok: false, error: MESSAGES.float };
    }
    case 'bool':
      if (typeof input === 'boolean') {
        return { ok: true, value: input };
      }
      if (/^(true|false)$/i.test(trimmed)) {
        return { ok: true, value: trimmed.toLowerCase() === 'true' };
      }
      return { ok: false, error: MESSAGES.bool };
    case 'list': {
      const parsed = parseJson(trimmed);
      return parsed.ok && Array.isArray(parsed.value)
        ? { ok: true, value: parsed.value }
        : { ok: false, error: MESSAGES.list };
    }
    case 'dict': {
      const parsed = parseJson(trimmed);
      const isObject =
        parsed.ok && typeof parsed.value === 'object' && parsed.value !== null && !Array.isArray(parsed.value);
      return isObject ? { ok: true, value: parsed.value } : { ok: false, error: MESSAGES.dict };
    }
    default:
      // strings go through untouched: leading spaces may matter to the notebook
      return { ok: true, value: text };
  }
}

/** Every entry parsed: values of the valid ones and an error per invalid one (by name). */
export function validateAll(
  parameters: ReadonlyArray<Parameter>,
  entries: Readonly<Record<string, Entry>>
): { values: Record<string, unknown>; errors: Record<string, string> } {
  const values: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const field of fieldsFor(parameters)) {
    const entry = Object.prototype.hasOwnProperty.call(entries, field.name) ? entries[field.name] : field.initial;
    const parsed = parseField(field.type, entry);
    if (parsed.ok) {
      values[field.name] = parsed.value;
    } else {
      errors[field.name] = parsed.error;
    }
  }
  return { values, errors };
}
