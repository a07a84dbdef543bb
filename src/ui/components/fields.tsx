// Form fields for hyperparameters: each named as PEFT/TrainingArguments name it, with the
// schema's one-line help under it and the validation message when the value is wrong. Numbers are
// typed as text (so "3e-3" works); a value that does not parse stays in the box with a message
// and the stored value keeps its last valid number.

import { useState, type ReactNode } from 'react';
import {
  fieldHelp,
  type HparamGroup,
  type LoraHparams,
  type QuantizationHparams,
  type TrainingHparams,
} from '../../config/hparams';
import { useStudio } from '../store/store';

type Group = HparamGroup;
type Key<G extends Group> = G extends 'lora'
  ? keyof LoraHparams
  : G extends 'training'
    ? keyof TrainingHparams
    : keyof QuantizationHparams;

function useField<G extends Group>(group: G, name: Key<G>) {
  const value = useStudio((s) => (s.hparams[group] as Record<string, unknown>)[name as string]);
  const issue = useStudio((s) => s.hparamIssues[`${group}.${String(name)}`]);
  const setLora = useStudio((s) => s.setLora);
  const setTraining = useStudio((s) => s.setTraining);
  const setQuantization = useStudio((s) => s.setQuantization);
  const set = (v: unknown) =>
    group === 'lora'
      ? setLora(name as keyof LoraHparams, v as never)
      : group === 'training'
        ? setTraining(name as keyof TrainingHparams, v as never)
        : setQuantization(name as keyof QuantizationHparams, v as never);
  return { value, issue, set };
}

function FieldShell(props: {
  id: string;
  name: string;
  help: string;
  error?: string;
  children: ReactNode;
  extra?: ReactNode;
}) {
  return (
    <div className={`field ${props.error ? 'field-invalid' : ''}`} data-testid={`field-${props.name}`}>
      <label htmlFor={props.id} className="field-label">
        <code>{props.name}</code>
      </label>
      <div className="field-control">{props.children}</div>
      <div className="field-help" id={`${props.id}-help`}>
        {props.help}
      </div>
      {props.error && (
        <div className="field-error" id={`${props.id}-error`} data-testid={`error-${props.name}`}>
          {props.error}
        </div>
      )}
      {props.extra}
    </div>
  );
}

/** A stored number as JavaScript prints it, which parses back to the same value (0.0002, 1e-8). */
function show(v: unknown): string {
  return typeof v === 'number' ? String(v) : '';
}

export function NumberField<G extends Group>(props: {
  group: G;
  name: Key<G>;
  disabled?: boolean;
  suffix?: ReactNode;
  note?: ReactNode;
}) {
  const { value, issue, set } = useField(props.group, props.name);
  const name = String(props.name);
  const id = `hp-${name}`;
  const [draft, setDraft] = useState<string | null>(null);
  const text = draft ?? show(value);
  const parsed = draft === null ? null : Number(draft.trim());
  const local =
    draft !== null && (draft.trim() === '' || !Number.isFinite(parsed)) ? `${name} must be a number` : undefined;
  const error = local ?? issue;
  return (
    <FieldShell id={id} name={name} help={fieldHelp(props.group, name)} error={error} extra={props.note}>
      <input
        id={id}
        type="text"
        inputMode="decimal"
        value={text}
        disabled={props.disabled}
        aria-invalid={error ? true : undefined}
        aria-describedby={`${id}-help${error ? ` ${id}-error` : ''}`}
        onChange={(e) => {
          const t = e.target.value;
          const n = Number(t.trim());
          if (t.trim() !== '' && Number.isFinite(n)) {
            set(n);
            setDraft(String(n) === t.trim() ? null : t);
          } else {
            setDraft(t);
          }
        }}
        onBlur={() => {
          if (draft !== null && local === undefined) setDraft(null);
        }}
        data-testid={`input-${name}`}
      />
      {props.suffix}
    </FieldShell>
  );
}

export function SelectField<G extends Group>(props: { group: G; name: Key<G>; options: readonly string[] }) {
  const { value, issue, set } = useField(props.group, props.name);
  const name = String(props.name);
  const id = `hp-${name}`;
  return (
    <FieldShell id={id} name={name} help={fieldHelp(props.group, name)} error={issue}>
      <select id={id} value={String(value)} onChange={(e) => set(e.target.value)} data-testid={`input-${name}`}>
        {props.options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    </FieldShell>
  );
}

export function BoolField<G extends Group>(props: { group: G; name: Key<G>; disabled?: boolean }) {
  const { value, issue, set } = useField(props.group, props.name);
  const name = String(props.name);
  const id = `hp-${name}`;
  return (
    <FieldShell id={id} name={name} help={fieldHelp(props.group, name)} error={issue}>
      <label className="switch">
        <input
          id={id}
          type="checkbox"
          checked={value === true}
          disabled={props.disabled}
          onChange={(e) => set(e.target.checked)}
          data-testid={`input-${name}`}
        />
        <span>{value ? 'true' : 'false'}</span>
      </label>
    </FieldShell>
  );
}

/**
 * A structured value typed as text (a list, a {pattern: value} map): `parse` gives the value or a
 * message; like NumberField, text that does not parse stays in the box and the stored value stays.
 */
export function TextField<G extends Group>(props: {
  group: G;
  name: Key<G>;
  format: (v: unknown) => string;
  parse: (text: string) => { value: unknown } | { error: string };
  placeholder?: string;
  disabled?: boolean;
}) {
  const { value, issue, set } = useField(props.group, props.name);
  const name = String(props.name);
  const id = `hp-${name}`;
  const [draft, setDraft] = useState<string | null>(null);
  const text = draft ?? props.format(value);
  const r = draft === null ? null : props.parse(draft);
  const local = r && 'error' in r ? r.error : undefined;
  const error = local ?? issue;
  return (
    <FieldShell id={id} name={name} help={fieldHelp(props.group, name)} error={error}>
      <input
        id={id}
        type="text"
        value={text}
        placeholder={props.placeholder}
        disabled={props.disabled}
        aria-invalid={error ? true : undefined}
        aria-describedby={`${id}-help${error ? ` ${id}-error` : ''}`}
        onChange={(e) => {
          const p = props.parse(e.target.value);
          if ('value' in p) set(p.value);
          setDraft(e.target.value);
        }}
        onBlur={() => {
          if (draft !== null && local === undefined) setDraft(null);
        }}
        data-testid={`input-${name}`}
      />
    </FieldShell>
  );
}
