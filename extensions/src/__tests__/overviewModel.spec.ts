import {
  bannerText,
  experimentOptions,
  formatNumber,
  formatTime,
  gateText,
  modelNameFor,
  modelRows,
  notebookRunsFilter,
  Overview,
  overviewEndpoint,
  pipelineRows,
  progressText,
  Run,
  runGroups,
  runRows,
  verdictText
} from '../overviewModel';

const run = (over: Partial<Run>): Run => ({
  run_id: 'abcdef0123456789',
  run_name: '',
  experiment: 'exp',
  status: 'FINISHED',
  start_time: null,
  metrics: {},
  params: {},
  tags: {},
  kind: null,
  progress: null,
  notebook: null,
  ...over
});

const healthy: Overview = {
  store: { ok: true, uri: 'sqlite:///x', error: null },
  cluster: { ok: true, state: 'running', scheduler: null, workers: 2, error: null },
  experiments: [],
  experiment: null,
  runs: [],
  models: [],
  pipelines: [],
  errors: {}
};

describe('bannerText', () => {
  it('is null when the store and the cluster answer', () => {
    expect(bannerText(healthy)).toBeNull();
  });

  it('names the store and the cluster that are away, and a part that failed', () => {
    const text = bannerText({
      ...healthy,
      store: { ok: false, uri: 'http://127.0.0.1:5999', error: 'connection refused' },
      cluster: { ok: false, state: 'unreachable', scheduler: 'tcp://h:8786', workers: 0, error: null },
      errors: { models: 'boom' }
    });
    expect(text).toBe(
      'Tracking store unreachable: connection refused\nDask cluster unreachable: unreachable\nCould not load models: boom'
    );
  });

  it('tells a server that answered with an error from one that did not answer', () => {
    expect(bannerText(Object.assign(new Error('no such route'), { status: 404 }))).toBe(
      'Workbench API error: no such route'
    );
    expect(bannerText(new TypeError('Failed to fetch'))).toBe('Jupyter server unreachable: Failed to fetch');
  });
});

describe('runRows', () => {
  it('shows progress of a running job and its metrics in key order', () => {
    const [row] = runRows([
      run({ run_name: '<img src=x>', status: 'RUNNING', progress: 0.456, metrics: { val: 0.123456, loss: 2 } })
    ]);
    expect(row.name).toBe('<img src=x>');
    expect(row.progress).toBe('46%');
    expect(row.metrics).toEqual(['loss=2', 'val=0.1235']);
    expect(row.statusClass).toBe('running');
    expect(row.showOpenNotebook).toBe(false);
  });

  it('offers the executed notebook of a finished job only', () => {
    const rows = runRows([
      run({ kind: 'notebook-job', status: 'FINISHED' }),
      run({ kind: 'notebook-job', status: 'RUNNING' }),
      run({ kind: 'training', status: 'FINISHED' })
    ]);
    expect(rows.map(r => r.showOpenNotebook)).toEqual([true, false, false]);
    expect(rows[0].name).toBe('abcdef01');
  });
});

