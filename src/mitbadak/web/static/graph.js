// The graph page: chapter 5's shopping graph and a tiny network, computed by /api/graph/*.
"use strict";

mb.addStrings({
  en: {
    "graph.shop.title": "Shopping: forward and backward (chapter 5)",
    "graph.kind": "Graph",
    "graph.kind.ao": "apples and oranges",
    "graph.kind.a": "apples",
    "graph.forward": "Forward",
    "graph.backward": "Backward (one node)",
    "graph.shop.hint": "Black: forward values on the edges. Red: d price / d edge, arriving node by node as you press Backward. Each node multiplies the arriving gradient by its local derivative.",
    "graph.net.title": "A tiny network: backprop vs numerical gradient",
    "graph.activation": "Activation",
    "graph.seed": "Seed",
    "graph.dtype": "Precision",
    "graph.net.run": "Run forward and backward",
    "graph.check": "Gradient check per parameter",
    "graph.check.hint": "Relative difference = max |backprop − numerical| / max(|backprop|, |numerical|). Below {tol}: they agree (float64 usually gives about 1e-7 or smaller). float32 or a ReLU input near 0 (a kink) makes them disagree honestly.",
    "graph.backstep": "Backward step {k} of {n}: {node} sent its gradients. Press Backward again.",
    "graph.empty": "{name}: expected a number, the field is empty",
    "graph.step": "{node} ({layer}): gradient arriving {dout}; local derivatives {local}; sends {grads}",
    "graph.done": "Backward done: every input has its gradient.",
    "graph.forwarded": "Forward done: price = {p}. Press Backward.",
    "graph.col.param": "parameter",
    "graph.col.shape": "shape",
    "graph.col.maxabs": "max |difference|",
    "graph.col.rel": "relative difference",
    "graph.col.verdict": "verdict",
    "graph.agree": "agree",
    "graph.disagree": "disagree",
    "graph.kinks": "ReLU inputs within h of 0 (kinks): {k}",
    "graph.nokinks": "No ReLU input lies within h of 0.",
    "graph.loss": "loss L = {l}",
  },
  ko: {
    "graph.shop.title": "장보기: 순전파와 역전파 (5장)",
    "graph.kind": "그래프",
    "graph.kind.ao": "사과와 귤",
    "graph.kind.a": "사과",
    "graph.forward": "순전파",
    "graph.backward": "역전파 (노드 하나씩)",
    "graph.shop.hint": "검은 숫자: 에지 위의 순전파 값. 빨간 숫자: d 가격 / d 에지 — 역전파 버튼을 누를 때마다 노드 하나씩 전해집니다. 각 노드는 들어온 기울기에 국소적 미분을 곱합니다.",
    "graph.net.title": "작은 신경망: 오차역전파 대 수치 미분",
    "graph.activation": "활성화 함수",
    "graph.seed": "시드",
    "graph.dtype": "정밀도",
    "graph.net.run": "순전파와 역전파 실행",
    "graph.check": "매개변수별 기울기 확인",
    "graph.check.hint": "상대 차이 = max |역전파 − 수치 미분| / max(|역전파|, |수치 미분|). {tol}보다 작으면 일치 (float64에서는 보통 1e-7 이하). float32나 0 근처의 ReLU 입력(꺾인 점)에서는 실제로 어긋납니다.",
    "graph.backstep": "역전파 {n}단계 중 {k}단계: {node} 노드가 기울기를 보냈습니다. 역전파를 다시 누르세요.",
    "graph.empty": "{name}: 숫자를 넣어야 하는데 칸이 비어 있습니다",
    "graph.step": "{node} ({layer}): 들어온 기울기 {dout}; 국소적 미분 {local}; 보내는 기울기 {grads}",
    "graph.done": "역전파 완료: 모든 입력에 기울기가 있습니다.",
    "graph.forwarded": "순전파 완료: 가격 = {p}. 역전파를 누르세요.",
    "graph.col.param": "매개변수",
    "graph.col.shape": "형상",
    "graph.col.maxabs": "최대 |차이|",
    "graph.col.rel": "상대 차이",
    "graph.col.verdict": "판정",
    "graph.agree": "일치",
    "graph.disagree": "불일치",
    "graph.kinks": "h 이내로 0에 가까운 ReLU 입력(꺾인 점): {k}",
    "graph.nokinks": "0에서 h 이내인 ReLU 입력은 없습니다.",
    "graph.loss": "손실 L = {l}",
  },
});

