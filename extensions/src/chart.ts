/**
 * Geometry for the run viewer's metric charts: pure, so it is tested without a DOM.
 */

export type Point = [number, number];

export interface Extent {
  xMin: number;
  xMax: number;
  yMin: number;
  yMax: number;
}

function finite(points: ReadonlyArray<ReadonlyArray<number>>): Point[] {
  return points
    .filter(p => p.length >= 2 && Number.isFinite(p[0]) && Number.isFinite(p[1]))
    .map(p => [p[0], p[1]]);
}

/** The bounding box of the finite points, or null when there are none. */
export function extent(points: ReadonlyArray<ReadonlyArray<number>>): Extent | null {
  const ok = finite(points);
  if (!ok.length) {
    return null;
  }
  const xs = ok.map(p => p[0]);
  const ys = ok.map(p => p[1]);
  return {
    xMin: Math.min(...xs),
    xMax: Math.max(...xs),
    yMin: Math.min(...ys),
    yMax: Math.max(...ys)
  };
}

const round = (v: number): number => Math.round(v * 100) / 100;

/**
 * An SVG path ("M x y L x y ...") fitting the points into width x height, y growing
 * upwards as on a chart (SVG's y grows downwards). A flat series is drawn mid-height and
 * a single step mid-width, rather than dividing by zero. Non-finite points are skipped.
 */
export function linePath(
  points: ReadonlyArray<ReadonlyArray<number>>,
  width: number,
  height: number
): string {
  const ok = finite(points);
  const box = extent(ok);
  if (!box) {
    return '';
  }
  const dx = box.xMax - box.xMin;
  const dy = box.yMax - box.yMin;
  return ok
    .map(([x, y], i) => {
      const px = dx ? ((x - box.xMin) / dx) * width : width / 2;
      const py = dy ? height - ((y - box.yMin) / dy) * height : height / 2;
      return `${i ? 'L' : 'M'}${round(px)} ${round(py)}`;
    })
    .join(' ');
}
