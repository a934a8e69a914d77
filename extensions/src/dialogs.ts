/**
 * The dialogs: Run as job (a form from the notebook's parameters cell), Promote pilot (a run,
 * the gates it would meet, a reason; Promote waits for the gate check) and the reason asked
 * before approving or declining, beside the gate results recorded with the request.
 * Invalid entries reopen the dialog with the entries kept and each problem beside its field.
 */
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { postAPI, requestAPI } from './api';
import { ApiError } from './apiError';
import { h } from './dom';
import {
  Gate,
  gateText,
  HistoryEntry,
  modelNameFor,
  notebookRunsFilter,
  requestGates,
  Run,
  runOptionLabel,
  splitRequestId
} from './overviewModel';
import { Entry, fieldsFor, Parameter, validateAll } from './paramsForm';

/** The one line to show for any failure (an ApiError's, or the error's own message). */
export function failure(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

class ParamsBody extends Widget implements Dialog.IBodyWidget<Record<string, Entry>> {
  constructor(
    parameters: Parameter[],
    entries: Record<string, Entry>,
    errors: Record<string, string>
  ) {
    super();
    this.addClass('wb-params-form');
    if (errors['']) {
      this.node.append(h('div', { class: 'wb-field-error', role: 'alert' }, errors['']));
    }
    if (!parameters.length) {
      this.node.append(
        h('p', { class: 'wb-hint' }, 'This notebook has no cell tagged "parameters": it runs as saved.')
      );
    }
    for (const field of fieldsFor(parameters)) {
      const id = `wb-param-${field.name}`;
      const value = Object.prototype.hasOwnProperty.call(entries, field.name) ? entries[field.name] : field.initial;
      let input: HTMLInputElement | HTMLTextAreaElement;
      if (field.kind === 'checkbox') {
        input = h('input', { id, name: field.name, type: 'checkbox' });
        input.checked = value === true || value === 'true';
      } else if (field.kind === 'json') {
        input = h('textarea', { id, name: field.name, rows: '2' });
        input.value = String(value);
      } else {
        input = h('input', {
          id,
          name: field.name,
          type: 'text', // a number input would take "1e" silently as empty: paramsForm checks it
          inputmode: field.kind === 'number' ? 'decimal' : undefined
        });
        input.value = String(value);
      }
      input.classList.add('jp-mod-styled');
      if (errors[field.name]) {
        input.setAttribute('aria-invalid', 'true');
        input.setAttribute('aria-describedby', `${id}-error`);
      }
      this._inputs.set(field.name, input);
      this.node.append(
        h(
          'div',
          { class: 'wb-field' },
          h('label', { for: id }, `${field.name} `, h('span', { class: 'wb-type' }, `(${field.type})`)),
          input,
          field.description ? h('div', { class: 'wb-hint' }, field.description) : null,
          errors[field.name]
            ? h('div', { class: 'wb-field-error', id: `${id}-error`, role: 'alert' }, `${field.name} ${errors[field.name]}`)
            : null
        )
      );
    }
  }

  getValue(): Record<string, Entry> {
    const out: Record<string, Entry> = {};
    for (const [name, input] of this._inputs) {
      out[name] = input instanceof HTMLInputElement && input.type === 'checkbox' ? input.checked : input.value;
    }
    return out;
  }

  private _inputs = new Map<string, HTMLInputElement | HTMLTextAreaElement>();
}

interface ParametersAnswer {
  path: string;
  parameters: Parameter[];
}

interface JobAnswer {
  run_id: string;
  status: string;
  path: string;
}

/** Run the saved notebook at `path` on the cluster; the new run's id, or null if cancelled. */
export async function runAsJob(path: string): Promise<string | null> {
  const found = await requestAPI<ParametersAnswer>(`notebooks/parameters?path=${encodeURIComponent(path)}`);
  let entries: Record<string, Entry> = {};
  let errors: Record<string, string> = {};
  for (;;) {
    const result = await showDialog({
      title: `Run as job: ${path}`,
      body: new ParamsBody(found.parameters, entries, errors),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Run' })],
      focusNodeSelector: 'input, textarea'
    });
    if (!result.button.accept || result.value === null) {
      return null;
    }
    entries = result.value;
    const checked = validateAll(found.parameters, entries);
    errors = checked.errors;
    if (Object.keys(errors).length) {
      continue;
    }
    try {
      const job = await postAPI<JobAnswer>('jobs', { path, params: checked.values });
      Notification.success(`Job ${job.run_id.slice(0, 8)} runs ${path} on the cluster`, { autoClose: 5000 });
      return job.run_id;
    } catch (error) {
      // the server's check (an undeclared name, a type it refused) shows in the same dialog
      if (error instanceof ApiError && error.status === 400) {
        errors = { '': `The job was not started: ${failure(error)}` };
        continue;
      }
      throw error;
    }
  }
}

/** Each gate as a list item, passed or failed; every value goes in as text. */
function gateItems(gates: Gate[], none: string): HTMLLIElement[] {
  return gates.length
    ? gates.map(g =>
        h('li', { class: g.passed ? 'wb-gate wb-mod-passed' : 'wb-gate wb-mod-failed', 'data-gate': g.gate }, gateText(g))
      )
    : [h('li', { class: 'wb-hint' }, none)];
}

/** The gate results recorded with a request, or why they cannot be shown. */
type RecordedGates = { gates: Gate[] } | { error: string };

async function recordedGates(requestId: string): Promise<RecordedGates> {
  const split = splitRequestId(requestId);
  if (!split) {
    return { error: `${requestId} is not MODEL/N` };
  }
  try {
    const history = await requestAPI<{ entries: HistoryEntry[] }>(`models/${encodeURIComponent(split[0])}/history`);
    const gates = requestGates(history.entries, requestId);
    return gates ? { gates } : { error: `the history of ${split[0]} holds no request ${requestId}` };
  } catch (error) {
    return { error: failure(error) };
  }
}

class ReasonBody extends Widget implements Dialog.IBodyWidget<string> {
  constructor(prompt: string, value: string, error: string | null, recorded: RecordedGates | null = null) {
    super();
    this.addClass('wb-reason-form');
    this._text = h('textarea', { id: 'wb-reason', name: 'reason', rows: '3', class: 'jp-mod-styled' });
    this._text.value = value;
    if (recorded) {
      this.node.append(
        h('div', { class: 'wb-gates-title' }, 'Gates, as checked when the request was made'),
        'gates' in recorded
          ? h('ul', { class: 'wb-gates', 'aria-label': 'Gates' },
              ...gateItems(recorded.gates, 'No gate applied: the request was recorded as it was.'))
          : h('div', { class: 'wb-field-error wb-gates-error' }, `The gate results could not be read: ${recorded.error}`)
      );
    }
    this.node.append(h('label', { for: 'wb-reason' }, prompt), this._text);
    if (error) {
      this.node.append(h('div', { class: 'wb-field-error', role: 'alert' }, error));
    }
  }

  getValue(): string {
    return this._text.value;
  }

  private _text: HTMLTextAreaElement;
}

/** Approve or decline a pending request with a reason; true when it was recorded. */
export async function decideRequest(requestId: string, decision: 'approve' | 'decline'): Promise<boolean> {
  let reason = '';
  let error: string | null = null;
  const recorded = await recordedGates(requestId); // what the decision is about
  for (;;) {
    const result = await showDialog({
      title: `${decision === 'approve' ? 'Approve' : 'Decline'} ${requestId}`,
      body: new ReasonBody('Reason (kept in the approval record)', reason, error, recorded),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: decision === 'approve' ? 'Approve' : 'Decline' })],
      focusNodeSelector: 'textarea'
    });
    if (!result.button.accept || result.value === null) {
      return false;
    }
    reason = result.value;
    if (!reason.trim()) {
      error = 'A reason is required: say why.';
      continue;
    }
    try {
      const done = await postAPI<{ outcome: string; model: string; version?: string }>('approvals', {
        request_id: requestId,
        decision,
        reason
      });
      Notification.success(
        done.outcome === 'promoted' ? `${done.model} v${done.version} is the champion` : `${requestId} declined`,
        { autoClose: 5000 }
      );
      return true;
    } catch (err) {
      error = failure(err);
    }
  }
}