// Where each input and node sits in the picture (viewBox 860 x 470).
const LAYOUTS = {
  apple_orange: {
    inputs: { apple: [70, 50], apple_num: [70, 150], orange: [70, 260], orange_num: [70, 360], tax: [70, 440] },
    nodes: { mul_apple: [280, 100], mul_orange: [280, 310], add_apple_orange: [480, 205], mul_tax: [660, 320] },
    end: [830, 320],
  },
  apple: {
    inputs: { apple: [70, 60], apple_num: [70, 190], tax: [70, 380] },
    nodes: { mul_apple: [320, 125], mul_tax: [580, 250] },
    end: [820, 250],
  },
};
const DEFAULTS = { apple: 100, apple_num: 2, orange: 150, orange_num: 3, tax: 1.1 };
//: The gradient check's verdict: a relative difference below this is "agree" (the hint says so).
const AGREE_BELOW = 1e-5;
//: The book's Korean names of the shopping graph's inputs, edges and nodes.
const KO_NAMES = {
  apple: "사과", apple_num: "사과 개수", orange: "귤", orange_num: "귤 개수", tax: "소비세",
  price: "가격", apple_price: "사과 가격", orange_price: "귤 가격", all_price: "사과+귤 가격",
  mul_apple: "사과 곱셈", mul_orange: "귤 곱셈", add_apple_orange: "사과+귤 덧셈", mul_tax: "소비세 곱셈",
};

function shown(name) {
  return mb.lang === "ko" ? KO_NAMES[name] ?? name : name;
}

function applyHint() {
  document.getElementById("check-hint").textContent = mb.t("graph.check.hint", { tol: AGREE_BELOW.toExponential(0) });
}
const SVG = "http://www.w3.org/2000/svg";

let graph = null; // the API's answer
let backStep = 0; // how many backward steps are shown

function inputNames() {
  return document.getElementById("kind").value === "apple"
    ? ["apple", "apple_num", "tax"]
    : ["apple", "apple_num", "orange", "orange_num", "tax"];
}

function renderInputs() {
  const box = document.getElementById("inputs");
  const old = {};
  for (const el of box.querySelectorAll("input")) old[el.name] = el.value;
  box.replaceChildren();
  for (const name of inputNames()) {
    const label = document.createElement("label");
    label.textContent = shown(name);
    const input = document.createElement("input");
    input.name = name;
    input.id = `in-${name}`;
    input.type = "number";
    input.step = "any";
    input.value = old[name] ?? DEFAULTS[name];
    label.appendChild(input);
    box.appendChild(label);
  }
}

