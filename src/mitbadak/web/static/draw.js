// The draw page: a 280x280 pad; every change is sent (debounced) to POST /api/predict as a PNG,
// and the answer is shown: probabilities, the preprocessing steps, hidden activations, weights.
"use strict";

mb.addStrings({
  en: {
    "draw.title": "Draw a digit",
    "draw.clear": "Clear",
    "draw.undo": "Undo",
    "draw.download.input": "Download the 28×28 input (.npy)",
    "draw.download.png": "Download the drawing (.png)",
    "draw.download.hint": "The .npy file holds exactly the 784 numbers the network read: `mitbadak predict MODEL drawing-28x28.npy` prints these same probabilities. The .png is the pad as drawn (predict preprocesses it again).",
    "draw.hint": "Draw one digit, 0 to 9, with the mouse or a finger. The network reads it as you draw.",
    "result.title": "What the network reads",
    "result.empty": "Draw a digit to see the ten class probabilities.",
    "result.caption": "softmax output: the probability of each class 0-9",
    "result.prob": "{p} sure",
    "chart.x": "class",
    "chart.y": "probability",
    "steps.title": "Preprocessing, step by step (as MNIST was made)",
    "steps.crop": "1. Crop to the strokes",
    "steps.resized": "2. Scale to fit 20×20",
    "steps.shift": "3. Move the centre of mass to the centre",
    "steps.final": "4. The 28×28 input",
    "steps.hint": "A digit drawn small, large or off-centre becomes the same kind of picture the network was trained on: the longer side scaled to 20 pixels, then centred by its centre of mass (red dot) in a 28×28 frame (the cross marks the centre).",
    "steps.shift.detail": "shift {dy}, {dx} px",
    "net.title": "Inside the network",
    "net.layer": "hidden layer {i}",
    "net.layer.detail": "{n} units, activation function {act}",
    "net.layer.max": "largest {v}",
    "net.weights": "First hidden layer: the weights of the units that fire most",
    "net.weights.hint": "Each tile is one unit's 784 input weights as a 28×28 image: red pixels excite the unit, blue ones inhibit it. Below it: the unit's activation for your digit.",
    "net.unit": "unit {u}",
    "status.thinking": "reading…",
    "status.model": "model {m}",
  },
  ko: {
    "draw.title": "숫자를 그려 보세요",
    "draw.clear": "지우기",
    "draw.undo": "되돌리기",
    "draw.download.input": "28×28 입력 내려받기 (.npy)",
    "draw.download.png": "그림 내려받기 (.png)",
    "draw.download.hint": ".npy 파일에는 신경망이 읽은 784개의 숫자가 그대로 들어 있습니다: `mitbadak predict MODEL drawing-28x28.npy`가 똑같은 확률을 출력합니다. .png는 그린 그대로의 그림입니다(predict가 다시 전처리합니다).",
    "draw.hint": "마우스나 손가락으로 0부터 9까지 숫자 하나를 그리세요. 그리는 동안 신경망이 읽습니다.",
    "result.title": "신경망이 읽은 숫자",
    "result.empty": "숫자를 그리면 열 개 클래스의 확률이 나타납니다.",
    "result.caption": "소프트맥스 출력: 클래스 0~9 각각의 확률",
    "result.prob": "확률 {p}",
    "chart.x": "클래스",
    "chart.y": "확률",
    "steps.title": "전처리 단계 (MNIST를 만든 방식 그대로)",
    "steps.crop": "1. 글씨 부분 잘라내기",
    "steps.resized": "2. 20×20 안에 맞게 크기 조정",
    "steps.shift": "3. 무게중심을 가운데로 옮기기",
    "steps.final": "4. 28×28 입력",
    "steps.hint": "작게, 크게, 한쪽으로 치우쳐 그린 숫자도 신경망이 학습한 그림과 같은 모양이 됩니다: 긴 변을 20픽셀로 맞춘 뒤, 28×28 틀 안에서 무게중심(빨간 점)을 가운데(십자)로 옮깁니다.",
    "steps.shift.detail": "이동 {dy}, {dx} 픽셀",
    "net.title": "신경망의 내부",
    "net.layer": "은닉층 {i}",
    "net.layer.detail": "뉴런 {n}개, 활성화 함수 {act}",
    "net.layer.max": "최댓값 {v}",
    "net.weights": "첫 번째 은닉층: 가장 강하게 활성화된 뉴런의 가중치",
    "net.weights.hint": "각 타일은 뉴런 하나의 입력 가중치 784개를 28×28 이미지로 그린 것입니다. 빨간 픽셀은 뉴런을 활성화하고 파란 픽셀은 억제합니다. 아래 숫자는 이 그림에 대한 뉴런의 활성화 값입니다.",
    "net.unit": "뉴런 {u}",
    "status.thinking": "읽는 중…",
    "status.model": "모델 {m}",
  },
});

