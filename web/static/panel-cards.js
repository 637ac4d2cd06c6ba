// On a phone every table of the panel reads as cards (panel.css): each cell is labelled by
// its column's header. Templates may label cells themselves (data-label); any other table,
// including one swapped in by htmx, is labelled here from its <thead>.
(function () {
  "use strict";

  function label(root) {
    var tables = root.querySelectorAll("main table");
    for (var t = 0; t < tables.length; t++) {
      var heads = [];
      var ths = tables[t].querySelectorAll("thead th");
      for (var h = 0; h < ths.length; h++) {
        for (var s = 0; s < (ths[h].colSpan || 1); s++) heads.push(ths[h].textContent.trim());
      }
      if (!heads.length) continue;
      var rows = tables[t].querySelectorAll("tbody tr");
      for (var r = 0; r < rows.length; r++) {
        var col = 0;
        for (var c = 0; c < rows[r].cells.length; c++) {
          var cell = rows[r].cells[c];
          var span = cell.colSpan || 1;
          if (span === 1 && heads[col] && !cell.hasAttribute("data-label")) {
            cell.setAttribute("data-label", heads[col]);
          }
          col += span;
        }
      }
    }
  }

  document.addEventListener("DOMContentLoaded", function () { label(document); });
  document.addEventListener("htmx:afterSettle", function () { label(document); });
})();
