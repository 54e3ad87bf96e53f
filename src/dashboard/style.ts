/** The page's stylesheet (served as /assets/style.css). Colors keep a 4.5:1 contrast or more (axe checks it). */
export const STYLE = `
:root { color-scheme: light; --fg: #1b1b1b; --muted: #555; --line: #d0d0d0; --link: #0a4fb4;
  --good: #0f5c2e; --good-bg: #e3f4e8; --bad: #8a1111; --bad-bg: #fbe4e4; --busy: #5a3d00; --busy-bg: #fff1cc;
  --primary: #2e6db4; --canary: #c77800; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: #fff; }
header { display: flex; gap: 1rem; align-items: baseline; padding: .5rem 1rem; border-bottom: 1px solid var(--line); }
.brand { font-weight: 700; font-size: 1.1rem; }
main { padding: .5rem 1rem 2rem; }
main:focus { outline: none; }
a { color: var(--link); }
a:focus-visible, button:focus-visible, select:focus-visible, input:focus-visible, textarea:focus-visible {
  outline: 3px solid #1a73e8; outline-offset: 2px; }
h1 { font-size: 1.4rem; margin: .6rem 0; }
h2 { font-size: 1.1rem; margin: 1.2rem 0 .4rem; }
.filters { display: flex; gap: 1rem; flex-wrap: wrap; margin: .5rem 0; }
.filters input, .filters select { font: inherit; padding: .2rem .3rem; }
table { border-collapse: collapse; width: 100%; }
caption { text-align: left; color: var(--muted); padding: .2rem 0; }
th, td { text-align: left; vertical-align: top; padding: .3rem .5rem; border-bottom: 1px solid var(--line); }
th { background: #f4f4f4; }
ul { margin: 0; padding-left: 1rem; }
.checks, .holding { list-style: none; padding: 0; }
.phase { display: inline-block; padding: 0 .4rem; border-radius: 3px; font-weight: 600; }
.phase.good { color: var(--good); background: var(--good-bg); }
.phase.bad { color: var(--bad); background: var(--bad-bg); }
.phase.busy { color: var(--busy); background: var(--busy-bg); }
.result { font-weight: 600; }
.result.pass { color: var(--good); }
.result.fail, .result.error { color: var(--bad); }
.result.nodata { color: var(--busy); }
.traffic { white-space: nowrap; }
.bar { display: inline-flex; width: 100px; height: .8rem; border: 1px solid #767676; vertical-align: middle; }
.bar .primary { background: var(--primary); }
.bar .canary { background: var(--canary); }
.muted { color: var(--muted); }
.actions { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; margin: .6rem 0; }
button { font: inherit; padding: .3rem .8rem; border: 1px solid #444; background: #f4f4f4; color: var(--fg); border-radius: 3px; cursor: pointer; }
dialog { border: 1px solid #444; padding: 1rem 1.2rem; max-width: 32rem; }
dialog textarea { display: block; width: 100%; font: inherit; margin: .3rem 0; }
.rolled-back { color: var(--bad); background: var(--bad-bg); padding: .4rem .6rem; border-left: 4px solid var(--bad); }
.metric-error { color: var(--busy); }
figure { margin: .4rem 0 .8rem; }
figcaption { font-weight: 600; }
.chart { width: 100%; max-width: 640px; height: auto; display: block; }
.chart .line { fill: none; stroke: var(--primary); stroke-width: 2; }
.chart .band { fill: #2e8b57; fill-opacity: .15; }
.chart .fail { fill: var(--bad); }
.chart .tick { font-size: 11px; fill: var(--muted); }
`;
