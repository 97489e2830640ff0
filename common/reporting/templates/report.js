(function () {
  "use strict";
  var table = document.getElementById("leads");
  var tbody = table.tBodies[0];
  var rows = Array.prototype.slice.call(tbody.rows);
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var search = document.getElementById("search");
  var matches = document.getElementById("matches");
  var shown = document.getElementById("shown");
  var more = document.getElementById("more");
  var page = Number(table.dataset.page) || 500;
  var limit = page;
  var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-col]"));
  function norm(s) { return s.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase(); }
  rows.forEach(function (r) {
    r._text = norm(Array.prototype.map.call(r.cells, function (c) { return c.textContent; }).join("\u0001"));
  });
  function apply() {
    var terms = norm(search.value).split(/\s+/).filter(Boolean);
    var active = selects.filter(function (s) { return s.selectedIndex > 0; })
      .map(function (s) { return [Number(s.dataset.index), s.value]; });
    var n = 0;
    rows.forEach(function (r) {
      var ok = terms.every(function (t) { return r._text.indexOf(t) !== -1; }) &&
        active.every(function (f) { return r.cells[f[0]].textContent === f[1]; });
      if (ok) { n += 1; }
      var hide = !ok || n > limit;
      if (r.hidden !== hide) { r.hidden = hide; }
    });
    matches.textContent = String(n);
    shown.textContent = String(Math.min(n, limit));
    more.hidden = n <= limit;
  }
  more.addEventListener("click", function () { limit = Infinity; apply(); });
  search.addEventListener("input", apply);
  selects.forEach(function (s) { s.addEventListener("change", apply); });
  document.getElementById("reset").addEventListener("click", function () {
    search.value = "";
    selects.forEach(function (s) { s.selectedIndex = 0; });
    apply();
  });
  heads.forEach(function (th, index) {
    th.querySelector("button").addEventListener("click", function () {
      var descending = th.getAttribute("aria-sort") === "ascending";
      var numeric = th.dataset.type === "num";
      heads.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
      th.setAttribute("aria-sort", descending ? "descending" : "ascending");
      var keyed = rows.map(function (r, i) {
        var t = r.cells[index].textContent;
        var v = numeric ? (t === "" ? NaN : Number(t)) : t.toLowerCase();
        return { r: r, v: v, i: i, empty: t === "" };
      });
      keyed.sort(function (a, b) {
        if (a.empty !== b.empty) { return a.empty ? 1 : -1; }
        var c = numeric ? a.v - b.v : (a.v < b.v ? -1 : a.v > b.v ? 1 : 0);
        if (descending) { c = -c; }
        return c || a.i - b.i;
      });
      rows = keyed.map(function (k) { return k.r; });
      var frag = document.createDocumentFragment();
      rows.forEach(function (r) { frag.appendChild(r); });
      tbody.appendChild(frag);
      apply();
    });
  });
  tbody.addEventListener("click", function (e) {
    var cell = e.target.closest("td");
    if (cell) { cell.classList.toggle("open"); }
  });
  function filterFromChart(g) {
    var select = selects.filter(function (s) { return s.dataset.col === g.dataset.col; })[0];
    if (!select) { return; }
    for (var i = 1; i < select.options.length; i += 1) {
      if (select.options[i].value === g.dataset.value) { select.selectedIndex = i; }
    }
    apply();
    table.scrollIntoView({ block: "start" });
  }
  Array.prototype.forEach.call(document.querySelectorAll(".filterable"), function (g) {
    g.addEventListener("click", function () { filterFromChart(g); });
    g.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); filterFromChart(g); }
    });
  });
  apply();
  document.body.setAttribute("data-ready", "1");
})();