function el(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function drawGraph() {
  const svg = document.getElementById("shop");
  svg.replaceChildren();
  if (!graph) return;
  const layout = LAYOUTS[graph.kind];
  const where = { ...layout.inputs };
  for (const node of graph.nodes) where[node.output] = layout.nodes[node.node];
  const consumer = {};
  for (const node of graph.nodes) for (const i of node.inputs) consumer[i] = layout.nodes[node.node];
  const last = graph.nodes[graph.nodes.length - 1].output;
  consumer[last] = layout.end;
  const shownGrads = new Set();
  if (backStep > 0) shownGrads.add(last);
  for (const step of graph.backward.slice(0, backStep)) {
    for (const name of Object.keys(step.grads)) shownGrads.add(name);
  }
  for (const [edge, [x1, y1]] of Object.entries(where)) {
    const [x2, y2] = consumer[edge];
    svg.appendChild(el("line", { x1, y1, x2, y2 }));
    // labels at 40 % of the edge: edges meeting at a node keep their numbers apart
    const mx = x1 + 0.4 * (x2 - x1);
    const my = y1 + 0.4 * (y2 - y1);
    svg.appendChild(el("text", { x: mx, y: my - 10, class: "val", id: `val-${edge}` }, graph.display.values[edge]));
    svg.appendChild(
      el("text", { x: mx, y: my + 22, class: "grad", id: `grad-${edge}` },
        shownGrads.has(edge) ? graph.display.grads[edge] : ""),
    );
  }
  for (const [name, [x, y]] of Object.entries(layout.inputs)) {
    svg.appendChild(el("text", { x: x - 60, y: y - 8, class: "name" }, shown(name)));
  }
  svg.appendChild(el("text", { x: layout.end[0] - 40, y: layout.end[1] - 30, class: "name" }, shown(last)));
  const doneNodes = new Set(graph.backward.slice(0, backStep).map((s) => s.node));
  for (const node of graph.nodes) {
    const [x, y] = layout.nodes[node.node];
    svg.appendChild(el("circle", { cx: x, cy: y, r: 24, class: doneNodes.has(node.node) ? "done" : "" }));
    svg.appendChild(el("text", { x, y, class: "op" }, node.layer === "AddLayer" ? "+" : "×"));
    svg.appendChild(el("text", { x, y: y - 32, class: "name", "text-anchor": "middle" }, shown(node.node)));
  }
}

function fmt(obj) {
  return Object.entries(obj)
    .map(([k, v]) => `${k}=${Number(v.toPrecision(10))}`)
    .join(", ");
}

function renderSteps() {
  const list = document.getElementById("steps");
  list.replaceChildren();
  if (!graph) {
    document.getElementById("backward").disabled = true;
    return;
  }
  for (const step of graph.backward.slice(0, backStep)) {
    const li = document.createElement("li");
    li.textContent = mb.t("graph.step", {
      node: shown(step.node), layer: step.layer, dout: fmt(step.dout), local: fmt(step.local), grads: fmt(step.grads),
    });
    list.appendChild(li);
  }
  document.getElementById("backward").disabled = !graph || backStep >= graph.backward.length;
  document.body.dataset.backStep = String(backStep);
  if (!graph) return;
  const n = graph.backward.length;
  if (backStep >= n) mb.setStatus(mb.t("graph.done"));
  else if (backStep === 0) mb.setStatus(mb.t("graph.forwarded", { p: graph.display.values.price }));
  else mb.setStatus(mb.t("graph.backstep", { k: backStep, n, node: shown(graph.backward[backStep - 1].node) }));
}

async function forward() {
  mb.saveState();
  const body = { kind: document.getElementById("kind").value };
  let empty = null;
  for (const input of document.querySelectorAll("#inputs input")) {
    if (input.value.trim() === "" && empty === null) empty = input.name; // never a silent 0
    body[input.name] = Number(input.value);
  }
  const r = empty !== null
    ? { ok: false, data: { error: mb.t("graph.empty", { name: shown(empty) }) } }
    : await mb.api("/api/graph/shopping", {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
    });
  if (!r.ok) { // the last graph's numbers no longer belong to the inputs: it goes
    graph = null;
    backStep = 0;
    drawGraph();
    renderSteps();
    document.body.dataset.graph = "error";
    mb.setStatus(r.data.error, true);
    return;
  }
  graph = r.data;
  backStep = 0;
  drawGraph();
  renderSteps();
  document.body.dataset.graph = "ready";
}

function backward() {
  if (!graph || backStep >= graph.backward.length) return;
  backStep += 1;
  drawGraph();
  renderSteps();
}

function matrixText(value) {
  const num = (v) => (Math.abs(v) < 1e-3 && v !== 0 ? v.toExponential(2) : v.toFixed(4));
  if (!Array.isArray(value)) return num(value);
  if (!Array.isArray(value[0])) return value.map(num).join("  ");
  return value.map((row) => row.map(num).join("  ")).join("\n");
}

function nodeCard(step, back) {
  const card = document.createElement("div");
  card.className = back ? "net-node back" : "net-node";
  const h = document.createElement("h4");
  h.textContent = (back ? "← " : "→ ") + step.node;
  card.appendChild(h);
  const f = document.createElement("div");
  f.className = "formula";
  f.textContent = step.formula;
  card.appendChild(f);
  const parts = back ? { ...step.dout, ...step.grads } : { ...step.inputs, ...step.outputs };
  for (const [name, entry] of Object.entries(parts)) {
    const label = document.createElement("div");
    const shape = entry.shape.length ? `(${entry.shape.join(", ")})` : "scalar";
    label.textContent = `${back ? "d" : ""}${name} ${shape}`;
    card.appendChild(label);
    const pre = document.createElement("pre");
    pre.textContent = matrixText(entry.value);
    card.appendChild(pre);
  }
  return card;
}

async function runNetwork() {
  const body = {
    activation: document.getElementById("activation").value,
    seed: Number(document.getElementById("seed").value),
    dtype: document.getElementById("dtype").value,
    h: Number(document.getElementById("h").value),
  };
  const r = await mb.api("/api/graph/network", {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  });
  if (!r.ok) {
    mb.setStatus(r.data.error, true);
    return;
  }
  const net = r.data;
  const nodes = document.getElementById("net-nodes");
  nodes.replaceChildren();
  for (const step of net.forward) nodes.appendChild(nodeCard(step, false));
  for (const step of net.backward) nodes.appendChild(nodeCard(step, true));
  const table = document.getElementById("check");
  table.replaceChildren();
  const head = document.createElement("tr");
  for (const key of ["param", "shape", "maxabs", "rel", "verdict"]) {
    const th = document.createElement("th");
    th.textContent = mb.t(`graph.col.${key}`);
    head.appendChild(th);
  }
  table.appendChild(head);
  for (const row of net.gradcheck) {
    const tr = document.createElement("tr");
    const ok = row.relative < AGREE_BELOW;
    const cells = [row.param, `(${row.shape.join(", ")})`, row.max_abs.toExponential(2),
      row.relative.toExponential(2), mb.t(ok ? "graph.agree" : "graph.disagree")];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (i === 4) td.className = ok ? "ok" : "bad";
      tr.appendChild(td);
    });
    table.appendChild(tr);
  }
  document.getElementById("kinks").textContent =
    mb.t("graph.loss", { l: net.loss.toFixed(6) }) + " · " +
    (net.kinks.length ? mb.t("graph.kinks", { k: JSON.stringify(net.kinks) }) : mb.t("graph.nokinks"));
  document.body.dataset.network = "ready";
}

