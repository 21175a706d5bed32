// The train page: a recipe form (every registered optimizer, BatchNorm, Dropout, weight decay),
// live curves over Server-Sent Events, the hidden layers' activation histograms (each epoch),
// the decision boundary of 2-D data (click to add points) or the first layer's weight tiles,
// and the run folders.
"use strict";

mb.addStrings({
  en: {
    "train.recipe": "Recipe", "train.dataset": "Data set", "train.hidden": "Hidden sizes",
    "train.activation": "Activation", "train.init": "Weight init", "train.optimizer": "Optimizer",
    "train.lr": "Learning rate", "train.batch": "Batch size", "train.epochs": "Epochs",
    "train.decay": "Weight decay λ", "train.seed": "Seed", "train.train": "Train",
    "train.batchnorm": "Batch normalization", "train.dropout": "Dropout ratio (0 = off)",
    "train.hist": "Hidden layers' activations (histograms)",
    "train.hist.caption": "{when} · test mode · the first {n} training inputs · {bins} bins over [{lo}, {hi}], fixed for the run.",
    "train.hist.start": "Before training (the initial weights)", "train.hist.epoch": "After epoch {epoch}",
    "train.hist.layer": "layer {i} · {act}", "train.hist.zeros": "{p}% zeros",
    "train.hist.clipped": "{n} values outside the range are counted in the end bars.",
    "train.hist.empty": "Each hidden layer's activations appear here when a run starts, and change after every epoch.",
    "train.pause": "Pause", "train.resume": "Resume", "train.stop": "Stop", "train.rewind": "Rewind",
    "train.command": "The same run from a terminal", "train.runs": "Run folders (reopen, or follow a CLI run)",
    "train.open": "Open", "train.loss": "Loss per iteration", "train.acc": "Accuracy per epoch",
    "train.boundary": "Decision boundary (2-D data)", "train.label": "Class of a clicked point",
    "train.clear": "Clear points", "train.tiles": "First layer's weights, one 28×28 tile per unit",
    "train.points": "my points (click on the plot)", "train.npoints": "{n} points",
    "train.state.idle": "Ready.", "train.state.running": "Training run {run}…",
    "train.state.paused": "Paused.", "train.state.stopped": "Stopped: checkpoint in {dir} (mitbadak train --resume continues it).",
    "train.state.end": "Done: {dir}", "train.state.error": "Error: {e}",
    "train.state.following": "Following {run} (read from its folder).",
    "train.speed": "{ips} iterations/s · {img} images/s · epoch {epoch}",
    "train.loss.iter": "loss", "train.loss.avg": "moving average (20)", "train.acc.train": "train",
    "train.acc.test": "test", "train.folder": "Run folder: {dir}",
    "train.empty.loss": "No run yet.<br>Press Train: each iteration's loss appears here",
    "train.empty.acc": "Train and test accuracy<br>appear after each epoch",
    "train.command.empty": "The mitbadak train command of a run appears here when it starts",
    "train.missing": "{name} (not downloaded: mitbadak data download {name})",
    "train.pace": "Pace", "train.step.iter": "+1 iteration", "train.step.epoch": "+1 epoch",
    "train.pace.full": "full speed", "train.pace.n": "{n} iterations/s", "train.pace.slow": "slow motion (2/s)",
    "train.default": "default", "train.axis.iter": "iteration", "train.axis.loss": "loss (log scale)",
    "train.axis.epoch": "epoch", "train.axis.acc": "accuracy", "train.every": "one point per {n} iterations (their mean)",
    "train.conf": "class colour; paler = less sure (its probability)",
    "train.net": "The network drawn",
    "train.net.caption": "{when} · lines: weights (blue +, orange −, thicker = larger |w|) · {maps}",
    "train.net.maps": "each hidden unit: its activation over the plane (its own scale: dark = its lowest, yellow = its highest)",
    "train.net.images": "first hidden layer: each unit's 784 input weights as a 28×28 image (red +, blue −, as on the Draw page)",
    "train.net.cut": "Units 1–{k} of layers wider than {k} are shown; between each two layers the {e} largest |w| of the shown units' weights are drawn.",
    "train.net.hover": "Point at a unit: its activation histogram.",
    "train.net.unit": "layer {l} · unit {u}: activations of the first {n} training inputs",
    "train.net.input": "input", "train.net.output": "output", "train.net.pixels": "784 pixels",
    "train.net.empty": "The network appears here when a run starts, and changes after every epoch.",
  },
  ko: {
    "train.recipe": "학습 설정", "train.dataset": "데이터셋", "train.hidden": "은닉층 크기",
    "train.activation": "활성화 함수", "train.init": "가중치 초깃값", "train.optimizer": "최적화 기법",
    "train.lr": "학습률", "train.batch": "배치 크기", "train.epochs": "에폭 수",
    "train.decay": "가중치 감소 λ", "train.seed": "시드", "train.train": "학습 시작",
    "train.batchnorm": "배치 정규화", "train.dropout": "드롭아웃 비율 (0 = 끄기)",
    "train.hist": "은닉층 활성화값 분포 (히스토그램)",
    "train.hist.caption": "{when} · 시험 모드 · 훈련 데이터 처음 {n}개 · [{lo}, {hi}] 구간을 {bins}칸으로 (학습 내내 고정).",
    "train.hist.start": "학습 전 (가중치 초깃값)", "train.hist.epoch": "{epoch}번째 에폭 후",
    "train.hist.layer": "{i}층 · {act}", "train.hist.zeros": "0인 값 {p}%",
    "train.hist.clipped": "범위 밖의 값 {n}개는 양 끝 막대에 셉니다.",
    "train.hist.empty": "학습을 시작하면 은닉층마다 활성화값 분포가 그려지고, 에폭마다 바뀝니다.",
    "train.pause": "일시정지", "train.resume": "계속", "train.stop": "중지", "train.rewind": "처음부터 다시",
    "train.command": "터미널에서 같은 학습", "train.runs": "실행 폴더 (다시 열기, CLI 학습 따라가기)",
    "train.open": "열기", "train.loss": "반복별 손실", "train.acc": "에폭별 정확도",
    "train.boundary": "결정 경계 (2차원 데이터)", "train.label": "클릭한 점의 클래스",
    "train.clear": "점 지우기", "train.tiles": "첫 번째 층의 가중치 (뉴런 하나당 28×28 타일)",
    "train.points": "내 점 (그래프를 클릭)", "train.npoints": "점 {n}개",
    "train.state.idle": "준비됨.", "train.state.running": "{run} 학습 중…",
    "train.state.paused": "일시정지됨.", "train.state.stopped": "중지됨: 체크포인트는 {dir} (mitbadak train --resume으로 이어서 학습).",
    "train.state.end": "완료: {dir}", "train.state.error": "오류: {e}",
    "train.state.following": "{run} 폴더를 읽으며 따라가는 중.",
    "train.speed": "초당 {ips}회 반복 · 초당 이미지 {img}장 · 에폭 {epoch}",
    "train.loss.iter": "손실", "train.loss.avg": "이동 평균 (20)", "train.acc.train": "훈련",
    "train.acc.test": "시험", "train.folder": "실행 폴더: {dir}",
    "train.empty.loss": "아직 학습이 없습니다.<br>학습 시작을 누르면 반복마다 손실이 그려집니다",
    "train.empty.acc": "에폭이 끝날 때마다<br>훈련·시험 정확도가 그려집니다",
    "train.command.empty": "학습을 시작하면 같은 학습의 mitbadak train 명령이 여기에 나타납니다",
    "train.missing": "{name} (내려받지 않음: mitbadak data download {name})",
    "train.pace": "속도", "train.step.iter": "+1 반복", "train.step.epoch": "+1 에폭",
    "train.pace.full": "최고 속도", "train.pace.n": "초당 {n}회 반복", "train.pace.slow": "슬로 모션 (초당 2회)",
    "train.default": "기본값", "train.axis.iter": "반복 횟수", "train.axis.loss": "손실 (로그 눈금)",
    "train.axis.epoch": "에폭", "train.axis.acc": "정확도", "train.every": "반복 {n}회마다 점 하나 (평균)",
    "train.conf": "클래스 색, 옅을수록 확신이 낮음 (그 확률)",
    "train.net": "신경망 그림",
    "train.net.caption": "{when} · 선: 가중치 (파랑 +, 주황 −, 굵을수록 |w|가 큼) · {maps}",
    "train.net.maps": "은닉층 뉴런마다 평면 위의 활성화값 (뉴런마다 자기 범위: 어두움 = 최저, 노랑 = 최고)",
    "train.net.images": "첫 번째 은닉층: 뉴런마다 입력 가중치 784개를 28×28 이미지로 (빨강 +, 파랑 −, 숫자 그리기 페이지와 같은 색)",
    "train.net.cut": "{k}개보다 넓은 층은 뉴런 1~{k}만 그립니다. 두 층 사이에는 그려진 뉴런의 가중치 중 |w|가 가장 큰 {e}개를 그립니다.",
    "train.net.hover": "뉴런을 가리키면 활성화값 히스토그램이 나타납니다.",
    "train.net.unit": "{l}층 · 뉴런 {u}: 훈련 데이터 처음 {n}개의 활성화값",
    "train.net.input": "입력", "train.net.output": "출력", "train.net.pixels": "픽셀 784개",
    "train.net.empty": "학습을 시작하면 신경망이 그려지고, 에폭마다 바뀝니다.",
  },
});