const drawPage = (() => {
  const PEN_WIDTH = 18; // px on the 280x280 pad: about 2 MNIST pixels after the 20x20 rescale
  const DEBOUNCE_MS = 120;
  const LIVE_MS = 300;

  let pad;
  let ctx;
  const strokes = []; // each stroke: [[x, y], ...] in pad pixels
  let current = null;
  let timer = null;
  let sequence = 0; // answers to older requests are dropped
  let lastSent = -Infinity;
  let lastResult = null;
  let models = [];

  function clearPad() {
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, pad.width, pad.height);
  }

  function drawStroke(points) {
    ctx.strokeStyle = "#000000";
    ctx.fillStyle = "#000000";
    ctx.lineWidth = PEN_WIDTH;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    if (points.length === 1) {
      ctx.beginPath();
      ctx.arc(points[0][0], points[0][1], PEN_WIDTH / 2, 0, 2 * Math.PI);
      ctx.fill();
      return;
    }
    ctx.beginPath();
    ctx.moveTo(points[0][0], points[0][1]);
    for (let i = 1; i < points.length; i++) ctx.lineTo(points[i][0], points[i][1]);
    ctx.stroke();
  }

  function redraw() {
    clearPad();
    for (const s of strokes) drawStroke(s);
  }

  function position(event) {
    const rect = pad.getBoundingClientRect();
    return [
      ((event.clientX - rect.left) * pad.width) / rect.width,
      ((event.clientY - rect.top) * pad.height) / rect.height,
    ];
  }

  function onDown(event) {
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);
    current = [position(event)];
    strokes.push(current);
    drawStroke(current);
    schedule();
  }

  function onMove(event) {
    if (!current) return;
    event.preventDefault();
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const e of events.length ? events : [event]) current.push(position(e));
    redraw();
    schedule();
  }

  function onUp(event) {
    if (!current) return;
    event.preventDefault();
    current = null;
    predictNow();
  }

  // While the pen moves: a prediction at most every LIVE_MS, and one when it rests DEBOUNCE_MS.
  function schedule() {
    clearTimeout(timer);
    if (performance.now() - lastSent >= LIVE_MS) predictNow();
    else timer = setTimeout(predictNow, DEBOUNCE_MS);
  }

  function selectedModel() {
    const select = document.getElementById("model");
    return select && select.value ? select.value : undefined;
  }

  async function predictNow() {
    clearTimeout(timer);
    const mine = ++sequence;
    lastSent = performance.now();
    if (!strokes.length) {
      showEmpty();
      return;
    }
    document.body.dataset.pending = "1";
    mb.setStatus(mb.t("status.thinking"));
    const image = pad.toDataURL("image/png");
    const body = JSON.stringify({ image, model: selectedModel() });
    const answer = await mb.api("/api/predict", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body,
    });
    if (mine !== sequence) return; // a newer drawing is on its way
    document.body.dataset.pending = "0";
    if (!answer.ok) {
      document.body.dataset.state = "error";
      mb.setStatus(answer.data && answer.data.error ? answer.data.error : `HTTP ${answer.status}`, true);
      return;
    }
    lastResult = answer.data;
    lastResult.png = image; // the very PNG these numbers came from
    render(lastResult);
  }

  // -- rendering ------------------------------------------------------------------------------

  // The two downloads: the exact input the answer came from (.npy, written by the server) and the
  // pad as a PNG. Disabled while nothing is drawn.
  function setDownloads(result) {
    const input = document.getElementById("download-input");
    const png = document.getElementById("download-png");
    for (const a of [input, png]) {
      a.classList.toggle("disabled", !result);
      a.setAttribute("aria-disabled", result ? "false" : "true");
    }
    if (result && result.input_npy) input.href = result.input_npy;
    else input.removeAttribute("href");
    if (result && result.png) png.href = result.png;
    else png.removeAttribute("href");
  }

  function showEmpty() {
    lastResult = null;
    setDownloads(null);
    const top = document.getElementById("top-class");
    top.textContent = "?";
    top.dataset.prediction = "";
    top.classList.add("empty");
    document.getElementById("top-prob").textContent = "";
    const caption = document.getElementById("top-caption");
    caption.dataset.i18n = "result.empty";
    caption.textContent = mb.t("result.empty");
    drawBars(null);
    for (const id of ["step-crop", "step-resized", "step-final"]) {
      const img = document.querySelector(`#${id} img`);
      img.removeAttribute("src");
      document.querySelector(`#${id} .detail`).textContent = "";
    }
    const shift = document.querySelector("#step-shift canvas");
    shift.getContext("2d").clearRect(0, 0, shift.width, shift.height);
    document.querySelector("#step-shift .detail").textContent = "";
    document.getElementById("layers").replaceChildren();
    document.getElementById("weights").replaceChildren();
    document.body.dataset.state = "empty";
    document.body.dataset.pending = "0";
    mb.setStatus("");
  }

  function percent(p) {
    return `${(100 * p).toFixed(1)}%`;
  }

  function drawBars(probs) {
    const el = document.getElementById("bars");
    if (typeof Plotly === "undefined") return;
    const values = probs || new Array(10).fill(0);
    const best = probs ? values.indexOf(Math.max(...values)) : -1;
    const trace = {
      type: "bar",
      x: [...Array(10).keys()].map(String),
      y: values,
      marker: { color: values.map((_, i) => (i === best ? "#2f6fdf" : "#b8c4d9")) },
      text: values.map((p) => (probs && p >= 0.01 ? percent(p) : "")),
      textposition: "outside",
      cliponaxis: false,
      hovertemplate: "%{x}: %{y:.2%}<extra></extra>",
    };
    const layout = {
      margin: { l: 62, r: 10, t: 18, b: 40 },
      height: 230,
      xaxis: { title: { text: mb.t("chart.x") }, type: "category", fixedrange: true },
      yaxis: {
        // standoff + automargin: the title (Korean "확률" is wider) never sits on the tick labels
        title: { text: mb.t("chart.y"), standoff: 8 },
        automargin: true,
        range: [0, 1.08],
        tickformat: ".0%",
        fixedrange: true,
      },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { family: getComputedStyle(document.documentElement).fontFamily, size: 12 },
      showlegend: false,
    };
    Plotly.react(el, [trace], layout, { displayModeBar: false, responsive: true });
  }

  function render(result) {
    const probs = result.probabilities;
    const top = document.getElementById("top-class");
    top.textContent = String(result.prediction);
    top.dataset.prediction = String(result.prediction);
    top.classList.remove("empty");
    document.getElementById("top-prob").textContent = mb.t("result.prob", {
      p: percent(probs[result.prediction]),
    });
    const caption = document.getElementById("top-caption");
    caption.dataset.i18n = "result.caption";
    caption.textContent = mb.t("result.caption");
    drawBars(probs);
    setDownloads(result);
    renderSteps(result.steps);
    renderLayers(result.layers);
    renderWeights(result.top_units);
    mb.setStatus(mb.t("status.model", { m: result.model }));
    document.body.dataset.state = "predicted";
  }

  // Each step image is drawn in the 112x112 frame: the crop scaled to fit, the others at four
  // screen pixels per image pixel (the 28x28 frame fills it), so steps 2-4 share one scale.
  function renderSteps(steps) {
    if (!steps) return;
    const set = (id, src, size, scale, detail) => {
      const img = document.querySelector(`#${id} img`);
      img.src = src;
      img.style.width = `${Math.max(1, Math.round(size[1] * scale))}px`;
      img.style.height = `${Math.max(1, Math.round(size[0] * scale))}px`;
      document.querySelector(`#${id} .detail`).textContent = detail;
    };
    const [ch, cw] = steps.crop_size;
    const [rh, rw] = steps.resized_size;
    set("step-crop", steps.crop, steps.crop_size, 112 / Math.max(ch, cw), `${cw}×${ch} px`);
    set("step-resized", steps.resized, steps.resized_size, 4, `${rw}×${rh} px`);
    set("step-final", steps.final, [28, 28], 4, "28×28 → 784");
    drawShift(steps);
  }

  // Step 3: the 20x20 digit pasted in the 28x28 frame, its centre of mass (red dot), the frame's
  // centre (cross) and the shift that moves one onto the other.
  function drawShift(steps) {
    const canvas = document.querySelector("#step-shift canvas");
    const c = canvas.getContext("2d");
    const scale = canvas.width / 28;
    const img = new Image();
    img.onload = () => {
      c.imageSmoothingEnabled = false;
      c.clearRect(0, 0, canvas.width, canvas.height);
      c.drawImage(img, 0, 0, canvas.width, canvas.height);
      const [cy, cx] = steps.center_of_mass;
      const centre = 14 * scale; // pixel centres: 13.5 + 0.5
      c.strokeStyle = "#39d353";
      c.lineWidth = 2;
      c.beginPath();
      c.moveTo(centre - 12, centre);
      c.lineTo(centre + 12, centre);
      c.moveTo(centre, centre - 12);
      c.lineTo(centre, centre + 12);
      c.stroke();
      const px = (cx + 0.5) * scale;
      const py = (cy + 0.5) * scale;
      c.strokeStyle = "#ff5a4e";
      c.beginPath();
      c.moveTo(px, py);
      c.lineTo(centre, centre);
      c.stroke();
      c.fillStyle = "#ff5a4e";
      c.strokeStyle = "#ffffff";
      c.lineWidth = 1;
      c.beginPath();
      c.arc(px, py, 4.5, 0, 2 * Math.PI);
      c.fill();
      c.stroke();
    };
    img.src = steps.placed;
    const [dy, dx] = steps.shift;
    document.querySelector("#step-shift .detail").textContent = mb.t("steps.shift.detail", {
      dy: dy > 0 ? `↓${dy}` : dy < 0 ? `↑${-dy}` : "0",
      dx: dx > 0 ? `→${dx}` : dx < 0 ? `←${-dx}` : "0",
    });
  }

  // A colour for v in [0, 1]: dark blue-black through purple and orange to pale yellow.
  const HEAT = [
    [0.0, [12, 12, 30]],
    [0.35, [98, 32, 110]],
    [0.65, [222, 86, 56]],
    [1.0, [252, 236, 160]],
  ];
  function heat(v) {
    const x = Math.min(1, Math.max(0, v));
    for (let i = 1; i < HEAT.length; i++) {
      const [x1, c1] = HEAT[i];
      const [x0, c0] = HEAT[i - 1];
      if (x <= x1) {
        const f = (x - x0) / (x1 - x0);
        return c0.map((a, k) => Math.round(a + f * (c1[k] - a)));
      }
    }
    return HEAT[HEAT.length - 1][1];
  }

  function renderLayers(layers) {
    const box = document.getElementById("layers");
    box.replaceChildren();
    for (const layer of layers) {
      const values = layer.values;
      const max = Math.max(...values);
      const scale = layer.activation === "sigmoid" ? 1 : max > 0 ? max : 1;
      const rows = Math.ceil(values.length / 64); // at most 64 cells a row, rows equally full
      const perRow = Math.ceil(values.length / rows);
      const cell = 12;
      const canvas = document.createElement("canvas");
      canvas.width = perRow * cell;
      canvas.height = rows * cell;
      canvas.className = "heat-strip";
      canvas.dataset.units = String(values.length);
      const c = canvas.getContext("2d");
      values.forEach((v, i) => {
        const [r, g, b] = heat(v / scale);
        c.fillStyle = `rgb(${r},${g},${b})`;
        c.fillRect((i % perRow) * cell, Math.floor(i / perRow) * cell, cell - 1, cell - 1);
      });
      // Hovering a cell tells which unit it is and its activation.
      canvas.addEventListener("mousemove", (event) => {
        const rect = canvas.getBoundingClientRect();
        const col = Math.floor(((event.clientX - rect.left) * canvas.width) / rect.width / cell);
        const r = Math.floor(((event.clientY - rect.top) * canvas.height) / rect.height / cell);
        const i = r * perRow + col;
        canvas.title = i < values.length ? `${mb.t("net.unit", { u: i })}: ${values[i]}` : "";
      });
      const row = document.createElement("div");
      row.className = "layer-row";
      const name = document.createElement("div");
      name.className = "name";
      const title = document.createElement("b");
      title.textContent = mb.t("net.layer", { i: layer.index });
      const detail = document.createElement("small");
      const act = { relu: "ReLU", sigmoid: "sigmoid", tanh: "tanh" }[layer.activation] || layer.activation;
      detail.textContent = mb.t("net.layer.detail", { n: layer.units, act });
      const maxText = document.createElement("small");
      maxText.textContent = mb.t("net.layer.max", { v: max.toFixed(3) });
      name.append(title, detail, maxText);
      row.append(name, canvas);
      box.appendChild(row);
    }
  }

  function renderWeights(top) {
    const box = document.getElementById("weights");
    box.replaceChildren();
    if (!top) return;
    top.units.forEach((unit, k) => {
      const w = top.weights[k];
      const m = Math.max(1e-12, ...w.map(Math.abs));
      const canvas = document.createElement("canvas");
      canvas.width = 28;
      canvas.height = 28;
      canvas.className = "pixelated";
      const c = canvas.getContext("2d");
      const image = c.createImageData(28, 28);
      for (let i = 0; i < 784; i++) {
        const v = w[i] / m;
        const a = Math.abs(v);
        // white at 0, red for positive, blue for negative
        const rgb = v >= 0 ? [255, 255 - 200 * a, 255 - 220 * a] : [255 - 220 * a, 255 - 170 * a, 255];
        image.data.set([...rgb.map(Math.round), 255], 4 * i);
      }
      c.putImageData(image, 0, 0);
      const fig = document.createElement("figure");
      fig.className = "weight-tile";
      const label = document.createElement("figcaption");
      label.textContent = `${mb.t("net.unit", { u: unit })} · ${top.activations[k].toFixed(2)}`;
      fig.append(canvas, label);
      box.appendChild(fig);
    });
  }

  // -- models ---------------------------------------------------------------------------------

  function renderModels(defaultId) {
    const select = document.getElementById("model");
    const chosen = select.value || defaultId;
    select.replaceChildren();
    for (const m of models) {
      const option = document.createElement("option");
      option.value = m.id;
      option.textContent = mb.modelLabel(m);
      select.appendChild(option);
    }
    if (chosen) select.value = chosen;
  }

  async function loadModels() {
    const answer = await mb.api("/api/models");
    if (!answer.ok) {
      mb.setStatus(answer.data.error, true);
      return;
    }
    models = answer.data.models;
    renderModels(answer.data.default);
    // a shared link's model (#model=...): chosen, nothing sent until something is drawn
    const select = document.getElementById("model");
    mb.restoreForm([select]);
    mb.trackState(() => ({ model: select.value }));
  }

  function init() {
    pad = document.getElementById("pad");
    ctx = pad.getContext("2d");
    clearPad();
    pad.addEventListener("pointerdown", onDown);
    pad.addEventListener("pointermove", onMove);
    pad.addEventListener("pointerup", onUp);
    pad.addEventListener("pointercancel", onUp);
    document.getElementById("clear").addEventListener("click", () => {
      strokes.length = 0;
      redraw();
      predictNow();
    });
    document.getElementById("undo").addEventListener("click", () => {
      strokes.pop();
      redraw();
      predictNow();
    });
    document.getElementById("model").addEventListener("change", predictNow);
    document.addEventListener("mb:models-changed", () => loadModels()); // an upload (common.js)
    mb.onLanguageChange(() => {
      renderModels();
      if (lastResult) render(lastResult);
      else showEmpty();
    });
    showEmpty();
    loadModels();
  }

  document.addEventListener("DOMContentLoaded", init);
  return { strokes, predictNow };
})();
