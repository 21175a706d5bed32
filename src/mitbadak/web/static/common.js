// Shared by every playground page: the top bar's language toggle, UI strings in English and
// Korean, and a small JSON fetch helper. Pages add their strings with mb.addStrings(). The server
// writes the top bar and the nav links (static/shell.html, the PAGES table in web/app.py); a page's
// nav label is its "nav.NAME" string below.
"use strict";

const mb = (() => {
  const strings = {
    en: {
      "brand.sub": "Deep Learning from Scratch playground",
      "nav.draw": "Draw",
      "nav.train": "Train",
      "nav.graph": "Graph",
      "nav.descent": "Descent",
      "nav.conv": "Convolution",
      "upload.label": "Your model file",
      "upload.done": "uploaded: {m}",
      "lang.toggle": "한국어",
      "model.label": "Model",
      "model.acc": "test accuracy {p}%",
      "model.acc.book": "test accuracy {p}% (book)",
      "model.none": "no accuracy recorded",
      "model.uploaded": "uploaded",
      "model.edition": "{y} book",
      "error.network": "The server did not answer",
    },
    ko: {
      "brand.sub": "밑바닥부터 시작하는 딥러닝 놀이터",
      "nav.draw": "숫자 그리기",
      "nav.train": "학습",
      "nav.graph": "계산 그래프",
      "nav.descent": "경사 하강",
      "nav.conv": "합성곱",
      "upload.label": "내 모델 파일",
      "upload.done": "올림: {m}",
      "lang.toggle": "English",
      "model.label": "모델",
      "model.acc": "시험 정확도 {p}%",
      "model.acc.book": "시험 정확도 {p}% (책)",
      "model.none": "정확도 기록 없음",
      "model.uploaded": "올린 파일",
      "model.edition": "{y}년판 책",
      "error.network": "서버가 응답하지 않습니다",
    },
  };
  const listeners = [];
  let lang = "en";
  try {
    const saved = window.localStorage.getItem("mitbadak.lang");
    if (saved === "ko" || saved === "en") lang = saved;
    else if ((navigator.language || "").toLowerCase().startsWith("ko")) lang = "ko";
  } catch (_err) {
    // storage unavailable (private mode): keep English
  }
  // A shared link's language wins (the page state lives in the URL's #fragment).
  const linked = new URLSearchParams(window.location.hash.slice(1)).get("lang");
  if (linked === "ko" || linked === "en") lang = linked;

  // -- the page's state in its URL: #key=value&... (the fragment never reaches the server) ----
  // Restoring a link only fills the form: no page starts a run or an upload on load.
  let stateSource = null; // () => {key: value} of the page's form

  function linkState() {
    return new URLSearchParams(window.location.hash.slice(1));
  }

  // Write the page's form (and the language) into the URL, replacing the history entry.
  function saveState() {
    if (!stateSource) return; // the page has not restored its link yet
    const params = new URLSearchParams();
    const values = stateSource ? stateSource() : {};
    for (const [k, v] of Object.entries(values)) {
      if (v !== undefined && v !== null && String(v) !== "") params.set(k, String(v));
    }
    params.set("lang", lang);
    const hash = `#${params.toString()}`;
    if (window.location.hash !== hash) window.history.replaceState(null, "", hash);
  }

  // The page's form as {key: value}: each element's name (or id); a checkbox is "1" or "".
  function formValues(elements) {
    const values = {};
    for (const el of elements) {
      const key = el.name || el.id;
      values[key] = el.type === "checkbox" ? (el.checked ? "1" : "") : el.value;
    }
    return values;
  }

  // Put the link's values into the elements (a select only takes one of its enabled options);
  // returns the keys it set. Fires no events: nothing is computed or started by this.
  function restoreForm(elements) {
    const params = linkState();
    const set = [];
    for (const el of elements) {
      const key = el.name || el.id;
      if (!params.has(key)) continue;
      const value = params.get(key);
      if (el.type === "checkbox") el.checked = value === "1";
      else if (el.tagName === "SELECT") {
        if (![...el.options].some((o) => o.value === value && !o.disabled)) continue;
        el.value = value;
      } else el.value = value;
      set.push(key);
    }
    return set;
  }

  // The page's form is kept in the URL from now on: source() gives its values.
  function trackState(source) {
    stateSource = source;
    // after the page's own handlers (a data set brings its recipe, an optimizer its lr)
    const later = () => setTimeout(saveState, 0);
    document.addEventListener("input", later, true);
    document.addEventListener("change", later, true);
    saveState();
  }

  function addStrings(more) {
    for (const code of Object.keys(more)) Object.assign(strings[code], more[code]);
  }

  // The string for key in the current language, with {name} placeholders filled from vars.
  function t(key, vars) {
    const text = (strings[lang] && strings[lang][key]) ?? strings.en[key] ?? key;
    if (!vars) return text;
    return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
  }

  function applyI18n(root) {
    const scope = root || document;
    for (const el of scope.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    for (const el of scope.querySelectorAll("[data-i18n-title]")) {
      el.title = t(el.dataset.i18nTitle);
    }
    document.documentElement.lang = lang;
  }

  function setLanguage(code) {
    lang = code === "ko" ? "ko" : "en";
    try {
      window.localStorage.setItem("mitbadak.lang", lang);
    } catch (_err) {
      // ignore
    }
    applyI18n();
    for (const fn of listeners) fn(lang);
    if (stateSource) saveState();
  }

  function onLanguageChange(fn) {
    listeners.push(fn);
  }

  // fetch + JSON; resolves to {ok, status, data}; never throws for HTTP errors.
  async function api(path, options) {
    let response;
    try {
      response = await fetch(path, options);
    } catch (_err) {
      return { ok: false, status: 0, data: { error: t("error.network") } };
    }
    let data = null;
    try {
      data = await response.json();
    } catch (_err) {
      data = { error: `HTTP ${response.status}` };
    }
    return { ok: response.ok, status: response.status, data };
  }

  function setStatus(text, isError) {
    const el = document.getElementById("status");
    if (!el) return;
    el.textContent = text || "";
    el.classList.toggle("error", Boolean(isError));
  }

  // A model's one-line description in the page's language (GET /api/models' fields): its name,
  // an MLP's sizes or the class (SimpleConvNet, DeepConvNet; the book's edition), "uploaded",
  // and the test accuracy unless withAccuracy is false.
  function modelLabel(m, withAccuracy = true) {
    const parts = [m.name || m.label];
    if (m.layers && m.layers.length > 2) parts.push(m.layers.join("-"));
    else if (m.network) {
      const year = /^(\d{4}) book$/.exec(m.source || "");
      const source = year ? t("model.edition", { y: year[1] }) : m.source;
      parts.push(source ? `${m.network} (${source})` : m.network);
    }
    if (m.kind === "upload") parts.push(t("model.uploaded"));
    if (withAccuracy) {
      const key = m.accuracy_note === "book" ? "model.acc.book" : "model.acc";
      parts.push(m.accuracy == null ? t("model.none") : t(key, { p: (100 * m.accuracy).toFixed(2) }));
    }
    return parts.join(" · ");
  }

  // A page with <input type="file" id="model-upload"> next to its <select id="model">: the file
  // goes to POST /api/models/upload as it is; once the server has read it, the new model is
  // chosen and the page hears "mb:models-changed" (detail.id) and a "change" on the select.
  async function uploadModel(file) {
    const answer = await api(`/api/models/upload?name=${encodeURIComponent(file.name)}`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: file,
    });
    if (!answer.ok) {
      setStatus(answer.data.error, true);
      return null;
    }
    const model = answer.data.model;
    const select = document.getElementById("model");
    if (select) {
      const option = document.createElement("option");
      option.value = model.id;
      option.textContent = modelLabel(model);
      select.appendChild(option);
      select.value = model.id;
    }
    setStatus(t("upload.done", { m: modelLabel(model, false) }));
    document.dispatchEvent(new CustomEvent("mb:models-changed", { detail: { id: model.id } }));
    if (select) select.dispatchEvent(new Event("change"));
    return model;
  }

  document.addEventListener("DOMContentLoaded", () => {
    const upload = document.getElementById("model-upload");
    if (upload) {
      upload.addEventListener("change", () => {
        if (upload.files && upload.files[0]) uploadModel(upload.files[0]);
        upload.value = "";
      });
    }
    const toggle = document.getElementById("lang-toggle");
    if (toggle) {
      toggle.addEventListener("click", () => setLanguage(lang === "ko" ? "en" : "ko"));
    }
    applyI18n();
  });

  return {
    addStrings,
    t,
    applyI18n,
    setLanguage,
    onLanguageChange,
    api,
    setStatus,
    linkState,
    formValues,
    restoreForm,
    trackState,
    saveState,
    uploadModel,
    modelLabel,
    get lang() {
      return lang;
    },
  };
})();