interface PreviewAnswer {
  model: string;
  champion: string | null;
  pipeline: string | null;
  approver: string;
  gates: Gate[];
}

interface PromoteChoice {
  runId: string;
  model: string;
  fourEyes: boolean;
  reason: string;
  /** The gate check was still running when the dialog was accepted (Enter in a field). */
  checking?: boolean;
}

export const CHECKING = 'Checking the gates…';

class PromoteBody extends Widget implements Dialog.IBodyWidget<PromoteChoice> {
  constructor(runs: Run[], fromNotebook: boolean, choice: PromoteChoice, error: string | null) {
    super();
    this.addClass('wb-promote-form');
    this._run = h('select', { id: 'wb-promote-run', name: 'run', class: 'jp-mod-styled' });
    for (const run of runs) {
      const option = h('option', { value: run.run_id }, runOptionLabel(run));
      option.selected = run.run_id === choice.runId;
      this._run.append(option);
    }
    this._model = h('input', { id: 'wb-promote-model', name: 'model', type: 'text', class: 'jp-mod-styled' });
    this._model.value = choice.model;
    this._fourEyes = h('input', { id: 'wb-promote-four-eyes', name: 'four_eyes', type: 'checkbox' });
    this._fourEyes.checked = choice.fourEyes;
    this._reason = h('textarea', { id: 'wb-promote-reason', name: 'reason', rows: '3', class: 'jp-mod-styled' });
    this._reason.value = choice.reason;
    this._gates = h('ul', { class: 'wb-gates', 'aria-label': 'Gates', 'aria-live': 'polite' });
    this._summary = h('div', { class: 'wb-hint wb-preview' });
    if (!fromNotebook) {
      this.node.append(h('p', { class: 'wb-hint' }, 'No run of this notebook was found: these are the newest runs.'));
    }
    this.node.append(
      h('label', { for: 'wb-promote-run' }, 'Run'),
      this._run,
      h('label', { for: 'wb-promote-model' }, 'Registered model'),
      this._model,
      h('div', { class: 'wb-field wb-inline' }, this._fourEyes,
        h('label', { for: 'wb-promote-four-eyes' }, 'Four eyes: request approval from someone else')),
      h('label', { for: 'wb-promote-reason' }, 'Reason (kept in the approval record)'),
      this._reason,
      h('div', { class: 'wb-gates-title' }, 'Gates'),
      this._summary,
      this._gates
    );
    if (error) {
      this.node.append(h('div', { class: 'wb-field-error', role: 'alert' }, error));
    }
    // the Dialog re-enables its buttons on each input (its validation, in capture): Promote
    // stays disabled while the gates are checked (Enter in a field then says to wait)
    this.node.addEventListener('input', () => this.showChecking());
    this._run.addEventListener('change', () => void this.preview());
    this._model.addEventListener('change', () => void this.preview());
    void this.preview();
  }