const CLASS_COLORS = ["#2f6fdf", "#e8590c", "#2b8a3e", "#ae3ec9", "#f08c00", "#0c8599", "#c92a2a", "#5c940d", "#364fc7", "#862e9c"];
const POINTS = "__points__";
const view = { losses: [], offset: 0, epochs: [], boundary: null, boundaryUpdates: 0, run: null, dir: null, hist: null, histFrames: 0, speed: null, network: null, networkUpdates: 0, unit: null };
//: The loss chart draws at most this many points (bucket means): readable at 100,000 iterations.
const MAX_LOSS_POINTS = 1500;
const POINTS_VIEW = [-1.5, 1.5]; // the plot one clicks points on (the server's POINTS_VIEW)
let choices = null;
let adoptRecipe = false; // a reload while a run trains: the form takes the running recipe
let points = [];
let following = null; // run name being polled
let drawQueued = false;

function post(path, body) {
  return mb.api(path, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body || {}),
  });
}

function fillSelect(select, values, selected) {
  select.replaceChildren();
  for (const [value, text] of values) {
    const opt = document.createElement("option");
    opt.value = value;
    opt.textContent = text;
    if (value === selected) opt.selected = true;
    select.appendChild(opt);
  }
}

// Registry data sets whose files are not on this machine: listed, but not selectable (the page
// never downloads; the label says the command that does).
function markMissing(select, names) {
  for (const opt of select.options) {
    if (!names.includes(opt.value)) continue;
    opt.disabled = true;
    opt.dataset.missing = "1";
    opt.textContent = mb.t("train.missing", { name: opt.value });
  }
}

