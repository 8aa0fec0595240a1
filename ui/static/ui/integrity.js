/* DLM integrity: a running scan's figures, live. Plain JavaScript, no library, no inline script.
 *
 * Each element with data-scan-progress-url (a scan's row, or its page's panel) polls
 * /scans/<id>/progress every 2 seconds and updates its [data-field] parts, worded as
 * templates/ui/integrity/_scan_figures.html words them; when the scan has ended, the page
 * reloads once so that the server renders its findings.
 */
(function () {
  "use strict";

  function counts(f) {
    return f.matched + " matched · " + f.lost + " lost · " + f.mismatched + " mismatched · " + f.dark + " dark";
  }

  function progress(f) {
    var text = f.entries_listed + " files listed";
    if (f.percent !== null) text += ", " + f.percent + "% of " + f.copies_expected + " catalogued copies found";
    return text;
  }

  function set(element, field, text) {
    var part = element.querySelector('[data-field="' + field + '"]');
    if (part && part.textContent !== text) part.textContent = text;
  }

  function watch(element) {
    var url = element.getAttribute("data-scan-progress-url");
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.json();
        })
        .then(function (f) {
          set(element, "state", f.state);
          set(element, "counts", counts(f));
          set(element, "progress", f.active ? progress(f) : "");
          if (!f.active) {
            window.location.reload();
            return;
          }
          window.setTimeout(poll, 2000);
        })
        .catch(function () {
          window.setTimeout(poll, 10000);
        });
    }
    window.setTimeout(poll, 2000);
  }

  document.querySelectorAll("[data-scan-progress-url]").forEach(watch);
})();
