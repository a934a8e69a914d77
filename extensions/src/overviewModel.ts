/**
 * The API's shapes and the sidebar's text, computed without the DOM: the renderer only puts
 * these strings into textContent, so names holding markup stay text. Pure for jest.
 */

export type RunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';

export interface Run {
  run_id: string;
  run_name: string;
  experiment: string;
  status: RunStatus | string;
  start_time: string | null;
  end_time?: string | null;
  duration_s?: number | null;
  metrics: Record<string, number>;
  params: Record<string, string>;
  tags: Record<string, string>;
  kind: string | null;
  progress: number | null;
  notebook: string | null;
}

export interface RunDetail extends Run {
  artifacts: { path: string; size: number | null }[];
  metric_history: Record<string, [number, number][]>;
}

export interface PendingRequest {
  request_id: string;
  run_id: string;
  requester: string;
  reason: string;
  at: string;
  kind: string;
}

/**
 * A check's verdict as the server judged it (workbench.monitoring.verdict): the same for the
 * same check on every surface, at the threshold the check recorded.
 */
export interface Verdict {
  share: number;
  threshold: number;
  /** The verdict is "fired": some signal fired. */
  drifting: boolean;
  state?: 'fired' | 'stable';
  /** The signals that fired, e.g. ["performance"]. */
  fired?: string[];
  /** Each fired signal with its value, and the drift share against the threshold. */
  why?: string;
  /** The line every surface shows: "performance fired · drift 0.14 / threshold 0.5". */
  text?: string;
}

export interface Model {
  model: string;
  champion: string | null;
  pending: PendingRequest[];
  drift: null | (Verdict & { at: string; run_id: string });
}

export interface Pipeline {
  name: string;
  model: string | null;
  last: null | { status: string; at: string; run_id: string };
  next: string | null;
  schedule: string | null;
}

export interface Experiment {
  experiment_id: string;
  name: string;
}

export interface Overview {
  store: { ok: boolean; uri: string; error: string | null };
  cluster: { ok: boolean; state: string; scheduler: string | null; workers: number; error: string | null };
  /** The active experiments, by name. */
  experiments: Experiment[];
  /** The experiment whose runs `runs` holds; null: every experiment's. */
  experiment: string | null;
  /** The newest runs (of `experiment`), newest first. */
  runs: Run[];
  models: Model[];
  pipelines: Pipeline[];
  errors: Record<string, string>;
}

export interface Gate {
  gate: string;
  passed: boolean;
  detail: string;
}

/** A number to 4 significant digits without trailing zeros: 0.123456 -> "0.1235". */
export function formatNumber(value: number): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return String(value);
  }
  return String(Number(value.toPrecision(4)));
}

/** Shares and thresholds to 2 decimals: 0.3333 -> "0.33", 0.5 -> "0.5". */
export function formatShare(value: number): string {
  return Number.isFinite(value) ? String(Number(value.toFixed(2))) : String(value);
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** An ISO time as local "YYYY-MM-DD HH:MM", "—" when absent, the text itself when unparsable. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) {
    return '—';
  }
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) {
    return iso;
  }
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${pad(t.getHours())}:${pad(t.getMinutes())}`;
}

/** The verdict's line as the server wrote it (an older server: made the same way). */
export function verdictText(v: Verdict): string {
  if (v.text) {
    return v.text;
  }
  const against = `drift ${formatShare(v.share)} / threshold ${formatShare(v.threshold)}`;
  const fired = v.fired ?? (v.drifting ? ['data_drift'] : []);
  return fired.length ? `${fired.join(', ')} fired · ${against}` : `stable · ${against}`;
}

/** Bytes as "12.3 kB" etc. */
export function formatSize(bytes: number | null | undefined): string {
  if (typeof bytes !== 'number' || !Number.isFinite(bytes)) {
    return '';
  }
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i ? Number(v.toPrecision(3)) : v} ${units[i]}`;
}

/**
 * The sidebar banner: why the data may be missing or stale, or null when all is well.
 * An Error means the overview request itself failed; one with an HTTP status came from a
 * server that answered, anything else (fetch's TypeError) from one that did not.
 */
export function bannerText(overview: Overview | Error): string | null {
  if (overview instanceof Error) {
    const status = (overview as { status?: unknown }).status;
    return typeof status === 'number' && status > 0
      ? `Workbench API error: ${overview.message}`
      : `Jupyter server unreachable: ${overview.message || 'no answer'}`;
  }
  const lines: string[] = [];
  if (overview.store && !overview.store.ok) {
    lines.push(`Tracking store unreachable: ${overview.store.error ?? overview.store.uri}`);
  }
  if (overview.cluster && !overview.cluster.ok) {
    lines.push(`Dask cluster unreachable: ${overview.cluster.error ?? overview.cluster.state}`);
  }
  // a part that failed to load (e.g. models) while the rest did
  for (const [part, line] of Object.entries(overview.errors ?? {})) {
    lines.push(`Could not load ${part}: ${line}`);
  }
  return lines.length ? lines.join('\n') : null;
}