function setState(key, vars) {
  document.body.dataset.state = key;
  const el = document.getElementById("state");
  el.dataset.key = key;
  el.dataset.vars = JSON.stringify(vars || {});
  el.textContent = mb.t(`train.state.${key}`, vars);
  document.getElementById("pause").textContent = mb.t(key === "paused" ? "train.resume" : "train.pause");
  for (const id of ["step-iter", "step-epoch"]) document.getElementById(id).disabled = key !== "paused";
}

// The loss curve and its moving average, n points at most: each bucket of consecutive iterations
// becomes one point (its mean) at its middle iteration.
function downsample(xs, ys, n) {
  const every = Math.max(1, Math.ceil(ys.length / n));
  if (every === 1) return { x: xs, y: ys, every };
  const x = [];
  const y = [];
  for (let i = 0; i < ys.length; i += every) {
    const end = Math.min(i + every, ys.length);
    let sum = 0;
    for (let k = i; k < end; k++) sum += ys[k];
    x.push((xs[i] + xs[end - 1]) / 2);
    y.push(sum / (end - i));
  }
  return { x, y, every };
}

function movingAverage(values, w) {
  const out = [];
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i];
    if (i >= w) sum -= values[i - w];
    out.push(sum / Math.min(i + 1, w));
  }
  return out;
}

function queueDraw() {
  if (drawQueued) return;
  drawQueued = true;
  setTimeout(() => {
    drawQueued = false;
    drawCharts();
  }, 200);
}

// Before the first point: fixed axes and a note in the middle, instead of Plotly's empty (-1..6) axes.
function chartLayout(base, n, key, xaxis, yaxis) {
  if (n > 0) return { ...base, xaxis, yaxis };
  return {
    ...base, xaxis: { ...xaxis, range: [0, 10] }, yaxis: { ...yaxis, range: yaxis.range || [0, 2.5] },
    annotations: [{ text: mb.t(key), xref: "paper", yref: "paper", x: 0.5, y: 0.55, showarrow: false, font: { color: "#6b7385", size: 13 } }],
  };
}

function axisTitle(key) {
  return { text: mb.t(key), font: { size: 12, color: "#4a5368" }, standoff: 6 };
}

// A log axis labelled 1, 2 and 5 of each decade with their whole values (0.5, 0.2, 0.1, 0.05),
// not Plotly's bare mantissa digits ("5", "2") that read as five and two.
function logTicks(values) {
  const finite = values.filter((v) => v > 0 && Number.isFinite(v));
  if (!finite.length) return {};
  const lo = Math.floor(Math.log10(Math.min(...finite)));
  const hi = Math.ceil(Math.log10(Math.max(...finite)));
  const tickvals = [];
  for (let k = lo; k <= hi; k++) for (const m of [1, 2, 5]) tickvals.push(m * 10 ** k);
  const ticktext = tickvals.map((v) => String(Number(v.toPrecision(1))));
  return { tickvals, ticktext };
}

function drawCharts() {
  const xs = view.losses.map((_, i) => view.offset + i + 1);
  const config = { displayModeBar: false, responsive: true };
  const base = { margin: { l: 55, r: 10, t: 10, b: 45 }, legend: { orientation: "h", y: -0.28 } };
  const raw = downsample(xs, view.losses, MAX_LOSS_POINTS);
  const avg = downsample(xs, movingAverage(view.losses, 20), MAX_LOSS_POINTS);
  const positive = view.losses.length > 0 && view.losses.every((v) => v > 0);
  const lossAxis = { title: axisTitle("train.axis.loss"), type: positive ? "log" : "linear", ...(positive ? logTicks(raw.y) : {}) };
  if (!view.losses.length) lossAxis.range = [0, 2.5];
  Plotly.react("loss", [
    { x: raw.x, y: raw.y, name: mb.t("train.loss.iter"), mode: "lines", line: { color: "#a5b4cf", width: 1 } },
    { x: avg.x, y: avg.y, name: mb.t("train.loss.avg"), mode: "lines", line: { color: "#2f6fdf", width: 2.5 } },
  ], chartLayout(base, view.losses.length, "train.empty.loss", { title: axisTitle("train.axis.iter") }, lossAxis), config);
  const ep = view.epochs.map((e) => e.epoch);
  Plotly.react("acc", [
    { x: ep, y: view.epochs.map((e) => e.train_acc), name: mb.t("train.acc.train"), mode: "lines+markers" },
    { x: ep, y: view.epochs.map((e) => e.test_acc), name: mb.t("train.acc.test"), mode: "lines+markers" },
  ], chartLayout(base, ep.length, "train.empty.acc", { title: axisTitle("train.axis.epoch"), dtick: ep.length <= 12 ? 1 : undefined },
    { range: [0, 1], title: axisTitle("train.axis.acc") }), config);
  const note = document.getElementById("loss-every");
  note.textContent = raw.every > 1 ? mb.t("train.every", { n: raw.every }) : "";
  document.body.dataset.losses = String(view.losses.length);
  document.body.dataset.lossPoints = String(raw.x.length);
  document.body.dataset.epochs = String(view.epochs.length);
}

function isPointsMode() {
  return document.getElementById("dataset").value === POINTS;
}

