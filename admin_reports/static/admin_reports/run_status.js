// A run's page in the run log: while the run is unfinished, poll its status (the
// server knows it, whichever process runs it), show its progress, offer Cancel, and
// the Download link once its file is stored.
"use strict";
(function () {
  const panel = document.getElementById("report-progress");
  if (!panel) return;
  const show = (id, text) => { document.getElementById(id).textContent = text; };
  const cancel = document.getElementById("report-cancel");
  const KEPT_MESSAGES = "admin-reports-run-messages";
  const kept = sessionStorage.getItem(KEPT_MESSAGES);
  if (kept !== null) {
    sessionStorage.removeItem(KEPT_MESSAGES);
    if (!document.querySelector("ul.messagelist")) {
      document.getElementById("content").insertAdjacentHTML("beforebegin", kept);
    }
  }
  let timer = null;

  function render(run) {
    panel.dataset.status = run.status;
    window.adminReports.showProgress(run, show);
    const error = document.getElementById("report-error");
    error.hidden = !run.error;
    error.textContent = run.error;
    if (run.file_url) {
      document.getElementById("report-file-link").href = run.file_url;
      document.getElementById("report-file").hidden = false;
    }
    if (run.finished) {
      clearInterval(timer);
      if (cancel) cancel.hidden = true;
      // The run's fields below were read when it was unfinished: show them as they are
      // now, keeping the page's messages ("… runs in the background") across the reload.
      const messages = document.querySelector("ul.messagelist");
      if (messages) sessionStorage.setItem(KEPT_MESSAGES, messages.outerHTML);
      window.location.reload();
    }
  }

  async function poll() {
    const response = await fetch(panel.dataset.statusUrl, { credentials: "same-origin" });
    if (response.ok) render(await response.json());
  }

  if (cancel) {
    cancel.addEventListener("click", async () => {
      cancel.disabled = true;
      const response = await fetch(panel.dataset.cancelUrl, {
        method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": cancel.dataset.csrf },
      });
      if (response.ok) render(await response.json());
    });
  }
  if (!cancel) return; // finished when the page was made: nothing changes any more
  poll();
  timer = setInterval(poll, 1000);
})();
