/** The console's stylesheet: plain CSS, no framework, readable in light and dark schemes. */
export const CONSOLE_CSS = `
:root { color-scheme: light dark; --fg: #1d2330; --muted: #6b7280; --bg: #fff; --panel: #f6f7f9; --line: #e3e6ea;
  --ok: #1a7f37; --fail: #cf222e; --run: #0969da; --wait: #9a6700; --cancel: #6e7781; --font: system-ui, sans-serif; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --muted: #8b949e; --bg: #0d1117; --panel: #161b22; --line: #30363d; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 var(--font); color: var(--fg); background: var(--bg); }
header { display: flex; gap: 24px; align-items: center; padding: 10px 20px; border-bottom: 1px solid var(--line); background: var(--panel); }
header nav a { margin-right: 16px; color: var(--fg); text-decoration: none; }
header nav a.active { font-weight: 600; border-bottom: 2px solid var(--run); }
.brand { font-size: 16px; }
main { padding: 16px 20px; max-width: 1400px; }
h1 { font-size: 20px; margin: 4px 0 12px; } h2 { font-size: 16px; margin: 22px 0 8px; }
a { color: var(--run); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
pre.json { background: var(--panel); border: 1px solid var(--line); padding: 8px; overflow: auto; max-height: 320px; margin: 0; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 0 7px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff; background: var(--cancel); }
.s-completed { background: var(--ok); } .s-failed { background: var(--fail); } .s-running, .s-leased { background: var(--run); }
.s-pending { background: var(--wait); } .s-suspended { background: var(--wait); } .s-cancelled { background: var(--cancel); }
.counts { display: flex; gap: 10px; margin-bottom: 12px; flex-wrap: wrap; }
.counts a { text-decoration: none; border: 1px solid var(--line); border-radius: 6px; padding: 4px 10px; background: var(--panel); color: var(--fg); }
form.filters { display: flex; flex-wrap: wrap; gap: 8px; align-items: end; margin-bottom: 12px; }
form.filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
input, select, button { font: inherit; padding: 4px 6px; border: 1px solid var(--line); border-radius: 4px; background: var(--bg); color: var(--fg); }
button { cursor: pointer; background: var(--panel); }
button.danger { border-color: var(--fail); color: var(--fail); }
.error-box { border: 1px solid var(--fail); color: var(--fail); padding: 8px 10px; border-radius: 6px; margin: 8px 0; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 12px; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; }
.facts dt { color: var(--muted); } .facts dd { margin: 0; }
.actions { display: flex; gap: 8px; align-items: center; margin: 8px 0; flex-wrap: wrap; }
.gantt { border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; background: var(--panel); }
.gantt .group { color: var(--muted); font-size: 12px; margin-top: 6px; }
.gantt .row { display: grid; grid-template-columns: 440px 1fr; gap: 10px; align-items: center; min-height: 26px; }
.gantt .label { font-size: 12px; }
.gantt .track { position: relative; height: 16px; background: var(--bg); border-radius: 3px; }
.gantt .bar { position: absolute; top: 0; height: 16px; border-radius: 3px; min-width: 3px; background: var(--cancel); }
.gantt .bar.s-completed { background: var(--ok); } .gantt .bar.s-failed { background: var(--fail); } .gantt .bar.s-running { background: var(--run); }
.gantt .bar.s-suspended { background: repeating-linear-gradient(45deg, var(--wait), var(--wait) 4px, transparent 4px, transparent 8px); border: 1px solid var(--wait); }
.gantt .bar.s-pending { background: transparent; border: 1px dashed var(--wait); }
.gantt .axis { display: flex; justify-content: space-between; font-size: 11px; color: var(--muted); margin-left: 450px; }
.tag { display: inline-block; font-size: 11px; padding: 0 5px; border-radius: 3px; border: 1px solid var(--line); margin-left: 4px; }
.tag.remote { border-color: var(--run); color: var(--run); }
.logs { max-height: 360px; overflow: auto; background: var(--panel); border: 1px solid var(--line); padding: 6px; }
.logs .l-ERROR { color: var(--fail); } .logs .l-WARN { color: var(--wait); } .logs .l-DEBUG { color: var(--muted); }
.pager { margin-top: 10px; }
`;