  getValue(): PromoteChoice {
    return {
      runId: this._run.value,
      model: this._model.value.trim(),
      fourEyes: this._fourEyes.checked,
      reason: this._reason.value,
      checking: this._checking
    };
  }

  protected onAfterAttach(): void {
    this.showChecking();
  }

  /** The dialog's Promote button: disabled, and saying so, while the gates are checked. */
  private showChecking(): void {
    const accept = this.node.closest('.jp-Dialog')?.querySelector<HTMLButtonElement>('.jp-Dialog-button.jp-mod-accept');
    if (!accept) {
      return; // not shown yet: onAfterAttach comes back
    }
    accept.disabled = this._checking;
    accept.setAttribute('aria-busy', String(this._checking));
    accept.title = this._checking ? 'Wait for the gate check to finish' : '';
    const label = accept.querySelector('.jp-Dialog-buttonLabel') ?? accept;
    label.textContent = this._checking ? CHECKING : 'Promote';
  }

  private setChecking(checking: boolean): void {
    this._checking = checking;
    this.showChecking();
  }

  /** The gates this run meets or misses now: nothing is written. */
  async preview(): Promise<void> {
    const { runId, model } = this.getValue();
    const asked = ++this._asked;
    this._gates.replaceChildren(h('li', { class: 'wb-hint wb-checking-gates' }, CHECKING));
    if (!runId || !model) {
      this._gates.replaceChildren(h('li', { class: 'wb-hint' }, 'Pick a run and name the model.'));
      this.setChecking(false);
      return;
    }
    this.setChecking(true);
    try {
      const found = await postAPI<PreviewAnswer>('promotions', { model, run_id: runId, preview: true });
      if (asked !== this._asked) {
        return; // a newer choice is being checked
      }
      this.setChecking(false);
      this._summary.textContent = `${found.champion ? `champion now v${found.champion}` : 'no champion yet'} · ${
        found.pipeline ? `pipeline ${found.pipeline}` : 'a pipeline is created from this notebook'
      } · approver ${found.approver}`;
      this._gates.replaceChildren(
        ...gateItems(found.gates, 'No gate applies to this model: the promotion is recorded as it is.')
      );
    } catch (error) {
      if (asked === this._asked) {
        this.setChecking(false); // the server checks the gates again on Promote
        this._gates.replaceChildren(h('li', { class: 'wb-field-error' }, failure(error)));
      }
    }
  }

