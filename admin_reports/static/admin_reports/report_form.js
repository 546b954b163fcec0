// The report form: check the form, download into a hidden frame, and meanwhile
// show the run's progress (polled from the server) with a Cancel button.
"use strict";
(function () {
  const form = document.getElementById("report-form");
  if (!form) return;
  const panel = document.getElementById("report-progress");
  const token = form.querySelector("input[name=run_token]");
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  const show = (id, text) => { document.getElementById(id).textContent = text; };
  let timer = null;

  function size(bytes) {
    const units = ["bytes", "KB", "MB", "GB"];
    let i = 0;
    while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i += 1; }
    return (i ? bytes.toFixed(1) : bytes) + " " + units[i];
  }

  async function poll() {
    const response = await fetch(form.dataset.statusUrl + token.value + "/", {
      credentials: "same-origin", headers: { Accept: "application/json" },
    });
    if (response.ok) {
      const run = await response.json();
      show("report-status", run.status_label);
      show("report-elapsed", run.elapsed.toFixed(1) + " s");
      show("report-rows", run.rows.toLocaleString());
      show("report-bytes", size(run.bytes));
      panel.dataset.status = run.status;
      if (run.error) {
        const error = document.getElementById("report-error");
        error.textContent = run.error;
        error.hidden = false;
      }
      if (run.finished) {
        clearInterval(timer);
        document.getElementById("report-cancel").disabled = true;
      }
    }
  }

  form.addEventListener("submit", async (event) => {
    const button = event.submitter;
    if (!button || button.value !== "download") return; // save preset: a normal POST
    event.preventDefault();
    const data = new FormData(form);
    data.set("_report_step", "validate");
    // form.action would be the input named "action", not the form's URL.
    const response = await fetch(form.getAttribute("action") || window.location.href, {
      method: "POST", body: data, credentials: "same-origin",
    });
    const result = response.ok ? await response.json() : { valid: false };
    if (!result.valid) { // let the page show the errors
      form.target = "";
      submitAs(form, "download");
      return;
    }
    token.value = crypto.randomUUID();
    form.target = "report-download";
    submitAs(form, "download");
    form.target = "";
    panel.hidden = false;
    document.getElementById("report-cancel").disabled = false;
    document.getElementById("report-error").hidden = true;
    show("report-status", gettext("Starting"));
    clearInterval(timer);
    timer = setInterval(poll, 700);
  });

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
