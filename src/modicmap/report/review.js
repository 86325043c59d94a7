// modicmap review table: the reader confirms or changes each level's and endplate's grade.
// A static report downloads review.csv; a report served by `modicmap review` (URL with a
// token) saves it to the study's folder and moves between studies with n / p.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("modicmap-data").textContent);
  const COLUMNS = ["study_id", "level", "index_from_sacrum", "endplate", "modic_machine",
    "modic_reader", "reader", "time", "note"];
  const EXTENTS = ["", "< 25 %", "25-50 %", "> 50 %"];
  const token = new URLSearchParams(window.location.search).get("token");
  const served = window.location.protocol.startsWith("http") && Boolean(token);
  const rows = data.rows.map((r) => ({ ...r, reviewed: false, extent: "", comment: "" }));
  const body = document.querySelector("#review-table tbody");
  const status = document.getElementById("review-status");
  const readerInput = document.getElementById("reader");
  let current = 0;
  let dirty = false;

  function endplateText(row) {
    const [upper, lower] = row.level.split("-");
    if (row.endplate === "upper") return `upper (${upper} inferior)`;
    if (row.endplate === "lower") return `lower (${lower} superior)`;
    return "level";
  }

  function render() {
    rows.forEach((row, i) => {
      const tr = body.children[i];
      tr.classList.toggle("reviewed", row.reviewed);
      tr.classList.toggle("current", i === current);
      for (const button of tr.querySelectorAll("button[data-grade]")) {
        button.classList.toggle("on", row.reviewed && Number(button.dataset.grade) === row.modic_reader);
      }
    });
    const done = rows.filter((r) => r.reviewed).length;
    status.textContent = `${done} of ${rows.length} reviewed${dirty ? " (not saved)" : ""}`;
  }

  function select(i) {
    current = Math.max(0, Math.min(rows.length - 1, i));
    const row = rows[current];
    if (window.modicmapViewer && window.modicmapViewer.ready) window.modicmapViewer.jump(row.level, row.endplate);
    render();
  }

  function grade(i, value) {
    Object.assign(rows[i], { modic_reader: value, reviewed: true, time: new Date().toISOString() });
    dirty = true;
    render();
  }

  function build() {
    rows.forEach((row, i) => {
      const tr = document.createElement("tr");
      tr.dataset.level = row.level;
      tr.dataset.endplate = row.endplate;
      const machine = row.modic_machine ? `type ${row.modic_machine}` : "none";
      tr.innerHTML = `<td>${row.endplate === "level" ? row.level : ""}</td><td>${endplateText(row)}</td>`
        + `<td class="m${row.modic_machine}">${machine}</td><td class="grades"></td>`
        + `<td><select aria-label="extent">${EXTENTS.map((e) => `<option>${e}</option>`).join("")}</select></td>`
        + `<td><input type="text" size="18" aria-label="comment"></td>`;
      const cell = tr.querySelector(".grades");
      const confirm = document.createElement("button");
      confirm.type = "button";
      confirm.textContent = "\u2713";
      confirm.title = "confirm the machine's grade";
      confirm.className = "confirm";
      confirm.addEventListener("click", () => { grade(i, row.modic_machine); select(i); });
      cell.appendChild(confirm);
      for (let g = 0; g <= 3; g++) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = String(g);
        button.dataset.grade = String(g);
        button.addEventListener("click", () => { grade(i, g); select(i); });
        cell.appendChild(button);
      }
      tr.querySelector("select").addEventListener("change", (e) => { row.extent = e.target.value; dirty = true; render(); });
      tr.querySelector("input").addEventListener("input", (e) => { row.comment = e.target.value; dirty = true; render(); });
      tr.addEventListener("click", (e) => { if (e.target === tr || e.target.tagName === "TD") select(i); });
      body.appendChild(tr);
    });
  }

  function note(row) {
    return [row.extent ? `extent ${row.extent}` : "", row.comment].filter(Boolean).join("; ");
  }

  function quote(value) {
    const text = String(value);
    return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  }

  function csv() {
    const reader = readerInput.value.trim();
    const lines = [COLUMNS.join(",")];
    for (const row of rows.filter((r) => r.reviewed)) {
      const values = { ...row, reader, note: note(row) };
      lines.push(COLUMNS.map((c) => quote(values[c])).join(","));
    }
    return lines.join("\r\n") + "\r\n";
  }

  function parseCsv(text) {
    // our own review.csv (RFC 4180 quoting): a small reader rather than a dependency
    const records = [];
    let field = "", record = [], quoted = false;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (quoted) {
        if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false; else field += c;
      } else if (c === '"') quoted = true;
      else if (c === ",") { record.push(field); field = ""; }
      else if (c === "\n") { record.push(field); records.push(record); record = []; field = ""; }
      else if (c !== "\r") field += c;
    }
    if (field || record.length) { record.push(field); records.push(record); }
    const header = records.shift() || [];
    return records.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] || ""])));
  }

  function restore(saved) {
    for (const s of saved) {
      const row = rows.find((r) => r.level === s.level && r.endplate === s.endplate);
      if (!row) continue;
      Object.assign(row, { modic_reader: Number(s.modic_reader), reviewed: true, time: s.time });
      const match = /^extent ([^;]*)(?:; )?(.*)$/.exec(s.note);
      row.extent = match ? match[1] : "";
      row.comment = match ? match[2] : s.note;
      const tr = body.children[rows.indexOf(row)];
      tr.querySelector("select").value = row.extent;
      tr.querySelector("input").value = row.comment;
      if (s.reader && !readerInput.value) readerInput.value = s.reader;
    }
  }

  async function save() {
    if (!served) {
      const link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([csv()], { type: "text/csv" }));
      link.download = "review.csv";
      document.body.appendChild(link);
      link.click();
      link.remove();
      dirty = false;
      render();
      return true;
    }
    const response = await fetch(`review.csv?token=${encodeURIComponent(token)}`, {
      method: "POST", headers: { "Content-Type": "text/csv" }, body: csv(),
    });
    if (!response.ok) {
      status.textContent = `not saved: ${await response.text()}`;
      return false;
    }
    dirty = false;
    render();
    status.textContent += " - saved";
    return true;
  }

  async function move(step) {
    const studies = (await (await fetch(`../../api/studies?token=${encodeURIComponent(token)}`)).json()).studies;
    const here = studies.indexOf(decodeURIComponent(window.location.pathname.split("/")[2] || ""));
    const next = studies[here + step];
    if (next === undefined) { status.textContent = step > 0 ? "last study" : "first study"; return; }
    if (dirty && !(await save())) return;
    window.location.href = `../${encodeURIComponent(next)}/report.html?token=${encodeURIComponent(token)}`;
  }

  function keys(e) {
    if (["INPUT", "SELECT", "TEXTAREA"].includes(e.target.tagName) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "j" || e.key === "ArrowDown") select(current + 1);
    else if (e.key === "k" || e.key === "ArrowUp") select(current - 1);
    else if ("0123".includes(e.key) && e.key.length === 1) { grade(current, Number(e.key)); select(current + 1); }
    else if (e.key === "Enter" || e.key === "c") { grade(current, rows[current].modic_machine); select(current + 1); }
    else if (served && e.key === "n") move(1);
    else if (served && e.key === "p") move(-1);
    else return;
    e.preventDefault();
  }

  build();
  try { readerInput.value = localStorage.getItem("modicmap-reader") || ""; } catch (e) { /* file:// may refuse */ }
  readerInput.addEventListener("change", () => { try { localStorage.setItem("modicmap-reader", readerInput.value); } catch (e) { /* file:// may refuse */ } });
  document.getElementById("confirm-rest").addEventListener("click", () => {
    rows.forEach((row, i) => { if (!row.reviewed) grade(i, row.modic_machine); });
  });
  const saveButton = document.getElementById("save-review");
  saveButton.addEventListener("click", save);
  document.addEventListener("keydown", keys);
  if (served) {
    saveButton.textContent = "Save review";
    document.getElementById("review-mode").textContent =
      "Served by modicmap review: Save writes review.csv beside this report; keys: j/k row, 0-3 grade, "
      + "Enter confirm, n/p next/previous study (saves first).";
    fetch(`review.csv?token=${encodeURIComponent(token)}`)
      .then((r) => (r.ok ? r.text() : ""))
      .then((text) => { if (text) { restore(parseCsv(text)); dirty = false; render(); } });
  } else {
    document.getElementById("review-mode").textContent =
      "This report is a file: Download saves review.csv (keys: j/k row, 0-3 grade, Enter confirm).";
  }
  window.modicmapReview = { rows, csv, save };
  render();
  document.addEventListener("modicmap-viewer-ready", () => select(current));
})();
