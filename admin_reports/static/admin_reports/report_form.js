// The report form: keep the date boxes and the quick range in step, check the form,
// download into a hidden frame, and meanwhile show the run's progress (polled from
// the server, which knows whether the run succeeded, failed or was cancelled) with a
// Cancel button. A refusal (a cap, a permission) is shown on the page.
"use strict";
(function () {
  const form = document.getElementById("report-form");
  if (!form) return;
  const panel = document.getElementById("report-progress");
  const refusal = document.getElementById("report-refusal");
  const frame = document.getElementById("report-download-frame");
  const token = form.querySelector("input[name=run_token]");
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  const quick = form.querySelector("select[name=quick_range]");
  const start = form.querySelector("input[name=start]");
  const end = form.querySelector("input[name=end]");
  const show = (id, text) => { document.getElementById(id).textContent = text; };
  const MISSING_RUN_LIMIT = 20; // polls answered 404: the run never started
  let timer = null;
  let missing = 0;
  let active = false;

  // Dates: a quick range shows its dates; editing a date means "Custom dates".
  const ranges = quick ? JSON.parse(quick.dataset.dates || "{}") : {};
  function fillDates() {
    const dates = ranges[quick.value];
    if (dates && start && end) { start.value = dates[0]; end.value = dates[1]; }
  }
  function datesEdited() {
    const dates = quick && ranges[quick.value];
    if (dates && (start.value !== dates[0] || end.value !== dates[1])) quick.value = "";
  }
  if (quick && start && end) {
    quick.addEventListener("change", fillDates);
    // Typing fires "input"; the admin's calendar and its "Today" link set the value
    // without an event and then focus the box.
    for (const input of [start, end]) {
      for (const type of ["input", "change", "focus"]) input.addEventListener(type, datesEdited);
    }
  }
  // A picked preset runs with its own dates, parameters and options: the fields it
  // overrides are shown disabled, and what it runs with is said under it, in words.
  // (The column list does the same for the columns: column_choice.js.)
  const preset = form.querySelector("select[name=preset]");
  if (preset) {
    const described = JSON.parse(preset.dataset.described || "{}");
    const note = document.createElement("div");
    note.className = "help report-preset-runs";
    note.id = "report-preset-runs";
    preset.closest(".form-row").appendChild(note);
    // The fields of the form's own sections; the column list and the save section
    // (and a widget's own disabled boxes) are left as they are.
    const KEPT = ["report-save-preset", "report-columns-module"];
    const overridden = () => Array.from(form.querySelectorAll(
      "fieldset.module :is(input, select, textarea)"
      + ":not([name=preset]):not([name=notify]):not([type=hidden])"
    )).filter((field) => !KEPT.includes(field.closest("fieldset.module").id));
    const showPreset = () => {
      const picked = preset.value;
      for (const field of overridden()) field.disabled = Boolean(picked);
      note.hidden = !picked;
      note.textContent = picked
        ? interpolate(gettext("The preset runs with: %(what)s."), { what: described[picked] || "" }, true)
        : "";
    };
    preset.addEventListener("change", showPreset);
    showPreset();
  }

  // Enter in the preset name saves the preset (the first button would download).
  const presetName = form.querySelector("input[name=preset_name]");
  if (presetName) {
    presetName.addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault();
      document.getElementById("report-save").click();
    });
  }

  const size = window.adminReports.size;

  function stop() {
    active = false;
    clearInterval(timer);
    document.getElementById("report-cancel").hidden = true;
  }

  function tell(message) {
    refusal.querySelector("li").textContent = message;
    refusal.hidden = false;
    refusal.scrollIntoView({ block: "nearest" });
  }

  // Nothing started: the message says why, and the panel has nothing to show.
  function refuse(message) {
    stop();
    tell(message);
    panel.hidden = true;
    panel.dataset.status = "refused";
  }

  async function poll(settled = false) {
    const response = await fetch(form.dataset.statusUrl + token.value + "/", {
      credentials: "same-origin", headers: { Accept: "application/json" },
    });
    if (!active) return;
    if (response.status === 404) {
      missing += 1;
      if (settled || missing >= MISSING_RUN_LIMIT) refuse(gettext("The report did not start."));
      return;
    }
    if (!response.ok) return;
    const run = await response.json();
    window.adminReports.showProgress(run, show);
    panel.dataset.status = run.status;
    if (run.error) {
      const error = document.getElementById("report-error");
      error.textContent = run.error;
      error.hidden = false;
    }
    if (run.finished) stop();
  }

  // A download does not load the frame with a page; a refusal (429, 403, 400) does.
  // Anything else there (an error page) came after the server answered, when a run that
  // started exists: one poll tells.
  frame.addEventListener("load", () => {
    if (!active) return;
    let page = null;
    try { page = frame.contentDocument; } catch (error) { /* another origin's page */ }
    const text = page && page.querySelector(
      ".messagelist:not(#report-refusal) .error, .errornote"
    );
    if (text && text.textContent.trim()) refuse(text.textContent.trim());
    else poll(true);
  });

  // form.action would be the input named "action", not the form's URL.
  const formUrl = () => form.getAttribute("action") || window.location.href;

  // The server's check of the form; false when the page itself must tell (errors, a
  // refusal): then it is submitted as `step`, or the refusal shown.
  async function checked(step, refused = refuse) {
    refusal.hidden = true;
    const data = new FormData(form);
    data.set("_report_step", "validate");
    const response = await fetch(formUrl(), {
      method: "POST", body: data, credentials: "same-origin",
    });
    // Not JSON (a login page after the session ended...): submit, and the page tells.
    const result = await response.json().catch(() => ({ valid: false }));
    if (result.refusal) { refused(result.refusal); return false; }
    if (!result.valid) { // let the page show the errors
      form.target = "";
      submitAs(form, step);
      return false;
    }
    return true;
  }

  // Preview: the page answers with itself, its preview section filled; only that
  // section is taken. Cancel aborts the request, which stops the query (the server
  // notices the client leave).
  const waiting = document.getElementById("report-preview-waiting");
  let previewing = null;
  async function preview() {
    // A refusal of the preview leaves a download's progress panel as it is.
    if (previewing || !(await checked("preview", tell))) return;
    const data = new FormData(form);
    data.set("_report_step", "preview");
    previewing = new AbortController();
    waiting.hidden = false;
    waiting.querySelector("span").textContent = gettext("Running the preview…");
    document.getElementById("report-preview-cancel").hidden = false;
    try {
      const response = await fetch(formUrl(), {
        method: "POST", body: data, credentials: "same-origin", signal: previewing.signal,
      });
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById("report-preview");
      const error = page.querySelector(".messagelist .error, .errornote");
      if (fresh && !fresh.hidden) {
        document.getElementById("report-preview").replaceWith(document.importNode(fresh, true));
        waiting.hidden = true;
        document.getElementById("report-preview").scrollIntoView({ block: "nearest" });
      } else if (error) {
        waiting.hidden = true;
        tell(error.textContent.trim());
      } else {
        submitAs(form, "preview"); // something else: the page tells
      }
    } catch (error) {
      if (error.name !== "AbortError") throw error;
      waiting.querySelector("span").textContent = gettext("The preview was cancelled.");
      document.getElementById("report-preview-cancel").hidden = true;
    } finally {
      previewing = null;
    }
  }
  document.getElementById("report-preview-cancel").addEventListener("click", () => {
    if (previewing) previewing.abort();
  });

  form.addEventListener("submit", async (event) => {
    datesEdited(); // whatever way the dates changed, the server sees what the boxes show
    const button = event.submitter;
    if (button && button.value === "preview") {
      event.preventDefault();
      await preview();
      return;
    }
    if (!button || button.value !== "download") return; // save preset: a normal POST
    event.preventDefault();
    delete panel.dataset.status; // a new try: no status until there is one
    if (!(await checked("download"))) return;
    token.value = uuid4();
    active = true;
    missing = 0;
    form.target = "report-download";
    submitAs(form, "download");
    form.target = "";
    panel.hidden = false;
    panel.dataset.status = "starting";
    document.getElementById("report-cancel").hidden = false;
    document.getElementById("report-error").hidden = true;
    show("report-status", gettext("Starting"));
    show("report-rows", "0");
    show("report-bytes", size(0));
    show("report-elapsed", "0.0 s");
    panel.scrollIntoView({ behavior: "smooth", block: "nearest" });
    clearInterval(timer);
    timer = setInterval(() => poll(), 700);
  });

  function uuid4() {
    if (crypto.randomUUID) return crypto.randomUUID(); // only on HTTPS and localhost
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return hex.replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, "$1-$2-$3-$4-$5");
  }

  function submitAs(form, step) {
    // form.submit() sends no button value: carry the step in a field for this submit only.
    const input = document.createElement("input");
    input.type = "hidden";
    input.name = "_report_step";
    input.value = step;
    form.appendChild(input);
    HTMLFormElement.prototype.submit.call(form);
    input.remove();
  }

  document.getElementById("report-cancel").addEventListener("click", async () => {
    await fetch(form.dataset.cancelUrl + token.value + "/", {
      method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf },
    });
    poll();
  });
})();
