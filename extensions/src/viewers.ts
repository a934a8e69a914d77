/**
 * Main-area tabs: a run (params, metrics, a chart per metric, live while it runs), a drift
 * check (its columns and Evidently's report), a model dossier, a Panel dashboard.
 * Reports are HTML made from user data: they render in sandboxed iframes (a drift report
 * may run its own scripts but never touches Lab's page; a dossier runs none).
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { pageURL, requestAPI } from './api';
import { linePath } from './chart';
import { failure } from './dialogs';
import { h } from './dom';
import { formatNumber, formatSize, formatTime, RunDetail, runName, Verdict, verdictText } from './overviewModel';
import { Poller } from './poller';

const SVG = 'http://www.w3.org/2000/svg';
const CHART_W = 280;
const CHART_H = 90;

function chart(metric: string, points: [number, number][]): HTMLElement {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'wb-chart');
  svg.setAttribute('viewBox', `-4 -4 ${CHART_W + 8} ${CHART_H + 8}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `${metric} over ${points.length} steps`);
  const path = document.createElementNS(SVG, 'path');
  path.setAttribute('d', linePath(points, CHART_W, CHART_H));
  svg.append(path);
  const last = points.length ? formatNumber(points[points.length - 1][1]) : '—';
  return h('figure', { class: 'wb-figure' }, svg, h('figcaption', {}, `${metric}: ${last}`));
}

function table(caption: string, rows: [string, string][]): HTMLElement {
  return h(
    'table',
    { class: 'wb-table' },
    h('caption', {}, caption),
    h('tbody', {}, ...rows.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, v))))
  );
}

function reportFrame(html: string, sandbox: string, title: string): HTMLIFrameElement {
  const frame = h('iframe', { class: 'wb-report', sandbox, title });
  frame.srcdoc = html;
  return frame;
}

abstract class Loaded extends Widget {
  constructor() {
    super();
    this.addClass('wb-viewer');
    this.node.append(h('p', { class: 'wb-hint' }, 'Loading…'));
  }

  protected display(...children: (Node | null)[]): void {
    this.node.replaceChildren(...children.filter((c): c is Node => c !== null));
  }

  protected showError(error: unknown): void {
    this.display(h('div', { class: 'wb-banner', role: 'alert' }, failure(error)));
  }
}

class RunView extends Loaded {
  constructor(runId: string) {
    super();
    this.poller = new Poller<RunDetail>({
      fetch: () => requestAPI<RunDetail>(`runs/${encodeURIComponent(runId)}`),
      intervalMs: 5000,
      onData: run => this.render(run),
      onError: error => this.showError(error)
    });
  }

  readonly poller: Poller<RunDetail>;

  protected onAfterAttach(): void {
    this.poller.start();
  }

  dispose(): void {
    this.poller.stop();
    super.dispose();
  }

  private render(run: RunDetail): void {
    if (run.status !== 'RUNNING' && run.status !== 'SCHEDULED') {
      this.poller.stop(); // a finished run changes no more
    }
    const curves = Object.entries(run.metric_history ?? {}).sort(([a], [b]) => a.localeCompare(b));
    this.display(
      h('h2', {}, `Run ${runName(run)}`),
      h('p', { class: 'wb-run-meta' },
        `${run.status} · ${run.experiment} · started ${formatTime(run.start_time)} · ${run.run_id}`),
      h('div', { class: 'wb-charts' }, ...curves.map(([metric, points]) => chart(metric, points))),
      table('Metrics', Object.keys(run.metrics).sort().map(k => [k, formatNumber(run.metrics[k])])),
      table('Parameters', Object.keys(run.params).sort().map(k => [k, run.params[k]])),
      table('Artifacts', (run.artifacts ?? []).map(a => [a.path, formatSize(a.size)]))
    );
  }
}

interface Signal {
  name: string;
  fired: boolean;
  value: number | null;
  threshold: string;
  detail: string;
}

interface DriftAnswer extends Verdict {
  run_id: string;
  model: string | null;
  at: string | null;
  signals?: Signal[];
  columns: { column: string; drifted: boolean; score: number; method: string; threshold: number }[];
  report_html: string | null;
}

class DriftView extends Loaded {
  constructor(runId: string) {
    super();
    requestAPI<DriftAnswer>(`drift/${encodeURIComponent(runId)}`).then(
      d => this.render(d),
      e => this.showError(e)
    );
  }

  private render(d: DriftAnswer): void {
    const columns = h(
      'table',
      { class: 'wb-table wb-drift-columns' },
      h('caption', {}, 'Columns'),
      h('thead', {}, h('tr', {}, ...['column', 'drifted', 'score', 'method', 'threshold'].map(c => h('th', {}, c)))),
      h(
        'tbody',
        {},
        ...d.columns.map(c =>
          h('tr', { class: c.drifted ? 'wb-mod-drifting' : '' }, h('td', {}, c.column), h('td', {}, c.drifted ? 'yes' : 'no'),
            h('td', {}, formatNumber(c.score)), h('td', {}, c.method), h('td', {}, formatNumber(c.threshold)))
        )
      )
    );
    const signals = h(
      'table',
      { class: 'wb-table wb-drift-signals' },
      h('caption', {}, 'Signals'),
      h('thead', {}, h('tr', {}, ...['signal', 'fired', 'value', 'fires at', 'detail'].map(c => h('th', {}, c)))),
      h(
        'tbody',
        {},
        ...(d.signals ?? []).map(s =>
          h('tr', { class: s.fired ? 'wb-mod-drifting' : '', 'data-signal': s.name }, h('td', {}, s.name),
            h('td', {}, s.fired ? 'yes' : 'no'), h('td', {}, s.value === null ? '—' : formatNumber(s.value)),
            h('td', {}, s.threshold), h('td', {}, s.detail))
        )
      )
    );
    this.display(
      h('h2', {}, `Drift of ${d.model ?? 'an unnamed model'}`),
      h('p', { class: d.drifting ? 'wb-drift-summary wb-mod-drifting' : 'wb-drift-summary' },
        h('span', { class: 'wb-verdict' }, verdictText(d)), ` · ${formatTime(d.at)}`),
      d.why ? h('p', { class: 'wb-drift-why' }, d.why) : null,
      d.signals?.length ? signals : null,
      columns,
      d.report_html
        ? reportFrame(d.report_html, 'allow-scripts', 'Evidently drift report')
        : h('p', { class: 'wb-hint' }, 'This check tested no column, so it has no report.')
    );
  }
}

class DossierView extends Loaded {
  constructor(model: string, version: string) {
    super();
    requestAPI<{ html: string }>(`dossier/${encodeURIComponent(model)}/${encodeURIComponent(version)}`).then(
      d => this.display(reportFrame(d.html, '', `Dossier of ${model} v${version}`)),
      e => this.showError(e)
    );
  }
}

class DashboardView extends Widget {
  constructor(app: string) {
    super();
    this.addClass('wb-viewer');
    this.addClass('wb-dashboard');
    // our own Panel app from this server (behind its login): it needs scripts and its websocket
    const frame = h('iframe', { class: 'wb-app', title: `Workbench ${app} dashboard`, src: pageURL('apps', app) });
    this.node.append(frame);
  }
}

function tab(id: string, label: string, content: Widget): MainAreaWidget {
  const widget = new MainAreaWidget({ content });
  widget.id = id.replace(/[^A-Za-z0-9_-]/g, '_');
  widget.title.label = label;
  widget.title.caption = label;
  widget.title.closable = true;
  return widget;
}

export const viewers = {
  run: (runId: string, name: string) => tab(`workbench-run-${runId}`, `Run ${name}`, new RunView(runId)),
  drift: (runId: string, model: string) => tab(`workbench-drift-${runId}`, `Drift ${model}`, new DriftView(runId)),
  dossier: (model: string, version: string) =>
    tab(`workbench-dossier-${model}-${version}`, `Dossier ${model} v${version}`, new DossierView(model, version)),
  dashboard: (app: string) => tab(`workbench-app-${app}`, `Workbench ${app}`, new DashboardView(app))
};
