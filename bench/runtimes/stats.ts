// What both runtime benchmarks print: a series of timings as a Markdown table row.

export const pct = (ms: readonly number[], p: number): number =>
  [...ms].sort((a, b) => a - b)[Math.floor(ms.length * p)]!;
export const mean = (ms: readonly number[]): number => ms.reduce((a, b) => a + b, 0) / ms.length;

/** `| name | mean | p50 | p90 |` */
export function row(name: string, ms: readonly number[]): void {
  console.log(
    `| ${name} | ${mean(ms).toFixed(0)} ms | ${pct(ms, 0.5).toFixed(0)} ms | ${pct(ms, 0.9).toFixed(0)} ms |`,
  );
}