function drawBoundary() {
  const box = document.getElementById("boundary-box");
  const pts = isPointsMode() && !view.boundary ? { train: points, test: [] } : view.boundary && view.boundary.points;
  const show = isPointsMode() || view.boundary;
  box.hidden = !show;
  document.getElementById("points-row").hidden = !isPointsMode();
  document.getElementById("point-count").textContent = mb.t("train.npoints", { n: points.length });
  if (!show) return;
  const traces = [];
  const layout = {
    margin: { l: 45, r: 10, t: 10, b: 40 }, showlegend: false, hovermode: false,
    // equal scales by shrinking the plot area (constrain), not by widening a range past the grid
    xaxis: { range: POINTS_VIEW, title: axisTitle("x₁"), constrain: "domain" },
    yaxis: { range: POINTS_VIEW, scaleanchor: "x", title: axisTitle("x₂"), constrain: "domain" },
  };
  if (view.boundary) {
    const g = view.boundary.grid;
    const k = Math.max(g.n_classes, 2);
    const scale = [];
    for (let c = 0; c < k; c++) {
      scale.push([c / k, CLASS_COLORS[c % 10]], [(c + 1) / k, CLASS_COLORS[c % 10]]);
    }
    traces.push({ type: "heatmap", x: g.xs, y: g.ys, z: g.classes, zmin: -0.5, zmax: k - 0.5, colorscale: scale, opacity: 0.5, showscale: false });
    // confidence: white over the colour, the more the less sure (1/k = a guess, 1 = certain)
    traces.push({
      type: "heatmap", x: g.xs, y: g.ys, z: g.confidence, zmin: 1 / k, zmax: 1, showscale: false,
      colorscale: [[0, "rgba(255,255,255,0.85)"], [1, "rgba(255,255,255,0)"]], name: "confidence",
    });
    if (!isPointsMode()) { // the run's own data: the grid spans it (fixed for the run)
      layout.xaxis.range = [g.xs[0], g.xs[g.xs.length - 1]];
      layout.yaxis.range = [g.ys[0], g.ys[g.ys.length - 1]];
    }
  }
  const all = [...(pts.train || []), ...(pts.test || [])];
  traces.push({
    type: "scatter", mode: "markers", x: all.map((p) => p[0]), y: all.map((p) => p[1]),
    marker: { size: 8, color: all.map((p) => CLASS_COLORS[p[2] % 10]), line: { color: "#fff", width: 0.6 } },
  });
  Plotly.react("boundary", traces, layout, { displayModeBar: false });
  document.getElementById("boundary-note").textContent = view.boundary ? mb.t("train.conf") : "";
}

// One small bar chart per hidden layer: the counts of its activations in the run's fixed bins
// (computed by the library on the server: mitbadak.views.inspection.ActivationProbe).
function drawHistograms() {
  const box = document.getElementById("hists");
  const caption = document.getElementById("hist-caption");
  const frame = view.hist;
  if (!frame) {
    box.replaceChildren();
    caption.textContent = mb.t("train.hist.empty");
    return;
  }
  const when = frame.epoch === 0 ? mb.t("train.hist.start") : mb.t("train.hist.epoch", { epoch: frame.epoch });
  const first = frame.layers[0];
  const outside = frame.layers.reduce((n, l) => n + l.below + l.above, 0);
  caption.textContent = mb.t("train.hist.caption", {
    when, n: frame.probe_size, bins: first ? first.counts.length : 0,
    lo: first ? first.range[0] : "", hi: first ? first.range[1] : "",
  }) + (outside > 0 ? ` ${mb.t("train.hist.clipped", { n: outside })}` : "");
  while (box.children.length > frame.layers.length) box.lastChild.remove();
  frame.layers.forEach((layer, i) => {
    let div = box.children[i];
    if (!div) {
      div = document.createElement("div");
      div.className = "hist";
      div.id = `hist-${i + 1}`;
      box.appendChild(div);
    }
    const e = layer.edges;
    const centers = layer.counts.map((_, k) => (e[k] + e[k + 1]) / 2);
    let title = mb.t("train.hist.layer", { i: i + 1, act: layer.activation });
    if (layer.zeros > 0) title += ` · ${mb.t("train.hist.zeros", { p: Math.round(layer.zeros * 100) })}`;
    Plotly.react(div, [{
      type: "bar", x: centers, y: layer.counts, width: e[1] - e[0], marker: { color: "#2f6fdf" },
      hovertemplate: "%{x:.3g}: %{y}<extra></extra>",
    }], {
      title: { text: title, font: { size: 12 }, x: 0.5, y: 0.96 },
      margin: { l: 40, r: 8, t: 26, b: 24 }, bargap: 0, showlegend: false,
      xaxis: { range: [e[0], e[e.length - 1]], tickfont: { size: 10 } },
      yaxis: { rangemode: "tozero", tickfont: { size: 10 } },
    }, { displayModeBar: false, responsive: true });
  });
  document.body.dataset.histEpoch = String(frame.epoch);
  document.body.dataset.histFrames = String(view.histFrames);
}

// -- the network drawn: columns of units (heat maps / weight images / circles), weights as lines --
const HEAT = [[0.0, [12, 12, 30]], [0.35, [98, 32, 110]], [0.65, [222, 86, 56]], [1.0, [252, 236, 160]]];
function heatColor(v) {
  const x = Math.min(1, Math.max(0, v));
  for (let i = 1; i < HEAT.length; i++) {
    const [x1, c1] = HEAT[i];
    const [x0, c0] = HEAT[i - 1];
    if (x <= x1) return c0.map((a, k) => Math.round(a + ((x - x0) / (x1 - x0)) * (c1[k] - a)));
  }
  return HEAT[HEAT.length - 1][1];
}

