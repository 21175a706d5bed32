// The convolution page: draw or pick a digit, pick a convnet, step through im2col, max pooling
// and their backward pass. Every number comes from the server (POST /api/conv, GET
// /api/conv/filters: mitbadak.views.convolution_steps); this script only draws them.
"use strict";

const conv = (() => {
  mb.addStrings({
    en: {
      "conv.input": "A digit",
      "conv.clear": "Clear",
      "conv.sample": "or MNIST test image",
      "conv.use": "Use",
      "conv.none": "This page needs a convolutional network (a SimpleConvNet or DeepConvNet), and the server has none. Get the book's: mitbadak data download book-convnets, then mitbadak serve params.pkl; or train one: mitbadak train --model convnet; or upload a model file (top of the page).",
      "conv.im2col": "im2col, one window at a time",
      "conv.window": "the window on the image (28×28 input)",
      "conv.gemm": "row {k} of im2col(x, {fh}, {fw}) (1×{n}) · the filter matrix ({n}×{fn}) + b = output pixel ({i}, {j}) of all {fn} maps",
      "conv.out": "map {f} of {fn}: pixel ({i}, {j}) = {v}",
      "conv.k": "window {k} of {rows}",
      "conv.pool": "Max pooling: each window keeps its largest value",
      "conv.channel": "channel",
      "conv.poolk": "window",
      "conv.pooltext": "window ({i}, {j}): [{vals}] → keeps {v} (argmax {a})",
      "conv.pin": "the pooling's input ({layer} output), channel {c}",
      "conv.argmax": "where each window's maximum is (the argmax kept)",
      "conv.pooled": "the pooled map",
      "conv.back": "Backward: the gradient of the top score",
      "conv.b.pool": "pooling backward: each gradient sent to its window's argmax",
      "conv.b.conv": "through the ReLU: the gradient of the convolution's output",
      "conv.b.over": "col2im adds overlapping windows: how many cover each pixel",
      "conv.b.dx": "col2im(dcol): the gradient of the input image",
      "conv.maps": "Feature maps of every convolution and pooling layer",
      "conv.filters": "The first layer's filters, before and after training",
      "conv.before": "before (initial weights)",
      "conv.after": "after (trained weights)",
      "conv.src.seed": "Before: this run's initial weights, drawn again from its seed {s}.",
      "conv.src.recipe": "Before: a fresh draw of the same recipe (seed 0): the file records no seed.",
      "conv.verdict": "{net} reads: {d} ({p}%)",
      "conv.label": " · label {t}",
      "upload.label": "Your model file",
      "upload.done": "uploaded: {m}",
    },
    ko: {
      "conv.input": "숫자",
      "conv.clear": "지우기",
      "conv.sample": "또는 MNIST 시험 이미지",
      "conv.use": "사용",
      "conv.none": "이 페이지에는 합성곱 신경망(SimpleConvNet 또는 DeepConvNet)이 필요한데, 서버에 하나도 없습니다. 책의 가중치를 받으려면 mitbadak data download book-convnets 후 mitbadak serve params.pkl, 직접 학습하려면 mitbadak train --model convnet을 실행하거나, 페이지 위쪽에서 모델 파일을 올리세요.",
      "conv.im2col": "im2col, 창 하나씩",
      "conv.window": "이미지 위의 창 (28×28 입력)",
      "conv.gemm": "im2col(x, {fh}, {fw})의 {k}번째 행 (1×{n}) · 필터 행렬 ({n}×{fn}) + b = {fn}개 특징 맵의 출력 픽셀 ({i}, {j})",
      "conv.out": "특징 맵 {f}/{fn}: 픽셀 ({i}, {j}) = {v}",
      "conv.k": "창 {k} / {rows}",
      "conv.pool": "최대 풀링: 창마다 가장 큰 값을 남긴다",
      "conv.channel": "채널",
      "conv.poolk": "창",
      "conv.pooltext": "창 ({i}, {j}): [{vals}] → {v} 남김 (argmax {a})",
      "conv.pin": "풀링의 입력 ({layer} 출력), 채널 {c}",
      "conv.argmax": "각 창의 최댓값 위치 (남기는 argmax)",
      "conv.pooled": "풀링한 맵",
      "conv.back": "역전파: 최고 점수의 기울기",
      "conv.b.pool": "풀링 역전파: 기울기는 각 창의 argmax로만 간다",
      "conv.b.conv": "ReLU를 지나: 합성곱 출력의 기울기",
      "conv.b.over": "col2im은 겹치는 창을 더한다: 픽셀마다 덮는 창의 수",
      "conv.b.dx": "col2im(dcol): 입력 이미지의 기울기",
      "conv.maps": "모든 합성곱·풀링 계층의 특징 맵",
      "conv.filters": "첫 계층의 필터, 학습 전과 후",
      "conv.before": "학습 전 (초기 가중치)",
      "conv.after": "학습 후 (학습된 가중치)",
      "conv.src.seed": "학습 전: 이 실행의 초기 가중치 (시드 {s}로 다시 뽑음).",
      "conv.src.recipe": "학습 전: 같은 방식으로 새로 뽑은 가중치 (시드 0): 파일에 시드 기록이 없다.",
      "conv.verdict": "{net}의 판단: {d} ({p}%)",
      "conv.label": " · 정답 {t}",
      "upload.label": "내 모델 파일",
      "upload.done": "올림: {m}",
    },
  });

  const PEN_WIDTH = 18;
  const strokes = [];
  let pad, pctx, input = { sample: 0 }, last = null, filtersShown = null, timer = null;
  // A new digit or model: the server opens the pooling on its most active channel, at the
  // window holding that channel's largest value (channel 0's window 0 is blank for most digits).
  let reopen = true;
  let asking = 0;

  // -- drawing numbers -----------------------------------------------------------------------

  function colour(v, lim, diverging) {
    const a = lim > 0 ? Math.max(-1, Math.min(1, v / lim)) : 0;
    if (!diverging) { const g = Math.round(255 * (1 - Math.max(0, a))); return `rgb(${g},${g},${g})`; }
    if (a >= 0) { const c = Math.round(255 * (1 - a)); return `rgb(255,${c},${c})`; }
    const c = Math.round(255 * (1 + a)); return `rgb(${c},${c},255)`;
  }

  function limit(rows) {
    let m = 0;
    for (const r of rows) for (const v of r) m = Math.max(m, Math.abs(v));
    return m;
  }

  // A 2-D array as a heat map filling the canvas; diverging: red +, blue -; box: [top, left, h, w].
  function heat(canvas, rows, opts = {}) {
    const c = canvas.getContext("2d");
    const h = rows.length, w = rows[0].length;
    const cw = canvas.width / w, ch = canvas.height / h;
    const lim = opts.lim ?? limit(rows);
    c.clearRect(0, 0, canvas.width, canvas.height);
    for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) {
      c.fillStyle = colour(rows[i][j], lim, opts.diverging);
      c.fillRect(j * cw, i * ch, Math.ceil(cw), Math.ceil(ch));
    }
    if (opts.numbers) {
      c.fillStyle = "#1d2330";
      c.font = `${opts.bold ? "600 " : ""}${Math.max(9, Math.floor(ch * 0.62))}px sans-serif`;
      c.textAlign = "center"; c.textBaseline = "middle";
      for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) c.fillText(String(rows[i][j]), (j + 0.5) * cw, (i + 0.5) * ch);
    }
    for (const box of opts.boxes || []) {
      c.strokeStyle = box.colour || "#39d353"; c.lineWidth = 2;
      c.strokeRect(box.at[1] * cw, box.at[0] * ch, box.at[3] * cw, box.at[2] * ch);
    }
  }

  function fmt(v) { return Number(v).toFixed(3); }

  // -- the pad --------------------------------------------------------------------------------

  function redraw() {
    pctx.fillStyle = "#ffffff"; pctx.fillRect(0, 0, pad.width, pad.height);
    pctx.strokeStyle = "#000000"; pctx.lineWidth = PEN_WIDTH; pctx.lineCap = "round"; pctx.lineJoin = "round";
    for (const s of strokes) {
      pctx.beginPath(); pctx.moveTo(s[0][0], s[0][1]);
      for (const p of s.slice(1)) pctx.lineTo(p[0], p[1]);
      if (s.length === 1) pctx.lineTo(s[0][0] + 0.1, s[0][1]);
      pctx.stroke();
    }
  }

  function point(e) {
    const r = pad.getBoundingClientRect();
    return [(e.clientX - r.left) * (pad.width / r.width), (e.clientY - r.top) * (pad.height / r.height)];
  }

  // -- the server -----------------------------------------------------------------------------

  function model() { return document.getElementById("model").value || undefined; }

  async function analyse() {
    const body = { ...input, model: model(), k: Number(document.getElementById("k").value) };
    if (!reopen) {
      body.pool_k = Number(document.getElementById("pool-k").value);
      body.channel = Number(document.getElementById("channel").value);
    }
    reopen = false;
    const asked = ++asking; // only the latest question's answer is drawn
    document.body.dataset.pending = "1";
    const answer = await mb.api("/api/conv", {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
    });
    if (asked !== asking) return; // a later question was sent meanwhile
    delete document.body.dataset.pending;
    if (!answer.ok) { mb.setStatus(answer.data.error, true); notice(answer.data.error); return; }
    mb.setStatus("");
    notice("");
    last = answer.data;
    render();
    if (filtersShown !== last.model) loadFilters(last.model);
  }

  function later() { clearTimeout(timer); timer = setTimeout(analyse, 120); }

  async function loadFilters(id) {
    filtersShown = id;
    const answer = await mb.api(`/api/conv/filters?model=${encodeURIComponent(id)}`);
    if (filtersShown !== id) return; // another model was picked meanwhile
    if (!answer.ok) { mb.setStatus(answer.data.error, true); return; }
    const f = answer.data;
    const src = document.getElementById("filters-source");
    src.dataset.source = f.source;
    src.textContent = mb.t(`conv.src.${f.source}`, { s: f.seed });
    for (const [id2, set] of [["f-before", f.initial], ["f-after", f.final]]) {
      const box = document.getElementById(id2);
      box.replaceChildren();
      for (const filter of set) {
        const c = document.createElement("canvas"); c.width = 40; c.height = 40;
        heat(c, filter[0], { diverging: true });
        box.appendChild(c);
      }
    }
    document.body.dataset.filters = id;
  }

  // -- rendering ------------------------------------------------------------------------------

  function render() {
    if (!last) return;
    const d = last, cv = d.conv, pl = d.pool, bk = d.backward;
    const [fn, oh, ow] = cv.out_shape;
    const best = d.probabilities[d.prediction];
    document.getElementById("verdict").textContent =
      mb.t("conv.verdict", { net: d.network, d: d.prediction, p: (100 * best).toFixed(1) }) +
      (d.label == null ? "" : mb.t("conv.label", { t: d.label }));
    const k = document.getElementById("k");
    k.max = String(cv.rows - 1); k.value = String(cv.k);
    document.getElementById("k-text").textContent = mb.t("conv.k", { k: cv.k, rows: cv.rows });
    heat(document.getElementById("c-image"), d.input, { boxes: [{ at: cv.window }] });
    // the GEMM: the row (1 x n) above the filter matrix (fn x n, drawn n wide), the products
    const g = document.getElementById("c-gemm"), gc = g.getContext("2d");
    gc.clearRect(0, 0, g.width, g.height);
    const n = cv.row.length, cell = Math.min(12, Math.floor(300 / n)), fh = Math.min(6, Math.floor(180 / fn));
    const rowCanvas = document.createElement("canvas"); rowCanvas.width = n * cell; rowCanvas.height = cell;
    heat(rowCanvas, [cv.row], { lim: 1 });
    gc.drawImage(rowCanvas, 0, 0);
    const fm = document.createElement("canvas"); fm.width = n * cell; fm.height = fn * fh;
    heat(fm, cv.filter_matrix, { diverging: true });
    gc.drawImage(fm, 0, cell + 8);
    const pr = document.createElement("canvas"); pr.width = 40; pr.height = fn * fh;
    heat(pr, cv.products.map((v) => [v]), { diverging: true });
    gc.drawImage(pr, n * cell + 24, cell + 8);
    gc.fillStyle = "#1d2330"; gc.font = "13px sans-serif";
    gc.fillText("=", n * cell + 8, cell + 8 + (fn * fh) / 2);
    document.getElementById("gemm-text").textContent = mb.t("conv.gemm", {
      k: cv.k, fh: cv.window[2], fw: cv.window[3], n, fn, i: cv.position[0], j: cv.position[1],
    });
    document.getElementById("channel").value = String(pl.channel); // the server's choice, first
    const f = Math.min(pl.channel, fn - 1);
    const first = d.maps[0].values[f];
    heat(document.getElementById("c-out"), first, { diverging: true, boxes: [{ at: [cv.position[0], cv.position[1], 1, 1] }] });
    document.getElementById("out-text").textContent = mb.t("conv.out", {
      f, fn, i: cv.position[0], j: cv.position[1], v: fmt(cv.output_pixel[f]),
    });
    document.getElementById("row-values").textContent = `row = [${cv.row.map(fmt).join(", ")}]`;
    document.getElementById("row-values").dataset.row = JSON.stringify(cv.row);
    // pooling
    const pk = document.getElementById("pool-k");
    pk.max = String(pl.output.length * pl.output[0].length - 1); pk.value = String(pl.k);
    document.getElementById("channel").max = String(pl.channels - 1);
    document.getElementById("channel").value = String(pl.channel);
    const flat = pl.values.flat();
    document.getElementById("pool-text").textContent = mb.t("conv.pooltext", {
      i: pl.position[0], j: pl.position[1], vals: flat.map(fmt).join(", "), v: fmt(pl.kept), a: pl.argmax,
    });
    const aw = pl.window[3];
    const at = [pl.window[0] + Math.floor(pl.argmax / aw), pl.window[1] + (pl.argmax % aw), 1, 1];
    heat(document.getElementById("p-in"), pl.input, { boxes: [{ at: pl.window }, { at, colour: "#ff5a4e" }] });
    document.getElementById("p-in-text").textContent = mb.t("conv.pin", { layer: pl.input_layer, c: pl.channel });
    heat(document.getElementById("p-arg"), pl.argmax_map, { lim: pl.window[2] * pl.window[3] - 1, numbers: true,
      boxes: [{ at: [pl.position[0], pl.position[1], 1, 1] }] });
    heat(document.getElementById("p-out"), pl.output, { boxes: [{ at: [pl.position[0], pl.position[1], 1, 1] }] });
    // backward
    heat(document.getElementById("b-pool"), bk.pool_grad_in, { diverging: true });
    heat(document.getElementById("b-conv"), bk.conv_grad_out, { diverging: true });
    heat(document.getElementById("b-over"), bk.overlaps, { lim: limit(bk.overlaps) * 2.2, numbers: true, bold: true });
    heat(document.getElementById("b-dx"), bk.input_grad, { diverging: true });
    // feature maps
    const maps = document.getElementById("maps");
    maps.replaceChildren();
    for (const m of d.maps) {
      const div = document.createElement("div"); div.className = "layer-maps";
      const h3 = document.createElement("h3");
      h3.textContent = `${m.name} · ${m.values.length}×${m.values[0].length}×${m.values[0][0].length}`;
      const tiles = document.createElement("div"); tiles.className = "tiles";
      const side = m.values[0].length >= 20 ? 56 : 40;
      const lim = Math.max(...m.values.map(limit));
      m.values.forEach((map, c) => {
        const cnv = document.createElement("canvas"); cnv.width = side; cnv.height = side;
        cnv.dataset.layer = String(m.index); cnv.dataset.channel = String(c);
        heat(cnv, map, { diverging: true, lim });
        tiles.appendChild(cnv);
      });
      div.append(h3, tiles); maps.appendChild(div);
    }
    document.body.dataset.model = d.model;
    document.body.dataset.ready = "1";
  }

  // -- models ---------------------------------------------------------------------------------

  let models = [];

  // A refusal (the chosen model has no convolution layer) or "no convnet at all" shown where the
  // page's panels start, not only in the status line at the bottom.
  function notice(text) {
    const el = document.getElementById("conv-notice");
    const none = models.length > 0 && !models.some((m) => /ConvNet/.test(m.network || ""));
    el.dataset.error = text;
    el.textContent = none ? mb.t("conv.none") : text;
    el.hidden = !el.textContent;
  }

  // The select's options in the page's language (redrawn on a language switch).
  function renderModels(chosen) {
    const el = document.getElementById("model");
    el.replaceChildren();
    for (const m of models) {
      const o = document.createElement("option"); o.value = m.id; o.textContent = mb.modelLabel(m); el.appendChild(o);
    }
    if (chosen) el.value = chosen;
  }

  async function loadModels(select) {
    const answer = await mb.api("/api/models");
    if (!answer.ok) { mb.setStatus(answer.data.error, true); return; }
    const chosen = select || document.getElementById("model").value;
    models = answer.data.models;
    const conv = models.find((m) => /ConvNet/.test(m.network || ""));
    renderModels(chosen || (conv ? conv.id : answer.data.default || ""));
  }

  async function init() {
    pad = document.getElementById("pad"); pctx = pad.getContext("2d"); redraw();
    let drawing = false;
    pad.addEventListener("pointerdown", (e) => { drawing = true; pad.setPointerCapture(e.pointerId); strokes.push([point(e)]); redraw(); });
    pad.addEventListener("pointermove", (e) => { if (drawing) { strokes[strokes.length - 1].push(point(e)); redraw(); } });
    const up = () => { if (!drawing) return; drawing = false; input = { image: pad.toDataURL("image/png") }; reopen = true; analyse(); };
    pad.addEventListener("pointerup", up); pad.addEventListener("pointercancel", up);
    document.getElementById("clear").addEventListener("click", () => { strokes.length = 0; redraw(); });
    document.getElementById("use-sample").addEventListener("click", () => {
      input = { sample: Number(document.getElementById("sample").value) }; reopen = true; analyse();
    });
    document.getElementById("k").addEventListener("input", later);
    document.getElementById("pool-k").addEventListener("input", later);
    document.getElementById("channel").addEventListener("change", analyse);
    for (const [id, step] of [["k-prev", -1], ["k-next", 1]]) {
      document.getElementById(id).addEventListener("click", () => {
        const k = document.getElementById("k");
        k.value = String(Math.max(0, Math.min(Number(k.max), Number(k.value) + step))); analyse();
      });
    }
    document.getElementById("model").addEventListener("change", () => {
      document.getElementById("k").value = "0"; reopen = true; analyse();
    });
    document.addEventListener("mb:models-changed", (e) => loadModels(e.detail && e.detail.id));
    mb.onLanguageChange(() => { renderModels(document.getElementById("model").value); render(); notice(document.getElementById("conv-notice").dataset.error || ""); if (filtersShown) { const id = filtersShown; filtersShown = null; loadFilters(id); } });
    await loadModels();
    analyse();
  }

  document.addEventListener("DOMContentLoaded", init);
  return { strokes, analyse };
})();
