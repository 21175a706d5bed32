// The descent page: contour plot of a surface and the path mitbadak's optimizers take on it.
"use strict";

mb.addStrings({
  en: {
    "descent.title": "Gradient descent (chapter 4)",
    "descent.surface": "Function",
    "descent.optimizer": "Optimizer",
    "descent.lr": "Learning rate",
    "descent.steps": "Steps",
    "descent.start": "Start",
    "descent.compare": "Compare all the optimizers (the book's chapter 6 learning rates)",
    "descent.hint": "Click on the plot to set the start. The path is computed by mitbadak's gradient_descent (SGD) or the optimizers' update with the numerical gradient.",
    "descent.final": "final point after {n} steps:\nx0 = {x0}\nx1 = {x1}\nf = {f}",
    "descent.path": "path",
    "descent.start.mark": "start",
    "descent.minima": "minima",
  },
  ko: {
    "descent.title": "경사 하강법 (4장)",
    "descent.surface": "함수",
    "descent.optimizer": "최적화 기법",
    "descent.lr": "학습률",
    "descent.steps": "단계 수",
    "descent.start": "시작점",
    "descent.compare": "모든 최적화 기법 비교 (책 6장의 학습률)",
    "descent.hint": "그래프를 클릭하면 시작점이 바뀝니다. 경로는 mitbadak의 gradient_descent(SGD) 또는 수치 미분을 쓴 최적화 기법의 update로 계산합니다.",
    "descent.final": "{n}단계 후 도착점:\nx0 = {x0}\nx1 = {x1}\nf = {f}",
    "descent.path": "경로",
    "descent.start.mark": "시작점",
    "descent.minima": "최솟값",
  },
});

// the registered optimizers and their chapter-6 learning rates come from /api/descent/surfaces
const BOOK_LR = {};
const PALETTE = ["#2f6fdf", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#1098ad", "#5c940d"];
const COLORS = {};
let surfaces = {};
let contour = null;
let pending = 0;

function lr() {
  const exp = Number(document.getElementById("lr").value);
  return Number(Math.pow(10, exp).toPrecision(3));
}

function post(path, body) {
  return mb.api(path, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  });
}

async function loadSurface() {
  const name = document.getElementById("surface").value;
  const s = surfaces[name];
  document.getElementById("formula").textContent = `f(x0, x1) = ${s.formula}`;
  document.getElementById("x0").value = s.start[0];
  document.getElementById("x1").value = s.start[1];
  const r = await post("/api/descent/contour", { name, resolution: 120 });
  if (!r.ok) {
    mb.setStatus(r.data.error, true);
    return;
  }
  contour = r.data;
  await update();
}

async function update() {
  if (!contour) return;
  const ticket = ++pending;
  document.body.dataset.state = "busy";
  const name = document.getElementById("surface").value;
  const start = [Number(document.getElementById("x0").value), Number(document.getElementById("x1").value)];
  const steps = Number(document.getElementById("steps").value);
  const compare = document.getElementById("compare").checked;
  const optimizer = document.getElementById("optimizer").value;
  const runs = compare ? Object.keys(BOOK_LR) : [optimizer];
  const results = await Promise.all(
    runs.map((opt) => post("/api/descent/path", { name, start, lr: compare ? BOOK_LR[opt] : lr(), steps, optimizer: opt })),
  );
  if (ticket !== pending) return;
  const bad = results.find((r) => !r.ok);
  if (bad) {
    mb.setStatus(bad.data.error, true);
    document.body.dataset.state = "error";
    return;
  }
  mb.setStatus("");
  draw(runs, results.map((r) => r.data), start);
  const main = results[0].data;
  const fin = main.final;
  const f = main.values[main.values.length - 1];
  const finalEl = document.getElementById("final");
  finalEl.textContent = mb.t("descent.final", {
    n: main.path.length - 1, x0: String(fin[0]), x1: String(fin[1]), f: String(f),
  });
  finalEl.dataset.x0 = String(fin[0]);
  finalEl.dataset.x1 = String(fin[1]);
  const notes = results.map((r, i) => (r.data.note ? `${runs[i]}: ${r.data.note}` : "")).filter(Boolean);
  document.getElementById("note").textContent = notes.join("\n");
  document.body.dataset.state = "ready";
}

