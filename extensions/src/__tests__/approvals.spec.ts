import { HistoryEntry, Model, pendingApprovals, requestGates, splitRequestId } from '../overviewModel';

const model = (name: string, pending: Model['pending']): Model => ({ model: name, champion: null, drift: null, pending });
const request = (id: string, at: string, reason = 'better') => ({
  request_id: id,
  run_id: '0123456789abcdef',
  requester: 'alice',
  reason,
  at,
  kind: 'promotion'
});

describe('pendingApprovals', () => {
  it('lists every model\'s waiting requests together, the longest waiting first', () => {
    const rows = pendingApprovals([
      model('churn', [request('churn/4', '2024-05-02T10:00:00+00:00')]),
      model('idle', []),
      model('pilot', [request('pilot/7', '2024-05-01T09:00:00+00:00'), request('pilot/9', '2024-05-03T09:00:00+00:00')])
    ]);
    expect(rows.map(r => [r.model, r.requestId])).toEqual([
      ['pilot', 'pilot/7'],
      ['churn', 'churn/4'],
      ['pilot', 'pilot/9']
    ]);
    expect(rows[0].text).toBe('pilot/7: promotion of run 01234567 by alice — better');
    expect(rows[0].approveLabel).toBe('Approve pilot/7');
  });

  it('keeps markup in reasons as the plain text it is (the renderer sets textContent)', () => {
    const [row] = pendingApprovals([model('m', [request('m/1', '', '<script>x()</script>')])]);
    expect(row.text).toContain('<script>x()</script>');
  });

  it('is empty without requests', () => {
    expect(pendingApprovals([])).toEqual([]);
    expect(pendingApprovals([model('m', [])])).toEqual([]);
  });
});

describe('requestGates', () => {
  const entries: HistoryEntry[] = [
    { seq: 1, action: 'requested', gates: [{ gate: 'old', passed: true, detail: '' }] },
    { seq: 2, action: 'approved', request: 'pilot/1' },
    {
      seq: 3,
      action: 'requested',
      gates: [
        { gate: 'beats_champion', passed: true, detail: 'val_auc 0.83 >= 0.8' },
        { gate: 'min_metric', passed: false, detail: '<b>bold</b> below 0.9' }
      ]
    }
  ];

  it('reads the gates recorded with the request MODEL/N', () => {
    expect(requestGates(entries, 'pilot/3')).toEqual([
      { gate: 'beats_champion', passed: true, detail: 'val_auc 0.83 >= 0.8' },
      { gate: 'min_metric', passed: false, detail: '<b>bold</b> below 0.9' }
    ]);
    expect(requestGates(entries, 'pilot/1')).toEqual([{ gate: 'old', passed: true, detail: '' }]);
  });

  it('says none for a request without gates, null for one the history lacks', () => {
    expect(requestGates([{ seq: 5, action: 'requested' }], 'm/5')).toEqual([]);
    expect(requestGates(entries, 'pilot/2')).toBeNull(); // not a request
    expect(requestGates(entries, 'pilot/99')).toBeNull();
    expect(requestGates(null, 'pilot/3')).toBeNull();
    expect(requestGates(entries, 'pilot')).toBeNull();
  });
});

describe('splitRequestId', () => {
  it('splits at the last slash', () => {
    expect(splitRequestId('pilot/3')).toEqual(['pilot', 3]);
    expect(splitRequestId('team/pilot/12')).toEqual(['team/pilot', 12]);
    expect(splitRequestId('pilot')).toBeNull();
    expect(splitRequestId('/3')).toBeNull();
    expect(splitRequestId('pilot/x')).toBeNull();
  });
});
