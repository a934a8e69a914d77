import { ApiError, errorMessage } from '../apiError';

describe('errorMessage', () => {
  it('returns the error field', () => {
    expect(errorMessage(400, '{"error": "pilot.ipynb has no cell tagged \'parameters\'; tag one"}')).toBe(
      "pilot.ipynb has no cell tagged 'parameters'; tag one"
    );
  });
  it("uses jupyter_server's message field", () => {
    expect(errorMessage(403, '{"message": "Forbidden", "reason": null}')).toBe('Forbidden');
  });
  it('falls back to the status for HTML pages and empty bodies', () => {
    expect(errorMessage(502, '<html><body>Bad gateway</body></html>')).toBe(
      'HTTP 502: the Workbench server gave no reason'
    );
    expect(errorMessage(500, '')).toBe('HTTP 500: the Workbench server gave no reason');
    expect(errorMessage(500, '{"error": ""}')).toBe('HTTP 500: the Workbench server gave no reason');
  });
  it('keeps a short plain-text body', () => {
    expect(errorMessage(503, 'Service Unavailable\nmore')).toBe('HTTP 503: Service Unavailable');
  });
  it('ApiError carries status and body', () => {
    const e = new ApiError(409, 'refused', { gates: [] });
    expect(e).toBeInstanceOf(Error);
    expect(e.status).toBe(409);
    expect(e.message).toBe('refused');
    expect(e.body).toEqual({ gates: [] });
  });
});
