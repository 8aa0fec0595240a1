/* DLM copy jobs: live progress. Plain JavaScript, no library, no inline script.
 *
 * A job's page (#job-live[data-progress-url]) polls /jobs/<id>/progress every second and
 * reloads itself once when the job has finished, so that the server renders the outcome.
 * The list (table[data-progress-url]) polls /jobs/progress?id=…&id=… every 2 seconds for its
 * queued, running and verifying rows, and updates them in place.
 * The figures are worded as ui/job_rows.py words them (Progress.figures, Progress.sentence), and
 * the states of each phase come from the page (its "job-phases" JSON).
 */
(function () {
  "use strict";

  var UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  // The states of each phase, as the page gives them (ui/job_rows.py PHASES).
  var phasesElement = document.getElementById("job-phases");
  var PHASES = phasesElement ? JSON.parse(phasesElement.textContent) : {};

  function inPhase(p, phase) {
    return (PHASES[phase] || []).indexOf(p.state) !== -1;
  }
  var ERROR_PREVIEW = 90;

  function humanBytes(n) {
    if (n < 1024) return Math.floor(n) + " B";
    var value = n;
    var index = 0;
    while (value >= 1024 && index < UNITS.length - 1) {
      value /= 1024;
      index += 1;
    }
    return value.toFixed(1) + " " + UNITS[index];
  }

  function humanDuration(s) {
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  function label(state) {
    return state.charAt(0).toUpperCase() + state.slice(1);
  }

  function percentText(p) {
    return p.percent === null ? "" : String(p.percent) + "%";
  }

  function figures(p) {
    var text = p.bytes_total
      ? humanBytes(p.bytes_done) + " of " + humanBytes(p.bytes_total) + " (" + percentText(p) + ")"
      : humanBytes(p.bytes_done) + " copied";
    if (inPhase(p, "copying") && p.rate > 0) text += " · " + humanBytes(p.rate) + "/s";
    if (p.eta_seconds !== null) text += " · about " + humanDuration(p.eta_seconds) + " left";
    return text;
  }

  // The aria-live sentence: it changes with the state and each tenth of the copy only.
  function sentence(p) {
    if (inPhase(p, "waiting")) {
      return p.attempts
        ? "Queued for attempt " + (p.attempts + 1) + ": waiting for a worker."
        : "Queued: waiting for a worker.";
    }
    if (inPhase(p, "copying")) {
      return p.percent === null ? "Copying." : "Copying: " + Math.floor(p.percent / 10) * 10 + "% done.";
    }
    if (inPhase(p, "checking")) return "Verifying the copy.";
    return label(p.state) + ".";
  }

  function firstLine(text) {
    var lines = (text || "").split(/\r\n|\r|\n/);
    for (var i = 0; i < lines.length; i++) {
      var line = lines[i].trim();
      if (line) {
        return line.length <= ERROR_PREVIEW ? line : line.slice(0, ERROR_PREVIEW - 1).trimEnd() + "…";
      }
    }
    return "";
  }

  function setText(el, text) {
    if (el && el.textContent !== text) el.textContent = text;
  }

  function setState(el, state) {
    if (!el) return;
    setText(el, label(state));
    el.className = "job-state job-state-" + state;
  }

  function setBar(bar, p) {
    if (p.percent === null) bar.removeAttribute("value");
    else bar.value = p.percent;
    bar.setAttribute("aria-valuetext", figures(p));
    setText(bar, percentText(p));
  }

  /* Fetch url() every `every` ms while handle(body) returns true. A failed or non-JSON answer
   * (a network error, a session that ended and was sent to the login page) is retried later
   * and later; onTrouble(failures) tells the page. A hidden tab polls every 5 s at most. */
  function poll(url, every, handle, onTrouble) {
    var failures = 0;

    function schedule(ms) {
      window.setTimeout(tick, document.hidden ? Math.max(ms, 5000) : ms);
    }

    function tick() {
      fetch(url(), { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
        .then(function (response) {
          var type = response.headers.get("Content-Type") || "";
          if (response.status === 404) return { gone: true };
          if (!response.ok || type.indexOf("application/json") !== 0) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (body) {
          if (body.gone) return;
          if (failures) onTrouble(0);
          failures = 0;
          if (handle(body)) schedule(every);
        })
        .catch(function () {
          failures += 1;
          onTrouble(failures);
          schedule(Math.min(every * Math.pow(2, failures), 30000));
        });
    }

    schedule(every);
  }

  function watchJob(root) {
    var url = root.getAttribute("data-progress-url");
    var state = document.querySelector("h1 [data-cell=state]");
    var bar = document.getElementById("job-progress");
    var figuresEl = document.getElementById("job-figures");
    var sentenceEl = document.getElementById("job-sentence");
    var attempts = document.getElementById("job-attempts");
    var errorSection = document.getElementById("job-error-section");
    var error = document.getElementById("job-error");
    var refresh = document.getElementById("job-refresh");
    var reloading = false;
    if (refresh) refresh.hidden = false;

    poll(
      function () {
        return url;
      },
      1000,
      function (p) {
        if (p.finished) {
          // The server words the outcome (the state, the reason, the buttons): show its page.
          if (!reloading) {
            reloading = true;
            setState(state, p.state);
            setText(sentenceEl, sentence(p));
            window.location.reload();
          }
          return false;
        }
        setState(state, p.state);
        if (bar) setBar(bar, p);
        setText(figuresEl, figures(p));
        setText(sentenceEl, sentence(p));
        setText(attempts, String(p.attempts));
        if (p.last_error && error) {
          setText(error, p.last_error);
          errorSection.hidden = false;
        }
        return true;
      },
      function (failures) {
        if (!refresh) return;
        refresh.textContent =
          failures >= 3
            ? "Live updates are failing; they keep trying. Reload the page if this lasts."
            : "Updated every second.";
      }
    );
  }

  function progressCell(cell, p) {
    while (cell.firstChild) cell.removeChild(cell.firstChild);
    if (inPhase(p, "copying") || inPhase(p, "checking")) {
      var bar = document.createElement("progress");
      bar.max = 100;
      bar.setAttribute("aria-label", cell.getAttribute("data-label") || "Progress");
      setBar(bar, p);
      cell.appendChild(bar);
      if (p.percent !== null) {
        var percent = document.createElement("span");
        percent.className = "jobs-percent";
        percent.textContent = " " + percentText(p);
        cell.appendChild(percent);
      }
    } else if ((inPhase(p, "succeeded") && p.bytes_total) || inPhase(p, "waiting")) {
      var text = document.createElement("span");
      text.className = "muted";
      text.textContent = inPhase(p, "waiting") ? "waiting" : humanBytes(p.bytes_total);
      cell.appendChild(text);
    }
  }

  function watchList(table) {
    var base = table.getAttribute("data-progress-url");
    var rows = {};
    Array.prototype.forEach.call(table.querySelectorAll("tr[data-job-id]"), function (row) {
      rows[row.getAttribute("data-job-id")] = row;
    });

    poll(
      function () {
        var query = Object.keys(rows).map(function (id) {
          return "id=" + encodeURIComponent(id);
        });
        return base + "?" + query.join("&");
      },
      2000,
      function (body) {
        var seen = {};
        body.jobs.forEach(function (p) {
          seen[String(p.migration_id)] = true;
          var row = rows[String(p.migration_id)];
          if (!row) return;
          setState(row.querySelector("[data-cell=state]"), p.state);
          setText(row.querySelector("[data-cell=attempts]"), String(p.attempts));
          setText(row.querySelector("[data-cell=error]"), firstLine(p.last_error));
          progressCell(row.querySelector("[data-cell=progress]"), p);
          if (p.finished) {
            if (p.finished_at) {
              var when = document.createElement("time");
              when.setAttribute("datetime", p.finished_at);
              var day = document.createElement("span");
              day.className = "jobs-day";
              day.textContent = p.finished_at.slice(0, 10);
              when.appendChild(day);
              when.appendChild(document.createTextNode(" " + p.finished_at.slice(11, 16)));
              var cell = row.querySelector("[data-cell=finished]");
              while (cell.firstChild) cell.removeChild(cell.firstChild);
              cell.appendChild(when);
            }
            delete rows[String(p.migration_id)];
          }
        });
        Object.keys(rows).forEach(function (id) {
          if (!seen[id]) delete rows[id]; // gone from the catalogue
        });
        return Object.keys(rows).length > 0;
      },
      function () {}
    );
  }

  var job = document.querySelector("#job-live[data-progress-url]");
  if (job && window.fetch) watchJob(job);
  var table = document.querySelector("table[data-progress-url]");
  if (table && window.fetch) watchList(table);
})();
