// The descent page: contour plot of a surface and the path mitbadak's optimizers take on it;
// the compare mode runs every registered optimizer with its chapter-6 learning rate and the
// gradient formula, as the book's figure 6-8 (the same numbers as optimizer_paths()).
"use strict";

mb.addStrings({
  en: {
    "descent.title": "Gradient descent (chapters 4 and 6)",
    "descent.surface": "Function",
    "descent.optimizer": "Optimizer",
    "descent.lr": "Learning rate",
    "descent.steps": "Steps",
    "descent.start": "Start",
    "descent.compare": "Compare all the optimizers (the book's chapter 6 learning rates)",
    "descent.book": "The book's figure 6-8: x0²/20 + x1² from (-7, 2), 30 steps",
    "descent.hint": "Click on the plot to set the start. One path is computed by mitbadak's gradient_descent (SGD) or the optimizers' update with the numerical gradient (chapter 4); the comparison gives every optimizer the gradient formula, as the book's chapter 6 does.",
    "descent.final": "final point after {n} steps:\nx0 = {x0}\nx1 = {x1}\nf = {f}",
    "descent.finals": "final points after {n} steps (gradient formula)",
    "descent.col.opt": "optimizer", "descent.col.lr": "lr",
    "descent.path": "path",
    "descent.start.mark": "start",
    "descent.minima": "minima",
    "descent.empty": "{field}: expected a number, the field is empty",
  },
  ko: {
    "descent.title": "경사 하강법 (4장, 6장)",
    "descent.surface": "함수",
    "descent.optimizer": "최적화 기법",
    "descent.lr": "학습률",
    "descent.steps": "단계 수",
    "descent.start": "시작점",
    "descent.compare": "모든 최적화 기법 비교 (책 6장의 학습률)",
    "descent.book": "책의 그림 6-8: x0²/20 + x1², (-7, 2)에서 30단계",
    "descent.hint": "그래프를 클릭하면 시작점이 바뀝니다. 경로 하나는 mitbadak의 gradient_descent(SGD) 또는 수치 미분을 쓴 최적화 기법의 update로 계산하고(4장), 비교에서는 책의 6장처럼 모든 최적화 기법에 기울기 공식을 씁니다.",
    "descent.final": "{n}단계 후 도착점:\nx0 = {x0}\nx1 = {x1}\nf = {f}",
    "descent.finals": "{n}단계 후 도착점 (기울기 공식)",
    "descent.col.opt": "최적화 기법", "descent.col.lr": "학습률",
    "descent.path": "경로",
    "descent.start.mark": "시작점",
    "descent.minima": "최솟값",
    "descent.empty": "{field}: 숫자를 넣어야 하는데 칸이 비어 있습니다",
  },
});

