// An action that changes something: a button that opens a form asking for the reason (on record
// with the action) and a second, explicit confirmation.

import { useState } from 'preact/hooks';
import { describe } from '../hooks.js';
import { html } from '../html.js';

export function Act({
  label,
  what,
  run,
  disabled,
  danger,
}: {
  label: string;
  what: string;
  run: (reason: string) => Promise<unknown>;
  disabled?: boolean;
  danger?: boolean;
}) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<string | undefined>();
  if (!open)
    return html`<span class="act">
      <button
        class=${danger ? 'danger' : ''}
        disabled=${disabled}
        onClick=${() => {
          setOpen(true);
          setResult(undefined);
        }}
      >
        ${label}
      </button>
      ${result ? html`<span class="result" role="status">${result}</span>` : null}
    </span>`;
  const submit = (e: Event) => {
    e.preventDefault();
    const reason = (
      (e.target as HTMLFormElement).elements.namedItem('reason') as HTMLInputElement
    ).value.trim();
    setBusy(true);
    run(reason).then(
      () => {
        setBusy(false);
        setOpen(false);
        setResult(`${label}: done`);
      },
      (err: unknown) => {
        setBusy(false);
        setResult(describe(err));
      },
    );
  };
  const id = `reason-${label.toLowerCase().replace(/\W+/g, '-')}`;
  return html`<form class="confirm" onSubmit=${submit} aria-label=${`${label} ${what}`}>
    <label for=${id}>Reason for ${label.toLowerCase()} (on record)</label>
    <input id=${id} name="reason" required maxlength="500" />
    <button type="submit" class=${danger ? 'danger' : ''} disabled=${busy}>
      Confirm ${label.toLowerCase()} ${what}
    </button>
    <button type="button" class="link" onClick=${() => setOpen(false)}>Cancel</button>
    ${result ? html`<p class="error" role="alert">${result}</p>` : null}
  </form>`;
}