export interface RunRow {
  runId: string;
  name: string;
  status: string;
  /** CSS modifier for the status badge, e.g. "running". */
  statusClass: string;
  progress: string | null;
  metrics: string[];
  showOpenNotebook: boolean;
  openNotebookLabel: string;
  /** Tooltip: experiment and start time. */
  title: string;
}

export function runName(run: Pick<Run, 'run_name' | 'run_id'>): string {
  return run.run_name || run.run_id.slice(0, 8);
}

/** Up to `max` metrics as "key=value", in key order so rows do not reshuffle between refreshes. */
export function metricTexts(metrics: Record<string, number> | null | undefined, max = 3): string[] {
  return Object.keys(metrics ?? {})
    .sort()
    .slice(0, max)
    .map(key => `${key}=${formatNumber(metrics![key])}`);
}

export function progressText(progress: number | null | undefined): string | null {
  if (typeof progress !== 'number' || !Number.isFinite(progress)) {
    return null;
  }
  return `${Math.round(Math.min(1, Math.max(0, progress)) * 100)}%`;
}

export function runRows(runs: ReadonlyArray<Run>): RunRow[] {
  return runs.map(run => {
    const name = runName(run);
    const status = String(run.status ?? 'UNKNOWN');
    return {
      runId: run.run_id,
      name,
      status,
      statusClass: status.toLowerCase().replace(/[^a-z]/g, ''),
      progress: progressText(run.progress),
      metrics: metricTexts(run.metrics),
      // a job not yet started (SCHEDULED) has no executed notebook either
      showOpenNotebook: run.kind === 'notebook-job' && status !== 'RUNNING' && status !== 'SCHEDULED',
      openNotebookLabel: `Open executed notebook of ${name}`,
      title: `${run.experiment ?? ''} · started ${formatTime(run.start_time)}`
    };
  });
}

/** The overview request: of one experiment's runs (its id), or of all (null). */
export function overviewEndpoint(experiment: string | null | undefined): string {
  return experiment ? `overview?experiment=${encodeURIComponent(experiment)}` : 'overview';
}

export interface ExperimentOption {
  /** The experiment id, '' for every experiment. */
  value: string;
  label: string;
  selected: boolean;
}

/** The experiment filter's choices: every experiment first, then each by name. */
export function experimentOptions(
  experiments: ReadonlyArray<Experiment> | null | undefined,
  selected: string | null
): ExperimentOption[] {
  const listed = experiments ?? [];
  const known = listed.some(e => e.experiment_id === selected);
  return [
    { value: '', label: `All experiments (${listed.length})`, selected: !known },
    ...listed.map(e => ({
      value: e.experiment_id,
      label: e.name || `experiment ${e.experiment_id}`,
      selected: known && e.experiment_id === selected
    }))
  ];
}

export interface RunGroup {
  experiment: string;
  /** e.g. "2 recent runs · last started 2024-05-01 10:00". */
  detail: string;
  runs: RunRow[];
}

/**
 * The runs listed under their experiment: groups in the order of their newest run, runs
 * newest first within each (the order the server sent).
 */
export function runGroups(runs: ReadonlyArray<Run>): RunGroup[] {
  const groups = new Map<string, Run[]>();
  for (const run of runs) {
    const name = run.experiment ?? '';
    groups.set(name, [...(groups.get(name) ?? []), run]);
  }
  return [...groups].map(([experiment, members]) => ({
    experiment,
    detail: `${members.length} recent run${members.length === 1 ? '' : 's'} · last started ${formatTime(
      members[0].start_time
    )}`,
    runs: runRows(members)
  }));
}

export interface PendingRow {
  requestId: string;
  text: string;
  approveLabel: string;
  declineLabel: string;
}

export interface ModelRow {
  name: string;
  champion: string;
  championVersion: string | null;
  drift: null | { text: string; why: string; drifting: boolean; runId: string };
  pending: PendingRow[];
}

