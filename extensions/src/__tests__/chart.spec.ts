import { extent, linePath } from '../chart';

describe('extent', () => {
  it('bounds the points', () => {
    expect(extent([[0, 5], [2, -1], [1, 3]])).toEqual({ xMin: 0, xMax: 2, yMin: -1, yMax: 5 });
  });
  it('is null without finite points', () => {
    expect(extent([])).toBeNull();
    expect(extent([[0, NaN]])).toBeNull();
  });
});

describe('linePath', () => {
  it('fits the points with y upwards', () => {
    expect(linePath([[0, 0], [1, 10], [2, 5]], 100, 50)).toBe('M0 50 L50 0 L100 25');
  });
  it('draws a flat series mid-height and one point mid-width', () => {
    expect(linePath([[0, 3], [4, 3]], 100, 50)).toBe('M0 25 L100 25');
    expect(linePath([[7, 1]], 100, 50)).toBe('M50 25');
  });
  it('skips non-finite points and is empty for none', () => {
    expect(linePath([[0, 0], [1, Infinity], [2, 1]], 10, 10)).toBe('M0 10 L10 0');
    expect(linePath([], 10, 10)).toBe('');
  });
  it('rounds to 2 decimals', () => {
    expect(linePath([[0, 0], [3, 1], [1, 0.5]], 100, 100)).toBe('M0 100 L100 0 L33.33 50');
  });
});