function draw(runs, paths, start) {
  const traces = [
    {
      type: "contour", x: contour.xs, y: contour.ys, z: contour.z, showscale: false,
      colorscale: "Blues", reversescale: true, hoverinfo: "skip",
      contours: { coloring: "lines", start: contour.levels[0], end: contour.levels[contour.levels.length - 1],
        size: (contour.levels[contour.levels.length - 1] - contour.levels[0]) / (contour.levels.length - 1) },
      line: { width: 1.2 },
    },
  ];
  runs.forEach((opt, i) => {
    const p = paths[i].display_path;
    traces.push({
      type: "scatter", mode: "lines+markers", name: opt, x: p.map((q) => q[0]), y: p.map((q) => q[1]),
      line: { color: COLORS[opt], width: 2 }, marker: { size: 5 },
    });
  });
  traces.push({
    type: "scatter", mode: "markers", name: mb.t("descent.start.mark"), x: [start[0]], y: [start[1]],
    marker: { size: 12, color: "#111", symbol: "x" },
  });
  traces.push({
    type: "scatter", mode: "markers", name: mb.t("descent.minima"),
    x: contour.minima.map((m) => m[0]), y: contour.minima.map((m) => m[1]),
    marker: { size: 11, color: "#e03131", symbol: "star" },
  });
  const layout = {
    margin: { l: 50, r: 10, t: 10, b: 40 },
    xaxis: { range: contour.xlim, title: "x0" },
    yaxis: { range: contour.ylim, title: "x1", scaleanchor: "x" },
    legend: { orientation: "h", y: -0.08 },
    hovermode: "closest",
  };
  Plotly.react("plot", traces, layout, { displayModeBar: false, responsive: true });
}

function setupClick() {
  const plot = document.getElementById("plot");
  plot.addEventListener("click", (event) => {
    const full = plot._fullLayout;
    if (!full || !full.xaxis) return;
    const rect = plot.getBoundingClientRect();
    const xa = full.xaxis;
    const ya = full.yaxis;
    const px = event.clientX - rect.left - xa._offset;
    const py = event.clientY - rect.top - ya._offset;
    if (px < 0 || py < 0 || px > xa._length || py > ya._length) return;
    document.getElementById("x0").value = Number(xa.p2l(px).toFixed(3));
    document.getElementById("x1").value = Number(ya.p2l(py).toFixed(3));
    update();
  });
}

document.addEventListener("DOMContentLoaded", async () => {
  const r = await mb.api("/api/descent/surfaces");
  if (!r.ok) {
    mb.setStatus(r.data.error, true);
    return;
  }
  const choice = document.getElementById("optimizer");
  r.data.optimizers.forEach((o, i) => {
    BOOK_LR[o.name] = o.compare_lr;
    COLORS[o.name] = PALETTE[i % PALETTE.length];
    const opt = document.createElement("option");
    opt.value = o.name;
    opt.textContent = o.label;
    choice.appendChild(opt);
  });
  const select = document.getElementById("surface");
  for (const s of r.data.surfaces) {
    surfaces[s.name] = s;
    const opt = document.createElement("option");
    opt.value = s.name;
    opt.textContent = `${s.name}: ${s.formula}`;
    select.appendChild(opt);
  }
  select.addEventListener("change", loadSurface);
  const slider = document.getElementById("lr");
  const showLr = () => {
    document.getElementById("lr-value").textContent = String(lr());
  };
  slider.addEventListener("input", showLr);
  slider.addEventListener("change", () => {
    showLr(); // the label always names the rate the path was computed with
    update();
  });
  for (const id of ["optimizer", "steps", "x0", "x1", "compare"]) {
    document.getElementById(id).addEventListener("change", update);
  }
  mb.onLanguageChange(update);
  setupClick();
  showLr();
  loadSurface();
});