// the registered optimizers and their chapter-6 learning rates come from /api/descent/surfaces
const BOOK_LR = {};
const PALETTE = ["#2f6fdf", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#1098ad", "#5c940d"];
const COLORS = {};
const LABELS = {};
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

async function loadSurface(fromLink) {
  const name = document.getElementById("surface").value;
  const s = surfaces[name];
  document.getElementById("formula").textContent = `f(x0, x1) = ${s.formula}`;
  document.getElementById("x0").value = s.start[0];
  document.getElementById("x1").value = s.start[1];
  // a shared link's start point replaces the surface's own (only on load)
  if (fromLink === true) {
    mb.restoreForm(["x0", "x1"].map((id) => document.getElementById(id)));
    const ids = ["surface", "optimizer", "lr", "steps", "x0", "x1", "compare"];
    mb.trackState(() => mb.formValues(ids.map((id) => document.getElementById(id))));
  }
  mb.saveState();
  const r = await post("/api/descent/contour", { name, resolution: 120 });
  if (!r.ok) {
    mb.setStatus(r.data.error, true);
    return;
  }
  contour = r.data;
  await update();
  await fillAxes(name);
}

// The plot keeps x and x1 at one scale, so its axes reach past the surface's square: compute the
// contour again over the ranges actually shown (no blank bands, no square-cut rings).
async function fillAxes(name) {
  const full = document.getElementById("plot")._fullLayout;
  if (!full || !full.xaxis || !contour) return;
  const xlim = full.xaxis.range.map(Number);
  const ylim = full.yaxis.range.map(Number);
  const wider = xlim[0] < contour.xlim[0] || xlim[1] > contour.xlim[1] || ylim[0] < contour.ylim[0] || ylim[1] > contour.ylim[1];
  if (!wider) return;
  const r = await post("/api/descent/contour", { name, resolution: 160, xlim, ylim });
  if (!r.ok || document.getElementById("surface").value !== name) return;
  contour = r.data;
  await update();
}

async function update() {
  mb.saveState(); // a clicked start point, the book's comparison: the URL follows the form
  if (!contour) return;
  const ticket = ++pending;
  document.body.dataset.state = "busy";
  const name = document.getElementById("surface").value;
  for (const [id, label] of [["steps", mb.t("descent.steps")], ["x0", "x0"], ["x1", "x1"]]) {
    if (document.getElementById(id).value.trim() === "") { // never a silent 0
      mb.setStatus(mb.t("descent.empty", { field: label }), true);
      document.body.dataset.state = "error";
      return;
    }
  }
  const start = [Number(document.getElementById("x0").value), Number(document.getElementById("x1").value)];
  const steps = Number(document.getElementById("steps").value);
  const compare = document.getElementById("compare").checked;
  const optimizer = document.getElementById("optimizer").value;
  const runs = compare ? Object.keys(BOOK_LR) : [optimizer];
  const results = await Promise.all(
    runs.map((opt) => post("/api/descent/path", {
      name, start, lr: compare ? BOOK_LR[opt] : lr(), steps, optimizer: opt,
      gradient: compare ? "analytic" : "numerical",
    })),
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
  if (compare) {
    showFinals(finalEl, runs, results.map((r) => r.data), steps);
  } else {
    finalEl.textContent = mb.t("descent.final", {
      n: main.path.length - 1, x0: String(fin[0]), x1: String(fin[1]), f: String(f),
    });
  }
  finalEl.dataset.x0 = String(fin[0]);
  finalEl.dataset.x1 = String(fin[1]);
  finalEl.dataset.mode = compare ? "compare" : "one";
  const notes = results.map((r, i) => (r.data.note ? `${runs[i]}: ${r.data.note}` : "")).filter(Boolean);
  document.getElementById("note").textContent = notes.join("\n");
  document.body.dataset.state = "ready";
}

// The comparison's final points, one row per optimizer (each row's data-x0/x1 hold the full
// numbers; the cells show 6 significant digits).
function showFinals(el, runs, paths, steps) {
  el.replaceChildren();
  const head = document.createElement("div");
  head.textContent = mb.t("descent.finals", { n: steps });
  const table = document.createElement("table");
  table.className = "finals";
  const hr = table.insertRow();
  for (const key of ["descent.col.opt", "descent.col.lr", null, null]) {
    const th = document.createElement("th");
    th.textContent = key ? mb.t(key) : (hr.cells.length === 2 ? "x0" : "x1");
    hr.appendChild(th);
  }
  runs.forEach((opt, i) => {
    const p = paths[i];
    const row = table.insertRow();
    row.dataset.opt = opt;
    row.dataset.x0 = String(p.final[0]);
    row.dataset.x1 = String(p.final[1]);
    const name = row.insertCell();
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = COLORS[opt];
    name.append(swatch, LABELS[opt] || opt);
    row.insertCell().textContent = String(p.lr);
    row.insertCell().textContent = Number(p.final[0]).toPrecision(6);
    row.insertCell().textContent = Number(p.final[1]).toPrecision(6);
  });
  el.append(head, table);
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
      type: "scatter", mode: "lines+markers", name: LABELS[opt] || opt, x: p.map((q) => q[0]), y: p.map((q) => q[1]),
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
    xaxis: { range: contour.xlim, title: { text: "x0" } },
    yaxis: { range: contour.ylim, title: { text: "x1" }, scaleanchor: "x" },
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
    LABELS[o.name] = o.label;
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
  document.getElementById("book-compare").addEventListener("click", async () => {
    // the book's comparison: x0²/20 + x1² from (-7, 2), 30 steps, every optimizer
    document.getElementById("compare").checked = true;
    document.getElementById("steps").value = "30";
    if (select.value !== "elongated") {
      select.value = "elongated";
      await loadSurface(); // puts the surface's start (-7, 2) in and redraws
    }
    document.getElementById("x0").value = "-7";
    document.getElementById("x1").value = "2";
    update();
  });
  mb.onLanguageChange(update);
  setupClick();
  // a shared link (#surface=...&optimizer=...&lr=...&x0=...): the form, then the path as on any
  // load
  const stateIds = ["surface", "optimizer", "lr", "steps", "x0", "x1", "compare"];
  const stateElements = stateIds.map((id) => document.getElementById(id));
  mb.restoreForm(stateElements.filter((el) => el.id !== "x0" && el.id !== "x1"));
  showLr();
  loadSurface(true);
});