// A unit's heat map on its own scale (rows follow y: the first row is the lowest y, drawn at the
// bottom).
function mapImage(rows) {
  const values = rows.flat().filter((v) => v !== null);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const h = rows.length;
  const w = rows[0].length;
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  const c = canvas.getContext("2d");
  const img = c.createImageData(w, h);
  const span = hi > lo ? hi - lo : 1;
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const v = rows[i][j];
      const rgb = v === null ? [200, 200, 200] : heatColor((v - lo) / span);
      img.data.set([...rgb, 255], 4 * ((h - 1 - i) * w + j));
    }
  }
  c.putImageData(img, 0, 0);
  return canvas.toDataURL();
}

// A unit's 784 input weights in the Draw page's colour map: white 0, red +, blue −.
function weightImage(w) {
  const canvas = document.createElement("canvas");
  canvas.width = 28;
  canvas.height = 28;
  const c = canvas.getContext("2d");
  const img = c.createImageData(28, 28);
  const m = Math.max(1e-12, ...w.map(Math.abs));
  for (let i = 0; i < 784; i++) {
    const v = w[i] / m;
    const a = Math.abs(v);
    const rgb = v >= 0 ? [255, 255 - 200 * a, 255 - 220 * a] : [255 - 220 * a, 255 - 170 * a, 255];
    img.data.set([...rgb.map(Math.round), 255], 4 * i);
  }
  c.putImageData(img, 0, 0);
  return canvas.toDataURL();
}

function svgEl(name, attrs, parent) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (parent) parent.appendChild(el);
  return el;
}

function drawNetwork() {
  const box = document.getElementById("net");
  const caption = document.getElementById("net-caption");
  const net = view.network;
  box.replaceChildren();
  if (!net) {
    caption.textContent = mb.t("train.net.empty");
    document.getElementById("net-box").hidden = !view.run;
    return;
  }
  document.getElementById("net-box").hidden = false;
  const L = net.sizes.length;
  const pixels = net.sizes[0] === 784;
  const W = Math.max(420, 150 * L);
  const rows = Math.max(...net.shown.map((s) => s.length));
  const tile = Math.max(18, Math.min(40, Math.floor(480 / rows) - 6));
  const H = Math.max(200, rows * (tile + 6) + 40);
  const svg = svgEl("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img" }, box);
  const colX = (k) => 40 + (k * (W - 80)) / (L - 1);
  const pos = (k, i) => {
    const n = pixels && k === 0 ? 1 : net.shown[k].length;
    return [colX(k), 30 + ((i + 0.5) * (H - 40)) / n];
  };
  const maxW = net.max_abs_w || 1;
  const lines = svgEl("g", { class: "edges" }, svg);
  net.edges.forEach((e, k) => {
    if (pixels && k === 0) return; // the pixels' weights are the first layer's images
    for (const [i, j, w] of e.weights) {
      const [x1, y1] = pos(k, i);
      const [x2, y2] = pos(k + 1, j);
      svgEl("line", {
        x1, y1, x2, y2, stroke: w >= 0 ? "#2f6fdf" : "#e8590c", "stroke-opacity": 0.55,
        "stroke-width": (0.4 + 4 * Math.abs(w) / maxW).toFixed(2), "data-w": w, "data-layer": k,
      }, lines);
    }
  });
  for (let k = 0; k < L; k++) {
    const label = k === 0 ? mb.t("train.net.input") : k === L - 1 ? mb.t("train.net.output") : `${k}`;
    svgEl("text", { x: colX(k), y: 16, "text-anchor": "middle", "font-size": 12, fill: "#444" }, svg).textContent =
      `${label} (${net.sizes[k]})`;
    if (pixels && k === 0) {
      const [x, y] = pos(0, 0);
      svgEl("rect", { x: x - 30, y: y - 30, width: 60, height: 60, fill: "#eef1f7", stroke: "#9aa3b5" }, svg);
      svgEl("text", { x, y: y + 4, "text-anchor": "middle", "font-size": 11 }, svg).textContent = mb.t("train.net.pixels");
      continue;
    }
    net.shown[k].forEach((u, i) => {
      const [x, y] = pos(k, i);
      const g = svgEl("g", { class: "unit", "data-layer": k, "data-unit": u }, svg);
      const hidden = k > 0 && k < L - 1;
      let href = null;
      if (hidden && net.maps) href = mapImage(net.maps[k - 1][i]);
      else if (k === 1 && net.images) href = weightImage(net.images[i]);
      if (href) {
        svgEl("image", { x: x - tile / 2, y: y - tile / 2, width: tile, height: tile, href, preserveAspectRatio: "none", style: "image-rendering: pixelated" }, g);
        svgEl("rect", { class: "frame", x: x - tile / 2, y: y - tile / 2, width: tile, height: tile, fill: "none", stroke: "#9aa3b5" }, g);
      } else {
        svgEl("circle", { cx: x, cy: y, r: Math.min(9, tile / 2), fill: k === L - 1 ? CLASS_COLORS[u % 10] : "#dde3ee", stroke: "#556" }, g);
        if (k === 0) svgEl("text", { x: x - 14, y: y + 4, "text-anchor": "end", "font-size": 11 }, g).textContent = `x${"₁₂"[u] || u + 1}`;
      }
      if (hidden) {
        g.addEventListener("mouseenter", () => showUnit(k, i));
        if (view.unit && view.unit[0] === k && view.unit[1] === i) g.classList.add("active");
      }
    });
  }
  const when = net.epoch === 0 ? mb.t("train.hist.start") : mb.t("train.hist.epoch", { epoch: net.epoch });
  let text = mb.t("train.net.caption", { when, maps: mb.t(net.maps ? "train.net.maps" : net.images ? "train.net.images" : "train.net.hover") });
  const cut = net.sizes.some((n, k) => n > net.shown[k].length) || net.edges.some((e) => e.kept < e.total);
  if (cut) text += ` ${mb.t("train.net.cut", { k: Math.max(...net.shown.map((s) => s.length)), e: Math.max(...net.edges.map((e) => e.kept)) })}`;
  caption.textContent = text;
  document.body.dataset.networkEpoch = String(net.epoch);
  document.body.dataset.networkUpdates = String(view.networkUpdates);
  if (view.unit) showUnit(...view.unit);
}

