// What both progress panels (the report form's, a run's page) show of a run's status:
// its size in words, and its rows against the estimate made as it started.
"use strict";
window.adminReports = window.adminReports || {};
(function (reports) {
  reports.size = function (bytes) {
    const units = ["bytes", "KB", "MB", "GB"];
    let i = 0;
    while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i += 1; }
    return (i ? bytes.toFixed(1) : bytes) + " " + units[i];
  };

  function duration(seconds) {
    seconds = Math.round(seconds);
    if (seconds < 60) return seconds + " s";
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + " min " + (seconds % 60) + " s";
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  // "25% of about 48,000 rows, about 30 s left"; "" without an estimate, once the run
  // has ended, or when the rows went past the estimate (the planner guessed low).
  reports.share = function (run) {
    const estimate = run.rows_estimate;
    if (!estimate || run.finished || run.rows > estimate) return "";
    const percent = Math.min(99, Math.floor((100 * run.rows) / estimate));
    let text = interpolate(gettext("%(percent)s% of about %(total)s rows"), {
      percent: percent, total: estimate.toLocaleString(),
    }, true);
    const left = run.rows > 0 && run.elapsed >= 1
      ? (run.elapsed * (estimate - run.rows)) / run.rows : 0;
    if (left >= 1) {
      text += ", " + interpolate(gettext("about %(time)s left"), { time: duration(left) }, true);
    }
    return text;
  };

  // Fill a panel's figures from a status; `show(id, text)` sets one.
  reports.showProgress = function (run, show) {
    show("report-status", run.status_label);
    show("report-elapsed", run.elapsed.toFixed(1) + " s");
    show("report-rows", run.rows.toLocaleString());
    show("report-bytes", reports.size(run.bytes));
    const share = reports.share(run);
    const shareRow = document.getElementById("report-share");
    if (shareRow) {
      shareRow.textContent = share;
      shareRow.hidden = shareRow.previousElementSibling.hidden = !share;
    }
  };
})(window.adminReports);
