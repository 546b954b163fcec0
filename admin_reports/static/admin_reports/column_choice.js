// The report form's column list: each column's ↑ and ↓ buttons move it in the list,
// whose order is the order the ticked columns are posted in, and so the file's. The
// buttons are keyboard-operable; a move keeps the focus on the button and is read
// out. A preset picked shows its columns, the list locked: the preset's choice runs.
"use strict";
(function () {
  const box = document.querySelector(".report-columns");
  if (!box) return;
  const list = box.querySelector(".report-column-list");
  const status = box.querySelector("[data-column-status]");
  const preset = document.querySelector("select[name=preset]");
  const presetColumns = preset ? JSON.parse(preset.dataset.columns || "{}") : {};
  const presetNote = document.getElementById("report-columns-preset");
  const items = () => Array.from(list.children);
  const label = (item) => item.querySelector("label").textContent.trim();
  const checkbox = (item) => item.querySelector("input[type=checkbox]");

  // Without this script the list still ticks and unticks; the arrows need it.
  for (const moves of box.querySelectorAll(".report-column-moves")) moves.hidden = false;

  // The first column cannot go up, nor the last down: said, not disabled (a disabled
  // button would lose the focus the moment its column reaches the end).
  function refresh() {
    const all = items();
    all.forEach((item, index) => {
      item.querySelector(".report-column-up").setAttribute("aria-disabled", index === 0);
      item.querySelector(".report-column-down").setAttribute(
        "aria-disabled", index === all.length - 1);
    });
  }

  list.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button || box.disabled) return;
    const item = button.closest("li");
    const up = button.classList.contains("report-column-up");
    const other = up ? item.previousElementSibling : item.nextElementSibling;
    if (!other) return;
    list.insertBefore(item, up ? other : other.nextElementSibling);
    button.focus();
    refresh();
    const position = items().indexOf(item) + 1;
    status.textContent = interpolate(
      gettext("%(label)s moved to position %(position)s of %(count)s."),
      { label: label(item), position: position, count: items().length }, true);
  });

  // (name, ticked) of each column, in the list's order.
  const arrangement = () => items().map((item) => [item.dataset.column, checkbox(item).checked]);
  function arrange(order) {
    for (const [name, ticked] of order) {
      const item = list.querySelector(`li[data-column="${CSS.escape(name)}"]`);
      if (!item) continue; // a column the definition no longer has
      list.appendChild(item);
      checkbox(item).checked = ticked || item.classList.contains("report-column-always");
    }
    refresh();
  }

  // The preset's columns in its order, then the others unticked; none saved: all.
  let own = null; // the list as it was before a preset was picked
  function showPreset() {
    const picked = preset && preset.value;
    if (picked && !own) own = arrangement();
    if (picked) {
      const saved = presetColumns[preset.value];
      const byIndex = items().sort((a, b) => a.dataset.index - b.dataset.index)
        .map((item) => item.dataset.column);
      arrange(saved
        ? [...saved.map((name) => [name, true]),
          ...byIndex.filter((name) => !saved.includes(name)).map((name) => [name, false])]
        : byIndex.map((name) => [name, true]));
    } else if (own) {
      arrange(own);
      own = null;
    }
    box.disabled = Boolean(picked);
    if (presetNote) presetNote.hidden = !picked;
  }
  if (preset) {
    preset.addEventListener("change", showPreset);
    showPreset();
  }
  refresh();
})();