// The hovered unit's own histogram: its activations on the run's probe batch, in its layer's bins.
function showUnit(k, i) {
  const net = view.network;
  if (!net || !net.histograms) return;
  view.unit = [k, i];
  for (const el of document.querySelectorAll("#net .unit.active")) el.classList.remove("active");
  const el = document.querySelector(`#net .unit[data-layer="${k}"][data-unit="${net.shown[k][i]}"]`);
  if (el) el.classList.add("active");
  const counts = net.histograms[k - 1][i];
  const [lo, hi] = net.hist_ranges[k - 1];
  const width = (hi - lo) / counts.length;
  const n = counts.reduce((a, b) => a + b, 0);
  const title = document.getElementById("unit-title");
  title.dataset.layer = String(k);
  title.dataset.unit = String(net.shown[k][i]);
  title.textContent = mb.t("train.net.unit", { l: k, u: net.shown[k][i] + 1, n });
  Plotly.react("unit-hist", [{
    type: "bar", x: counts.map((_, b) => lo + (b + 0.5) * width), y: counts, width,
    marker: { color: "#2f6fdf" }, hovertemplate: "%{x:.3g}: %{y}<extra></extra>",
  }], {
    margin: { l: 36, r: 8, t: 8, b: 24 }, bargap: 0, showlegend: false,
    xaxis: { range: [lo, hi], tickfont: { size: 10 } }, yaxis: { rangemode: "tozero", tickfont: { size: 10 } },
  }, { displayModeBar: false, responsive: true });
}

function drawTiles(tiles) {
  const box = document.getElementById("tiles");
  box.replaceChildren();
  for (const url of tiles) {
    const img = document.createElement("img");
    img.src = url;
    img.alt = "";
    box.appendChild(img);
  }
  document.getElementById("tiles-box").hidden = tiles.length === 0;
}

function showPicture(data) {
  if (data.boundary) {
    view.boundary = data.boundary;
    view.boundaryUpdates += 1;
    document.body.dataset.boundaryUpdates = String(view.boundaryUpdates);
    drawBoundary();
  }
  if (data.tiles) drawTiles(data.tiles);
}

function drawSpeed() {
  document.getElementById("speed").textContent = view.speed ? mb.t("train.speed", view.speed) : "";
}

function resetView(run) {
  view.losses = [];
  view.offset = 0;
  view.epochs = [];
  view.boundary = null;
  view.boundaryUpdates = 0;
  view.run = run;
  view.hist = null;
  view.histFrames = 0;
  view.network = null;
  view.networkUpdates = 0;
  view.unit = null;
  delete document.body.dataset.networkEpoch;
  document.getElementById("unit-hist").replaceChildren();
  document.getElementById("unit-title").textContent = mb.t("train.net.hover");
  drawNetwork();
  delete document.body.dataset.histEpoch;
  drawHistograms();
  view.speed = null;
  drawSpeed();
  document.body.dataset.boundaryUpdates = "0";
  drawTiles([]);
  drawCharts();
  drawBoundary();
}

function showCommand(cmd, dir) {
  const box = document.getElementById("command");
  box.textContent = cmd ? cmd.join(" ") : "";
  box.dataset.empty = mb.t("train.command.empty");
  document.getElementById("folder").textContent = dir ? mb.t("train.folder", { dir }) : "";
  document.getElementById("folder").dataset.dir = dir || "";
}

function onEvent(type, ev) {
  if (following && type !== "run") return;
  switch (type) {
    case "run":
      following = null;
      resetView(ev.run);
      view.dir = ev.out_dir;
      showCommand(ev.command, ev.out_dir);
      if (adoptRecipe && ev.config) showRecipe(ev.config);
      adoptRecipe = false;
      setState("running", { run: ev.run });
      break;
    case "steps":
      for (const [, loss] of ev.steps) view.losses.push(loss);
      if (ev.iters_per_s) {
        view.speed = { ips: Math.round(ev.iters_per_s), img: Math.round(ev.images_per_s), epoch: view.epochs.length + 1 };
        drawSpeed();
      }
      queueDraw();
      break;
    case "epoch":
      view.epochs.push(ev.metrics);
      queueDraw();
      break;
    case "picture":
      showPicture(ev);
      break;
    case "network":
      view.network = ev;
      view.networkUpdates += 1;
      drawNetwork();
      break;
    case "histograms":
      view.hist = ev;
      view.histFrames += 1;
      drawHistograms();
      break;
    case "paused":
      setState("paused");
      break;
    case "resumed":
      setState("running", { run: ev.run });
      break;
    case "stopped":
      drawCharts();
      setState("stopped", { dir: ev.out_dir });
      loadRuns();
      break;
    case "end":
      drawCharts();
      setState("end", { dir: ev.out_dir });
      loadRuns();
      break;
    case "error":
      setState("error", { e: ev.error });
      break;
    default:
      break;
  }
}