async function loadChoices() {
  // the activations are the registry's (/api/graph/choices); relu stays the first choice
  const r = await mb.api("/api/graph/choices");
  if (!r.ok) return;
  const select = document.getElementById("activation");
  const chosen = select.value;
  select.textContent = "";
  for (const name of r.data.activations) {
    const opt = document.createElement("option");
    opt.textContent = name;
    select.appendChild(opt);
  }
  select.value = r.data.activations.includes(chosen) ? chosen : r.data.activations[0];
}

document.addEventListener("DOMContentLoaded", async () => {
  await loadChoices();
  // a shared link (#kind=apple&apple=150&...): the graph, its inputs and the tiny network's
  // settings; the graph is then computed as on any load
  const kind = document.getElementById("kind");
  const settings = ["activation", "seed", "dtype", "h"].map((id) => document.getElementById(id));
  mb.restoreForm([kind]);
  renderInputs();
  mb.restoreForm([...document.querySelectorAll("#inputs input"), ...settings]);
  mb.trackState(() => mb.formValues([kind, ...document.querySelectorAll("#inputs input"), ...settings]));
  document.getElementById("kind").addEventListener("change", () => {
    renderInputs();
    forward();
  });
  document.getElementById("forward").addEventListener("click", forward);
  document.getElementById("backward").addEventListener("click", backward);
  document.getElementById("net-run").addEventListener("click", runNetwork);
  applyHint();
  mb.onLanguageChange(() => {
    applyHint();
    renderInputs();
    drawGraph();
    renderSteps();
    if (document.body.dataset.network === "ready") runNetwork();
  });
  forward();
  runNetwork();
});