describe('experiments', () => {
  const markup = '<img src=x onerror=alert(1)>';
  const experiments = [
    { experiment_id: '3', name: markup },
    { experiment_id: '0', name: 'Default' },
    { experiment_id: '7', name: '' }
  ];

  it('asks for one experiment by its id, escaped, or for all', () => {
    expect(overviewEndpoint(null)).toBe('overview');
    expect(overviewEndpoint('')).toBe('overview');
    expect(overviewEndpoint('12')).toBe('overview?experiment=12');
    expect(overviewEndpoint('a&b=c d')).toBe('overview?experiment=a%26b%3Dc%20d');
  });

  it('offers every experiment, then each by its name, the chosen one selected', () => {
    const options = experimentOptions(experiments, '0');
    expect(options.map(o => [o.value, o.label, o.selected])).toEqual([
      ['', 'All experiments (3)', false],
      ['3', markup, false],
      ['0', 'Default', true],
      ['7', 'experiment 7', false]
    ]);
  });

  it('selects every experiment when the chosen one is gone or none was chosen', () => {
    expect(experimentOptions(experiments, '99').filter(o => o.selected).map(o => o.value)).toEqual(['']);
    expect(experimentOptions(undefined, null)).toEqual([{ value: '', label: 'All experiments (0)', selected: true }]);
  });

  it('groups the runs under their experiment, in the order of its newest run', () => {
    const groups = runGroups([
      run({ run_id: 'a'.repeat(16), experiment: markup, start_time: '2024-05-01T10:00:00Z', status: 'RUNNING' }),
      run({ run_id: 'b'.repeat(16), experiment: 'Default', start_time: '2024-04-30T09:00:00Z' }),
      run({ run_id: 'c'.repeat(16), experiment: markup, start_time: '2024-04-29T08:00:00Z' })
    ]);
    expect(groups.map(g => [g.experiment, g.runs.map(r => r.runId.slice(0, 1))])).toEqual([
      [markup, ['a', 'c']],
      ['Default', ['b']]
    ]);
    expect(groups[0].detail).toBe(`2 recent runs · last started ${formatTime('2024-05-01T10:00:00Z')}`);
    expect(groups[1].detail).toBe(`1 recent run · last started ${formatTime('2024-04-30T09:00:00Z')}`);
    expect(groups[0].runs[0].statusClass).toBe('running');
    expect(runGroups([])).toEqual([]);
  });
});

describe('modelRows and pipelineRows', () => {
  it('says champion, drift and each pending request', () => {
    const [row] = modelRows([
      {
        model: 'churn',
        champion: '3',
        drift: { share: 0.6667, threshold: 0.5, drifting: true, at: '', run_id: 'r1' },
        pending: [{ request_id: 'req-1', run_id: '0123456789', requester: 'alice', reason: 'better', at: '', kind: 'promote' }]
      }
    ]);
    expect(row.champion).toBe('champion v3');
    expect(row.drift).toEqual({ text: 'data_drift fired · drift 0.67 / threshold 0.5', why: '', drifting: true, runId: 'r1' });
    expect(row.pending[0].text).toBe('req-1: promote of run 01234567 by alice — better');
  });

  it("shows the server's verdict: the signals that fired, the share against the recorded threshold", () => {
    const why = 'performance fired (0.578); drift share 0.14 under the threshold 0.5';
    const [row] = modelRows([
      {
        model: 'flights',
        champion: null,
        drift: {
          share: 0.14, threshold: 0.5, drifting: true, state: 'fired', fired: ['performance'], why,
          text: 'performance fired · drift 0.14 / threshold 0.5', at: '', run_id: 'r2'
        },
        pending: []
      }
    ]);
    expect(row.drift).toEqual({ text: 'performance fired · drift 0.14 / threshold 0.5', why, drifting: true, runId: 'r2' });
    expect(verdictText({ share: 0.14, threshold: 0.5, drifting: false })).toBe('stable · drift 0.14 / threshold 0.5');
    expect(verdictText({ share: 0.2, threshold: 0.5, drifting: true, fired: ['performance'] })).toBe(
      'performance fired · drift 0.2 / threshold 0.5'
    );
  });

  it('says when a pipeline never ran or has no schedule', () => {
    const rows = pipelineRows([
      { name: 'p', model: null, last: null, next: null, schedule: null },
      { name: 'q', model: 'm', last: null, next: null, schedule: '0 * * * *' }
    ]);
    expect(rows.map(r => [r.last, r.next])).toEqual([
      ['never run', 'not scheduled'],
      ['never run', 'schedule 0 * * * *']
    ]);
  });
});

describe('small formatters', () => {
  it('formats numbers, progress, gates and names', () => {
    expect(formatNumber(0.000123456)).toBe('0.0001235');
    expect(progressText(1.7)).toBe('100%');
    expect(progressText(null)).toBeNull();
    expect(gateText({ gate: 'metric', passed: false, detail: 'val 0.2 < 0.5' })).toBe('✗ metric: val 0.2 < 0.5');
    expect(modelNameFor('dir/My pilot (2).ipynb')).toBe('My-pilot--2-');
  });

  it('refuses to quote a path MLflow cannot escape', () => {
    expect(notebookRunsFilter('a/b.ipynb')).toBe("tags.`workbench.notebook` LIKE '%/a/b.ipynb'");
    expect(notebookRunsFilter("it's.ipynb")).toBeNull();
  });
});