function connect() {
  const source = new EventSource("/api/train/events?since=0");
  for (const type of ["run", "start", "steps", "epoch", "picture", "histograms", "network", "paused", "resumed", "stopped", "end", "error"]) {
    source.addEventListener(type, (msg) => onEvent(type, JSON.parse(msg.data)));
  }
}

function recipe() {
  const form = document.getElementById("recipe");
  const r = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === "checkbox") {
      if (el.checked) r[el.name] = true;
      continue;
    }
    if (el.value.trim() === "") continue;
    r[el.name] = el.value.trim();
  }
  if (r.dataset === POINTS) delete r.dataset;
  if (r.dropout !== undefined && Number(r.dropout) === 0) delete r.dropout; // 0 = no Dropout layers
  return r;
}

async function startTraining(body) {
  const r = await post("/api/train/start", body);
  if (!r.ok) {
    mb.setStatus(r.data.error, true);
    return;
  }
  mb.setStatus("");
  following = null;
}

async function loadRuns() {
  const r = await mb.api("/api/train/runs");
  if (!r.ok) return;
  fillSelect(document.getElementById("runs"), r.data.runs.map((run) => [run.name, `${run.name}${run.finished ? "" : " …"}`]));
}

// Put a run's recipe into the form (the data set only when the list offers it).
function showRecipe(config) {
  const form = document.getElementById("recipe");
  const values = { ...config, hidden: (config.hidden || []).join(","), epochs: config.epochs ?? "" };
  for (const key of ["hidden", "activation", "weight_init", "optimizer", "lr", "batch_size", "epochs", "weight_decay", "seed"]) {
    if (form.elements[key] && values[key] !== undefined && values[key] !== null) form.elements[key].value = String(values[key]);
  }
  form.elements.batchnorm.checked = Boolean(config.batchnorm);
  form.elements.dropout.value = String(config.dropout ?? 0);
  const ds = form.elements.dataset;
  if (config.dataset && [...ds.options].some((o) => o.value === config.dataset)) ds.value = config.dataset;
  else if (String(config.dataset || "").endsWith("points.csv")) ds.value = POINTS;
  mb.saveState();
}

// Show a pace in the select, adding it when it is none of the choices (a run started by a
// script or a link with another pace: never a blank select).
function choosePace(value) {
  const select = document.getElementById("pace");
  const v = String(Number(value));
  if (![...select.options].some((o) => o.value === v)) {
    const opt = document.createElement("option");
    opt.value = v;
    opt.textContent = mb.t("train.pace.n", { n: v });
    select.appendChild(opt);
  }
  select.value = v;
}

// The form's recipe for a data set: a toy set's own, clicked points', or MNIST's; and its pace.
function applyDatasetRecipe(name) {
  const form = document.getElementById("recipe");
  const r = choices.toy_recipes[name] || (name === POINTS ? choices.points_recipe : choices.mnist_recipe);
  for (const [key, value] of Object.entries(r)) form.elements[key].value = String(value);
  const pace = name in choices.toy_recipes || name === POINTS ? choices.default_pace : 0;
  document.getElementById("pace").value = String(pace);
}

async function follow(name) {
  following = name;
  resetView(name);
  let first = true;
  const poll = async () => {
    if (following !== name) return;
    const r = await mb.api(`/api/train/run?name=${encodeURIComponent(name)}`);
    if (!r.ok) {
      mb.setStatus(r.data.error, true);
      return;
    }
    const s = r.data;
    view.losses = s.losses || [];
    view.offset = s.loss_offset || 0;
    view.epochs = s.epochs || [];
    showCommand(s.command, s.out_dir);
    if (s.config && first) showRecipe(s.config);
    first = false;
    drawCharts();
    if (s.boundary) showPicture({ boundary: s.boundary });
    if (s.tiles) drawTiles(s.tiles);
    setState("following", { run: name });
    if (!s.finished) setTimeout(poll, 1500);
  };
  poll();
}

function setupPoints() {
  const plot = document.getElementById("boundary");
  plot.addEventListener("click", (event) => {
    if (!isPointsMode() || points.length >= 2000) return;
    const full = plot._fullLayout;
    if (!full || !full.xaxis) return;
    const rect = plot.getBoundingClientRect();
    const px = event.clientX - rect.left - full.xaxis._offset;
    const py = event.clientY - rect.top - full.yaxis._offset;
    if (px < 0 || py < 0 || px > full.xaxis._length || py > full.yaxis._length) return;
    const label = Number(document.getElementById("point-label").value);
    points.push([Number(full.xaxis.p2l(px).toFixed(3)), Number(full.yaxis.p2l(py).toFixed(3)), label]);
    view.boundary = null;
    drawBoundary();
  });
  document.getElementById("clear-points").addEventListener("click", () => {
    points = [];
    view.boundary = null;
    drawBoundary();
  });
}

