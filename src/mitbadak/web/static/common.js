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
      option.textContent = model.label;
      select.appendChild(option);
      select.value = model.id;
    }
    setStatus(t("upload.done", { m: model.label }));
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
    uploadModel,
    get lang() {
      return lang;
    },
  };
})();
