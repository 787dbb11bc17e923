// Keyboard-first reviewing (j/k move, c claim, 1–4 decision, p promote, s skip, ? help)
// and label drafts that survive a reload. The pages work without this file.
(function () {
  // Inputs that take typed text. A focused radio or checkbox (after pressing 1–4) does
  // not: shortcuts keep working there.
  const NOT_TEXT = ["radio", "checkbox", "button", "submit", "reset", "hidden", "range", "color", "file", "image"];
  function typing(e) {
    const t = e.target;
    if (t.isContentEditable || ["TEXTAREA", "SELECT"].includes(t.tagName)) return true;
    return t.tagName === "INPUT" && !NOT_TEXT.includes(t.type);
  }
  function rows() { return Array.from(document.querySelectorAll("tr.row")); }
  function move(step) {
    const all = rows();
    if (!all.length) {
      // Item page: j/k go to the next / previous item in queue order.
      const link = document.getElementById(step > 0 ? "next-item" : "prev-item");
      if (link) window.location = link.href;
      return;
    }
    let i = all.findIndex(r => r.classList.contains("sel"));
    if (i >= 0) all[i].classList.remove("sel");
    i = Math.min(Math.max(i + step, 0), all.length - 1);
    all[i].classList.add("sel"); all[i].scrollIntoView({block: "nearest"});
  }
  function submit(id) { const f = document.getElementById(id); if (f) f.requestSubmit(); }
  function toggleHelp(show) {
    const help = document.getElementById("help");
    if (help) help.hidden = show === undefined ? !help.hidden : !show;
  }

  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape") { toggleHelp(false); return; }
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      // Save & next, from anywhere on the item page (criteria textarea included).
      const next = document.getElementById("save-next");
      if (!next || next.disabled) return;
      e.preventDefault();
      next.form.requestSubmit(next);
      return;
    }
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    const sel = document.querySelector("tr.row.sel");
    switch (e.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "Enter": if (!sel) return; window.location = sel.dataset.href; break;
      case "c":  // on an item nobody holds: claim this one; elsewhere: the next one
        submit(document.getElementById("claim-item-form") ? "claim-item-form" : "claim-form");
        break;
      case "s": submit("skip-form"); break;
      case "p": {
        const p = document.getElementById("promote-form");
        if (!p) return;
        p.scrollIntoView({block: "start"});
        const f = p.querySelector("select, input:not([type=hidden]), textarea"); if (f) f.focus();
        break;
      }
      case "e": {
        // Edit the pass/fail criteria (the loop: c, read, 1–4, e, type, Ctrl+Enter).
        const criteria = document.querySelector("#label-form textarea[name=criteria]");
        if (!criteria || criteria.matches(":disabled")) return;
        criteria.focus();
        break;
      }
      case "?": toggleHelp(); break;
      default:
        if (/^[1-4]$/.test(e.key)) {
          const radios = document.querySelectorAll("#label-form input[name=decision]");
          const r = radios[Number(e.key) - 1];
          if (!r || r.matches(":disabled")) return;  // a read-only (fieldset disabled) form
          r.checked = true; r.focus(); r.dispatchEvent(new Event("change", {bubbles: true}));
        } else return;
    }
    e.preventDefault();
  });
  document.addEventListener("click", function (e) {
    if (e.target.closest("[data-help]")) { toggleHelp(); return; }
    const navToggle = e.target.closest("[data-nav-toggle]");
    if (navToggle) {  // the narrow-screen menu
      const open = navToggle.closest(".topbar").classList.toggle("nav-open");
      navToggle.setAttribute("aria-expanded", String(open));
      return;
    }
    if (e.target.closest("#help") && !e.target.closest(".help-card")) { toggleHelp(false); return; }
    const row = e.target.closest("tr.row");
    if (row && !e.target.closest("a, input, label, .pick")) window.location = row.dataset.href;
  });

  // --- drafts: the label form is saved to localStorage per item + version --------------
  function fields(form) {
    return Array.from(form.elements).filter(el =>
      el.name && !["csrfmiddlewaretoken", "version"].includes(el.name) && el.type !== "submit");
  }
  function snapshot(form) {
    const data = {};
    for (const el of fields(form)) {
      if (el.type === "radio" || el.type === "checkbox") {
        data[el.name] = data[el.name] || [];
        if (el.checked) data[el.name].push(el.value);
      } else data[el.name] = el.value;
    }
    return data;
  }
  function restore(form, data) {
    for (const el of fields(form)) {
      if (!(el.name in data)) continue;
      if (el.type === "radio" || el.type === "checkbox") el.checked = data[el.name].includes(el.value);
      else el.value = data[el.name];
    }
  }
  function setupDraft() {
    const form = document.getElementById("label-form");
    if (!form || !window.localStorage) return;
    const key = form.dataset.draftKey;
    const initial = JSON.stringify(snapshot(form));
    const saved = localStorage.getItem(key);
    // A server-rendered error (e.g. a stale edit) already shows the reviewer's input.
    if (saved && saved !== initial && !document.querySelector(".conflict")) {
      try {
        restore(form, JSON.parse(saved));
        const note = form.querySelector(".draft-note");
        if (note) note.hidden = false;
      } catch (err) { localStorage.removeItem(key); }
    }
    const save = () => {
      const now = JSON.stringify(snapshot(form));
      if (now === initial) localStorage.removeItem(key); else localStorage.setItem(key, now);
    };
    form.addEventListener("input", save);
    form.addEventListener("change", save);
    form.addEventListener("submit", () => {
      // Drafts of this item (any version) are done once the label is sent.
      const prefix = key.slice(0, key.lastIndexOf(":") + 1);
      Object.keys(localStorage).filter(k => k.startsWith(prefix)).forEach(k => localStorage.removeItem(k));
    });
    const discard = form.querySelector("[data-draft-discard]");
    if (discard) discard.addEventListener("click", () => {
      localStorage.removeItem(key); window.location.reload();
    });
  }
  // Back to a page restored from the back/forward cache: its lease state is stale.
  window.addEventListener("pageshow", function (e) { if (e.persisted) window.location.reload(); });
  // Hide the no-JS filter button: htmx filters on change.
  document.documentElement.classList.add("js");
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setupDraft);
  else setupDraft();
})();