document.addEventListener("DOMContentLoaded", async () => {
  const r = await mb.api("/api/train/choices");
  if (!r.ok) {
    mb.setStatus(r.data.error, true);
    return;
  }
  const c = r.data;
  choices = c;
  const form = document.getElementById("recipe");
  fillSelect(form.elements.dataset, [
    ...c.toy_datasets.map((d) => [d, d]), ...c.datasets.map((d) => [d, d]), [POINTS, mb.t("train.points")],
  ], "spiral");
  markMissing(form.elements.dataset, c.datasets.filter((d) => !(c.datasets_here || c.datasets).includes(d)));
  fillSelect(form.elements.activation, c.activations.map((a) => [a, a]), "relu");
  fillSelect(form.elements.weight_init, [["", mb.t("train.default")], ...c.weight_inits.map((w) => [w, w])], "");
  const paceSelect = document.getElementById("pace");
  fillSelect(paceSelect, [[String(2), mb.t("train.pace.slow")], ...[10, 30, 100, 1000].map((n) => [String(n), mb.t("train.pace.n", { n })]), ["0", mb.t("train.pace.full")]]);
  paceSelect.addEventListener("change", () => post("/api/train/pace", { iters_per_s: Number(paceSelect.value) }).then((p) => {
    if (!p.ok) mb.setStatus(p.data.error, true);
  }));
  document.getElementById("step-iter").addEventListener("click", () => post("/api/train/step", { iterations: 1 }));
  document.getElementById("step-epoch").addEventListener("click", () => post("/api/train/step", { epoch: true }));
  fillSelect(form.elements.optimizer, c.optimizers.map((o) => [o, o]), "sgd");
  form.elements.optimizer.addEventListener("change", () => {
    form.elements.lr.value = c.default_lr[form.elements.optimizer.value];
  });
  form.elements.dataset.addEventListener("change", () => {
    applyDatasetRecipe(form.elements.dataset.value);
    if (document.body.dataset.state === "running" || document.body.dataset.state === "paused") {
      view.boundary = null;
      drawBoundary();
    } else {
      following = null;
      resetView(null); // another data set: the last run's curves and pictures go
    }
  });
  document.getElementById("train").addEventListener("click", () => {
    const body = { recipe: recipe(), pace: Number(document.getElementById("pace").value) };
    if (isPointsMode()) body.points = points;
    startTraining(body);
  });
  document.getElementById("rewind").addEventListener("click", () => startTraining({ rewind: true }));
  document.getElementById("stop").addEventListener("click", () => post("/api/train/stop"));
  document.getElementById("pause").addEventListener("click", () =>
    post(document.body.dataset.state === "paused" ? "/api/train/resume" : "/api/train/pause"));
  document.getElementById("open").addEventListener("click", () => {
    const name = document.getElementById("runs").value;
    if (name) follow(name);
  });
  mb.onLanguageChange(() => {
    const mine = form.elements.dataset.querySelector(`option[value="${POINTS}"]`);
    if (mine) mine.textContent = mb.t("train.points");
    for (const opt of form.elements.dataset.querySelectorAll("option[data-missing]")) {
      opt.textContent = mb.t("train.missing", { name: opt.value });
    }
    const el = document.getElementById("state");
    if (el.dataset.key) setState(el.dataset.key, JSON.parse(el.dataset.vars || "{}"));
    document.getElementById("command").dataset.empty = mb.t("train.command.empty");
    const dir = document.getElementById("folder").dataset.dir;
    if (dir) document.getElementById("folder").textContent = mb.t("train.folder", { dir });
    const def = form.elements.weight_init.querySelector('option[value=""]');
    if (def) def.textContent = mb.t("train.default");
    for (const opt of paceSelect.options) {
      const n = Number(opt.value);
      if (!opt.textContent) continue;
      opt.textContent = n === 0 ? mb.t("train.pace.full") : n === 2 ? mb.t("train.pace.slow") : mb.t("train.pace.n", { n });
    }
    drawSpeed();
    drawCharts();
    drawBoundary();
    drawHistograms();
    drawNetwork();
    if (!view.unit) document.getElementById("unit-title").textContent = mb.t("train.net.hover");
  });
  document.getElementById("command").dataset.empty = mb.t("train.command.empty");
  setupPoints();
  applyDatasetRecipe("spiral");
  // A shared link (#dataset=moons&lr=0.1&...): its data set's recipe, then its own values. Only
  // the form: training starts when Train is pressed.
  const stateElements = [...[...form.elements].filter((el) => el.name), paceSelect];
  const link = mb.linkState();
  if (mb.restoreForm([form.elements.dataset]).length) applyDatasetRecipe(form.elements.dataset.value);
  const linked = mb.restoreForm(stateElements.filter((el) => el !== paceSelect && el.name !== "dataset"));
  if (link.has("pace") && Number(link.get("pace")) >= 0 && Number.isFinite(Number(link.get("pace")))) choosePace(link.get("pace"));
  mb.trackState(() => mb.formValues(stateElements));
  setState("idle");
  resetView(null);
  const st = await mb.api("/api/train/state");
  if (st.ok && st.data.active) { // a run in progress: its pace, and its recipe once its event comes
    choosePace(st.data.pace);
    adoptRecipe = !link.has("dataset") && linked.length === 0; // a link's recipe stays
    mb.saveState();
  }
  document.getElementById("tiles-box").hidden = true;
  loadRuns();
  connect();
  document.body.dataset.ready = "1";
});
