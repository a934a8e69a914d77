/**
 * The Workbench sidebar: first the requests waiting for a decision (approve or decline, each
 * with its gates), then experiments and their newest runs (live status and progress of jobs
 * and sweeps, filtered to one experiment on request), production models (champion, pending
 * requests, drift) and pipelines (last and next run), from one GET overview per refresh, one
 * request in flight at a time. When the store, the cluster or the server is away a banner
 * says so and the last good lists stay.
 */
import { Widget } from '@lumino/widgets';

import { requestAPI } from './api';
import { button, h } from './dom';
import {
  bannerText,
  experimentOptions,
  modelRows,
  Overview,
  pendingApprovals,
  overviewEndpoint,
  pipelineRows,
  RunGroup,
  runGroups,
  RunRow
} from './overviewModel';
import { Poller } from './poller';

export interface SidebarActions {
  openRun(runId: string, name: string): void;
  openExecuted(runId: string): void;
  openDrift(runId: string, model: string): void;
  openDossier(model: string, version: string): void;
  openDashboard(app: string): void;
  decide(requestId: string, decision: 'approve' | 'decline'): Promise<boolean>;
}

export const DASHBOARDS = ['cockpit', 'runs', 'training', 'drift', 'promotion'] as const;

export class WorkbenchSidebar extends Widget {
  constructor(private actions: SidebarActions, intervalMs: number) {
    super();
    this.id = 'workbench-sidebar';
    this.addClass('wb-sidebar');
    this.title.caption = 'Workbench';
    this._banner = h('div', { class: 'wb-banner', role: 'alert', hidden: true });
    this._status = h('div', { class: 'wb-updated', 'aria-live': 'polite' }, 'Loading…');
    this._runs = h('ul', { class: 'wb-list wb-runs', 'aria-label': 'Runs' });
    this._experiments = h('select', { class: 'wb-experiment-filter', 'aria-label': 'Show the runs of' });
    this._experiments.addEventListener('change', () => void this.choose(this._experiments.value || null));
    this._models = h('ul', { class: 'wb-list wb-models', 'aria-label': 'Models' });
    this._pending = h('ul', { class: 'wb-list wb-pending-list wb-approvals', 'aria-label': 'Pending approvals' });
    this._pipelines = h('ul', { class: 'wb-list wb-pipelines', 'aria-label': 'Pipelines' });
    const dashboards = h(
      'div',
      { class: 'wb-dashboards' },
      ...DASHBOARDS.map(app =>
        button(app, () => this.actions.openDashboard(app), { 'aria-label': `Open the ${app} dashboard` })
      )
    );
    this.node.append(
      h('header', { class: 'wb-header' }, h('h1', {}, 'Workbench'),
        button('Refresh', () => void this.refresh(), { 'aria-label': 'Refresh the Workbench sidebar' })),
      this._banner,
      this._status,
      h('h2', {}, 'Pending approvals'),
      this._pending,
      h('h2', {}, 'Experiments'),
      h('label', { class: 'wb-field wb-inline wb-experiments' }, 'Show runs of ', this._experiments),
      h('h2', {}, 'Runs'),
      this._runs,
      h('h2', {}, 'Models'),
      this._models,
      h('h2', {}, 'Pipelines'),
      this._pipelines,
      h('h2', {}, 'Dashboards'),
      dashboards
    );
    this.poller = new Poller<Overview>({
      fetch: () => {
        const asked = this._experiment;
        return requestAPI<Overview>(overviewEndpoint(asked)).then(data => {
          this._answered = asked;
          return data;
        });
      },
      intervalMs,
      onData: data => this.render(data),
      onError: error => this.showBanner(error as Error)
    });
  }

  readonly poller: Poller<Overview>;

  refresh(): Promise<void> {
    return this.poller.refresh();
  }

  /** Show the runs of one experiment (its id) or of all (null): a refresh now, after the
   * one in flight if any (still one request at a time). */
  async choose(experiment: string | null): Promise<void> {
    this._experiment = experiment;
    await this.refresh();
    if (this._answered !== this._experiment) {
      await this.refresh(); // the one joined was asked before the choice
    }
  }

  protected onAfterAttach(): void {
    this.poller.start();
  }

  dispose(): void {
    this.poller.stop();
    super.dispose();
  }

  private showBanner(overviewOrError: Overview | Error): void {
    const text = bannerText(overviewOrError);
    this._banner.hidden = text === null;
    this._banner.textContent = text ?? '';
    this.node.classList.toggle('wb-mod-degraded', text !== null);
  }

  render(data: Overview): void {
    this.showBanner(data);
    this._status.textContent = `Updated ${new Date().toLocaleTimeString()} · store ${data.store?.uri ?? ''}`;
    if (!data.store?.ok) {
      return; // keep the last lists: the banner says why they are not fresh
    }
    // an answer asked before the experiment was chosen: its runs are not the ones wanted
    // (choose() asks again at once); one for the choice says if the experiment went away
    const current = this._answered === this._experiment;
    if (current) {
      this._experiment = this._answered = data.experiment ?? null;
    }
    this.renderExperiments(data);
    if (current) {
      this._runs.replaceChildren(...this.runItems(data));
    }
    this._pending.replaceChildren(...this.pendingItems(data));
    this._models.replaceChildren(...this.modelItems(data));
    this._pipelines.replaceChildren(...this.pipelineItems(data));
  }

  /** The filter's options, rebuilt only when the experiments changed (a rebuild would close
   * the list under the pointer of someone choosing). */
  private renderExperiments(data: Overview): void {
    const options = experimentOptions(data.experiments, this._experiment);
    const key = JSON.stringify(options.map(o => [o.value, o.label]));
    if (key !== this._experimentsKey) {
      this._experimentsKey = key;
      this._experiments.replaceChildren(...options.map(o => h('option', { value: o.value }, o.label)));
    }
    this._experiments.value = options.find(o => o.selected)?.value ?? '';
  }