export function modelRows(models: ReadonlyArray<Model>): ModelRow[] {
  return models.map(m => ({
    name: m.model,
    champion: m.champion ? `champion v${m.champion}` : 'no champion',
    championVersion: m.champion ? String(m.champion) : null,
    drift: m.drift
      ? {
          text: verdictText(m.drift),
          why: m.drift.why ?? '',
          drifting: !!m.drift.drifting,
          runId: m.drift.run_id
        }
      : null,
    pending: (m.pending ?? []).map(p => ({
      requestId: p.request_id,
      text: `${p.request_id}: ${p.kind || 'promotion'} of run ${(p.run_id ?? '').slice(0, 8)} by ${p.requester}${
        p.reason ? ` — ${p.reason}` : ''
      }`,
      approveLabel: `Approve ${p.request_id}`,
      declineLabel: `Decline ${p.request_id}`
    }))
  }));
}

export interface PipelineRow {
  name: string;
  model: string | null;
  last: string;
  lastStatusClass: string | null;
  next: string;
}

export function pipelineRows(pipelines: ReadonlyArray<Pipeline>): PipelineRow[] {
  return pipelines.map(p => ({
    name: p.name,
    model: p.model,
    last: p.last ? `last ${p.last.status} ${formatTime(p.last.at)}` : 'never run',
    lastStatusClass: p.last ? String(p.last.status).toLowerCase().replace(/[^a-z]/g, '') : null,
    next: p.next ? `next ${formatTime(p.next)}` : p.schedule ? `schedule ${p.schedule}` : 'not scheduled'
  }));
}

/** The Promote pilot dialog's run choice: "run_name (status, key=metric)". */
export function runOptionLabel(run: Run): string {
  const [metric] = metricTexts(run.metrics, 1);
  return `${runName(run)} (${run.status}${metric ? `, ${metric}` : ''})`;
}

/** A notebook's stem as a registered-model name: "My pilot (2).ipynb" -> "My-pilot--2-". */
export function modelNameFor(notebookPath: string): string {
  const base = notebookPath.split('/').pop() ?? notebookPath;
  const stem = base.replace(/\.ipynb$/i, '');
  return stem.replace(/[^A-Za-z0-9_-]/g, '-');
}

/**
 * The MLflow filter for runs launched from this notebook. The tag holds the kernel's
 * absolute path, the frontend knows the root-relative one, so match the end of it.
 * null when the path cannot be quoted safely (MLflow has no escape for "'").
 */
export function notebookRunsFilter(relPath: string): string | null {
  if (!relPath || relPath.includes("'")) {
    return null;
  }
  return `tags.\`workbench.notebook\` LIKE '%/${relPath}'`;
}

/** One gate as the promotion dialog lists it. */
export function gateText(gate: Gate): string {
  return `${gate.passed ? '✓' : '✗'} ${gate.gate}${gate.detail ? `: ${gate.detail}` : ''}`;
}

export interface PendingApprovalRow extends PendingRow {
  model: string;
}

/**
 * Every request waiting for a decision, of every model, the longest waiting first (then by
 * model and id): the sidebar lists these above everything else. Each line names its model.
 */
export function pendingApprovals(models: ReadonlyArray<Model>): PendingApprovalRow[] {
  const waiting = models.flatMap(m => (m.pending ?? []).map(p => ({ model: m.model, request: p })));
  const key = (w: { model: string; request: PendingRequest }): string[] => [w.request.at ?? '', w.model, w.request.request_id];
  waiting.sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    const i = x.findIndex((part, j) => part !== y[j]);
    return i < 0 ? 0 : x[i] < y[i] ? -1 : 1;
  });
  return waiting.map(({ model, request }) => ({
    ...modelRows([{ model, champion: null, drift: null, pending: [request] }])[0].pending[0],
    model
  }));
}

/** "MODEL/N" (as `promote` printed it) as [MODEL, N]; null when it is not that. */
export function splitRequestId(requestId: string): [string, number] | null {
  const cut = requestId.lastIndexOf('/');
  const seq = requestId.slice(cut + 1);
  if (cut <= 0 || !/^[0-9]+$/.test(seq)) {
    return null;
  }
  return [requestId.slice(0, cut), Number(seq)];
}

/** An entry of a model's history (GET models/NAME/history), as far as the dialogs read it. */
export interface HistoryEntry {
  seq?: number;
  action?: string;
  gates?: Gate[];
  [key: string]: unknown;
}

/**
 * The gate results recorded with request `requestId` ("MODEL/N": the `requested` entry N of
 * the model's history); null when the history holds no such request.
 */
export function requestGates(entries: ReadonlyArray<HistoryEntry> | null | undefined, requestId: string): Gate[] | null {
  const split = splitRequestId(requestId);
  if (!split) {
    return null;
  }
  const entry = (entries ?? []).find(e => Number(e.seq) === split[1] && e.action === 'requested');
  if (!entry) {
    return null;
  }
  return (entry.gates ?? []).map(g => ({ gate: String(g.gate), passed: !!g.passed, detail: g.detail ? String(g.detail) : '' }));
}