  private _asked = 0;
  private _checking = false;
  private _run: HTMLSelectElement;
  private _model: HTMLInputElement;
  private _fourEyes: HTMLInputElement;
  private _reason: HTMLTextAreaElement;
  private _gates: HTMLUListElement;
  private _summary: HTMLDivElement;
}

/** Promote a run of the notebook at `path` (its pipeline made on the way); true when done. */
export async function promotePilot(path: string): Promise<boolean> {
  const filter = notebookRunsFilter(path);
  let runs: Run[] = [];
  if (filter) {
    runs = (await requestAPI<{ runs: Run[] }>(`runs?page_size=50&filter=${encodeURIComponent(filter)}`)).runs;
  }
  // a notebook job's run records the notebook's execution, not a model: nothing to promote
  runs = runs.filter(run => run.kind !== 'notebook-job');
  const fromNotebook = runs.length > 0;
  if (!fromNotebook) {
    runs = (await requestAPI<{ runs: Run[] }>('runs?page_size=50&status=FINISHED')).runs.filter(
      run => run.kind !== 'notebook-job'
    );
  }
  if (!runs.length) {
    await showDialog({
      title: 'Nothing to promote yet',
      body: 'No finished run was found: train from this notebook first.',
      buttons: [Dialog.okButton()]
    });
    return false;
  }
  let choice: PromoteChoice = { runId: runs[0].run_id, model: modelNameFor(path), fourEyes: false, reason: '' };
  let error: string | null = null;
  for (;;) {
    const result = await showDialog({
      title: `Promote pilot: ${path}`,
      body: new PromoteBody(runs, fromNotebook, choice, error),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Promote' })]
    });
    if (!result.button.accept || result.value === null) {
      return false;
    }
    choice = result.value;
    if (choice.checking) {
      error = 'Wait for the gate check to finish, then Promote.';
      continue;
    }
    if (!choice.model) {
      error = 'Name the registered model.';
      continue;
    }
    if (!choice.reason.trim()) {
      error = 'A reason is required: say why this run should serve.';
      continue;
    }
    try {
      const done = await postAPI<{ outcome: string; model: string; version?: string; request_id?: string }>(
        'promotions',
        { model: choice.model, run_id: choice.runId, reason: choice.reason, notebook: path, four_eyes: choice.fourEyes }
      );
      Notification.success(
        done.outcome === 'requested'
          ? `Request ${done.request_id} waits for a second approver`
          : `${done.model} v${done.version} is the champion`,
        { autoClose: 5000 }
      );
      return true;
    } catch (err) {
      error = failure(err);
    }
  }
}