  private runItems(data: Overview): HTMLElement[] {
    const groups = runGroups(data.runs ?? []);
    if (!groups.length) {
      return [
        h(
          'li',
          { class: 'wb-empty' },
          this._experiment
            ? 'No runs in this experiment yet.'
            : 'No runs yet: train, sweep, or Run as job from a notebook.'
        )
      ];
    }
    return groups.map(group => this.groupItem(group));
  }

  private groupItem(group: RunGroup): HTMLElement {
    const name = group.experiment || '(no experiment)';
    return h(
      'li',
      { class: 'wb-experiment-group', 'data-experiment': group.experiment },
      h(
        'div',
        { class: 'wb-experiment-header' },
        h('span', { class: 'wb-experiment-name' }, name),
        h('span', { class: 'wb-hint' }, group.detail)
      ),
      h('ul', { class: 'wb-list wb-group-runs', 'aria-label': `Runs of ${name}` }, ...group.runs.map(row => this.runItem(row)))
    );
  }

  private runItem(row: RunRow): HTMLElement {
    return h(
      'li',
      { class: 'wb-run', 'data-run-id': row.runId, title: row.title },
      button(row.name, () => this.actions.openRun(row.runId, row.name), {
        class: 'wb-link wb-run-name',
        'aria-label': `Show run ${row.name}`
      }),
      h('span', { class: `wb-status wb-status-${row.statusClass}` }, row.status),
      row.progress ? h('span', { class: 'wb-progress' }, row.progress) : null,
      row.metrics.length ? h('span', { class: 'wb-metrics' }, row.metrics.join(' ')) : null,
      row.showOpenNotebook
        ? button('Open notebook', () => this.actions.openExecuted(row.runId), {
            class: 'wb-button wb-open-executed',
            'aria-label': row.openNotebookLabel
          })
        : null
    );
  }

  /** Every request waiting for a decision, of every model, the longest waiting first. */
  private pendingItems(data: Overview): HTMLElement[] {
    const rows = pendingApprovals(data.models ?? []);
    if (!rows.length) {
      return [h('li', { class: 'wb-empty' }, 'Nothing waits for a decision.')];
    }
    return rows.map(p =>
      h(
        'li',
        { class: 'wb-pending', 'data-request-id': p.requestId, 'data-model': p.model },
        h('span', { class: 'wb-pending-text' }, p.text),
        button('Approve', () => void this.decide(p.requestId, 'approve'), { 'aria-label': p.approveLabel }),
        button('Decline', () => void this.decide(p.requestId, 'decline'), { 'aria-label': p.declineLabel })
      )
    );
  }

  private modelItems(data: Overview): HTMLElement[] {
    const rows = modelRows(data.models ?? []);
    if (!rows.length) {
      return [h('li', { class: 'wb-empty' }, 'No registered models yet.')];
    }
    return rows.map(row => {
      const waiting = row.pending.length;
      return h(
        'li',
        { class: 'wb-model', 'data-model': row.name },
        h('span', { class: 'wb-model-name' }, row.name),
        row.championVersion
          ? button(row.champion, () => this.actions.openDossier(row.name, row.championVersion!), {
              class: 'wb-link wb-champion',
              'aria-label': `Show the dossier of ${row.name} v${row.championVersion}`
            })
          : h('span', { class: 'wb-champion' }, row.champion),
        row.drift
          ? button(row.drift.text, () => this.actions.openDrift(row.drift!.runId, row.name), {
              class: `wb-link wb-drift ${row.drift.drifting ? 'wb-mod-drifting' : 'wb-mod-stable'}`,
              'aria-label': `Show the drift report of ${row.name}`,
              title: row.drift.why
            })
          : h('span', { class: 'wb-drift' }, 'no drift check'),
        // the requests themselves are listed first, under Pending approvals
        waiting ? h('span', { class: 'wb-hint wb-model-pending' }, `${waiting} pending approval${waiting === 1 ? '' : 's'}`) : null
      );
    });
  }

  private pipelineItems(data: Overview): HTMLElement[] {
    const rows = pipelineRows(data.pipelines ?? []);
    if (!rows.length) {
      return [h('li', { class: 'wb-empty' }, 'No pipelines yet: Promote pilot from a notebook.')];
    }
    return rows.map(row =>
      h(
        'li',
        { class: 'wb-pipeline', 'data-pipeline': row.name },
        h('span', { class: 'wb-pipeline-name' }, row.name),
        row.model ? h('span', { class: 'wb-pipeline-model' }, `→ ${row.model}`) : null,
        h('span', { class: `wb-last ${row.lastStatusClass ? `wb-status-${row.lastStatusClass}` : ''}` }, row.last),
        h('span', { class: 'wb-next' }, row.next)
      )
    );
  }

  private async decide(requestId: string, decision: 'approve' | 'decline'): Promise<void> {
    if (await this.actions.decide(requestId, decision)) {
      await this.refresh();
    }
  }

  private _banner: HTMLDivElement;
  private _status: HTMLDivElement;
  private _runs: HTMLUListElement;
  private _experiments: HTMLSelectElement;
  private _experimentsKey = '';
  /** The experiment chosen (its id; null: all) and the one the last answer was asked for. */
  private _experiment: string | null = null;
  private _answered: string | null = null;
  private _models: HTMLUListElement;
  private _pending: HTMLUListElement;
  private _pipelines: HTMLUListElement;
}
